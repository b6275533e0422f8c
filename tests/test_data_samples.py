"""The committed data_samples/ set and the generators of scripts/make_data_samples.py."""
from __future__ import annotations

import json
import shutil
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data_samples"
sys.path.insert(0, str(ROOT / "scripts"))

import make_data_samples as maker  # noqa: E402
from data_synthesis import backgrounds, channel, voices  # noqa: E402

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
            path = DATA / f"balanced_{label}_{split}_manifest.json"
            assert path.exists(), f"missing {path.name}; rebuild with scripts/make_data_samples.py"
            out[(split, label)] = load_manifest(path)
    return out


@pytest.fixture(scope="module")
def audio(manifests) -> dict[str, np.ndarray]:
    files = {e["audio_filepath"] for entries in manifests.values() for e in entries}
    return {f: sf.read(DATA / f, dtype="float64")[0] for f in sorted(files)}


# ---------------------------------------------------------------- the committed set
def test_manifest_lines_have_required_keys(manifests):
    for (split, label), entries in manifests.items():
        assert entries, f"{split}/{label} is empty"
        for e in entries:
            for key, kind in REQUIRED.items():
                assert isinstance(e.get(key), kind), f"{e['_where']}: {key}={e.get(key)!r}"
            assert e["label"] == label and e["duration"] == 0.63, e["_where"]
            assert not Path(e["audio_filepath"]).is_absolute(), e["_where"]
            assert e["audio_filepath"].startswith(f"{label}/{split}/"), e["_where"]
            if label == "speech":
                assert e["text"] and e["voice"] and e["speaker"] and e["language"], e["_where"]
            assert e["source"], e["_where"]


def test_files_are_16k_mono_pcm16_and_windows_lie_inside(manifests):
    frames = {}
    for entries in manifests.values():
        for e in entries:
            path = DATA / e["audio_filepath"]
            if path not in frames:
                assert path.exists(), f"{e['_where']}: {path} missing"
                info = sf.info(path)
                assert (info.samplerate, info.channels, info.subtype) == (SR, 1, "PCM_16"), path
                assert 1.0 <= info.duration <= 2.0 + 1e-9, path
                frames[path] = info.frames
            start = e["offset"] * SR
            assert e["offset"] >= 0, e["_where"]
            # inside whether a reader rounds or truncates the offset
            assert int(np.floor(start + 1e-6)) + WINDOW <= frames[path], e["_where"]
            assert int(np.ceil(start - 1e-6)) + WINDOW <= frames[path], e["_where"]


def test_classes_balanced_and_sized(manifests):
    targets = {"training": 3000, "validation": 600, "testing": 600}
    for split in SPLITS:
        speech, background = manifests[(split, "speech")], manifests[(split, "background")]
        assert len(speech) == len(background) == targets[split]
        for entries in (speech, background):
            files = {e["audio_filepath"] for e in entries}
            assert len(files) * 5 < len(entries), "windows should outnumber files"
            keys = {(e["audio_filepath"], e["offset"]) for e in entries}
            assert len(keys) == len(entries), f"{split}: a window is listed twice"


def test_voices_speakers_languages_sources_disjoint(manifests):
    seen = defaultdict(lambda: defaultdict(set))
    for (split, label), entries in manifests.items():
        for e in entries:
            if label == "speech":
                seen["voice"][e["voice"]].add(split)
                seen["speaker"][e["speaker"]].add(split)
                if e["voice"].startswith("espeak-ng/"):
                    seen["language"][e["language"]].add(split)
            if e["source"] != "none":
                for part in e["source"].removeprefix("mix(").removesuffix(")").split("+"):
                    seen["source"][part].add(split)
    for key, values in seen.items():
        shared = {v: sorted(s) for v, s in values.items() if len(s) > 1}
        assert not shared, f"{key} in several splits: {shared}"
    for split in SPLITS:  # every split has several voices of both genders' synthesizers
        split_voices = {e["voice"] for e in manifests[(split, "speech")]}
        assert len(split_voices) >= 10, split
        assert any(not v.startswith("espeak-ng/") for v in split_voices), split


def test_every_background_family_in_every_split(manifests):
    for split in SPLITS:
        families = {e["source"].split("(")[0].split("/")[0] for e in manifests[(split, "background")]}
        assert families == set(backgrounds.SOURCES_BY_SPLIT) | {"mix"}, split


def test_total_size_under_cap():
    size = sum(p.stat().st_size for p in DATA.rglob("*") if p.is_file())
    assert size <= 20 * 1024 * 1024, f"data_samples/ holds {size / 1e6:.1f} MB"


def window_db(x: np.ndarray, offset: float) -> float:
    start = int(round(offset * SR))
    seg = x[start:start + WINDOW]
    return 10 * np.log10(np.mean(seg ** 2) + 1e-12)


def test_clean_speech_windows_stand_out_from_the_clip_floor(manifests, audio):
    """Where nothing was mixed in, a speech window is well above the clip's quietest 50 ms."""
    checked = 0
    for split in SPLITS:
        for e in manifests[(split, "speech")]:
            if e["source"] != "none":
                continue
            x = audio[e["audio_filepath"]]
            frames = x[: len(x) // 800 * 800].reshape(-1, 800)
            floor = 10 * np.log10(np.min(np.mean(frames ** 2, axis=1)) + 1e-12)
            assert window_db(x, e["offset"]) > floor + 10, e["_where"]
            checked += 1
    assert checked > 500


def test_levels_vary_and_overlap_between_classes(manifests, audio):
    levels = {label: np.array([window_db(audio[e["audio_filepath"]], e["offset"])
                               for e in manifests[("training", label)]]) for label in LABELS}
    for label, db in levels.items():
        assert np.percentile(db, 95) - np.percentile(db, 5) > 15, label
    low, high = np.percentile(levels["speech"], [5, 95])
    inside = np.mean((levels["background"] > low) & (levels["background"] < high))
    assert inside > 0.4, f"only {inside:.0%} of background windows lie in the speech level range"
    assert abs(np.median(levels["speech"]) - np.median(levels["background"])) < 10


def test_script_check_passes_on_committed_set():
    assert maker.check(DATA) == []


def test_script_check_reports_broken_sets(tmp_path):
    for label in LABELS:
        folder = tmp_path / label / "training"
        folder.mkdir(parents=True)
        sf.write(folder / "a.wav", np.zeros(16000, dtype=np.int16), SR, subtype="PCM_16")
    lines = {
        "speech": [{"audio_filepath": "speech/training/a.wav", "duration": 0.63, "label": "speech",
                    "offset": 0.5, "voice": "espeak-ng/m1", "speaker": "espeak-ng/m1", "source": "none",
                    "language": "en-us"}],
        "background": [{"audio_filepath": "background/training/a.wav", "duration": 0.63,
                        "label": "background", "offset": 0.0, "source": "noise/white"}] * 2,
    }
    for split in SPLITS:
        for label in LABELS:
            body = "\n".join(json.dumps(e) for e in lines[label]) if split == "training" else ""
            (tmp_path / f"balanced_{label}_{split}_manifest.json").write_text(body + "\n")
    (tmp_path / "balanced_speech_testing_manifest.json").write_text(
        json.dumps(lines["speech"][0] | {"offset": 0.1}) + "\n{not json\n")
    problems = "\n".join(maker.check(tmp_path))
    assert "outside 16000 samples" in problems              # 0.5 s + 0.63 s > 1 s
    assert "training: 1 speech windows but 2 background" in problems
    assert "balanced_speech_testing_manifest.json:2: not JSON" in problems


# ---------------------------------------------------------------- the generators
def test_source_tables_are_disjoint_and_all_generate():
    by_split = {s: set(backgrounds.sources(s)) for s in SPLITS}
    assert not (by_split["training"] & by_split["validation"])
    assert not (by_split["training"] & by_split["testing"])
    assert not (by_split["validation"] & by_split["testing"])
    for family in backgrounds.SOURCES_BY_SPLIT:
        for split in SPLITS:
            assert backgrounds.sources(split, family), (family, split)
    for source in sorted(set().union(*by_split.values())):
        x = backgrounds.generate(source, np.random.default_rng(3), 8000)
        assert x.shape == (8000,) and np.all(np.isfinite(x))
        assert np.sqrt(np.mean(x ** 2)) == pytest.approx(1.0, rel=1e-6), source


def test_generators_are_deterministic_per_seed():
    a = backgrounds.generate("mix(music/pluck+buzz/vowel-steady)", np.random.default_rng(7), 12000)
    b = backgrounds.generate("mix(music/pluck+buzz/vowel-steady)", np.random.default_rng(7), 12000)
    c = backgrounds.generate("mix(music/pluck+buzz/vowel-steady)", np.random.default_rng(8), 12000)
    assert np.array_equal(a, b) and not np.allclose(a, c)
    x1, o1, m1, _ = maker.background_clip(maker.clip_rng(0, 1, 5), "training", "mix")
    x2, o2, m2, _ = maker.background_clip(maker.clip_rng(0, 1, 5), "training", "mix")
    assert np.array_equal(x1, x2) and np.array_equal(o1, o2) and m1 == m2


@pytest.mark.parametrize("exponent", [0.0, 1.0, 2.0])
def test_coloured_noise_slope(exponent):
    x = channel.coloured_noise(np.random.default_rng(0), 64000, exponent)
    freqs, power = signal.welch(x, fs=SR, nperseg=2048)
    band = (freqs > 100) & (freqs < 6000)
    slope = np.polyfit(np.log10(freqs[band]), np.log10(power[band]), 1)[0]
    assert slope == pytest.approx(-exponent, abs=0.15)


def test_set_level_and_snr_match_independent_rms():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(16000)
    y = channel.set_level(x, -23.0)
    assert 20 * np.log10(np.sqrt(np.mean(y ** 2))) == pytest.approx(-23.0, abs=1e-9)
    speech = np.zeros(16000)
    speech[4000:12000] = rng.standard_normal(8000)
    mask = speech != 0
    noise = rng.standard_normal(16000) * 3
    mixed = channel.mix_at_snr(speech, noise, 5.0, mask)
    added = mixed - speech
    snr = 10 * np.log10(np.mean(speech[mask] ** 2) / np.mean(added ** 2))
    assert snr == pytest.approx(5.0, abs=1e-9)


def test_room_impulse_response_decays_at_requested_rt60():
    for rt60 in (0.3, 0.7):
        h = channel.synthetic_rir(np.random.default_rng(2), rt60=rt60, drr_db=-20.0)
        mid = signal.sosfilt(signal.butter(4, (500, 3000), btype="bandpass", fs=SR, output="sos"), h)
        edc = 10 * np.log10(np.cumsum((mid ** 2)[::-1])[::-1] / np.sum(mid ** 2))
        t = np.arange(len(h)) / SR
        fit = (edc < -5) & (edc > -25)   # T20, extrapolated to 60 dB
        slope = np.polyfit(t[fit], edc[fit], 1)[0]
        assert -60 / slope == pytest.approx(rt60, rel=0.2)
        assert h[0] == 1.0  # direct path, no delay
        assert 10 * np.log10(1.0 / np.sum(h[1:] ** 2)) == pytest.approx(-20.0, abs=1e-6)  # DRR


def test_telephone_band_removes_low_and_high_frequencies():
    x = channel.coloured_noise(np.random.default_rng(4), 32000, 0.0)
    y = channel.telephone(np.random.default_rng(5), x)
    freqs, power = signal.welch(y, fs=SR, nperseg=1024)
    inside = power[(freqs > 500) & (freqs < 3000)].mean()
    assert power[freqs > 4500].mean() < inside * 1e-3
    assert power[(freqs > 20) & (freqs < 120)].mean() < inside * 0.05


def test_window_placement_requires_active_speech():
    n = 24000
    mask = np.zeros(n, dtype=bool)
    mask[8000:12000] = True            # 0.25 s of speech
    offsets = maker.valid_offsets(mask, n)
    assert len(offsets) > 0
    for start in offsets:
        assert mask[start:start + WINDOW].sum() >= maker.MIN_SPEECH_FRACTION * WINDOW
        assert start % maker.GRID == 0 and start + WINDOW < n
    assert maker.valid_offsets(np.zeros(n, dtype=bool), n).size == 0
    picked = maker.spread(offsets, 10)
    assert len(set(picked.tolist())) == 10
    assert maker.allocate([3, 100, 100], 150) == [3, 74, 73]
    with pytest.raises(RuntimeError, match="distinct windows"):
        maker.allocate([3, 4], 10)


@pytest.mark.skipif(shutil.which("espeak-ng") is None,
                    reason="espeak-ng not installed (apt-get install espeak-ng) to test speech synthesis")
def test_speech_clip_is_deterministic_and_placed_over_speech():
    voice = voices.Voice("espeak-ng", "m3", "espeak-ng/m3", "M", "testing")
    made = [maker.speech_clip(maker.clip_rng(2, 0, 1), voice, ["en-us-nyc", "nl"], "testing") for _ in range(2)]
    assert made[0] is not None
    (x1, o1, m1, p1, _), (x2, o2, m2, p2, _) = made
    assert np.array_equal(x1, x2) and np.array_equal(o1, o2) and m1 == m2 and p1 == p2
    assert m1["voice"] == "espeak-ng/m3" and len(o1) > 0


def test_missing_synthesizer_names_the_packages(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(voices.shutil, "which", lambda tool: None)
    with pytest.raises(voices.SynthesizerMissing, match="apt-get install -y espeak-ng flite festival"):
        voices.check_installed()
    assert maker.main(["--out", str(tmp_path / "new")]) == 2
    assert "espeak-ng" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()
