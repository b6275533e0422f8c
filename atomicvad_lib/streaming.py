"""AtomicVAD over audio of any length: sliding windows, smoothing, hangover, speech segments.

The file is read block by block (``soundfile.SoundFile.blocks``), mixed down to mono and resampled
to 16 kHz with a streaming soxr resampler, so an hour-long recording never sits in memory whole:
at any time the reader holds one block plus one window of look-back.

Frames: the audio is cut into frames of ``hop`` seconds; frame ``j`` covers
``[j * hop, (j + 1) * hop)`` and its speech probability is the model's output for the 0.63 s window
centred on the frame (zeros stand in for audio before the start and after the end). Decisions are
then made per frame: smoothing (median or moving average), threshold, hangover (speech is held on
for a while after the probability drops), gaps shorter than ``min_silence`` bridged, segments shorter
than ``min_speech`` removed.
"""
from __future__ import annotations

import argparse
import csv
import json
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import soundfile as sf
import soxr
import tensorflow as tf
from scipy.ndimage import median_filter, uniform_filter1d
from tqdm.auto import tqdm

from .audio import _libsndfile_text, container_problem
from .config import Config
from .export import FRONTEND_FILE, LiteRTModel
from .files import check_output_dir
from .mfcc_numpy import FrontendSpec
from .runs import load_model

Predictor = Callable[[np.ndarray], np.ndarray]  # (batch, window) float32 -> (batch,) P(speech)


class StreamError(ValueError):
    """The audio cannot be streamed; the message names the file and what to do."""


# ---------------------------------------------------------------------------- reading


@dataclass
class AudioSource:
    """What the reader found in the file, and what it changed (``notes``)."""

    path: Path
    sample_rate: int
    channels: int
    frames: int
    notes: list[str] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


def open_source(path: str | Path, sample_rate: int | None = None,
                min_seconds: float | None = None) -> AudioSource:
    """Check the header: readable, not empty, at least ``min_seconds`` (default: one window of
    ``Config``) long; ``sample_rate`` (default ``Config``'s) is the rate the reader resamples to."""
    default = Config()
    sample_rate = sample_rate or default.sample_rate
    min_seconds = default.window_seconds if min_seconds is None else min_seconds
    path = Path(path)
    if not path.is_file():
        raise StreamError(f"{path}: audio file does not exist")
    problem = container_problem(path)
    try:
        info = None if problem else sf.info(str(path))
    except (RuntimeError, sf.SoundFileError) as err:
        problem = _libsndfile_text(path, err)
    if problem:
        raise StreamError(f"{path}: cannot decode audio ({problem}): convert it to WAV or FLAC")
    source = AudioSource(path, int(info.samplerate), int(info.channels), int(info.frames))
    if source.duration < min_seconds:
        raise StreamError(f"{path}: the audio lasts {source.duration:.3f} s, shorter than one "
                          f"{min_seconds:.2f} s window: the model needs at least one full window")
    if source.channels > 1:
        source.notes.append(f"{source.channels} channels: mixed down to mono (channel average)")
    if source.sample_rate != sample_rate:
        source.notes.append(f"sample rate {source.sample_rate} Hz: resampled to {sample_rate} Hz "
                            f"(soxr HQ, streaming)")
    return source


def read_blocks(source: AudioSource, sample_rate: int | None = None,
                block_seconds: float = 30.0) -> Iterator[np.ndarray]:
    """Mono float32 blocks at ``sample_rate`` (default ``Config``'s); each read asks for at most
    ``block_seconds``."""
    sample_rate = sample_rate or Config().sample_rate
    block_frames = max(1, int(round(block_seconds * source.sample_rate)))
    resampler = None
    if source.sample_rate != sample_rate:
        resampler = soxr.ResampleStream(source.sample_rate, sample_rate, 1, dtype="float32",
                                        quality="HQ")
    read = 0
    try:
        with sf.SoundFile(str(source.path)) as f:
            for block in f.blocks(blocksize=block_frames, dtype="float32", always_2d=True):
                read += len(block)
                mono = block.mean(axis=1) if block.shape[1] > 1 else block[:, 0]
                if not np.all(np.isfinite(mono)):
                    raise StreamError(f"{source.path}: NaN or infinite samples near "
                                      f"{read / source.sample_rate:.1f} s: re-export the file")
                if resampler is not None:
                    mono = resampler.resample_chunk(np.ascontiguousarray(mono),
                                                    last=read >= source.frames)
                if len(mono):
                    yield np.ascontiguousarray(mono, dtype=np.float32)
    except (RuntimeError, sf.SoundFileError) as err:
        raise StreamError(f"{source.path}: decoding failed after {read / source.sample_rate:.1f} s "
                          f"({_libsndfile_text(source.path, err)}): the file is truncated or "
                          f"corrupt") from None


# ---------------------------------------------------------------------------- windows


def frame_count(samples: int, hop_samples: int) -> int:
    return -(-samples // hop_samples)


class _Windower:
    """Turns a stream of sample blocks into centred windows, one per hop, without copying them."""

    def __init__(self, window: int, hop: int):
        if not 0 < hop <= window:
            raise ValueError(f"hop must lie in (0, window] samples, got {hop}")
        self.window, self.hop = window, hop
        self.left_pad = window // 2 - hop // 2  # window j starts at j*hop in padded coordinates
        self.buffer = np.zeros(self.left_pad, np.float32)
        self.buffer_start = 0  # padded coordinate of buffer[0]
        self.next_frame = 0
        self.samples = 0

    def push(self, block: np.ndarray, last: bool = False) -> np.ndarray:
        """Append audio; return the (k, window) view of every window now complete."""
        self.samples += len(block)
        parts = [self.buffer, block]
        if last:
            total = frame_count(self.samples, self.hop)
            end = (total - 1) * self.hop + self.window  # padded coordinate of the last sample
            have = self.buffer_start + len(self.buffer) + len(block)
            parts.append(np.zeros(max(0, end - have), np.float32))
        self.buffer = np.concatenate(parts) if len(parts[1]) or last else self.buffer
        first = self.next_frame * self.hop - self.buffer_start
        available = len(self.buffer) - first
        count = 0 if available < self.window else (available - self.window) // self.hop + 1
        if last:
            count = min(count, frame_count(self.samples, self.hop) - self.next_frame)
        if count <= 0:
            return np.zeros((0, self.window), np.float32)
        views = np.lib.stride_tricks.sliding_window_view(self.buffer[first:], self.window)
        windows = views[: (count - 1) * self.hop + 1: self.hop]
        self.next_frame += count
        return windows

    def drop_consumed(self) -> None:
        """Forget samples no future window needs (call after the windows have been used)."""
        keep_from = self.next_frame * self.hop - self.buffer_start
        if keep_from > 0:
            self.buffer = self.buffer[keep_from:].copy()
            self.buffer_start += keep_from


class _Envelope:
    """Per-frame minimum and maximum of the signal, for drawing hours of waveform."""

    def __init__(self, hop: int):
        self.hop, self.rest, self.rows = hop, np.zeros(0, np.float32), []

    def push(self, block: np.ndarray, last: bool = False) -> None:
        data = np.concatenate([self.rest, block])
        whole = len(data) // self.hop * self.hop
        if whole:
            frames = data[:whole].reshape(-1, self.hop)
            self.rows.append(np.stack([frames.min(axis=1), frames.max(axis=1)], axis=1))
        self.rest = data[whole:]
        if last and len(self.rest):
            self.rows.append(np.array([[self.rest.min(), self.rest.max()]], np.float32))
            self.rest = np.zeros(0, np.float32)

    def value(self) -> np.ndarray:
        return np.concatenate(self.rows) if self.rows else np.zeros((0, 2), np.float32)


# ---------------------------------------------------------------------------- running a model


def keras_predictor(model, batch_size: int = 256) -> Predictor:
    """P(speech) of a Keras AtomicVAD model, compiled once for any batch size."""
    window = int(model.input_shape[-1])
    function = tf.function(lambda x: model(x, training=False)[:, 1], reduce_retracing=True,
                           input_signature=[tf.TensorSpec((None, window), tf.float32)])

    def predict(windows: np.ndarray) -> np.ndarray:
        rows = [function(np.ascontiguousarray(windows[i:i + batch_size])).numpy()
                for i in range(0, len(windows), batch_size)]
        return np.concatenate(rows) if rows else np.zeros(0, np.float32)

    return predict


def check_model_path(path: str | Path) -> Path:
    """``path`` when it is a file that can be a model (``.keras`` zip archive or ``.tflite``),
    StreamError otherwise: cheap, so a command can check it before reading any audio."""
    path = Path(path)
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise StreamError(f"--model {path} {what}: pass a .keras file (e.g. experiments/<run>/"
                          f"checkpoints/fold_<i>/best.keras) or an exported .tflite file")
    if path.suffix != ".tflite" and not zipfile.is_zipfile(path):
        raise StreamError(f"--model {path} is not a model: a .keras file is a zip archive "
                          f"(model.save('name.keras')), and an exported file ends in .tflite")
    return path


def load_predictor(path: str | Path, batch_size: int = 256) -> Predictor:
    """A predictor from a ``.keras`` model or an exported ``.tflite`` file."""
    path = Path(path)
    if path.suffix == ".tflite":
        spec_file = path.with_name(FRONTEND_FILE)
        spec = FrontendSpec.from_dict(json.loads(spec_file.read_text())) if spec_file.is_file() \
            else FrontendSpec()
        return LiteRTModel(path, spec)
    return keras_predictor(load_model(path), batch_size)


@dataclass
class StreamResult:
    """Per-frame speech probabilities of one file, and how long computing them took."""

    source: AudioSource
    probabilities: np.ndarray  # (frames,) P(speech), unsmoothed
    envelope: np.ndarray  # (frames, 2) min and max sample per frame
    hop: float  # seconds per frame
    sample_rate: int
    samples: int  # at sample_rate
    seconds: float  # wall-clock processing time
    blocks: int  # blocks read

    @property
    def duration(self) -> float:
        return self.samples / self.sample_rate

    @property
    def times(self) -> np.ndarray:
        """Start time of each frame in seconds."""
        return np.arange(len(self.probabilities)) * self.hop

    @property
    def real_time_factor(self) -> float:
        """Processing time over audio duration (below 1: faster than real time)."""
        return self.seconds / self.duration


def stream_probabilities(path: str | Path, predictor: Predictor, hop: float = 0.08,
                         config: Config | None = None, block_seconds: float = 30.0,
                         batch_size: int = 256, progress: bool = True) -> StreamResult:
    """Speech probability per ``hop`` frame of a file of any length, read block-wise."""
    config = config or Config()
    sr, window = config.sample_rate, config.window_samples
    hop_samples = int(round(hop * sr))
    if not 0 < hop_samples <= window:
        raise StreamError(f"hop must lie in (0, {config.window_seconds}] s, got {hop}")
    source = open_source(path, sr, config.window_seconds)
    expected = frame_count(int(round(source.duration * sr)), hop_samples)
    windower, envelope = _Windower(window, hop_samples), _Envelope(hop_samples)
    probabilities, blocks = [], 0
    started = time.perf_counter()
    bar = tqdm(total=expected, unit="frame", desc=source.path.name, disable=not progress)

    def consume(windows):
        for i in range(0, len(windows), batch_size):
            batch = np.ascontiguousarray(windows[i:i + batch_size])
            probabilities.append(np.asarray(predictor(batch), dtype=np.float32).reshape(-1))
            bar.update(len(batch))

    for block in read_blocks(source, sr, block_seconds):
        blocks += 1
        envelope.push(block)
        consume(windower.push(block))
        windower.drop_consumed()
    envelope.push(np.zeros(0, np.float32), last=True)
    consume(windower.push(np.zeros(0, np.float32), last=True))
    bar.close()
    probs = np.concatenate(probabilities) if probabilities else np.zeros(0, np.float32)
    return StreamResult(source, probs, envelope.value(), hop_samples / sr, sr, windower.samples,
                        time.perf_counter() - started, blocks)


def frame_probabilities(audio: np.ndarray, predictor: Predictor, hop: float = 0.08,
                        config: Config | None = None) -> np.ndarray:
    """The same per-frame probabilities for audio already in memory (16 kHz mono)."""
    config = config or Config()
    window, hop_samples = config.window_samples, int(round(hop * config.sample_rate))
    audio = np.asarray(audio, dtype=np.float32)
    if len(audio) < window:
        raise StreamError(f"audio of {len(audio)} samples is shorter than one window ({window})")
    windower = _Windower(window, hop_samples)
    windows = windower.push(audio, last=True)
    return np.asarray(predictor(np.ascontiguousarray(windows)), dtype=np.float32).reshape(-1)


# ---------------------------------------------------------------------------- decisions


@dataclass(frozen=True)
class Segment:
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class DecisionSettings:
    """How frame probabilities become speech segments (times in milliseconds)."""

    threshold: float = 0.5
    smoothing: str = "median"  # "median", "mean" or "none"
    smooth_ms: float = 240.0
    hangover_ms: float = 160.0
    min_speech_ms: float = 240.0
    min_silence_ms: float = 240.0

    def __post_init__(self):
        if self.smoothing not in ("median", "mean", "none"):
            raise ValueError(f"smoothing must be 'median', 'mean' or 'none', not {self.smoothing!r}")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must lie in [0, 1], got {self.threshold}")
        for key in ("smooth_ms", "hangover_ms", "min_speech_ms", "min_silence_ms"):
            if getattr(self, key) < 0:
                raise ValueError(f"{key} must be >= 0, got {getattr(self, key)}")


def _frames(ms: float, hop: float) -> int:
    return int(round(ms / 1000.0 / hop))


def smooth(probabilities: np.ndarray, method: str = "median", frames: int = 3) -> np.ndarray:
    """Median or moving-average filter over ``frames`` (odd; edges repeat the end values)."""
    p = np.asarray(probabilities, dtype=np.float32)
    if method == "none" or frames <= 1 or len(p) == 0:
        return p.copy()
    frames += 1 - frames % 2  # an odd length keeps the filter centred
    if method == "median":
        return median_filter(p, size=frames, mode="nearest")
    if method == "mean":
        return uniform_filter1d(p, size=frames, mode="nearest")
    raise ValueError(f"smoothing must be 'median', 'mean' or 'none', not {method!r}")


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) frame indices of the True runs."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def decide(probabilities: np.ndarray, hop: float,
           settings: DecisionSettings = DecisionSettings()) -> np.ndarray:
    """Speech (True) or not per frame: smooth, threshold, hangover, bridge gaps, drop blips."""
    smoothed = smooth(probabilities, settings.smoothing, _frames(settings.smooth_ms, hop))
    speech = smoothed >= settings.threshold
    hang = _frames(settings.hangover_ms, hop)
    if hang:
        held = speech.copy()
        for _, end in _runs(speech):
            held[end:end + hang] = True
        speech = held
    gap = _frames(settings.min_silence_ms, hop)
    runs = _runs(speech)
    for (_, end), (start, _) in zip(runs, runs[1:]):
        if start - end < gap:
            speech[end:start] = True
    shortest = _frames(settings.min_speech_ms, hop)
    for start, end in _runs(speech):
        if end - start < shortest:
            speech[start:end] = False
    return speech


def segments_from_mask(speech: np.ndarray, hop: float, duration: float | None = None) -> list[Segment]:
    """Speech frames as time segments (the last one clipped to ``duration``)."""
    out = []
    for start, end in _runs(np.asarray(speech, bool)):
        stop = end * hop if duration is None else min(end * hop, duration)
        out.append(Segment(round(float(start * hop), 3), round(float(stop), 3)))
    return out


def detect_segments(result: StreamResult,
                    settings: DecisionSettings = DecisionSettings()) -> list[Segment]:
    return segments_from_mask(decide(result.probabilities, result.hop, settings), result.hop,
                              result.duration)


# ---------------------------------------------------------------------------- a demo recording


@dataclass
class DemoClip:
    """A long recording stitched from labelled windows, with the truth for every sample."""

    audio: np.ndarray  # float32
    truth: np.ndarray  # bool per sample: speech
    sample_rate: int

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate

    def frame_truth(self, hop: float) -> np.ndarray:
        """Speech (True) per ``hop`` frame, as ``decide`` numbers them: the majority of its
        samples."""
        step = int(round(hop * self.sample_rate))
        return np.array([self.truth[i:i + step].mean() >= 0.5
                         for i in range(0, len(self.truth), step)])


def demo_clip(waveforms: np.ndarray, labels: np.ndarray, seconds: float, seed=0,
              sample_rate: int | None = None) -> DemoClip:
    """At least ``seconds`` of audio: runs of one to four speech windows between runs of one to
    four background windows (``labels`` 1 / 0), drawn with ``seed`` (an int or a NumPy
    Generator), starting with background."""
    rng = np.random.default_rng(seed)
    sample_rate = sample_rate or Config().sample_rate
    speech_rows, background_rows = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    pieces, truth, total, is_speech = [], [], 0, False
    while total < seconds * sample_rate:
        for row in rng.choice(speech_rows if is_speech else background_rows,
                              size=rng.integers(1, 5)):
            pieces.append(waveforms[row])
            truth.append(np.full(len(waveforms[row]), is_speech))
            total += len(waveforms[row])
        is_speech = not is_speech
    return DemoClip(np.concatenate(pieces).astype(np.float32), np.concatenate(truth), sample_rate)


# ---------------------------------------------------------------------------- outputs


def write_segments_csv(segments: list[Segment], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["start", "end", "duration"])
        for s in segments:
            writer.writerow([f"{s.start:.3f}", f"{s.end:.3f}", f"{s.duration:.3f}"])
    return path


def write_rttm(segments: list[Segment], path: str | Path, file_id: str) -> Path:
    """NIST RTTM: one ``SPEAKER`` line per segment, speaker name ``speech``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    file_id = file_id.replace(" ", "_")
    lines = [f"SPEAKER {file_id} 1 {s.start:.3f} {s.duration:.3f} <NA> <NA> speech <NA> <NA>"
             for s in segments]
    path.write_text("".join(line + "\n" for line in lines))
    return path


def write_frames_csv(result: StreamResult, speech: np.ndarray, smoothed: np.ndarray,
                     path: str | Path) -> Path:
    path = Path(path)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["start", "probability", "smoothed", "speech"])
        for t, p, s, d in zip(result.times, result.probabilities, smoothed, speech):
            writer.writerow([f"{t:.3f}", f"{p:.5f}", f"{s:.5f}", int(d)])
    return path


def plot_timeline(result: StreamResult, segments: list[Segment],
                  settings: DecisionSettings = DecisionSettings(), title: str | None = None):
    """Figure: waveform envelope with speech segments shaded, then probability and threshold."""
    t = result.times
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 4.2), sharex=True,
                                      gridspec_kw={"height_ratios": [1.2, 1]})
    env = result.envelope[: len(t)]
    top.fill_between(t[: len(env)], env[:, 0], env[:, 1], step="post", color="0.35", lw=0)
    for s in segments:
        for ax in (top, bottom):
            ax.axvspan(s.start, s.end, color="tab:green", alpha=0.18, lw=0)
    top.set(ylabel="amplitude", title=title or result.source.path.name)
    smoothed = smooth(result.probabilities, settings.smoothing,
                      _frames(settings.smooth_ms, result.hop))
    bottom.step(t, result.probabilities, where="post", color="0.6", lw=0.8, label="P(speech)")
    bottom.step(t, smoothed, where="post", color="tab:blue", lw=1.2,
                label=f"{settings.smoothing} smoothed" if settings.smoothing != "none" else "used")
    bottom.axhline(settings.threshold, color="tab:red", ls="--", lw=0.8, label="threshold")
    bottom.set(xlabel="time (s)", ylabel="P(speech)", ylim=(-0.02, 1.02),
               xlim=(0, max(result.duration, 1e-3)))
    bottom.legend(loc="upper right", fontsize=8, ncol=3)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("audio", help="audio file of any length (WAV, FLAC, OGG; any rate/channels)")
    parser.add_argument("--model", required=True, help=".keras model or exported .tflite file")
    parser.add_argument("--hop", type=float, default=0.08, help="seconds between windows")
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--smoothing", choices=("median", "mean", "none"), default="median")
    parser.add_argument("--smooth-ms", type=float, default=DecisionSettings.smooth_ms)
    parser.add_argument("--hangover-ms", type=float, default=DecisionSettings.hangover_ms)
    parser.add_argument("--min-speech-ms", type=float, default=DecisionSettings.min_speech_ms)
    parser.add_argument("--min-silence-ms", type=float, default=DecisionSettings.min_silence_ms)
    parser.add_argument("--block-seconds", type=float, default=30.0,
                        help="audio read per block (memory stays bounded by it)")
    parser.add_argument("--out", default=None,
                        help="folder for segments.csv, <name>.rttm, frames.csv and timeline.png "
                             "(default: runs/stream/<file name>)")
    parser.add_argument("--no-figure", action="store_true", help="skip the timeline figure")
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(func=run)


def _settings(args: argparse.Namespace) -> DecisionSettings:
    try:
        return DecisionSettings(args.threshold, args.smoothing, args.smooth_ms, args.hangover_ms,
                                args.min_speech_ms, args.min_silence_ms)
    except ValueError as err:  # "<key> must ...": name the option that set it
        key, rule = str(err).split(" ", 1)
        raise StreamError(f"--{key.replace('_', '-')} {getattr(args, key, '')}: "
                          f"{rule.split(', got')[0]}") from None


def run(args: argparse.Namespace) -> int:
    """Errors (StreamError, OutputError, a model that cannot load, ...) go to ``cli.main``, which
    prints them in the command's one-line style. Every input and the output folder are checked
    before the model is loaded or any audio is read."""
    settings = _settings(args)
    window = Config().window_seconds
    if not 0 < args.hop <= window:
        raise StreamError(f"--hop {args.hop}: must lie in (0, {window}] s")
    audio = Path(args.audio)
    out = Path(args.out) if args.out else Path("runs") / "stream" / audio.stem
    check_output_dir(out)
    source = open_source(audio)
    check_model_path(args.model)
    for note in source.notes:
        print(f"note: {audio.name}: {note}")
    predictor = load_predictor(args.model)
    result = stream_probabilities(audio, predictor, args.hop, block_seconds=args.block_seconds,
                                  progress=not args.no_progress)
    speech = decide(result.probabilities, result.hop, settings)
    segments = segments_from_mask(speech, result.hop, result.duration)
    out.mkdir(parents=True, exist_ok=True)
    write_segments_csv(segments, out / "segments.csv")
    write_rttm(segments, out / f"{audio.stem}.rttm", audio.stem)
    smoothed = smooth(result.probabilities, settings.smoothing, _frames(settings.smooth_ms, result.hop))
    write_frames_csv(result, speech, smoothed, out / "frames.csv")
    if not args.no_figure:
        matplotlib.use("Agg")  # a file, never a window
        fig = plot_timeline(result, segments, settings)
        fig.savefig(out / "timeline.png", dpi=110, bbox_inches="tight")
        plt.close(fig)
    speech_seconds = sum(s.duration for s in segments)
    print(f"{audio.name}: {result.duration:.1f} s, {len(result.probabilities)} frames of "
          f"{result.hop * 1000:.0f} ms, {len(segments)} speech segments ({speech_seconds:.1f} s)")
    print(f"real-time factor {result.real_time_factor:.4f} "
          f"({1 / max(result.real_time_factor, 1e-12):.0f}x faster than real time; "
          f"{result.seconds:.2f} s for {result.blocks} block(s))")
    print(f"wrote {out}/segments.csv, {audio.stem}.rttm, frames.csv"
          f"{'' if args.no_figure else ', timeline.png'}")
    return 0
