"""The ``atomicvad`` command. Each subcommand lives in the module that owns its logic and
provides ``add_arguments(parser)``, which sets ``func`` to a ``run(args) -> int``."""
from __future__ import annotations

import argparse
import importlib
import os
import sys

# subcommand -> (module, one-line help); modules are imported only when their command runs.
COMMANDS = {
    "check": ("atomicvad_lib.checks", "print package versions; exit 1 if any is missing or old"),
    "export": ("atomicvad_lib.export", "write float32 and int8 LiteRT files of a model; compare their AUROC"),
    "stream": ("atomicvad_lib.streaming", "speech segments of an audio file of any length (CSV, RTTM, figure)"),
    "baselines": ("atomicvad_lib.baselines", "WebRTC and Silero VAD beside AtomicVAD on the test windows"),
    "course": ("atomicvad_lib.course", "run every notebook headless on data_samples/ (runs/course/)"),
    "sweep": ("atomicvad_lib.sweep", "train one fold per seed with notebook 05, then run notebook 06"),
    "validate": ("atomicvad_lib.manifest", "check manifests line by line; list every problem"),
    "prepare": ("atomicvad_lib.prepare", "build the six balanced manifests from downloaded corpora"),
    "train": ("atomicvad_lib.training", "train one fold (seed) with the paper's recipe; resumes after a kill"),
    "evaluate": ("atomicvad_lib.evaluation", "SPI/SWI scores and metrics of a model on any manifest"),
    "aggregate": ("atomicvad_lib.aggregate", "mean ± std of the test metrics over a run's folds"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="atomicvad", description="AtomicVAD course tools")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        child = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            importlib.import_module(module).add_arguments(child)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else None)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
