"""NeMo-style JSON-lines manifests: one labelled audio segment per line.

Each line is a JSON object with ``audio_filepath``, ``duration`` (s) and ``label``; ``offset`` (s,
default 0) and ``text`` are optional, and other keys (``voice``, ``source``, ...) are kept in
``ManifestEntry.extra``. Relative paths resolve against the manifest's own folder, so a data set
(manifests plus audio) can be moved as a whole.

Labels are ``speech`` and ``background``; AVA-Speech's ``NO_SPEECH`` (background) and
``CLEAN_SPEECH``, ``SPEECH_WITH_MUSIC``, ``SPEECH_WITH_NOISE`` (speech) are understood too, and
``source_label`` keeps the label as written.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
from tqdm.auto import tqdm

from .audio import MAX_PAD_FRACTION, AudioError, audio_info, load_audio
from .config import Config
from .files import atomic_open

SPLITS = ("training", "validation", "testing")
LABELS = ("background", "speech")
# label as written (lower-cased) -> normalised label
LABEL_ALIASES = {
    "speech": "speech",
    "background": "background",
    "no_speech": "background",
    "clean_speech": "speech",
    "speech_with_music": "speech",
    "speech_with_noise": "speech",
}
REQUIRED_KEYS = ("audio_filepath", "duration", "label")
STANDARD_KEYS = ("audio_filepath", "duration", "label", "offset", "text")


class ManifestError(ValueError):
    """A manifest is missing or one of its lines is malformed; the message names file and line."""


def normalise_label(label: str) -> str:
    """``"speech"`` or ``"background"`` for any understood label; ValueError otherwise."""
    if not isinstance(label, str) or label.strip().lower() not in LABEL_ALIASES:
        raise ValueError(f"unknown label {label!r}: use one of {', '.join(LABELS)} or AVA-Speech's "
                         f"NO_SPEECH, CLEAN_SPEECH, SPEECH_WITH_MUSIC, SPEECH_WITH_NOISE")
    return LABEL_ALIASES[label.strip().lower()]


@dataclass(frozen=True)
class ManifestEntry:
    """One manifest line. ``label`` is normalised; ``source_label`` is the label as written."""

    audio_filepath: Path
    duration: float
    offset: float
    label: str
    source_label: str = ""
    text: str | None = None
    manifest: Path | None = None
    line: int = 0
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    def __post_init__(self) -> None:
        # frozen: normalise through object.__setattr__
        object.__setattr__(self, "audio_filepath", Path(self.audio_filepath))
        object.__setattr__(self, "duration", float(self.duration))
        object.__setattr__(self, "offset", float(self.offset))
        source = self.source_label or self.label
        label = normalise_label(source)
        if normalise_label(self.label) != label:
            raise ValueError(f"label {self.label!r} disagrees with source_label {source!r}")
        object.__setattr__(self, "label", label)
        object.__setattr__(self, "source_label", source)

    @property
    def where(self) -> str:
        """``manifest.json line 12`` (or the audio path when the entry has no manifest)."""
        if self.manifest is None:
            return str(self.audio_filepath)
        return f"{self.manifest} line {self.line}"


@dataclass(frozen=True)
class ManifestProblem:
    """One problem found in a manifest line (line 0: the manifest as a whole)."""

    manifest: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.manifest}:{self.line}: {self.message}" if self.line else \
            f"{self.manifest}: {self.message}"


def _number(obj: dict, key: str, problems: list[str], minimum: float, strict: bool) -> float | None:
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        problems.append(f"'{key}' must be a finite number of seconds, got {value!r}")
        return None
    if value < minimum or (strict and value == minimum):
        problems.append(f"'{key}' must be {'>' if strict else '>='} {minimum:g} s, got {value!r}")
        return None
    return float(value)


def parse_line(text: str, manifest: Path, line: int) -> tuple[ManifestEntry | None, list[str]]:
    """Parse one manifest line: ``(entry, [])`` or ``(None, problems)`` with every problem found."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as err:
        return None, [f"malformed JSON ({err.msg} at column {err.colno}): each line must be one "
                      f"JSON object"]
    if not isinstance(obj, dict):
        return None, [f"expected a JSON object, got {type(obj).__name__}"]
    problems: list[str] = []
    missing = [key for key in REQUIRED_KEYS if key not in obj]
    if missing:
        problems.append(f"missing required key(s) {', '.join(missing)}")
    path = obj.get("audio_filepath")
    if "audio_filepath" in obj and (not isinstance(path, str) or not path.strip()):
        problems.append(f"'audio_filepath' must be a non-empty string, got {path!r}")
    duration = _number(obj, "duration", problems, 0.0, strict=True) if "duration" in obj else None
    offset = _number(obj, "offset", problems, 0.0, strict=False) if "offset" in obj else 0.0
    label = obj.get("label")
    if "label" in obj:
        try:
            normalise_label(label)
        except ValueError as err:
            problems.append(str(err))
    text_value = obj.get("text")
    if text_value is not None and not isinstance(text_value, str):
        problems.append(f"'text' must be a string or null, got {text_value!r}")
    if problems:
        return None, problems
    audio = Path(os.path.expanduser(path))
    if not audio.is_absolute():
        audio = manifest.parent / audio
    audio = Path(os.path.normpath(audio))
    extra = {k: v for k, v in obj.items() if k not in STANDARD_KEYS}
    entry = ManifestEntry(audio, duration, offset, normalise_label(label), label, text_value,
                          manifest, line, extra)
    return entry, []


def scan_manifest(path: str | Path) -> tuple[list[ManifestEntry], list[ManifestProblem]]:
    """Every well-formed entry of a manifest and every problem (blank lines are skipped)."""
    manifest = Path(os.path.abspath(os.path.expanduser(path)))
    try:
        lines = manifest.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return [], [ManifestProblem(manifest, 0, "manifest file does not exist: run "
                                                 "`atomicvad prepare` or check the path")]
    except (OSError, UnicodeDecodeError) as err:
        return [], [ManifestProblem(manifest, 0, f"cannot read manifest: {err}")]
    entries, problems = [], []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        entry, found = parse_line(text, manifest, number)
        if entry is not None:
            entries.append(entry)
        problems.extend(ManifestProblem(manifest, number, msg) for msg in found)
    return entries, problems


def read_manifest(path: str | Path) -> list[ManifestEntry]:
    """All entries of a manifest; ManifestError naming the file and line of the first problem."""
    entries, problems = scan_manifest(path)
    if problems:
        more = len(problems) - 1
        hint = (f" (and {more} more problem{'s' * (more > 1)}; `atomicvad validate {path}` lists "
                f"them all)") if more else ""
        raise ManifestError(f"{problems[0]}{hint}")
    return entries


def entry_to_dict(entry: ManifestEntry, folder: Path | None = None) -> dict[str, Any]:
    """The JSON object of an entry; the audio path is relative when it lies under ``folder``."""
    audio = Path(os.path.abspath(entry.audio_filepath))
    if folder is not None:
        try:
            audio_text = audio.relative_to(folder).as_posix()
        except ValueError:
            audio_text = str(audio)
    else:
        audio_text = str(audio)
    obj: dict[str, Any] = {"audio_filepath": audio_text, "duration": round(entry.duration, 6),
                           "label": entry.source_label, "offset": round(entry.offset, 6)}
    if entry.text is not None:
        obj["text"] = entry.text
    obj.update({k: v for k, v in entry.extra.items() if k not in obj})
    return obj


def write_manifest(path: str | Path, entries: Iterable[ManifestEntry]) -> Path:
    """Write entries as JSON lines, atomically (a crash leaves the old file intact).

    Audio under the manifest's folder is written as a relative path, so the data set can move.
    """
    path = Path(os.path.abspath(os.path.expanduser(path)))
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(entry_to_dict(e, path.parent), ensure_ascii=False) for e in entries]
    with atomic_open(path, encoding="utf-8") as out:
        out.write("".join(line + "\n" for line in lines))
    return path


def manifest_name(label: str, split: str) -> str:
    """``balanced_<label>_<split>_manifest.json``, the training manifests' file names."""
    if label not in LABELS:
        raise ValueError(f"label must be one of {', '.join(LABELS)}, got {label!r}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    return f"balanced_{label}_{split}_manifest.json"


def split_manifests(data_dir: str | Path, split: str) -> dict[str, Path]:
    """``{"speech": ..., "background": ...}``: the two manifests of a split in ``data_dir``."""
    data_dir = Path(data_dir)
    return {label: data_dir / manifest_name(label, split) for label in ("speech", "background")}


def subset_manifests(data_dir: str | Path, out_dir: str | Path, per_manifest: int,
                     seed: int = 0) -> Path:
    """Write the six balanced manifests of ``data_dir`` to ``out_dir`` with at most
    ``per_manifest`` entries each (a seeded random choice, in manifest order); audio paths point
    at the original files. For quick runs; returns ``out_dir``."""
    out_dir = Path(out_dir)
    rng = np.random.default_rng(seed)
    for split in SPLITS:
        sources, targets = split_manifests(data_dir, split), split_manifests(out_dir, split)
        for label, source in sources.items():
            entries = read_manifest(source)
            if len(entries) > per_manifest:
                keep = np.sort(rng.choice(len(entries), per_manifest, replace=False))
                entries = [entries[i] for i in keep]
            write_manifest(targets[label], entries)
    return out_dir


# `atomicvad validate` ----------------------------------------------------------------------------


def _balanced_label(manifest: Path) -> str | None:
    """``speech``/``background`` for a file named like a balanced training manifest."""
    for label in LABELS:
        if any(manifest.name == manifest_name(label, split) for split in SPLITS):
            return label
    return None


def validate_manifests(paths: Iterable[str | Path], decode: bool = False,
                       progress: bool = True) -> tuple[int, list[ManifestProblem]]:
    """Check every line of every manifest; returns ``(lines checked, problems)``.

    Per line: well-formed JSON with the required keys and types, a known label, an audio file
    that exists and whose header libsndfile reads (``decode=True`` decodes the segment too), a
    segment inside the file (the loader's 10 % end-of-file padding allowed), no duplicate
    (file, offset) across the manifests given, and in a ``balanced_<label>_*`` manifest the
    matching label and at least 90 % of a window (``Config().window_seconds``). A manifest
    without entries is a problem (nothing to train or evaluate on), and segments of
    floating-point files are always decoded, since only they can hold NaN or infinite samples,
    which a header does not show.
    """
    window = Config().window_seconds
    manifests = [Path(os.path.abspath(os.path.expanduser(p))) for p in paths]
    texts: dict[Path, list[str]] = {}
    problems: list[ManifestProblem] = []
    for manifest in manifests:
        try:
            texts[manifest] = manifest.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            problems.append(ManifestProblem(manifest, 0, "manifest file does not exist"))
        except (OSError, UnicodeDecodeError) as err:
            problems.append(ManifestProblem(manifest, 0, f"cannot read manifest: {err}"))
    infos: dict[Path, Any] = {}
    seen: dict[tuple[Path, float], tuple[Path, int]] = {}
    checked = 0
    bar = tqdm(total=sum(len(t) for t in texts.values()), desc="validating", unit="line",
               disable=not progress)
    for manifest, lines in texts.items():
        expected_label = _balanced_label(manifest)
        if not any(text.strip() for text in lines):
            problems.append(ManifestProblem(manifest, 0, "manifest holds no entries (the file "
                                                         "is empty): nothing to train or evaluate "
                                                         "on; rerun `atomicvad prepare` or fill it"))
        for number, text in enumerate(lines, start=1):
            bar.update(1)
            if not text.strip():
                continue
            checked += 1
            entry, found = parse_line(text, manifest, number)
            problems.extend(ManifestProblem(manifest, number, msg) for msg in found)
            if entry is None:
                continue
            add = lambda msg: problems.append(ManifestProblem(manifest, number, msg))  # noqa: E731
            if expected_label and entry.label != expected_label:
                add(f"label {entry.source_label!r} in a {expected_label} manifest")
            if expected_label and entry.duration < (1 - MAX_PAD_FRACTION) * window:
                add(f"duration {entry.duration:g} s is shorter than a {window} s window")
            key = (entry.audio_filepath, round(entry.offset, 4))
            if key in seen:
                other, other_line = seen[key]
                add(f"duplicate of {other.name} line {other_line} (same file and offset)")
            else:
                seen[key] = (manifest, number)
            path = entry.audio_filepath
            if path not in infos:
                try:
                    infos[path] = audio_info(path)
                except AudioError as err:
                    infos[path] = err
            info = infos[path]
            if isinstance(info, AudioError):
                add(str(info))
                continue
            overrun = entry.offset + entry.duration - info.duration
            if entry.offset >= info.duration:
                add(f"offset {entry.offset:g} s lies beyond the end of {path.name} "
                    f"({info.duration:.3f} s)")
            elif overrun > MAX_PAD_FRACTION * entry.duration:
                add(f"segment {entry.offset:g}+{entry.duration:g} s runs {overrun:.3f} s past the "
                    f"end of {path.name} ({info.duration:.3f} s)")
            elif decode or info.floating_point:
                try:
                    load_audio(path, entry.offset, entry.duration)
                except AudioError as err:
                    add(str(err))
    bar.close()
    return checked, problems


def add_arguments(parser) -> None:
    parser.add_argument("manifests", nargs="+", metavar="MANIFEST", help="manifest files to check")
    parser.add_argument("--decode", action="store_true",
                        help="decode every segment too (slower; default reads file headers only, "
                             "and decodes only float-sample files, which may hold NaN)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=run)


def run(args) -> int:
    """Print every problem as ``file:line: message``, then a summary; exit code 1 if any."""
    checked, problems = validate_manifests(args.manifests, decode=args.decode,
                                           progress=not args.no_progress)
    for problem in problems:
        print(problem)
    lines_with_problems = len({(p.manifest, p.line) for p in problems})
    print(f"\nchecked {checked} line(s) in {len(args.manifests)} manifest(s): {len(problems)} "
          f"problem(s) on {lines_with_problems} line(s)")
    if problems:
        print("fix the lines above (or rerun `atomicvad prepare`) and validate again")
    return 1 if problems else 0
