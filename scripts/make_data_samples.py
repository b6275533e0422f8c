#!/usr/bin/env python3
"""Build data_samples/: a small synthetic speech / background data set with NeMo-style manifests.

Speech comes from Debian's synthesizers (espeak-ng with every variant, flite, festival voices),
backgrounds are made from numbers (noises, hum, tones, music, impulses, voice-like buzzes), and
both pass through the same simulated rooms, phones and microphones. Splits are disjoint by
speaker, language and background source. Every 0.63 s window of a manifest points into a 1-2 s
16 kHz mono 16-bit WAV clip.

    python scripts/make_data_samples.py                 # rebuild data_samples/ (a few minutes)
    python scripts/make_data_samples.py --check         # verify an existing build
    python scripts/make_data_samples.py --out /tmp/x --scale 0.05   # a tiny build
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data_synthesis import SAMPLE_RATE, backgrounds, channel, voices  # noqa: E402

SEED = 20260630
SPLITS = ("training", "validation", "testing")
LABELS = ("speech", "background")
WINDOW = 10080                  # 0.63 s at 16 kHz
WINDOW_SECONDS = 0.63
GRID = 80                       # window offsets lie on a 5 ms grid
WINDOWS_PER_CLASS = {"training": 3000, "validation": 600, "testing": 600}
AUDIO_SECONDS_PER_CLASS = {"training": 155.0, "validation": 33.0, "testing": 33.0}
CLIP_SECONDS = (1.0, 2.0)
MIN_SPEECH_FRACTION = 0.35      # a speech window holds at least 0.22 s of active speech
SPEECH_DBFS = (-35.0, -10.0)    # RMS over active speech
BACKGROUND_DBFS = (-45.0, -10.0)
SILENCE_DBFS = (-85.0, -55.0)
SNR_DB = (-5.0, 20.0)
MAX_BYTES = 20 * 1024 * 1024
# Background clips per round of families (every family comes up in every split).
FAMILY_WEIGHTS = {"noise": 2, "speech-shaped-noise": 2, "hum": 2, "tones": 2, "music": 2,
                  "impulses": 2, "silence": 1, "buzz": 3, "mix": 3}


def manifest_name(label: str, split: str) -> str:
    return f"balanced_{label}_{split}_manifest.json"


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def clip_rng(*keys: int) -> np.random.Generator:
    """An independent generator per (split, label, clip): a clip does not depend on the others."""
    return np.random.default_rng(np.random.SeedSequence([SEED, *keys]))


# ---------------------------------------------------------------- speech clips
def active_frames(x: np.ndarray, frame: int = 160) -> np.ndarray:
    """Per-10 ms-frame speech activity: above 40 dB under the loudest frame and 10 dB over the
    synthesizer's own noise floor (some diphone voices pause on recorded room noise)."""
    n = len(x) // frame
    db = 10 * np.log10(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1) + 1e-12)
    threshold = max(db.max() - 40, np.percentile(db, 10) + 10)
    return db > threshold


def sample_mask(x: np.ndarray, frame: int = 160) -> np.ndarray:
    flags = active_frames(x, frame)
    mask = np.zeros(len(x), dtype=bool)
    mask[: len(flags) * frame] = np.repeat(flags, frame)
    return mask


def valid_offsets(mask: np.ndarray | None, n: int) -> np.ndarray:
    """Window starts (samples, on the grid) lying inside the clip with one spare sample; for speech,
    also holding at least MIN_SPEECH_FRACTION of active speech."""
    starts = np.arange(0, n - WINDOW, GRID)
    if mask is None:
        return starts
    csum = np.concatenate([[0], np.cumsum(mask)])
    return starts[(csum[starts + WINDOW] - csum[starts]) >= MIN_SPEECH_FRACTION * WINDOW]


def speech_clip(rng, voice, languages, split):
    """One speech clip, or None when the utterance is too short for a window."""
    if voice.language:
        language = voice.language
    elif rng.random() < 0.6:
        language = str(rng.choice(voices.ENGLISH_DIALECTS[split]))
    else:
        language = str(rng.choice([l for l in languages if not l.startswith("en")]))
    text = voices.choose_text(rng, voice, language)
    dry, prosody = voices.synthesize(voice, text, language, rng)
    if len(dry) < 1600 or np.max(np.abs(dry)) < 1e-3:  # e.g. a constructed language reading digits
        return None
    idx = np.nonzero(active_frames(dry))[0]
    dry = dry[max(idx[0] * 160 - 480, 0): (idx[-1] + 1) * 160 + 480]
    if rng.random() < 0.7:
        dry = voices.change_vocal_tract(dry, float(rng.uniform(0.9, 1.12)))
    longest = int((CLIP_SECONDS[1] - 0.1) * SAMPLE_RATE)
    if len(dry) > longest:  # cut a long phrase, fading out over 20 ms
        dry = dry[:longest] * np.concatenate([np.ones(longest - 320), np.linspace(1, 0, 320)])
    pads = rng.uniform(0.03, 0.3, 2) * SAMPLE_RATE
    n = int(np.clip(len(dry) + pads.sum(), CLIP_SECONDS[0] * SAMPLE_RATE, CLIP_SECONDS[1] * SAMPLE_RATE))
    room = n - len(dry)  # samples of padding around the utterance
    if len(dry) + pads.sum() < n:  # short word stretched to the shortest clip: anywhere in it
        start = int(rng.uniform(0, room))
    else:
        start = int(pads[0] * room / pads.sum())
    placed = np.zeros(n)
    placed[start:start + len(dry)] = dry
    mask = sample_mask(placed)
    offsets = valid_offsets(mask, n)
    if len(offsets) == 0:
        return None
    x = placed
    source = "none"
    if rng.random() < 0.6:
        pool = [s for s in backgrounds.sources(split) if not s.startswith("silence/")]
        if rng.random() < 0.15:
            source = f"mix({'+'.join(rng.choice(pool, 2, replace=False))})"
        else:
            source = str(rng.choice(pool))
        x = channel.mix_at_snr(placed, backgrounds.generate(source, rng, n), rng.uniform(*SNR_DB), mask)
    x, stages = channel.apply_channel(rng, x)
    x = channel.set_level(x, rng.uniform(*SPEECH_DBFS), mask)
    x = channel.finish(rng, channel.add_mic_noise(rng, x))
    meta = {"text": text, "voice": voice.key, "speaker": voice.speaker, "language": language, "source": source}
    return x, offsets, meta, prosody, stages


def speech_playlist(split_voices, rng):
    """Voices in shuffled rounds; the more natural festival/flite voices come three times a round."""
    weighted = [v for v in split_voices for _ in range(1 if v.synth == "espeak-ng" else 3)]
    while True:
        for i in rng.permutation(len(weighted)):
            yield weighted[i]


# ---------------------------------------------------------------- background clips
def family_playlist(rng):
    """Background families in shuffled rounds, each FAMILY_WEIGHTS[f] times a round."""
    weighted = [f for f, w in FAMILY_WEIGHTS.items() for _ in range(w)]
    while True:
        for i in rng.permutation(len(weighted)):
            yield weighted[i]


def background_source(rng, split, family):
    if family == "mix":
        pool = [s for s in backgrounds.sources(split) if not s.startswith("silence/")]
        return f"mix({'+'.join(rng.choice(pool, int(rng.integers(2, 4)), replace=False))})"
    return str(rng.choice(backgrounds.sources(split, family)))


def background_clip(rng, split, family):
    source = background_source(rng, split, family)
    n = int(rng.uniform(*CLIP_SECONDS) * SAMPLE_RATE)
    x, stages = channel.apply_channel(rng, backgrounds.generate(source, rng, n))
    x = channel.set_level(x, rng.uniform(*(SILENCE_DBFS if source.startswith("silence/") else BACKGROUND_DBFS)))
    x = channel.finish(rng, channel.add_mic_noise(rng, x))
    return x, valid_offsets(None, n), {"source": source}, stages


# ---------------------------------------------------------------- windows
def allocate(capacities: list[int], total: int) -> list[int]:
    """Spread `total` windows over clips as evenly as their capacities allow."""
    if sum(capacities) < total:
        raise RuntimeError(f"clips hold only {sum(capacities)} distinct windows, {total} needed")
    counts = [0] * len(capacities)
    remaining = total
    while remaining:
        for i, cap in enumerate(capacities):
            if remaining and counts[i] < cap:
                counts[i] += 1
                remaining -= 1
    return counts


def spread(offsets: np.ndarray, k: int) -> np.ndarray:
    """k distinct offsets evenly spaced through the valid ones."""
    picks = np.floor(np.linspace(0, len(offsets) - 1, k) + 0.5).astype(int)
    return offsets[picks]


# ---------------------------------------------------------------- build
def build_split_class(out: Path, split: str, label: str, scale: float, inventory, languages, bar):
    s_idx, l_idx = SPLITS.index(split), LABELS.index(label)
    budget = int(AUDIO_SECONDS_PER_CLASS[split] * scale * SAMPLE_RATE)
    folder = out / label / split
    folder.mkdir(parents=True, exist_ok=True)
    playlist = (speech_playlist(inventory[split], clip_rng(s_idx, l_idx)) if label == "speech"
                else family_playlist(clip_rng(s_idx, l_idx)))
    clips, used, i = [], 0, 0
    while used < budget:
        rng = clip_rng(s_idx, l_idx, i)
        if label == "speech":
            voice = next(playlist)
            made = None
            for _ in range(6):
                made = speech_clip(rng, voice, languages[split], split)
                if made is not None:
                    break
            if made is None:
                raise RuntimeError(f"voice {voice.key} gave no utterance long enough for a window")
            audio, offsets, meta, _, _ = made
            name = f"{i:04d}_{slug(voice.key)}.wav"
        else:
            audio, offsets, meta, _ = background_clip(rng, split, next(playlist))
            name = f"{i:04d}_{slug(meta['source'])}.wav"
        sf.write(folder / name, channel.to_pcm16(audio), SAMPLE_RATE, subtype="PCM_16")
        clips.append((f"{label}/{split}/{name}", offsets, meta))
        bar.update(min(len(audio), max(budget - used, 0)))  # samples; the budgets add up to the total
        used += len(audio)
        i += 1
    target = max(int(round(WINDOWS_PER_CLASS[split] * scale)), 1)
    counts = allocate([len(o) for _, o, _ in clips], target)
    lines = []
    for (path, offsets, meta), k in zip(clips, counts):
        for start in spread(offsets, k):
            entry = {"audio_filepath": path, "duration": WINDOW_SECONDS, "label": label,
                     "offset": round(int(start) / SAMPLE_RATE, 4)}
            entry.update(meta)
            lines.append(json.dumps(entry, ensure_ascii=False))
    (out / manifest_name(label, split)).write_text("\n".join(lines) + "\n", encoding="utf-8")


def build(out: Path, scale: float) -> None:
    voices.check_installed()
    inventory, languages = voices.inventory()
    partial = out.with_name(out.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    total = sum(int(AUDIO_SECONDS_PER_CLASS[s] * scale * SAMPLE_RATE) for s in SPLITS for _ in LABELS)
    layout = "{l_bar}{bar}| {n:.0f}/{total:.0f} s of audio [{elapsed}<{remaining}{postfix}]"
    with tqdm(total=total, desc="data_samples", bar_format=layout, unit_scale=1 / SAMPLE_RATE) as bar:
        for split in SPLITS:
            for label in LABELS:
                bar.set_postfix_str(f"{label}/{split}")
                build_split_class(partial, split, label, scale, inventory, languages, bar)
    summary = summarize(partial)
    (partial / "README.md").write_text(readme(summary, inventory, languages, scale), encoding="utf-8")
    problems = check(partial)
    if problems:
        raise RuntimeError("the new build failed its checks (left in %s):\n  " % partial + "\n  ".join(problems))
    if out.exists():  # replace the old build only once the new one is complete and checked
        old = out.with_name(out.name + ".old")
        if old.exists():
            shutil.rmtree(old)
        out.rename(old)
        partial.rename(out)
        shutil.rmtree(old)
    else:
        partial.rename(out)
    print(f"wrote {out}: {summary['bytes'] / 1e6:.2f} MB, "
          + ", ".join(f"{s} {summary['windows'][(s, 'speech')]}+{summary['windows'][(s, 'background')]}"
                      for s in SPLITS))


# ---------------------------------------------------------------- check and summary
def read_lines(path: Path) -> list[dict]:
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{number}: not JSON ({err})") from err
        entry["_line"] = number
        entries.append(entry)
    return entries


def check(root: Path) -> list[str]:
    """Every problem found in a build (empty when it is sound)."""
    problems, frames, seen = [], {}, defaultdict(lambda: defaultdict(set))
    counts = {}
    for split in SPLITS:
        for label in LABELS:
            path = root / manifest_name(label, split)
            if not path.exists():
                problems.append(f"missing manifest {path.name}")
                continue
            try:
                entries = read_lines(path)
            except ValueError as err:
                problems.append(str(err))
                continue
            counts[(split, label)] = len(entries)
            for e in entries:
                where = f"{path.name}:{e['_line']}"
                missing = {"audio_filepath", "duration", "label", "offset"} - set(e)
                if missing:
                    problems.append(f"{where}: missing keys {sorted(missing)}")
                    continue
                if e["label"] != label or abs(e["duration"] - WINDOW_SECONDS) > 1e-9:
                    problems.append(f"{where}: label/duration {e['label']}/{e['duration']}")
                audio = root / e["audio_filepath"]
                if audio not in frames:
                    if not audio.exists():
                        problems.append(f"{where}: {e['audio_filepath']} does not exist")
                        frames[audio] = -1
                        continue
                    info = sf.info(audio)
                    if info.samplerate != SAMPLE_RATE or info.channels != 1 or info.subtype != "PCM_16":
                        problems.append(f"{audio.name}: {info.samplerate} Hz, {info.channels} ch, {info.subtype}")
                    frames[audio] = info.frames
                start = int(round(e["offset"] * SAMPLE_RATE))
                if frames[audio] >= 0 and not (0 <= start and start + WINDOW <= frames[audio]):
                    problems.append(f"{where}: window {e['offset']} s + 0.63 s outside {frames[audio]} samples")
                for key in ("voice", "speaker", "source"):
                    if key in e and e[key] != "none":
                        seen[key][e[key]].add(split)
                if str(e.get("voice", "")).startswith("espeak-ng/"):  # festival voices fix their own
                    seen["espeak-ng language"][e["language"]].add(split)
    for split in SPLITS:
        a, b = counts.get((split, "speech")), counts.get((split, "background"))
        if a != b:
            problems.append(f"{split}: {a} speech windows but {b} background windows")
    for key, values in seen.items():
        for value, splits in values.items():
            if len(splits) > 1:
                problems.append(f"{key} {value!r} appears in {sorted(splits)}")
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    if size > MAX_BYTES:
        problems.append(f"{root} holds {size} bytes, over the {MAX_BYTES} byte cap")
    return problems


def summarize(root: Path) -> dict:
    windows, clips, voice_sets, source_sets, seconds = {}, {}, defaultdict(Counter), defaultdict(Counter), {}
    for split in SPLITS:
        for label in LABELS:
            entries = read_lines(root / manifest_name(label, split))
            windows[(split, label)] = len(entries)
            files = {e["audio_filepath"] for e in entries}
            clips[(split, label)] = len(files)
            seconds[(split, label)] = sum(sf.info(root / f).duration for f in files)
            for e in entries:
                if label == "speech":
                    voice_sets[split][e["voice"]] += 1
                source_sets[(split, label)][e["source"]] += 1
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    return {"windows": windows, "clips": clips, "voices": voice_sets, "sources": source_sets,
            "seconds": seconds, "bytes": size}


def readme(summary: dict, inventory, languages, scale: float) -> str:
    v = voices.versions()
    rows = "\n".join(
        f"| {split} | {summary['windows'][(split, 'speech')]} | {summary['windows'][(split, 'background')]} "
        f"| {summary['clips'][(split, 'speech')]} / {summary['clips'][(split, 'background')]} "
        f"| {summary['seconds'][(split, 'speech')]:.0f} / {summary['seconds'][(split, 'background')]:.0f} |"
        for split in SPLITS)
    voice_lines = []
    for split in SPLITS:
        used = summary["voices"][split]
        names = ", ".join(sorted(used, key=str.lower))
        langs = ", ".join(languages[split])
        voice_lines.append(f"- **{split}** ({len(used)} voices): {names}.\n  espeak-ng languages: {langs}.")
    source_lines = []
    for split in SPLITS:
        names = ", ".join(backgrounds.sources(split))
        source_lines.append(f"- **{split}**: {names}, and mixtures of them.")
    scale_note = "" if scale == 1.0 else f"\n(Built with `--scale {scale}`: a reduced set.)\n"
    return f"""# data_samples: a small synthetic speech / background set

Made entirely by `scripts/make_data_samples.py` (same licence as this repository). Rebuild with

```bash
sudo apt-get install -y {' '.join(voices.DEBIAN_PACKAGES)}
.venv/bin/python scripts/make_data_samples.py          # about a minute on one core
.venv/bin/python scripts/make_data_samples.py --check  # counts, balance, disjointness, size
```

`tests/test_data_samples.py` checks the committed set (and the generators) on every test run.

The seed is fixed ({SEED}); a rebuild with the same package versions gives the same manifests and
WAV bytes. Built with espeak-ng {v['espeak-ng']}, flite {v['flite']}, festival {v['festival']}.
{scale_note}
## Contents

16 kHz mono 16-bit WAV clips of 1-2 s in `speech/<split>/` and `background/<split>/`, and six
NeMo-style manifests `balanced_<label>_<split>_manifest.json`. Each manifest line is one 0.63 s
window (10,080 samples): `audio_filepath` (relative to this folder), `duration`, `offset` (seconds
into the clip), `label` (`speech` or `background`), and for exploration `source` (the background
generator, or what was mixed under the speech), and for speech `text`, `voice`, `speaker` (voices
from one recorded person or derived variants share it) and `language`. Several windows point into
each clip (they may overlap), so windows outnumber files.

| split | speech windows | background windows | clips (speech / background) | seconds (speech / background) |
| --- | --- | --- | --- | --- |
{rows}

Total size: {summary['bytes'] / 1e6:.1f} MB.

## How it is made

- **Speech**: every espeak-ng voice variant (with languages drawn from the split's own list),
  the flite voices and festival's Debian voices (English, Italian, Catalan, Czech, Finnish,
  Russian, Hindi, Marathi, Telugu). They say Speech-Commands words and short command phrases in
  English, numbers and pseudo-words in other languages, native phrases for the festival voices.
  Speaking rate, pitch, pitch range and word gaps are drawn per utterance, and 70 % of utterances
  are resampled by 0.9-1.12 (pitch and formants together, like a smaller or larger speaker).
  Speech windows are placed where at least {MIN_SPEECH_FRACTION:.0%} of the window is active speech
  (an energy check on the clean utterance). Active-speech level: {SPEECH_DBFS[0]:.0f} to
  {SPEECH_DBFS[1]:.0f} dBFS RMS. 60 % of clips have a background of the same split mixed in at
  {SNR_DB[0]:.0f} to {SNR_DB[1]:.0f} dB SNR.
- **Backgrounds**: coloured and band noises, speech-shaped noise (steady, swelling, syllable-rate
  modulated, gated), mains hum and transformer buzz, beeps, chords, sweeps, alarms, DTMF, sirens,
  bird-like chirps, synthetic music (lead, pluck, organ, chiptune, bells, pads, drums), clicks,
  knocks, crackle, ticks, claps, drips, near-silence, voice-like formant buzzes without phonetic
  structure (steady, gliding and sung vowels, nasal hum, motors), and mixtures. Level
  {BACKGROUND_DBFS[0]:.0f} to {BACKGROUND_DBFS[1]:.0f} dBFS RMS (near-silence {SILENCE_DBFS[0]:.0f}
  to {SILENCE_DBFS[1]:.0f}), so loudness alone does not tell the classes apart.
- **Channel** (both classes, same odds): a synthetic room impulse response (RT60 0.15-0.9 s) for
  half the clips; a telephone band (8 kHz, 300-3400 Hz, sometimes 8-bit mu-law) for 20 %; a
  cheap-microphone response for 35 %; microphone self-noise (-90 to -55 dBFS) always; occasional
  soft clipping.

## Splits are disjoint

No voice, speaker, espeak-ng language or background source appears in two splits, so the testing
split measures generalisation to unseen voices and unseen kinds of background.

Voices per split:

{chr(10).join(voice_lines)}

Background sources per split:

{chr(10).join(source_lines)}

## Limits

All speech is synthetic: formant (espeak-ng), diphone, unit-selection and HMM voices, no human
talker. A model trained only on this set learns the task but will miss much real speech and flag
some real noises; the set is for learning and for fast tests. For real results train and test on
real corpora (e.g. Speech Commands, LibriSpeech, AVA-Speech, with noises from MUSAN, ESC-50 or
DEMAND). Windows of one clip overlap, so there are far fewer independent examples than windows.
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("data_samples"), help="output folder")
    parser.add_argument("--check", action="store_true", help="only verify an existing build")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="fraction of the full size (audio seconds and windows), for quick builds")
    args = parser.parse_args(argv)
    if args.check:
        if not args.out.exists():
            print(f"{args.out} does not exist; build it with {Path(__file__).name} --out {args.out}")
            return 2
        problems = check(args.out)
        for p in problems:
            print("PROBLEM:", p)
        summary = summarize(args.out) if not problems else None
        if summary:
            for split in SPLITS:
                print(f"{split}: {summary['windows'][(split, 'speech')]} speech, "
                      f"{summary['windows'][(split, 'background')]} background windows")
            print(f"size {summary['bytes'] / 1e6:.2f} MB: ok")
        return 1 if problems else 0
    if not 0 < args.scale <= 1.2:
        parser.error("--scale must lie in (0, 1.2]")
    try:
        build(args.out, args.scale)
    except voices.SynthesizerMissing as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
