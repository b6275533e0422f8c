"""The ``atomicvad`` command. Each subcommand lives in the module that owns its logic, named in
``COMMANDS`` as ``module:function``: that function (``add_arguments(parser)`` by convention) adds
the command's options and sets ``func`` to a ``run(args) -> int``. A command's module is imported
only when the command runs, so ``atomicvad --help`` does not load TensorFlow.

One error style for every command: an expected error (``ValueError``, ``OSError`` and the
library's errors, which derive from ``ValueError``) prints ``atomicvad <command>: <message>`` on
stderr and exits with 2, without a traceback; an unexpected one keeps its traceback; ``--debug``
prints the traceback always. Ctrl-C prints where the command stands and how to resume or rerun
it, and exits with 130. A module may define ``describe_interrupt(args) -> str`` for that line.
A command that turns SIGTERM into ``processes.Interrupted`` (course, sweep) is reported the same
way, naming the signal, and exits with 128 + its number (143), as a shell reports a kill.
"""
from __future__ import annotations

import argparse
import importlib
import os
import shlex
import sys
import traceback

# subcommand -> ("module:function" that adds its arguments, one-line help)
COMMANDS = {
    "check": ("atomicvad_lib.checks:add_arguments",
              "print package versions; exit 1 if any is missing or old"),
    "export": ("atomicvad_lib.export:add_arguments",
               "write float32 and int8 LiteRT files of a model; compare their AUROC"),
    "stream": ("atomicvad_lib.streaming:add_arguments",
               "speech segments of an audio file of any length (CSV, RTTM, figure)"),
    "baselines": ("atomicvad_lib.baselines:add_arguments",
                  "WebRTC and Silero VAD beside AtomicVAD on the test windows"),
    "course": ("atomicvad_lib.course:add_arguments",
               "run every notebook headless on data_samples/ (runs/course/)"),
    "sweep": ("atomicvad_lib.course:add_sweep_arguments",
              "train one fold per seed with notebook 05, then run notebook 06"),
    "validate": ("atomicvad_lib.manifest:add_arguments",
                 "check manifests line by line; list every problem"),
    "prepare": ("atomicvad_lib.prepare:add_arguments",
                "build the six balanced manifests from downloaded corpora"),
    "train": ("atomicvad_lib.training:add_arguments",
              "train one fold (seed) with the paper's recipe; resumes after a kill"),
    "evaluate": ("atomicvad_lib.evaluation:add_arguments",
                 "SPI/SWI scores and metrics of a model on any manifest"),
    "aggregate": ("atomicvad_lib.aggregate:add_arguments",
                  "mean ± std of the test metrics over a run's folds"),
    "tune": ("atomicvad_lib.tuning:add_arguments",
             "search hyperparameters with Optuna (validation AUROC of one fold)"),
}
EXPECTED_ERRORS = (ValueError, OSError)  # ConfigError, ManifestError, AudioError, ... are ValueErrors
ERROR_EXIT = 2
INTERRUPT_EXIT = 130  # 128 + SIGINT, as a shell reports it


class _Parser(argparse.ArgumentParser):
    """Usage errors in the command's one-line style too (``atomicvad train: ...``)."""

    def error(self, message):
        self.exit(ERROR_EXIT, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def _debug_option() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a subcommand's default must not overwrite `atomicvad --debug COMMAND`
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="print the full traceback of an error")
    return common


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    common = _debug_option()
    parser = _Parser(prog="atomicvad", description="AtomicVAD course tools", parents=[common])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (target, help_text) in COMMANDS.items():
        child = sub.add_parser(name, help=help_text, description=help_text, parents=[common])
        if name == command:
            module, function = target.split(":")
            getattr(importlib.import_module(module), function)(child)
    return parser


def _message(err: BaseException) -> str:
    """An OSError as ``path: reason`` (its str() is ``[Errno 2] ...: 'path'``); others as is."""
    if isinstance(err, OSError) and err.strerror and err.filename:
        return f"{err.filename}: {err.strerror}"
    return str(err) or type(err).__name__


def _new_line() -> None:
    """Start the message on its own line when a progress bar may be left on the terminal."""
    if sys.stderr.isatty():
        print(file=sys.stderr)


def _signal_name(err: KeyboardInterrupt) -> str:
    name = getattr(err, "name", "SIGINT")
    return "Ctrl-C" if name == "SIGINT" else name


def _interrupted(command: str, argv: list[str], args, how: str = "Ctrl-C") -> None:
    module = importlib.import_module(COMMANDS[command][0].split(":")[0])
    describe = getattr(module, "describe_interrupt", None)
    where = None
    if describe is not None and args is not None:
        try:
            where = describe(args)
        except Exception as err:  # noqa: BLE001 - the interrupt message must still come out
            where = f"(its state could not be read: {_message(err)})"
    rerun = "atomicvad " + shlex.join(argv)
    print(f"atomicvad {command}: interrupted ({how}){'; ' + where if where else ''}; "
          f"{'resume' if where else 'rerun'} with: {rerun}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    command = command if command in COMMANDS else None
    debug, args = "--debug" in argv, None
    try:
        parser = build_parser(command)
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        return int(args.func(args) or 0)
    except KeyboardInterrupt as err:
        _new_line()
        if debug:
            traceback.print_exc()
        how = _signal_name(err)
        if command is None:
            print(f"atomicvad: interrupted ({how})", file=sys.stderr)
        else:
            _interrupted(command, argv, args, how)
        return 128 + getattr(err, "signum", INTERRUPT_EXIT - 128)
    except EXPECTED_ERRORS as err:
        _new_line()
        if debug:
            traceback.print_exc()
        print(f"atomicvad {command or ''}: {_message(err)}".replace(" :", ":"), file=sys.stderr)
        return ERROR_EXIT


if __name__ == "__main__":
    sys.exit(main())
