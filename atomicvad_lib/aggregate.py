"""``atomicvad aggregate``: test metrics of a run's folds, mean ± standard deviation.

The standard deviation is the sample one (``ddof=1``, the spread of a seed's result around the
mean of seeds, as papers report over repeated runs); with a single finished fold it is undefined
(NaN). Folds expected: ``len(config.seeds)`` of the recorded config. A fold is *finished* when it
has ``metrics.json``, *unfinished* when it has a fold folder or a backup but no metrics.json, and
*missing* otherwise.
"""
from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .config import Config
from .files import check_output_file, read_json
from .metrics import fpr_key
from .runs import FoldPaths, fold_indices, is_run_folder, read_training_log

SUMMARY_METRICS = ("loss", "auroc", "accuracy", "f1", "f2", fpr_key())
DDOF = 1


@dataclass
class RunSummary:
    """A run folder as tables: ``folds`` (one row per finished fold: seed, test metrics, best
    epoch, timings), ``logs`` (every fold's training_log.csv with a ``fold`` column), ``status``
    (fold -> finished / unfinished / missing) and ``expected_folds``."""

    run_dir: Path
    folds: pd.DataFrame
    logs: pd.DataFrame
    status: dict[int, str]
    expected_folds: int | None

    @property
    def missing(self) -> list[int]:
        return [f for f, s in self.status.items() if s == "missing"]

    @property
    def unfinished(self) -> list[int]:
        return [f for f, s in self.status.items() if s == "unfinished"]


def _expected_folds(run_dir: Path, folds: set[int]) -> int | None:
    for fold in sorted(folds):
        path = FoldPaths(run_dir, fold).config
        if path.is_file():
            return len(Config.load(path).seeds)
    return None


def load_run(run_dir) -> RunSummary:
    """Read every fold of ``run_dir`` (``experiments/<run>``) into pandas DataFrames."""
    run_dir = Path(run_dir)
    if not is_run_folder(run_dir):
        raise FileNotFoundError(f"{run_dir} holds no checkpoints/ or backups/ folder: is it a run "
                                f"folder made by `atomicvad train --out {run_dir}`?")
    present = fold_indices(run_dir)
    expected = _expected_folds(run_dir, present)
    status, rows, logs = {}, [], []
    for fold in sorted(present | set(range(expected or 0))):
        paths = FoldPaths(run_dir, fold)
        log = read_training_log(paths.training_log)
        if not log.empty:
            logs.append(log.assign(fold=fold))
        if paths.metrics.is_file():
            status[fold] = "finished"
            record = read_json(paths.metrics, f"delete it and rerun `atomicvad train --out "
                                              f"{run_dir} --fold {fold}` (with the fold's other "
                                              f"options) to train the fold again")
            if not isinstance(record, dict) or not isinstance(record.get("test"), dict):
                raise ValueError(f"{paths.metrics} holds no 'test' metrics: it was not written "
                                 f"by `atomicvad train`; move it away")
            rows.append({"fold": fold, "seed": record["seed"],
                         **{k: record["test"].get(k) for k in SUMMARY_METRICS},
                         "best_epoch": record.get("best_epoch"),
                         "epochs_run": record.get("epochs_run"),
                         "val_auroc": record.get("validation", {}).get("auroc"),
                         "training_seconds": record.get("timings", {}).get("training_epochs_total")})
        elif fold in present:
            status[fold] = "unfinished"
        else:
            status[fold] = "missing"
    folds = pd.DataFrame(rows, columns=["fold", "seed", *SUMMARY_METRICS, "best_epoch",
                                        "epochs_run", "val_auroc", "training_seconds"])
    logs = pd.concat(logs, ignore_index=True) if logs else pd.DataFrame()
    return RunSummary(run_dir, folds, logs, status, expected)


def aggregate(summary: RunSummary | pd.DataFrame, metrics=SUMMARY_METRICS) -> pd.DataFrame:
    """Mean, standard deviation (ddof=1) and count of each metric over the finished folds of a
    run, or over the rows of any table with one row per fold (or model) and a column per metric;
    undefined values (None, NaN) are left out, not counted as 0."""
    folds = summary.folds if isinstance(summary, RunSummary) else summary
    rows = []
    for metric in metrics:
        values = pd.to_numeric(folds[metric], errors="coerce").dropna().to_numpy(float)
        rows.append({"metric": metric, "mean": values.mean() if values.size else math.nan,
                     "std": values.std(ddof=DDOF) if values.size > DDOF else math.nan,
                     "n_folds": int(values.size)})
    return pd.DataFrame(rows)


def mean_std(mean: float, std: float) -> str:
    """``0.9876 ± 0.0023``, with n/a for an undefined value (a single fold has no std)."""
    return " ± ".join("n/a" if math.isnan(v) else f"{v:.4f}" for v in (mean, std))


def format_table(table: pd.DataFrame) -> str:
    """Lines like ``auroc: 0.9876 ± 0.0023 (10 folds)``."""
    return "\n".join(f"{row.metric}: {mean_std(row.mean, row.std)} ({row.n_folds} fold"
                     f"{'s' * (row.n_folds != 1)})" for row in table.itertuples())


def mean_std_table(tables: dict[str, pd.DataFrame], metrics=None) -> pd.DataFrame:
    """One row per named table (e.g. ``{"this run": ..., "published checkpoints": ...}``), one
    column per metric, each cell ``mean ± std`` over that table's rows (see ``aggregate``).
    ``metrics``: default, the first table's columns."""
    metrics = list(metrics or next(iter(tables.values())).columns)
    out = {}
    for name, table in tables.items():
        found = aggregate(table, metrics)
        out[name] = {row.metric: mean_std(row.mean, row.std) for row in found.itertuples()}
    return pd.DataFrame(out).T


def status_lines(summary: RunSummary) -> list[str]:
    lines = []
    finished = [f for f, s in summary.status.items() if s == "finished"]
    expected = "unknown" if summary.expected_folds is None else summary.expected_folds
    lines.append(f"folds finished: {len(finished)} of {expected} expected")
    if summary.unfinished:
        lines.append(f"unfinished (started, no metrics.json): "
                     f"{', '.join(map(str, summary.unfinished))}; rerun their `atomicvad train` "
                     f"command to resume")
    if summary.missing:
        lines.append(f"missing (never started): {', '.join(map(str, summary.missing))}")
    return lines


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="run folder, e.g. experiments/<run>")
    parser.add_argument("--out", help="CSV to write (default: <run_dir>/aggregate.csv)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Errors (a folder that is no run, a damaged metrics.json, ...) go to ``cli.main``, which
    prints them in the command's one-line style; the CSV's place is checked first."""
    if args.out:
        check_output_file(args.out)
    summary = load_run(args.run_dir)  # a run folder (else FileNotFoundError), read in a moment
    out = Path(args.out) if args.out else Path(args.run_dir) / "aggregate.csv"
    check_output_file(out)
    table = aggregate(summary)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    for line in status_lines(summary):
        print(line)
    print(f"test metrics over finished folds (mean ± std, ddof={DDOF}):")
    print(format_table(table))
    print(f"wrote {out}")
    return 0 if summary.folds.shape[0] else 1

