"""What do 298 parameters give up? AtomicVAD beside a larger baseline (issue 14).

The baseline is a small ResNet-style CNN on log-mel features (``model.build_resnet``, about
77,000 parameters), trained by the same ``train_fold`` on the same pipeline and data, with the
budget of 12 epochs at batch 64 (``BASELINE_BUDGET``) and a linear warm-up + cosine schedule
(``BASELINE_SETTINGS``). It is not part of ``make course`` (its training takes minutes, not
seconds); ``BASELINE_COMMAND`` trains it into ``experiments/resnet/``, where notebook 06 finds it
and scores it beside the run's folds on the same test windows.

This module gathers what the comparison needs about a finished fold: its model's cost
(trainable parameters, multiply-accumulates per window from ``model_stats``) and its training
record (seed, epochs, training time from ``metrics.json``).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from .config import Config
from .course import BASELINE_RUN
from .files import read_json
from .runs import FoldPaths, fold_indices

# 12 epochs at batch 64, as the README's comparison was measured: the baseline's best validation
# epoch came at 7 of 12, so the course's 24 epochs would double its minutes for nothing
BASELINE_BUDGET = {"epochs": 12, "batch_size": 64}
BASELINE_SETTINGS = {"architecture": "resnet", "schedule": "warmup_cosine",
                     "warmup_fraction": 0.1}
BASELINE_COMMAND = (f"atomicvad train --out experiments/{BASELINE_RUN} --recipe course "
                    f"--epochs {BASELINE_BUDGET['epochs']} "
                    f"--batch-size {BASELINE_BUDGET['batch_size']} "
                    + " ".join(f"-p {k} {v}" for k, v in BASELINE_SETTINGS.items()))


def baseline_config(**changes) -> Config:
    """The baseline's settings: the ``course`` recipe at ``BASELINE_BUDGET``, with
    ``BASELINE_SETTINGS`` (what ``BASELINE_COMMAND`` trains), then ``changes``."""
    return Config.for_recipe("course", **{**BASELINE_BUDGET, **BASELINE_SETTINGS, **changes})


def finished_folds(run_dir) -> list[FoldPaths]:
    """The folds of ``run_dir`` that finished (``metrics.json`` and ``best.keras``), in order;
    an empty list when the folder is missing or holds none."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    found = [FoldPaths(run_dir, fold) for fold in sorted(fold_indices(run_dir))]
    return [p for p in found if p.metrics.is_file() and p.best_model.is_file()]


def model_cost(model) -> dict:
    """Trainable parameters and multiply-accumulates per window (the network after its
    front-end, ``model_stats.count_macs``) of a Keras model."""
    import numpy as np

    from .model_stats import count_macs

    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    return {"parameters": trainable, "MACs per window": count_macs(model)}


def fold_record(paths: FoldPaths) -> dict:
    """What a finished fold's ``metrics.json`` says about its training: architecture, seed,
    epochs run, training time (seconds, the ``fit`` phase) and its test AUROC as recorded."""
    record = read_json(paths.metrics)
    config = record.get("config", {})
    seconds = record.get("timings", {}).get("training")
    epochs = int(record.get("epochs_run", 0))
    return {"architecture": config.get("architecture", "atomicvad"), "seed": record.get("seed"),
            "epochs": epochs, "training (s)": seconds,
            "s per epoch": seconds / epochs if seconds and epochs else None,
            "recorded test AUROC": (record.get("test") or {}).get("auroc")}


def side_by_side(rows: dict[str, dict]) -> pd.DataFrame:
    """One row per model (``{label: {column: value}}``), the comparison's columns first."""
    first = ["architecture", "seed", "test AUROC", "F1 @ threshold", "parameters",
             "MACs per window", "training (s)", "epochs", "s per epoch"]
    table = pd.DataFrame(rows).T
    columns = [c for c in first if c in table] + [c for c in table if c not in first]
    return table[columns].rename_axis("model")
