#!/usr/bin/env python3
"""Measure a training recipe on data_samples/: train a few seeds, score the test split.

For each seed: ``train_fold`` with ``Config.for_recipe(recipe, **changes)``, then the best
model's test AUROC, the decision threshold chosen on the validation split (best F1) and the test
F1/F2 at it and at 0.5, the best epoch and the training time. One JSON line per seed is appended
to ``--log``, so several processes (one per core) can share it.

    python scripts/measure_recipe.py --name lr3e-3 --seeds 0 1 --set learning_rate=0.003 \\
        --set background_prob=0.5 --out /tmp/recipes --log /tmp/recipes/log.jsonl
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import yaml


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("--recipe", default="course")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0],
                        help="fold indices: seed = Config.seeds[i]")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a Config change (YAML value), repeatable")
    parser.add_argument("--data", default="data_samples")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--log", type=Path, required=True)
    args = parser.parse_args(argv)

    from atomicvad_lib.runinfo import set_training_threads
    set_training_threads()
    from atomicvad_lib.config import Config
    from atomicvad_lib.metrics import binary_metrics, choose_threshold
    from atomicvad_lib.model import predict_speech
    from atomicvad_lib.pipeline import load_split
    from atomicvad_lib.training import train_fold

    changes = {}
    for item in args.set:
        key, value = item.split("=", 1)
        changes[key] = yaml.safe_load(value)
    config = Config.for_recipe(args.recipe, **changes)
    validation = load_split(args.data, "validation", config, progress=False)
    testing = load_split(args.data, "testing", config, progress=False)
    for fold in args.seeds:
        started = time.perf_counter()
        result = train_fold(config, fold=fold, out_dir=args.out / args.name, data_dir=args.data,
                            progress=False)
        seconds = time.perf_counter() - started
        val_prob = predict_speech(result.model, validation.waveforms)
        test_prob = predict_speech(result.model, testing.waveforms)
        threshold = choose_threshold(validation.labels, val_prob)
        at_t = binary_metrics(testing.labels, test_prob, threshold)
        at_half = binary_metrics(testing.labels, test_prob, 0.5)
        row = {"name": args.name, "changes": changes, "fold": fold, "seed": result.record["seed"],
               "test_auroc": round(at_half["auroc"], 4),
               "val_auroc": round(result.record["validation"]["auroc"], 4),
               "threshold": round(threshold, 4), "test_f1_at_t": round(at_t["f1"], 4),
               "test_f2_at_t": round(at_t["f2"], 4), "test_f1_at_05": round(at_half["f1"], 4),
               "test_f2_at_05": round(at_half["f2"], 4),
               "best_epoch": result.record["best_epoch"] + 1, "epochs_run": result.record["epochs_run"],
               "train_seconds": round(result.record["timings"].get("training", seconds), 1),
               "wall_seconds": round(seconds, 1)}
        with open(args.log, "a") as handle:
            handle.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
