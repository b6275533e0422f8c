"""atomicvad aggregate / load_run on a made-up run folder: statistics against NumPy, fold status."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from atomicvad_lib import Config
from atomicvad_lib.aggregate import aggregate, load_run
from atomicvad_lib.cli import main
from atomicvad_lib.runs import FoldPaths

SEEDS = (5, 6, 7, 8, 9)
TEST = {0: dict(loss=0.12, auroc=0.97, accuracy=0.91, f1=0.90, f2=0.92),
        1: dict(loss=0.10, auroc=0.99, accuracy=0.95, f1=0.94, f2=0.96),
        2: dict(loss=0.15, auroc=None, accuracy=0.88, f1=0.86, f2=0.89)}


@pytest.fixture
def run_dir(tmp_path):
    """Folds 0-2 finished (fold 2 without an AUROC), fold 3 unfinished (backup only), fold 4
    missing, of five expected seeds."""
    run = tmp_path / "exp"
    config = Config(seeds=SEEDS)
    for fold, test in TEST.items():
        paths = FoldPaths(run, fold)
        paths.fold_dir.mkdir(parents=True)
        config.save(paths.config)
        record = {"seed": SEEDS[fold], "fold": fold, "test": {**test, "tpr_at_fpr_0.315": 0.9},
                  "validation": {"auroc": 0.9}, "best_epoch": 4, "epochs_run": 9,
                  "timings": {"training_epochs_total": 12.5}}
        paths.metrics.write_text(json.dumps(record))
        pd.DataFrame({"epoch": [0, 1], "loss": [0.3, 0.2], "val_auroc": [0.8, 0.9]}) \
            .to_csv(paths.training_log, index=False)
    FoldPaths(run, 3).backup_dir.mkdir(parents=True)
    return run


def test_mean_and_sample_std_over_finished_folds(run_dir):
    summary = load_run(run_dir)
    table = aggregate(summary).set_index("metric")
    for metric in ("loss", "accuracy", "f1", "f2"):
        values = np.array([TEST[f][metric] for f in TEST])
        assert table.loc[metric, "mean"] == pytest.approx(values.mean())
        assert table.loc[metric, "std"] == pytest.approx(values.std(ddof=1))
        assert table.loc[metric, "n_folds"] == 3
    auroc = np.array([0.97, 0.99])  # fold 2's undefined AUROC is left out, not counted as 0
    assert table.loc["auroc", "mean"] == pytest.approx(auroc.mean())
    assert table.loc["auroc", "std"] == pytest.approx(auroc.std(ddof=1))
    assert table.loc["auroc", "n_folds"] == 2


def test_status_and_tables(run_dir):
    summary = load_run(run_dir)
    assert summary.expected_folds == len(SEEDS)
    assert summary.status == {0: "finished", 1: "finished", 2: "finished", 3: "unfinished",
                              4: "missing"}
    assert summary.unfinished == [3] and summary.missing == [4]
    assert list(summary.folds["seed"]) == [5, 6, 7]
    assert list(summary.logs["fold"]) == [0, 0, 1, 1, 2, 2]


def test_command_prints_mean_std_and_writes_csv(run_dir, capsys):
    assert main(["aggregate", str(run_dir)]) == 0
    out = capsys.readouterr().out
    mean, std = np.mean([0.91, 0.95, 0.88]), np.std([0.91, 0.95, 0.88], ddof=1)
    assert f"accuracy: {mean:.4f} ± {std:.4f} (3 folds)" in out
    assert "ddof=1" in out
    assert "folds finished: 3 of 5 expected" in out
    assert "unfinished (started, no metrics.json): 3" in out
    assert "missing (never started): 4" in out
    written = pd.read_csv(run_dir / "aggregate.csv").set_index("metric")
    assert written.loc["accuracy", "mean"] == pytest.approx(mean)


def test_not_a_run_folder(tmp_path, capsys):
    assert main(["aggregate", str(tmp_path)]) == 2
    assert "holds no checkpoints/" in capsys.readouterr().err
