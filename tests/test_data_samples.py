"""The committed data_samples/ set, and scripts/make_data_samples.py on small inputs made here."""
from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data_samples"
sys.path.insert(0, str(ROOT / "scripts"))

import data_sources  # noqa: E402
import make_data_samples as maker  # noqa: E402

SPLITS = ("training", "validation", "testing")
LABELS = ("speech", "background")
SR = 16000
WINDOW = 10080
REQUIRED = {"audio_filepath": str, "duration": float, "label": str, "offset": (float, int)}


def load_manifest(path: Path) -> list[dict]:
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        entry = json.loads(line)
        entry["_where"] = f"{path.name}:{number}"
        entries.append(entry)
    return entries


@pytest.fixture(scope="module")
def manifests() -> dict[tuple[str, str], list[dict]]:
    out = {}
    for split in SPLITS:
        for label in LABELS:
            path = DATA / maker.manifest_name(label, split)
            assert path.exists(), f"missing {path.name}; rebuild with scripts/make_data_samples.py"
            out[(split, label)] = load_manifest(path)
    return out


@pytest.fixture(scope="module")
def clips() -> list[dict]:
    return json.loads((DATA / "clips.json").read_text(encoding="utf-8"))


# ---------------------------------------------------------------- the committed set
def test_manifest_lines_have_required_keys(manifests):
    for (split, label), entries in manifests.items():
        assert entries, f"{split}/{label} is empty"
        for e in entries:
            for key, kind in REQUIRED.items():
                assert isinstance(e.get(key), kind), f"{e['_where']}: {key}={e.get(key)!r}"
            assert e["label"] == label and e["duration"] == 0.63, e["_where"]
            assert e["audio_filepath"].startswith(f"{label}/{split}/"), e["_where"]
            assert e["audio_filepath"].endswith(".flac"), e["_where"]
            assert e["source"], e["_where"]
            if label == "speech":
                assert e["speaker"] and e["language"] and e["active"] >= 0.5, e["_where"]


def test_counts_balance_and_windows_outnumber_files(manifests):
    for split in SPLITS:
        speech, background = manifests[(split, "speech")], manifests[(split, "background")]
        assert len(speech) == len(background) == maker.WINDOWS_PER_CLASS[split]
        for entries in (speech, background):
            assert len({e["audio_filepath"] for e in entries}) * 5 < len(entries)


def test_script_check_passes_on_committed_set():
    assert maker.check(DATA) == []


def test_files_are_16k_mono_flac_and_small(clips):
    for record in clips:
        info = sf.info(DATA / record["file"])
        assert (info.samplerate, info.channels, info.format, info.subtype) == (SR, 1, "FLAC", "PCM_16")
    sizes = [p.stat().st_size for p in DATA.rglob("*") if p.is_file()]
    assert sum(sizes) <= 48_000_000 and max(sizes) < 5_000_000


def test_speakers_sources_and_recordings_disjoint(manifests, clips):
    seen = defaultdict(lambda: defaultdict(set))
    for (split, label), entries in manifests.items():
        for e in entries:
            key = "speaker" if label == "speech" else "source"
            seen[key][e["speaker"] if label == "speech" else e["source"]].add(split)
    for record in clips:
        seen["group"][record["group"]].add(record["split"])
        for name in record["recordings"]:
            seen["recording"][name].add(record["split"])
    for key, values in seen.items():
        shared = {v: sorted(s) for v, s in values.items() if len(s) > 1}
        assert not shared, f"{key} in several splits: {shared}"


def test_enough_distinct_real_speech(clips):
    speech = [r for r in clips if r["label"] == "speech"]
    assert sum(r["active_seconds"] for r in speech) >= 20 * 60
    assert len({r["group"] for r in speech}) >= 40
    for split in ("validation", "testing"):
        held = [r for r in speech if r["split"] == split]
        assert len({r["group"] for r in held}) >= 8 and len({r["language"] for r in held}) >= 6
        assert any(r["mixed_with"] for r in held) and any(not r["mixed_with"] for r in held)
        assert all(0 <= r["snr_db"] <= 20 for r in held if r["mixed_with"])
    assert all(not r["mixed_with"] for r in speech if r["split"] == "training")


def test_speech_windows_are_louder_than_room_tone(manifests):
    """Clean speech windows against the same split's room-tone windows (read from the FLACs)."""
    levels = defaultdict(list)
    for split in ("testing",):
        for label in LABELS:
            for e in manifests[(split, label)][::20]:
                if label == "speech" and e["source"] != "clean":
                    continue
                if label == "background" and not e["source"].startswith("room-tone/"):
                    continue
                start = int(round(e["offset"] * SR))
                x, _ = sf.read(DATA / e["audio_filepath"], start=start, frames=WINDOW)
                levels[label].append(10 * np.log10(np.mean(x ** 2) + 1e-12))
    assert levels["speech"] and levels["background"]
    assert np.median(levels["speech"]) > np.median(levels["background"]) + 20


# ---------------------------------------------------------------- labelling
def bursts(spans_s, seconds=2.0, floor=1e-4, seed=0):
    """Noise floor with louder harmonic bursts at ``spans_s`` [(start, end), ...] seconds."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    x = floor * rng.standard_normal(n)
    t = np.arange(n) / SR
    for start, end in spans_s:
        part = (t >= start) & (t < end)
        x[part] += 0.3 * np.sin(2 * np.pi * 180 * t[part]) + 0.1 * np.sin(2 * np.pi * 720 * t[part])
    return x


def test_activity_follows_bursts_fills_short_gaps_and_drops_clicks():
    x = bursts([(0.3, 0.6), (0.7, 1.0), (1.5, 1.51)])    # 100 ms gap; 10 ms click
    frames = maker.activity(x)
    assert frames[35:95].all()                             # 0.35-0.95 s, gap included
    assert not frames[:28].any() and not frames[105:].any()  # before, after, and the click
    assert not maker.activity(bursts([(0.3, 0.6), (0.9, 1.2)]))[65:85].any()  # 300 ms pause stays


def test_activity_threshold_follows_a_noisy_floor():
    quiet = maker.activity(bursts([(0.5, 1.0)], floor=1e-4))
    noisy = maker.activity(bursts([(0.5, 1.0)], floor=3e-3))
    assert quiet[52:98].all() and noisy[52:98].all()
    assert not noisy[:45].any() and not noisy[105:].any()


def test_speech_and_room_tone_offsets():
    n = 3 * SR
    mask = np.zeros(n, bool)
    mask[SR:SR + 4800] = True                              # 0.30 s of speech
    assert maker.speech_offsets(mask).size == 0            # never half a window
    mask[SR:SR + 5200] = True                              # 0.325 s > 0.315 s
    offsets = maker.speech_offsets(mask)
    assert offsets.size > 0 and np.all(offsets % maker.GRID == 0)
    for start in offsets:
        assert mask[start:start + WINDOW].sum() >= 0.5 * WINDOW
    margin = maker.ROOM_TONE_MARGIN * maker.FRAME
    for start in maker.quiet_offsets(mask):
        lo, hi = max(start - margin, 0), start + WINDOW + margin
        assert not mask[lo:hi].any()
    assert maker.quiet_offsets(np.ones(n, bool)).size == 0


def test_room_tone_is_taken_away_from_speech():
    recs = [data_sources.Recording(Path(f"/x/{k}.ogg"), "klettres-data", "speech", "kde/xx",
                                   "klettres/xx", "xx") for k in range(3)]
    decoded = {r.name: bursts([(0.5, 0.9), (1.6, 1.8)], seconds=2.5, floor=1e-3, seed=k)
               for k, r in enumerate(recs)}
    clip = maker.room_tone_clip("kde/xx", recs, decoded, "testing")
    assert clip.label == "background" and clip.kind == "room-tone" and clip.group == "room-tone/kde/xx"
    assert clip.split == "testing" and len(clip.audio) > WINDOW
    # the floor (noise at 1e-3) scaled with the speech: no burst (0.3 + 0.1 amplitude) inside
    gain = np.std(clip.audio) / 1e-3
    assert np.max(np.abs(clip.audio)) < 6 * 1e-3 * gain


def test_licences_compatible_for_mixing():
    ok = maker.licences_compatible
    assert ok("GPL-2+", "CC0-1.0") and ok("CC-BY-SA-3.0", "CC-BY-3.0") and ok("GPL-2+", "GPL-2")
    assert not ok("GPL-2+", "CC-BY-SA-3.0") and not ok("GPL-2", "GPL-3 or LGPL-3")
    assert set(maker.LICENCE_FAMILY) >= {lic for _, lic in data_sources.PACKAGES.values()} | {"MIT"}


def test_background_sources_split_whole_and_by_share():
    groups = {f"src{i}": [data_sources.Recording(Path(f"/x/{i}.wav"), "sonic-pi-samples",
                                                 "background", f"src{i}", "music/x")]
              for i in range(40)}
    seconds = {g: 10.0 for g in groups}
    split = maker.assign_background_splits(groups, seconds)
    assert set(split) == set(groups)
    counts = {s: sum(v == s for v in split.values()) for s in SPLITS}
    assert counts == {"training": 24, "validation": 6, "testing": 10}
    assert split == maker.assign_background_splits(groups, seconds)


# ---------------------------------------------------------------- a whole build on a tiny tree
def fake_tree(root: Path) -> Path:
    """A few 'recordings' in the layout of klettres-data and sonic-pi-samples: harmonic bursts
    with pauses for three languages (one per split) and noises for ten background sources."""
    rng = np.random.default_rng(5)
    for lang in ("de", "da", "fr"):                       # testing, validation, training
        folder = root / f"klettres-data/usr/share/klettres/{lang}/alpha"
        folder.mkdir(parents=True)
        for k in range(8):
            start = 0.2 + 0.1 * rng.random()
            x = bursts([(start, start + 0.8 + 0.4 * rng.random())], seconds=1.6, seed=k)
            sf.write(folder / f"{k}.ogg", x.astype(np.float32), 22050 if k % 2 else SR)
    folder = root / "sonic-pi-samples/usr/share/sonic-pi/samples"
    folder.mkdir(parents=True)
    for k in range(10):
        x = rng.standard_normal(4 * SR) * np.linspace(0.05, 0.2, 4 * SR)
        sf.write(folder / f"loop_src{k}.flac", x.astype(np.float32), SR)
    return root


def small_build(tree: Path, out: Path):
    windows = {"training": 40, "validation": 20, "testing": 20}
    summary = maker.build(tree, out, windows_per_class=windows, progress=False,
                          catalogue=data_sources.catalogue(tree))
    return summary, windows


def test_build_is_deterministic_labelled_and_disjoint(tmp_path):
    tree = fake_tree(tmp_path / "tree")
    summary, windows = small_build(tree, tmp_path / "a")
    small_build(tree, tmp_path / "b")
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert files_a == files_b and len(files_a) > 10
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    assert maker.check(tmp_path / "a", windows, min_speech_minutes=0, min_groups=0) == []
    records = json.loads((tmp_path / "a" / "clips.json").read_text())
    speech_split = {r["group"]: r["split"] for r in records if r["label"] == "speech"}
    assert speech_split == {"kde/de": "testing", "kde/da": "validation", "kde/fr": "training"}
    backgrounds = [json.loads(l) for s in SPLITS for l in
                   (tmp_path / "a" / maker.manifest_name("background", s)).read_text().splitlines()]
    assert any(e["category"] == "room-tone" for e in backgrounds)
    # every speech window is at least half active in the clean recording's mask
    for split in SPLITS:
        for e in load_manifest(tmp_path / "a" / maker.manifest_name("speech", split)):
            assert e["active"] >= 0.5


def test_check_reports_broken_sets(tmp_path):
    tree = fake_tree(tmp_path / "tree")
    _, windows = small_build(tree, tmp_path / "a")
    folder = tmp_path / "a"
    records = json.loads((folder / "clips.json").read_text())
    testing = next(r for r in records if r["split"] == "testing")
    training = next(r for r in records if r["split"] == "training")
    training["recordings"].append(testing["recordings"][0])   # one recording in two splits
    (folder / "clips.json").write_text(json.dumps(records))
    path = folder / maker.manifest_name("speech", "training")
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1] + ["{not json"]) + "\n")
    problems = "\n".join(maker.check(folder, windows, min_speech_minutes=0, min_groups=0))
    assert "is in several splits" in problems
    assert f"{path.name}:{len(lines)}: not JSON" in problems
    assert "training: 39 speech windows but 40 background" in problems
