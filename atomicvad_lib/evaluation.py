"""``atomicvad evaluate``: score a model on any manifest, one window per segment or sliding.

- SPI (single prediction per item): the speech probability of each segment's first
  ``window_seconds`` window, the way the training, validation and test splits are scored.
- SWI (sliding windows per item): windows every ``(1 - overlap) * window`` seconds over the whole
  segment (87.5 % overlap by default), plus one window flush with the segment's end when the hop
  does not land there; the speech probabilities are reduced to one score per segment by their
  median and by their mean.

A segment shorter than a window is zero-padded when it falls short by at most 10 % of a window
(``pipeline.decode_window``'s rule) and is an error otherwise, unless ``pad_short`` pads it too.
Windows are predicted in batches of a fixed size, and the MFCC front-end floors each window on
its own, so no score depends on the batch size or on the other segments.

Metrics (AUROC, accuracy, F1, F2, TPR@FPR, see ``metrics``) come for the whole manifest and per
``source_label`` (AVA-Speech's four labels stay apart). A single-class set reports AUROC as None
with the reason; for each speech label ``auroc_against_all_background`` ranks its segments
against every background segment of the evaluation.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .config import FRONTEND_KEYS, Config, config_differences, describe_differences
from .files import check_output_dir, write_json_atomic
from .manifest import ManifestEntry, read_manifest, split_manifests
from .metrics import binary_metrics, speech_auroc
from .model import predict_speech
from .pipeline import ShortSegmentError, decode_window
from .runs import is_published_archive, load_model

DEFAULT_OVERLAP = 0.875
DEFAULT_BATCH_SIZE = 256
SCORES = {"spi": ("spi",), "swi": ("swi_median", "swi_mean")}


class EvaluationError(ValueError):
    """The model, config or data cannot be evaluated as asked; the message says why."""


# model and config -------------------------------------------------------------------------------
def resolve_config(model_path, config: Config | None = None) -> Config:
    """The config to evaluate ``model_path`` with: the one recorded beside it (``config.yaml`` in
    a fold folder) unless ``config`` is given, which must then agree with the recorded one."""
    recorded_path = Path(model_path).parent / "config.yaml"
    recorded = Config.load(recorded_path) if recorded_path.is_file() else None
    if config is None:
        return recorded or Config()
    if recorded is not None:
        differences = config_differences(recorded, config)
        if differences:
            raise EvaluationError(f"{model_path} was built with a different config than the one "
                                  f"given ({describe_differences(differences)}); omit --config "
                                  f"to use {recorded_path}")
    return config


def check_model_matches(model: keras.Model, config: Config, model_path="the model") -> None:
    """Raise EvaluationError when the model's input length or MFCC settings differ from config."""
    if model.input_shape[-1] != config.window_samples:
        raise EvaluationError(f"{model_path} takes windows of {model.input_shape[-1]} samples, "
                              f"the config {config.window_samples} (window_seconds "
                              f"{config.window_seconds}, sample_rate {config.sample_rate})")
    front = next((layer for layer in model.layers if hasattr(layer, "n_mfcc")), None)
    if front is None:
        return
    found = front.get_config()
    wanted = config.to_dict()
    differ = {k: (found[k], wanted[k]) for k in FRONTEND_KEYS if k in found and found[k] != wanted[k]}
    if differ:
        raise EvaluationError(f"{model_path} computes its MFCCs with other settings than the "
                              f"config: {describe_differences(differ).replace('recorded', 'model')}")


# windows ------------------------------------------------------------------------------------------
def window_starts(n_samples: int, window: int, hop: int) -> np.ndarray:
    """Start samples of the sliding windows over ``n_samples`` (which must be >= ``window``):
    0, hop, 2*hop, ... while a window fits, then one flush with the end if the last one is not."""
    if n_samples < window:
        raise ValueError(f"{n_samples} samples do not hold one {window}-sample window")
    if hop <= 0:
        raise ValueError(f"hop must be positive, got {hop}")
    starts = np.arange(0, n_samples - window + 1, hop)
    if starts[-1] != n_samples - window:
        starts = np.append(starts, n_samples - window)
    return starts


def hop_samples(config: Config, overlap: float) -> int:
    if not 0.0 <= overlap < 1.0:
        raise EvaluationError(f"overlap must lie in [0, 1), got {overlap}")
    return max(1, int(round(config.window_samples * (1.0 - overlap))))


def sliding_windows(audio: np.ndarray, window: int, hop: int) -> np.ndarray:
    """(n_windows, window) views of ``audio`` at ``window_starts``."""
    views = np.lib.stride_tricks.sliding_window_view(audio, window)
    return views[window_starts(audio.size, window, hop)]


def load_segment(entry: ManifestEntry, config: Config, pad_short: bool = False,
                 first_window_only: bool = False) -> np.ndarray:
    """A segment's audio (or just its first window), zero-padded to one window when short
    (``pipeline.decode_window``); EvaluationError, naming ``--pad-short``, when it is too short."""
    try:
        return decode_window(entry, config, pad_short, whole=not first_window_only)
    except ShortSegmentError as err:
        raise EvaluationError(f"{err}, or pass --pad-short to zero-pad it") from None


# scoring ------------------------------------------------------------------------------------------
@dataclass
class Evaluation:
    """Per-segment scores (``predictions``) and their metrics (``metrics``)."""

    predictions: pd.DataFrame
    metrics: dict


@dataclass
class Segments:
    """Entries with their decoded audio (whole segments, or first windows only when
    ``first_window_only``), to score several models without decoding the files again."""

    entries: list[ManifestEntry]
    audio: list[np.ndarray]
    first_window_only: bool


def read_segments(entries: list[ManifestEntry], config: Config, modes=("spi", "swi"),
                  pad_short: bool = False, progress: bool = True) -> Segments:
    """Decode ``entries`` once for ``score_entries`` (whole segments when ``modes`` has SWI).
    It holds all their audio in memory: for long recordings pass the entries instead."""
    first_only = "swi" not in _check_modes(modes)
    audio = [load_segment(entry, config, pad_short, first_window_only=first_only)
             for entry in tqdm(entries, desc="decoding", unit="segment", disable=not progress)]
    return Segments(list(entries), audio, first_only)


def _check_modes(modes) -> tuple:
    modes = tuple(modes)
    unknown = set(modes) - set(SCORES)
    if unknown or not modes:
        raise EvaluationError(f"unknown mode(s) {sorted(unknown)}: choose from spi, swi")
    return modes


def score_entries(model: keras.Model, entries: list[ManifestEntry] | Segments, config: Config,
                  modes=("spi", "swi"), overlap: float = DEFAULT_OVERLAP,
                  batch_size: int = DEFAULT_BATCH_SIZE, pad_short: bool = False,
                  progress: bool = True, chunk_windows: int = 8192) -> pd.DataFrame:
    """One row per entry: its manifest, line, labels and the scores of ``modes``. ``entries``
    are decoded as they are scored, a chunk at a time (long recordings fit in memory), or come
    decoded already (``read_segments``)."""
    modes = _check_modes(modes)
    hop = hop_samples(config, overlap)
    swi = "swi" in modes
    if isinstance(entries, Segments):
        if swi and entries.first_window_only:
            raise EvaluationError("these segments were read for SPI only: read them with "
                                  "modes including 'swi'")
        audios = iter(entries.audio)
        entries = entries.entries
    else:
        audios = (load_segment(entry, config, pad_short, first_window_only=not swi)
                  for entry in entries)
    counts, pending, probabilities = [], [], []

    def flush():
        if pending:
            probabilities.append(predict_speech(model, np.concatenate(pending), batch_size))
            pending.clear()

    held = 0
    for audio in tqdm(audios, total=len(entries), desc="scoring", unit="segment",
                      disable=not progress):
        windows = sliding_windows(audio, config.window_samples, hop) if swi \
            else audio[None, :config.window_samples]
        counts.append(len(windows))
        pending.append(windows)
        held += len(windows)
        if held >= chunk_windows:
            flush()
            held = 0
    flush()
    speech = np.concatenate(probabilities) if probabilities else np.zeros(0, np.float32)
    per_entry = np.split(speech, np.cumsum(counts)[:-1]) if counts else []

    rows = pd.DataFrame({
        "manifest": [str(e.manifest) for e in entries], "line": [e.line for e in entries],
        "audio_filepath": [str(e.audio_filepath) for e in entries],
        "offset": [e.offset for e in entries], "duration": [e.duration for e in entries],
        "label": [e.label for e in entries], "source_label": [e.source_label for e in entries],
        "is_speech": [int(e.label == "speech") for e in entries]})
    if "spi" in modes:
        rows["spi"] = [float(p[0]) for p in per_entry]  # the first window starts at 0 in both
    if swi:
        rows["swi_windows"] = counts
        rows["swi_median"] = [float(np.median(p)) for p in per_entry]
        rows["swi_mean"] = [float(np.mean(p)) for p in per_entry]
    return rows


def summarise(predictions: pd.DataFrame, score: str) -> dict:
    """Metrics of one score column overall and per source label."""
    labels = predictions["is_speech"].to_numpy()
    values = predictions[score].to_numpy()
    background = values[labels == 0]
    by_label = {}
    for source, group in predictions.groupby("source_label", sort=True):
        found = binary_metrics(group["is_speech"].to_numpy(), group[score].to_numpy())
        if (group["is_speech"] == 1).all() and background.size:
            found["auroc_against_all_background"] = speech_auroc(
                np.r_[np.ones(len(group)), np.zeros(background.size)],
                np.r_[group[score].to_numpy(), background])
        by_label[str(source)] = found
    return {"overall": binary_metrics(labels, values), "by_source_label": by_label}


def evaluate(model_path, manifests, config: Config | None = None, modes=("spi", "swi"),
             overlap: float = DEFAULT_OVERLAP, batch_size: int = DEFAULT_BATCH_SIZE,
             pad_short: bool = False, progress: bool = True, out_dir=None) -> Evaluation:
    """Score the model at ``model_path`` on the entries of ``manifests``; with ``out_dir`` also
    write ``predictions.csv`` (one row per segment) and ``metrics.json`` there (checked before
    any work: a file or an unwritable place there is an OutputError)."""
    if out_dir is not None:
        out_dir = check_output_dir(out_dir)
    config = resolve_config(model_path, config)
    model, published = load_model(model_path), is_published_archive(model_path)
    check_model_matches(model, config, model_path)
    manifests = [Path(m) for m in ([manifests] if isinstance(manifests, (str, Path))
                                   else manifests)]
    entries = [entry for manifest in manifests for entry in read_manifest(manifest)]
    if not entries:
        raise EvaluationError(f"nothing to evaluate: {', '.join(map(str, manifests))} "
                              f"hold no entries")
    predictions = score_entries(model, entries, config, modes, overlap, batch_size, pad_short,
                                progress)
    metrics = {
        "model": str(model_path), "published_checkpoint": published,
        "manifests": [str(m) for m in manifests], "n_segments": len(entries),
        "modes": list(modes), "window_seconds": config.window_seconds,
        "overlap": overlap, "hop_seconds": hop_samples(config, overlap) / config.sample_rate,
        "batch_size": batch_size, "pad_short": pad_short,
        "scores": {score: summarise(predictions, score)
                   for mode in modes for score in SCORES[mode]},
        "config": config.to_dict()}
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        predictions.to_csv(out_dir / "predictions.csv", index=False)
        write_json_atomic(out_dir / "metrics.json", metrics)
    return Evaluation(predictions, metrics)


# command line -------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="a .keras file: best.keras of a fold, or a published "
                                      "AtomicVADGGCU-chkpt*.keras")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--manifest", nargs="+", help="manifest file(s) to score")
    source.add_argument("--data", help="data folder with the six balanced manifests "
                                       "(scores --split of it)")
    parser.add_argument("--split", default="testing", choices=("training", "validation",
                                                               "testing"))
    parser.add_argument("--mode", nargs="+", default=["spi", "swi"], choices=sorted(SCORES))
    parser.add_argument("--overlap", type=float, default=DEFAULT_OVERLAP,
                        help=f"SWI window overlap in [0, 1) (default {DEFAULT_OVERLAP})")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--config", help="config file (default: config.yaml beside the model, "
                                          "else the paper's settings)")
    parser.add_argument("--pad-short", action="store_true",
                        help="zero-pad segments shorter than a window instead of stopping")
    parser.add_argument("--out", required=True, help="folder for predictions.csv and "
                                                     "metrics.json")
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Errors (EvaluationError, ConfigError, ManifestError, AudioError, ...) go to ``cli.main``,
    which prints them in the command's one-line style."""
    check_output_dir(args.out)  # before loading the model or any audio
    config = Config.load(args.config) if args.config else None
    manifests = args.manifest or list(split_manifests(args.data, args.split).values())
    result = evaluate(args.model, manifests, config, args.mode, args.overlap, args.batch_size,
                      args.pad_short, not args.no_progress, args.out)
    for score, found in result.metrics["scores"].items():
        overall = found["overall"]
        auroc = overall["auroc"]
        auroc_text = f"{auroc:.4f}" if auroc is not None else f"undefined ({overall['auroc_undefined']})"
        print(f"{score:<11} AUROC {auroc_text}  accuracy {overall['accuracy']:.4f}  "
              f"F1 {overall['f1']:.4f}  F2 {overall['f2']:.4f}  (n={overall['n']})")
    print(f"wrote {Path(args.out) / 'predictions.csv'} and {Path(args.out) / 'metrics.json'}")
    return 0
