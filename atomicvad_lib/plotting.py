"""The course's figures: one saving helper and the panels the notebooks share.

Every notebook figure goes through :func:`save_figure`, which writes a PNG into ``figures/`` at the
repository root (git-ignored), or into the folder named by ``ATOMICVAD_FIGURES`` (the course runner
points it at the run folder; ``paths.figures_dir``). Drawing functions take an ``ax`` (or return a
new figure) and only draw.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping, Sequence

import librosa.display
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from . import ggcu_math
from .config import CLASS_NAMES, Config
from .features import MFCC
from .paths import figures_dir


def save_figure(fig, name: str, dpi: int = 110) -> Path:
    """Write ``fig`` as ``<figures_dir>/<name>.png`` and return the path.

    ``name`` may contain sub-folders (``"01/waveforms"``); unsafe characters become ``_``.
    """
    parts = [re.sub(r"[^A-Za-z0-9_.-]+", "_", p) for p in Path(name).with_suffix("").parts]
    parts = [p for p in parts if p not in ("", ".", "..")] or ["figure"]
    path = figures_dir().joinpath(*parts).with_suffix(".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


# --- audio panels --------------------------------------------------------------------------------
def plot_waveform(ax, waveform, sample_rate: int = 16000, title: str | None = None):
    waveform = np.asarray(waveform, dtype=np.float32)
    t = np.arange(len(waveform)) / sample_rate
    ax.plot(t, waveform, lw=0.6)
    ax.set(xlabel="time (s)", ylabel="amplitude", xlim=(0, t[-1] if len(t) else 1))
    if title:
        ax.set_title(title)
    return ax


def plot_log_mel(ax, log_mel, config: Config | None = None, title: str | None = None):
    """A (frames, mels) log-mel spectrogram in dB with real axes: seconds, and the mel bands'
    frequencies in Hz on the HTK mel scale the front-end uses (``librosa.display.specshow``)."""
    config = config or Config()
    im = librosa.display.specshow(
        np.asarray(log_mel).T, sr=config.sample_rate, hop_length=config.hop_length, x_axis="time",
        y_axis="mel", fmin=config.fmin, fmax=config.fmax or config.sample_rate / 2, htk=True,
        cmap="magma", ax=ax)
    ax.set(xlabel="time (s)", ylabel="frequency (Hz)")
    if title:
        ax.set_title(title)
    return im


def plot_mfcc(ax, mfcc, config: Config | None = None, title: str | None = None):
    """A (coefficients, frames) MFCC image, as the network sees it, over time in seconds."""
    config = config or Config()
    im = librosa.display.specshow(np.asarray(mfcc), sr=config.sample_rate,
                                  hop_length=config.hop_length, x_axis="time", cmap="coolwarm",
                                  ax=ax)
    ax.set(xlabel="time (s)", ylabel="MFCC coefficient")
    if title:
        ax.set_title(title)
    return im


def plot_examples(waveforms, titles: Sequence[str], config: Config | None = None):
    """One column per window: waveform, log-mel spectrogram and MFCC stacked."""
    config = config or Config()
    waveforms = np.atleast_2d(np.asarray(waveforms, dtype=np.float32))
    frontend = MFCC.from_settings(config)
    log_mel, mfcc = np.asarray(frontend.log_mel(waveforms)), frontend.images(waveforms)[..., 0]
    n = len(waveforms)
    fig, axes = plt.subplots(3, n, figsize=(3.4 * n, 7.5), squeeze=False)
    for i in range(n):
        plot_waveform(axes[0, i], waveforms[i], config.sample_rate, titles[i])
        plot_log_mel(axes[1, i], log_mel[i], config)
        plot_mfcc(axes[2, i], mfcc[i], config)
        if i:
            for row in range(3):
                axes[row, i].set_ylabel("")
    fig.tight_layout()
    return fig


# --- training and evaluation ---------------------------------------------------------------------
_NOT_CURVES = ("epoch", "lr", "learning_rate", "epoch_seconds")


def _metric_pairs(columns: Sequence[str]) -> list[str]:
    """Metric names of a history's columns, ``val_`` prefixes removed, in first-seen order."""
    names = []
    for column in columns:
        name = column[4:] if column.startswith("val_") else column
        if name not in _NOT_CURVES and name not in names:
            names.append(name)
    return names


def plot_training_curves(histories: Mapping[str, Mapping[str, Sequence[float]]] | Mapping,
                         metrics: Sequence[str] | None = None, title: str = ""):
    """Training (solid) and validation (dashed) curves, one panel per metric.

    ``histories`` maps a label (e.g. ``"fold 0"``) to a history: a mapping or DataFrame of
    per-epoch columns like ``loss``/``val_loss``. A single history (with a ``loss`` key) is
    accepted as well.
    """
    if "loss" in histories:
        histories = {"": histories}
    first = next(iter(histories.values()))
    metrics = list(metrics or _metric_pairs(list(first.keys())))
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.6 * len(metrics), 3.6), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (label, history) in enumerate(histories.items()):
        color = colors[k % len(colors)]
        for ax, metric in zip(axes[0], metrics):
            if metric in history:
                values = np.asarray(history[metric], dtype=float)
                ax.plot(np.arange(1, len(values) + 1), values, color=color,
                        label=f"{label} train".strip())
            if "val_" + metric in history:
                values = np.asarray(history["val_" + metric], dtype=float)
                ax.plot(np.arange(1, len(values) + 1), values, color=color, ls="--",
                        label=f"{label} validation".strip())
            ax.set(xlabel="epoch", title=metric)
    if len(histories) <= 4:
        axes[0, 0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_roc(ax, y_true, scores, label: str = "", **kwargs):
    """ROC curve of speech scores against 0/1 labels, with its AUC in the legend."""
    fpr, tpr, _ = roc_curve(np.asarray(y_true), np.asarray(scores))
    auc = roc_auc_score(np.asarray(y_true), np.asarray(scores))
    ax.plot(fpr, tpr, label=f"{label} (AUC {auc:.3f})".strip(), **kwargs)
    ax.plot([0, 1], [0, 1], color="0.7", lw=0.8, ls=":")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.01))
    return auc


def plot_confusion(ax, matrix, class_names: Sequence[str] = CLASS_NAMES, title: str = "",
                   normalize: bool = True):
    """A confusion matrix (rows: true class, columns: predicted), counts and row shares."""
    matrix = np.asarray(matrix, dtype=float)
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    ax.imshow(shares if normalize else matrix, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            text = f"{matrix[i, j]:.0f}\n{shares[i, j]:.1%}" if normalize else f"{matrix[i, j]:.0f}"
            ax.text(j, i, text, ha="center", va="center",
                    color="white" if shares[i, j] > 0.5 else "black", fontsize=9)
    ticks = range(len(class_names))
    ax.set(xticks=ticks, yticks=ticks, xticklabels=class_names, yticklabels=class_names,
           xlabel="predicted", ylabel="true")
    if title:
        ax.set_title(title)
    return ax


def plot_decision_regions(ax, predict, points, labels, title: str = "", margin: float = 0.5,
                          resolution: int = 200):
    """Shade where ``predict`` (an (n, 2) -> (n,) probability function) says class 1."""
    points = np.asarray(points, dtype=np.float32)
    lo, hi = points.min(axis=0) - margin, points.max(axis=0) + margin
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)
    prob = np.asarray(predict(grid)).reshape(gx.shape)
    ax.contourf(gx, gy, prob, levels=[0, 0.5, 1], colors=["#cfe2f3", "#f4cccc"], alpha=0.9)
    ax.contour(gx, gy, prob, levels=[0.5], colors="k", linewidths=0.8)
    labels = np.asarray(labels).ravel()
    for value, marker, color in ((0, "o", "#1f77b4"), (1, "s", "#d62728")):
        sel = labels == value
        ax.scatter(points[sel, 0], points[sel, 1], marker=marker, s=90, color=color,
                   edgecolor="k", label=f"class {value}", zorder=3)
    ax.set(xlabel="$x_1$", ylabel="$x_2$", aspect="equal")
    if title:
        ax.set_title(title)
    return ax


def plot_ggcu(fig, w1: float = 1.0, b1: float = 0.0, w2: float = 1.0, b2: float = 0.0,
              xlim: tuple[float, float] = (-6.0, 6.0)):
    """GGCU and its derivative for one setting of (w1, b1, w2, b2), zeros marked, on ``fig``
    (a Figure or SubFigure); ReLU and GCU drawn faintly for comparison."""
    gm = ggcu_math
    xs = np.linspace(*xlim, 600)
    ax_f, ax_d = fig.subplots(1, 2)
    ax_f.plot(xs, np.maximum(xs, 0), color="0.75", lw=1, label="ReLU")
    ax_f.plot(xs, gm.ggcu(xs), color="0.55", lw=1, ls="--", label="GCU x·cos x")
    ax_f.plot(xs, gm.ggcu(xs, w1, b1, w2, b2), color="C3", lw=2, label="GGCU")
    zeros = gm.ggcu_zeros(*xlim, w1, b1, w2, b2)
    ax_f.plot(zeros, np.zeros_like(zeros), "k.", ms=6, label="zeros")
    ax_d.plot(xs, gm.ggcu_gradient(xs, "x", w1, b1, w2, b2), color="C0", lw=2)
    for ax, title in ((ax_f, "GGCU(x)"), (ax_d, "d GGCU / dx")):
        ax.axhline(0, color="0.85", lw=0.8)
        ax.set(xlabel="x", title=title, xlim=xlim)
    ax_f.set_ylim(-abs(xlim[1]) * 1.2, abs(xlim[1]) * 1.2)
    ax_f.legend(fontsize=7, loc="upper left")
    fig.suptitle(f"w1={w1:g}, b1={b1:g}, w2={w2:g}, b2={b2:g}", fontsize=10)
    return ax_f, ax_d
