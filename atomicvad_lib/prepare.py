"""``atomicvad prepare``: the six balanced manifests from corpora as they are downloaded.

Sources (any combination; at least one must give speech and one background):

- Google Speech Commands v2 (``--speech-commands``): every word folder is speech; its
  ``validation_list.txt`` and ``testing_list.txt`` decide the split, so a speaker never crosses
  splits (without the lists, speakers, the id before ``_nohash_``, are split instead). Its
  ``_background_noise_`` files are background, split by file.
- FreeSound (``--freesound``, repeatable): any tree of audio files, all background, split by file.
- LibriSpeech (``--librispeech``): ``speaker/chapter/*.flac``, speech, split by speaker.
- MUSAN (``--musan``): ``music/`` and ``noise/`` are background, ``speech/`` is speech, each split
  by file.
- AVA-Speech (``--ava``): the labels CSV (``video_id,start,end,label``) and audio files named by
  video id. Its segments become the testing split on their own (the other corpora's testing
  shares are then left out, so no speaker or file serves two splits); ``--ava-offset`` is
  subtracted from the CSV times when the audio starts later than the video (e.g. 900 s).

Windows are ``--window`` (0.63 s) long. Strides follow NVIDIA NeMo's VAD data recipe: 0.63 s for
speech and 0.15 s for background in training and validation (background files are few and long,
so overlapping windows give more of them), and 0.01 s in testing. Speech Commands windows start
at 0.2 s or later (the word sits in the middle of its 1 s clip; a clip where none fits gets one
centred window). Files shorter than a window are skipped, as are unreadable ones (listed).

Each split is then rebalanced with a seeded draw without replacement to ``--speech-count`` and
``--background-count`` windows (default: both classes to the smaller one's count; NeMo's fixed
recipe is 80500,10500,30500). Rows are unique by (file, offset) and sorted, manifests are written
atomically, and a rerun with the same inputs writes byte-identical files.
"""
from __future__ import annotations

import argparse
import csv
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .audio import AudioError, audio_info
from .config import Config
from .files import check_output_dir
from .manifest import LABELS, SPLITS, ManifestEntry, manifest_name, normalise_label, write_manifest

SPEECH_STRIDE = 0.63
BACKGROUND_STRIDE = 0.15
TEST_STRIDE = 0.01
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)
SPEECH_COMMANDS_START = 0.2
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")


class PrepareError(ValueError):
    """A corpus folder or labels file cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Recording:
    """A file (or a labelled segment of one) to cut into windows."""

    path: Path
    label: str                 # "speech" or "background"
    split: str
    corpus: str
    start: float = 0.0         # windows lie inside [start, stop]
    stop: float | None = None  # None: the end of the file
    source_label: str | None = None
    centre_fallback: bool = False


# splitting ---------------------------------------------------------------------------------------
def assign_splits(groups, fractions=SPLIT_FRACTIONS, seed: int = 0,
                  salt: str = "") -> dict[str, str]:
    """Map each group (speaker, file, ...) to a split: a seeded permutation of the sorted groups,
    ``round(n * fraction)`` for testing and validation (at least one each once n >= 3), the rest
    training. Deterministic for the same groups, fractions, seed and salt."""
    unique = sorted(set(groups))
    n = len(unique)
    counts = [round(n * f) for f in fractions]
    if n >= 3:
        counts = [max(1, c) if f > 0 else c for c, f in zip(counts, fractions)]
    n_test, n_val = counts[2], counts[1]
    while n_test + n_val > n - (1 if n else 0):  # keep at least one group for training
        if n_test >= n_val and n_test > 0:
            n_test -= 1
        else:
            n_val -= 1
    rng = np.random.default_rng([seed, zlib.crc32(salt.encode())])
    order = [unique[i] for i in rng.permutation(n)]
    out = {g: "testing" for g in order[:n_test]}
    out.update({g: "validation" for g in order[n_test:n_test + n_val]})
    out.update({g: "training" for g in order[n_test + n_val:]})
    return out


def _audio_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES
                  and p.is_file() and not p.name.startswith("."))


def _need_folder(path, flag: str) -> Path:
    path = Path(path).expanduser()
    if not path.is_dir():
        what = "is a file, not a folder" if path.exists() else "folder does not exist"
        raise PrepareError(f"{flag} {path}: {what}")
    return path


# the layout each corpus flag expects, for the message when a folder holds none of it
LAYOUTS = {
    "--speech-commands": "word folders of 1 s clips, <folder>/<word>/*.wav (with "
                         "validation_list.txt, testing_list.txt and _background_noise_/ "
                         "as in Speech Commands v2)",
    "--freesound": "audio files (.wav, .flac, .ogg) anywhere in the folder or below",
    "--librispeech": "<folder>/<speaker>/<chapter>/*.flac (a LibriSpeech root or subset folder)",
    "--musan": "music/, noise/ and speech/ folders holding audio files (.wav, .flac, .ogg)",
}


def _no_audio(flag: str, root: Path) -> PrepareError:
    return PrepareError(f"{flag} {root}: no audio found in the folder; expected {LAYOUTS[flag]}")


# corpora -----------------------------------------------------------------------------------------
def speech_commands_recordings(root, fractions=SPLIT_FRACTIONS, seed: int = 0) -> list[Recording]:
    """Google Speech Commands v2: word folders (speech) and ``_background_noise_``."""
    root = _need_folder(root, "--speech-commands")
    lists = {}
    for split in ("validation", "testing"):
        list_file = root / f"{split}_list.txt"
        if list_file.is_file():
            lists[split] = {line.strip() for line in list_file.read_text().splitlines()
                            if line.strip()}
    words = sorted(d for d in root.iterdir() if d.is_dir() and d.name != "_background_noise_")
    clips = [p for word in words for p in sorted(word.glob("*.wav"))]
    if len(lists) == 2:
        def split_of(clip: Path) -> str:
            rel = f"{clip.parent.name}/{clip.name}"
            return "validation" if rel in lists["validation"] else \
                "testing" if rel in lists["testing"] else "training"
    else:  # no official lists: keep each speaker in one split
        speaker = lambda clip: clip.name.split("_nohash_")[0]  # noqa: E731
        by_speaker = assign_splits([speaker(c) for c in clips], fractions, seed, "speech_commands")
        split_of = lambda clip: by_speaker[speaker(clip)]  # noqa: E731
    out = [Recording(c, "speech", split_of(c), "speech_commands", start=SPEECH_COMMANDS_START,
                     centre_fallback=True) for c in clips]
    noise_dir = root / "_background_noise_"
    if noise_dir.is_dir():
        noise = _audio_files(noise_dir)
        splits = assign_splits([p.name for p in noise], fractions, seed, "speech_commands_noise")
        out += [Recording(p, "background", splits[p.name], "speech_commands_noise") for p in noise]
    if not out:
        raise _no_audio("--speech-commands", root)
    return out


def freesound_recordings(root, fractions=SPLIT_FRACTIONS, seed: int = 0) -> list[Recording]:
    """Any tree of audio files, all background, split by file."""
    root = _need_folder(root, "--freesound")
    files = _audio_files(root)
    if not files:
        raise _no_audio("--freesound", root)
    splits = assign_splits([p.relative_to(root).as_posix() for p in files], fractions, seed,
                           "freesound")
    return [Recording(p, "background", splits[p.relative_to(root).as_posix()], "freesound")
            for p in files]


def librispeech_recordings(root, fractions=SPLIT_FRACTIONS, seed: int = 0) -> list[Recording]:
    """LibriSpeech ``speaker/chapter/utterance.flac`` (at any depth), split by speaker."""
    root = _need_folder(root, "--librispeech")
    files = sorted(root.rglob("*.flac"))
    if not files:
        raise _no_audio("--librispeech", root)
    splits = assign_splits([p.parent.parent.name for p in files], fractions, seed, "librispeech")
    return [Recording(p, "speech", splits[p.parent.parent.name], "librispeech") for p in files]


def musan_recordings(root, fractions=SPLIT_FRACTIONS, seed: int = 0) -> list[Recording]:
    """MUSAN: ``music`` and ``noise`` background, ``speech`` speech; each split by file."""
    root = _need_folder(root, "--musan")
    out = []
    for category, label in (("music", "background"), ("noise", "background"), ("speech", "speech")):
        folder = root / category
        if not folder.is_dir():
            continue
        files = _audio_files(folder)
        splits = assign_splits([p.relative_to(root).as_posix() for p in files], fractions, seed,
                               f"musan_{category}")
        out += [Recording(p, label, splits[p.relative_to(root).as_posix()], f"musan_{category}")
                for p in files]
    if not out:
        raise _no_audio("--musan", root)
    return out


def ava_recordings(root, labels_csv=None, time_offset: float = 0.0) -> list[Recording]:
    """AVA-Speech labelled segments (testing split), audio found by video id under ``root``."""
    root = _need_folder(root, "--ava")
    if labels_csv is None:
        found = sorted(root.rglob("*.csv"))
        if len(found) != 1:
            raise PrepareError(f"--ava {root}: found {len(found)} CSV files; name the labels file "
                               f"with --ava-labels")
        labels_csv = found[0]
    labels_csv = Path(labels_csv).expanduser()
    if not labels_csv.is_file():
        raise PrepareError(f"--ava-labels {labels_csv}: file does not exist")
    audio = {}
    for path in _audio_files(root):
        audio.setdefault(path.stem, path)
    out = []
    with labels_csv.open(newline="") as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            if not row or not "".join(row).strip() or (number == 1 and row[0] == "video_id"):
                continue
            try:
                video, start, end, label = (cell.strip() for cell in row[:4])
                start, end = float(start) - time_offset, float(end) - time_offset
                normalise_label(label)
                if end <= start or start < 0:
                    raise ValueError("start must be >= 0 and below end")
            except ValueError as err:
                raise PrepareError(f"{labels_csv}:{number}: expected video_id,start,end,label "
                                   f"with a known label ({err}); got {','.join(row)!r}") from None
            if video in audio:
                out.append(Recording(audio[video], normalise_label(label), "testing", "ava_speech",
                                     start=start, stop=end, source_label=label))
    if not out:
        raise PrepareError(f"--ava {root}: no labelled segment has an audio file named by its "
                           f"video id (e.g. <video_id>.wav) under the folder")
    return out


# windows -----------------------------------------------------------------------------------------
def window_offsets(duration: float, window: float, stride: float, start: float = 0.0,
                   stop: float | None = None, centre_fallback: bool = False) -> list[float]:
    """Offsets of ``window``-long windows every ``stride`` s inside [start, min(stop, duration)]."""
    stop = duration if stop is None else min(stop, duration)
    span = stop - start - window  # room left for the window to move
    count = int(np.floor(span / stride + 1e-6)) + 1 if span >= -1e-9 else 0
    offsets = [round(start + k * stride, 4) for k in range(count)]
    if not offsets and centre_fallback and duration >= window:
        offsets = [round((duration - window) / 2, 4)]
    return offsets


def _parse_counts(text: str | None, flag: str) -> dict[str, int] | None:
    if text is None:
        return None
    parts = [p.strip() for p in str(text).split(",")]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise PrepareError(f"{flag} {text!r}: give one count or three (training,validation,"
                           f"testing)") from None
    if len(values) == 1:
        values *= 3
    if len(values) != 3 or min(values) < 0:
        raise PrepareError(f"{flag} {text!r}: give one count or three non-negative counts")
    return dict(zip(SPLITS, values))


@dataclass
class PrepareResult:
    """What ``prepare`` wrote: per (split, label) the manifest, windows available and kept."""

    manifests: dict[tuple[str, str], Path] = field(default_factory=dict)
    available: dict[tuple[str, str], int] = field(default_factory=dict)
    selected: dict[tuple[str, str], int] = field(default_factory=dict)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)
    too_short: int = 0
    files: int = 0

    def table(self) -> str:
        lines = [f"{'split':<11}{'speech':>10}{'(of)':>10}{'background':>12}{'(of)':>10}"]
        for split in SPLITS:
            s, b = (split, "speech"), (split, "background")
            lines.append(f"{split:<11}{self.selected[s]:>10}{self.available[s]:>10}"
                         f"{self.selected[b]:>12}{self.available[b]:>10}")
        return "\n".join(lines)


def prepare(out_dir, *, speech_commands=None, freesound=(), librispeech=None, musan=None,
            ava=None, ava_labels=None, ava_offset: float = 0.0, window: float = Config().window_seconds,
            speech_stride: float = SPEECH_STRIDE, background_stride: float = BACKGROUND_STRIDE,
            test_stride: float = TEST_STRIDE, speech_counts=None, background_counts=None,
            fractions=SPLIT_FRACTIONS, seed: int = 0, progress: bool = True) -> PrepareResult:
    """Write ``balanced_{speech,background}_{training,validation,testing}_manifest.json`` into
    ``out_dir`` (see the module docstring). Counts: None (balance to the smaller class), an int
    for every split, or a dict split -> count. ``out_dir`` is checked first (OutputError), and
    each corpus folder must hold audio in its layout (PrepareError naming the folder)."""
    out_dir = check_output_dir(out_dir)
    if not (0 < window and speech_stride > 0 and background_stride > 0 and test_stride > 0):
        raise PrepareError("window and strides must be positive")
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-6:
        raise PrepareError(f"split fractions {fractions} must be three numbers >= 0 summing to 1")
    recordings: list[Recording] = []
    if speech_commands:
        recordings += speech_commands_recordings(speech_commands, fractions, seed)
    for folder in ([freesound] if isinstance(freesound, (str, Path)) else freesound or ()):
        recordings += freesound_recordings(folder, fractions, seed)
    if librispeech:
        recordings += librispeech_recordings(librispeech, fractions, seed)
    if musan:
        recordings += musan_recordings(musan, fractions, seed)
    if ava:  # AVA-Speech alone makes the testing split
        recordings = [r for r in recordings if r.split != "testing"]
        recordings += ava_recordings(ava, ava_labels, ava_offset)
    if not recordings:
        raise PrepareError("no audio found: give at least one corpus folder (--speech-commands, "
                           "--freesound, --librispeech, --musan, --ava)")

    result = PrepareResult()
    buckets: dict[tuple[str, str], dict] = {(s, lab): {} for s in SPLITS for lab in LABELS}
    owner: dict[tuple[Path, float], tuple[str, str]] = {}
    headers: dict[Path, object] = {}
    for rec in tqdm(recordings, desc="cutting windows", unit="file", disable=not progress):
        path = rec.path.resolve()
        if path not in headers:
            try:
                headers[path] = audio_info(path)
            except AudioError as err:
                headers[path] = err
                result.unreadable.append((path, str(err)))
        info = headers[path]
        if isinstance(info, AudioError):
            continue
        stride = test_stride if rec.split == "testing" else \
            speech_stride if rec.label == "speech" else background_stride
        offsets = window_offsets(info.duration, window, stride, rec.start, rec.stop,
                                 rec.centre_fallback)
        if not offsets:
            result.too_short += 1
        for offset in offsets:
            key = (path, offset)
            if key in owner:  # the same window reached twice (e.g. overlapping folders)
                continue
            owner[key] = (rec.split, rec.label)
            buckets[rec.split, rec.label][key] = (rec.source_label or rec.label, rec.corpus)
    result.files = len(headers)
    for label in LABELS:
        if not any(buckets[s, label] for s in SPLITS):
            raise PrepareError(f"no {label} windows: add a corpus with {label} audio")

    counts = {"speech": _counts(speech_counts), "background": _counts(background_counts)}
    for split_index, split in enumerate(SPLITS):
        smaller = min(len(buckets[split, "speech"]), len(buckets[split, "background"]))
        for label_index, label in enumerate(LABELS):
            bucket = buckets[split, label]
            keys = sorted(bucket)
            wanted = smaller if counts[label] is None else counts[label][split]
            rng = np.random.default_rng([seed, split_index, label_index])
            if wanted < len(keys):
                keys = [keys[i] for i in sorted(rng.choice(len(keys), wanted, replace=False))]
            entries = [ManifestEntry(path, window, offset, label, bucket[path, offset][0],
                                     extra={"source": bucket[path, offset][1]})
                       for path, offset in keys]
            path = write_manifest(out_dir / manifest_name(label, split), entries)
            result.manifests[split, label] = path
            result.available[split, label] = len(bucket)
            result.selected[split, label] = len(entries)
    return result


def _counts(value) -> dict[str, int] | None:
    if value is None or isinstance(value, dict):
        return value
    if isinstance(value, str):
        return _parse_counts(value, "count")
    return {split: int(value) for split in SPLITS}


# CLI ---------------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="folder for the six manifests")
    parser.add_argument("--speech-commands", metavar="DIR", help="Google Speech Commands v2 root")
    parser.add_argument("--freesound", metavar="DIR", action="append", default=[],
                        help="background audio folder (any tree of wav/flac); repeatable")
    parser.add_argument("--librispeech", metavar="DIR", help="LibriSpeech root or subset folder")
    parser.add_argument("--musan", metavar="DIR", help="MUSAN root (music/, noise/, speech/)")
    parser.add_argument("--ava", metavar="DIR", help="AVA-Speech audio folder (testing split)")
    parser.add_argument("--ava-labels", metavar="CSV", help="AVA-Speech labels CSV "
                        "(default: the only .csv under --ava)")
    parser.add_argument("--ava-offset", type=float, default=0.0,
                        help="seconds subtracted from the CSV times (audio start in the video)")
    parser.add_argument("--window", type=float, default=Config().window_seconds,
                        help="window length, s (default: the config's)")
    parser.add_argument("--speech-stride", type=float, default=SPEECH_STRIDE,
                        help="speech stride in training/validation, s")
    parser.add_argument("--background-stride", type=float, default=BACKGROUND_STRIDE,
                        help="background stride in training/validation, s")
    parser.add_argument("--test-stride", type=float, default=TEST_STRIDE,
                        help="stride of both classes in testing, s")
    parser.add_argument("--speech-count", help="speech windows per split: N or TRAIN,VAL,TEST "
                        "(default: the smaller class's count)")
    parser.add_argument("--background-count", help="background windows per split, like "
                        "--speech-count")
    parser.add_argument("--fractions", default="0.8,0.1,0.1",
                        help="training,validation,testing shares of speakers/files")
    parser.add_argument("--seed", type=int, default=0, help="seed of the splits and rebalancing")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Errors (PrepareError, OutputError, ...) go to ``cli.main``, which prints them on stderr in
    the command's one-line style."""
    try:
        fractions = [float(f) for f in args.fractions.split(",")]
    except ValueError:
        raise PrepareError(f"--fractions {args.fractions!r}: give three numbers "
                           f"training,validation,testing, e.g. 0.8,0.1,0.1") from None
    result = prepare(
        args.out, speech_commands=args.speech_commands, freesound=args.freesound,
        librispeech=args.librispeech, musan=args.musan, ava=args.ava,
        ava_labels=args.ava_labels, ava_offset=args.ava_offset, window=args.window,
        speech_stride=args.speech_stride, background_stride=args.background_stride,
        test_stride=args.test_stride,
        speech_counts=_parse_counts(args.speech_count, "--speech-count"),
        background_counts=_parse_counts(args.background_count, "--background-count"),
        fractions=fractions, seed=args.seed, progress=not args.no_progress)
    for path, reason in result.unreadable:
        print(f"skipped unreadable file: {reason}")
    print(f"\n{result.files} audio files read, {result.too_short} too short for a window, "
          f"{len(result.unreadable)} unreadable; windows kept (of available):\n")
    print(result.table())
    print(f"\nmanifests written to {Path(args.out)}")
    for (split, label), count in result.selected.items():
        if count == 0:
            print(f"warning: no {label} windows in the {split} split")
    return 0
