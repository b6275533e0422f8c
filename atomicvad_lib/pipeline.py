"""Decoded windows and the tf.data pipeline that feeds them to training and evaluation.

``load_windows`` decodes each manifest entry's first window (``config.window_seconds`` from its
offset) once; ``config.cache`` keeps the result in memory (``"memory"``, the default), as ``.npy``
files read back memory-mapped (``"disk:<folder>"``, for corpora that do not fit in RAM), or not
at all (``"none"``). Only decoded audio is cached, never augmented audio.

``make_dataset`` batches window indices first and then gathers and augments whole batches, which
keeps the pipeline far faster than the model. A training dataset is reproducible: epoch ``e`` (the
``e``-th time the dataset is iterated, counting from ``first_epoch``) is shuffled with the key
(seed, e) and batch ``i`` of it is augmented with a key folded from (seed, e, i), so the same seed
gives the same batches in the same order, while every epoch reshuffles and draws new augmentation.
The shuffle is a full permutation of the windows (they are in memory or memory-mapped), so
``config.shuffle_buffer`` is not used.

With ``features=True`` the pipeline also computes each batch's features (after augmentation:
MFCCs, or log-mel for the ResNet baseline), so
that training runs the front-end on tf.data's threads, in parallel with the train step, instead of
inside it. The features are per window (see ``features.MFCC``), so they do not depend on which
windows share a batch.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from .audio import MAX_PAD_FRACTION, AudioError, load_audio
from .augment import augment_batch, noise_bank
from .config import Config
from .features import frontend_layer
from .files import atomic_path
from .manifest import ManifestEntry, ManifestError, read_manifest, split_manifests

CACHE_FORMAT = 1
_MEMORY_CACHE: dict[str, "WindowSet"] = {}


@dataclass
class WindowSet:
    """Decoded windows: ``waveforms`` float32 (N, window_samples), ``labels`` int32 (N,) with
    1 = speech and 0 = background, and the manifest entry of each row."""

    waveforms: np.ndarray
    labels: np.ndarray
    entries: list[ManifestEntry]

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, rows) -> "WindowSet":
        """The rows selected by a boolean mask or an index array."""
        rows = np.flatnonzero(rows) if np.asarray(rows).dtype == bool else np.asarray(rows, int)
        return WindowSet(np.asarray(self.waveforms[rows]), self.labels[rows],
                         [self.entries[i] for i in rows])

    @property
    def speech(self) -> "WindowSet":
        return self.subset(self.labels == 1)

    @property
    def background(self) -> "WindowSet":
        return self.subset(self.labels == 0)

    @staticmethod
    def concatenate(sets: Iterable["WindowSet"]) -> "WindowSet":
        sets = list(sets)
        return WindowSet(np.concatenate([s.waveforms for s in sets]),
                         np.concatenate([s.labels for s in sets]),
                         [e for s in sets for e in s.entries])


# decoding ---------------------------------------------------------------------------------------
class ShortSegmentError(AudioError):
    """A segment is more than 10 % of a window shorter than one window."""


def decode_window(entry: ManifestEntry, config: Config, pad_short: bool = False,
                  whole: bool = False) -> np.ndarray:
    """The first ``config.window_seconds`` of an entry as float32 (window_samples,), or with
    ``whole`` the whole segment (at least one window).

    A segment shorter than a window is zero-padded at the end when it falls short by at most 10 %
    of a window (the same rule as at the end of a file), and is a ShortSegmentError otherwise,
    unless ``pad_short`` pads it too.
    """
    window = config.window_seconds
    if window - entry.duration > MAX_PAD_FRACTION * window + 1e-9 and not pad_short:
        raise ShortSegmentError(f"{entry.audio_filepath} (manifest {entry.where}): segment lasts "
                                f"{entry.duration:.3f} s, shorter than one {window:.2f} s window "
                                f"(at most {MAX_PAD_FRACTION:.0%} is zero-padded): drop the line "
                                f"or lengthen it")
    duration = entry.duration if whole else min(entry.duration, window)
    audio = load_audio(entry.audio_filepath, entry.offset, duration, config.sample_rate,
                       manifest=entry.manifest, line=entry.line)
    if audio.size < config.window_samples:
        audio = np.pad(audio, (0, config.window_samples - audio.size))
    return audio if whole else audio[:config.window_samples]


def _as_paths(manifest_paths) -> list[Path]:
    if isinstance(manifest_paths, (str, os.PathLike)):
        manifest_paths = [manifest_paths]
    return [Path(p) for p in manifest_paths]


def window_key(manifests: list[Path], entries: list[ManifestEntry], config: Config) -> str:
    """The decoded-audio cache key of ``entries``: it changes whenever a manifest, an audio file
    (size, modification time) or the window settings change."""
    digest = hashlib.sha256(json.dumps([CACHE_FORMAT, config.sample_rate,
                                        config.window_seconds]).encode())
    for manifest in manifests:
        digest.update(str(manifest.resolve()).encode())
        digest.update(manifest.read_bytes())
    for path in sorted({e.audio_filepath for e in entries}):
        try:
            stat = path.stat()
            digest.update(f"{path}|{stat.st_size}|{stat.st_mtime_ns}".encode())
        except OSError:
            digest.update(f"{path}|missing".encode())
    return digest.hexdigest()


def _decode_all(entries: list[ManifestEntry], config: Config, progress: bool,
                description: str) -> np.ndarray:
    waveforms = np.empty((len(entries), config.window_samples), np.float32)
    for row, entry in enumerate(tqdm(entries, desc=description, unit="window",
                                     disable=not progress, leave=False)):
        waveforms[row] = decode_window(entry, config)
    return waveforms


def _save_disk_cache(folder: Path, waveforms: np.ndarray, labels: np.ndarray) -> None:
    """Write the cache folder atomically: a reader sees a complete cache or none."""
    try:
        with atomic_path(folder, directory=True) as tmp:
            np.save(tmp / "waveforms.npy", waveforms)
            np.save(tmp / "labels.npy", labels)
    except OSError:
        if not (folder / "labels.npy").is_file():  # else another process wrote it first
            raise


def load_windows(manifest_paths, config: Config | None = None, progress: bool = True) -> WindowSet:
    """Decode the first window of every entry of one or more manifests (cached per config.cache).

    Raises ManifestError for a malformed manifest and AudioError for unusable audio, each naming
    the manifest file and line.
    """
    config = config or Config()
    manifests = _as_paths(manifest_paths)
    entries = [entry for manifest in manifests for entry in read_manifest(manifest)]
    labels = np.array([e.label == "speech" for e in entries], np.int32)
    if config.cache == "none":
        key = None
    else:
        key = window_key(manifests, entries, config)
        if key in _MEMORY_CACHE:
            cached = _MEMORY_CACHE[key]
            return WindowSet(cached.waveforms, cached.labels, entries)
    description = "decoding " + ", ".join(m.name for m in manifests)
    if config.cache.startswith("disk:"):
        folder = Path(config.cache[len("disk:"):]).expanduser() / f"windows-{key[:24]}"
        if not (folder / "labels.npy").is_file():
            _save_disk_cache(folder, _decode_all(entries, config, progress, description), labels)
        waveforms = np.load(folder / "waveforms.npy", mmap_mode="r")
        if waveforms.shape != (len(entries), config.window_samples):
            raise ValueError(f"disk cache {folder} holds {waveforms.shape}, expected "
                             f"{(len(entries), config.window_samples)}: delete the folder")
    else:
        waveforms = _decode_all(entries, config, progress, description)
    if key is not None:
        waveforms.flags.writeable = False  # shared by every caller of the cache
        labels.flags.writeable = False
        _MEMORY_CACHE[key] = WindowSet(waveforms, labels, entries)
    return WindowSet(waveforms, labels, entries)


def load_split(data_dir, split: str, config: Config | None = None,
               progress: bool = True) -> WindowSet:
    """The speech and background windows of a split (``training``/``validation``/``testing``)."""
    paths = split_manifests(data_dir, split)
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise ManifestError(f"manifest(s) not found: {', '.join(missing)}: run `atomicvad prepare` "
                            f"or point data_dir at a folder holding the six balanced manifests")
    return load_windows([paths["speech"], paths["background"]], config, progress)


def clear_cache() -> None:
    """Forget the windows decoded in this process (the disk cache stays)."""
    _MEMORY_CACHE.clear()


# tf.data ----------------------------------------------------------------------------------------
def _gatherer(array: np.ndarray, window_samples: int):
    """A function: int indices (K,) -> rows (K, window_samples) float32, for use inside tf.data."""
    if isinstance(array, np.memmap):  # disk cache: read only the rows asked for
        def gather(indices):
            rows = tf.numpy_function(lambda i: np.asarray(array[i], np.float32), [indices],
                                     tf.float32, stateful=False)
            rows.set_shape([None, window_samples])
            return rows
        return gather
    constant = tf.constant(np.asarray(array, np.float32))
    return lambda indices: tf.gather(constant, indices)


def _mean_squares(array: np.ndarray, rows=None, chunk: int = 4096) -> np.ndarray:
    """Mean square of each (selected) row, a chunk at a time (arrays may be memory-mapped)."""
    rows = np.arange(array.shape[0]) if rows is None else np.asarray(rows)
    out = np.empty(rows.size, np.float32)
    for start in range(0, rows.size, chunk):
        part = np.asarray(array[rows[start:start + chunk]], np.float64)
        out[start:start + chunk] = np.mean(np.square(part), axis=1)
    return out


def _background_pool(windows: WindowSet, background, config: Config):
    """(gather, count, mean square of each) for the windows mixed into speech; count 0 disables
    mixing."""
    if background is False or config.background_prob == 0:
        return None, 0, None
    if background is None:
        rows = np.flatnonzero(windows.labels == 0)
        own = _gatherer(windows.waveforms, config.window_samples)
        power = tf.constant(_mean_squares(windows.waveforms, rows))
        rows_t = tf.constant(rows, tf.int64)
        return (lambda i: own(tf.gather(rows_t, i))), int(rows.size), power
    array = background.waveforms if isinstance(background, WindowSet) else background
    if array.ndim != 2 or array.shape[1] != config.window_samples:
        raise ValueError(f"background windows must be shaped (K, {config.window_samples}), "
                         f"got {array.shape}")
    return (_gatherer(array, config.window_samples), int(array.shape[0]),
            tf.constant(_mean_squares(array)))


def make_dataset(windows: WindowSet, config: Config, seed: int, training: bool,
                 background=None, *, first_epoch: int = 0, features: bool = False,
                 repeat: bool = False, return_details: bool = False) -> tf.data.Dataset:
    """Batches ``(waveforms (B, L) float32, one-hot labels (B, 2) float32)``, classes ordered
    ``[background, speech]``, ``B = config.batch_size`` (the last batch may be smaller: with a
    fresh shuffle every epoch no window is left out for good, and a set smaller than a batch
    still trains).

    ``training=True`` shuffles and augments (see ``augment``) anew each time the dataset is
    iterated, deterministically for ``seed``; ``first_epoch`` resumes the epoch count (e.g. after
    an interrupted run). ``background``: windows mixed into speech, as a WindowSet or (K, L)
    array; None uses the background windows of ``windows``, False disables mixing.
    ``training=False`` yields every window once, in order, unaugmented.
    ``repeat=True`` (training only) yields epoch after epoch without end, from ``first_epoch``
    on, the same batches as iterating the dataset again and again; use it with ``fit(...,
    steps_per_epoch=ceil(N / B))``. Only this form is fast under op determinism (which
    ``train_fold`` enables): the per-iteration epoch count comes from a Python generator, a
    stateful op, and with one in the pipeline TensorFlow runs every map serially and turns
    prefetching off.
    ``features=True`` yields the front-end's images instead of waveforms (MFCCs, (B, n_mfcc,
    frames, 1); log-mel, (B, n_mels, frames, 1), for ``architecture="resnet"``), for a model that
    starts at the features (``model.feature_model``).
    ``return_details=True`` adds a third element, a dict with each window's ``index`` into
    ``windows`` and (training) its augmentation draws, for inspection and tests (not for fit).
    """
    n = len(windows)
    if n == 0:
        raise ValueError("no windows to make a dataset of: the manifests are empty")
    if windows.waveforms.shape[1:] != (config.window_samples,):
        raise ValueError(f"windows must be shaped (N, {config.window_samples}), got "
                         f"{windows.waveforms.shape}")
    gather = _gatherer(windows.waveforms, config.window_samples)
    labels = tf.constant(np.asarray(windows.labels, np.int32))
    batch = config.batch_size
    autotune = tf.data.AUTOTUNE
    mfcc = tf.function(frontend_layer(config).call) if features else (lambda x: x)

    if not training:
        def lookup(indices):
            x, y = mfcc(gather(indices)), tf.one_hot(tf.gather(labels, indices), 2)
            return (x, y, {"index": indices}) if return_details else (x, y)
        dataset = tf.data.Dataset.range(n).batch(batch)
        return dataset.map(lookup, num_parallel_calls=autotune, deterministic=True) \
            .prefetch(autotune)

    background_gather, background_count, background_power = _background_pool(windows, background,
                                                                              config)
    if repeat:
        epoch_numbers = tf.data.Dataset.counter(first_epoch)
    else:
        epochs = itertools.count(first_epoch)  # advanced once per iteration of the dataset
        epoch_numbers = tf.data.Dataset.from_generator(
            lambda: iter([next(epochs)]), output_signature=tf.TensorSpec((), tf.int64))
    seed = int(seed)
    bank = noise_bank(config.window_samples, seed)

    def epoch_batches(epoch):
        key = tf.stack([tf.constant(seed, tf.int64), epoch])
        order = tf.random.experimental.stateless_shuffle(tf.range(n, dtype=tf.int64), seed=key)
        indexed = tf.data.Dataset.from_tensor_slices(order).batch(batch).enumerate()
        return indexed.map(lambda i, idx: (tf.random.experimental.stateless_fold_in(key, i), idx))

    def augment(key, indices):
        y = tf.gather(labels, indices)
        x, details = augment_batch(gather(indices), y, key, config, background_gather,
                                   background_count, bank, background_power)
        x, onehot = mfcc(x), tf.one_hot(y, 2)
        return (x, onehot, {"index": indices, **details}) if return_details else (x, onehot)

    dataset = epoch_numbers.flat_map(epoch_batches)
    dataset = dataset.map(augment, num_parallel_calls=autotune, deterministic=True)
    if not repeat:
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(math.ceil(n / batch)))
    return dataset.prefetch(autotune)
