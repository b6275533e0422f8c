"""atomicvad evaluate: sliding windows, SPI/SWI scores against direct predictions, per-label
metrics, batch independence, published checkpoints, bad input."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from sklearn.metrics import roc_auc_score

from atomicvad_lib import Config, build_model
from atomicvad_lib.cli import main
from atomicvad_lib.evaluation import EvaluationError, evaluate, hop_samples, read_segments, \
    score_entries, sliding_windows, window_starts
from atomicvad_lib.manifest import read_manifest

WINDOW = Config().window_samples
AVA_LABELS = ("CLEAN_SPEECH", "SPEECH_WITH_MUSIC", "SPEECH_WITH_NOISE", "NO_SPEECH")


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "untrained.keras"
    build_model(Config(), seed=3).save(path)
    return path


@pytest.fixture(scope="module")
def model(model_path):
    from atomicvad_lib.evaluation import load_model
    return load_model(model_path)


def _write_segments(folder: Path, specs, seed=0) -> Path:
    """A manifest of WAV segments; ``specs`` are (label, seconds) pairs."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, (label, seconds) in enumerate(specs):
        n = int(round(seconds * 16000))
        t = np.arange(n) / 16000
        tone = np.sin(2 * np.pi * rng.uniform(120, 300) * t) * (0.5 + 0.5 * np.sin(7 * t))
        audio = (0.2 * tone + 0.05 * rng.normal(size=n)) if "SPEECH" in label.upper() and \
            "NO_" not in label.upper() else 0.1 * rng.normal(size=n)
        sf.write(folder / f"seg{i}.wav", audio.astype(np.float32), 16000, subtype="FLOAT")
        lines.append(json.dumps({"audio_filepath": f"seg{i}.wav", "duration": seconds,
                                 "offset": 0.0, "label": label}))
    manifest = folder / "manifest.json"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def test_window_starts_cover_the_segment_and_end_flush():
    assert window_starts(WINDOW, WINDOW, 1260).tolist() == [0]
    assert window_starts(WINDOW + 100, WINDOW, 1260).tolist() == [0, 100]
    n = 2 * WINDOW + 500
    starts = window_starts(n, WINDOW, 1260)
    expected = list(range(0, n - WINDOW + 1, 1260))
    assert starts.tolist() == expected + [n - WINDOW]
    assert hop_samples(Config(), 0.875) == 1260 and hop_samples(Config(), 0.0) == WINDOW
    audio = np.arange(n, dtype=np.float32)
    windows = sliding_windows(audio, WINDOW, 1260)
    for row, start in zip(windows, starts):
        np.testing.assert_array_equal(row, audio[start:start + WINDOW])
    with pytest.raises(ValueError, match="do not hold one"):
        window_starts(WINDOW - 1, WINDOW, 1260)


def test_spi_and_swi_scores_equal_direct_predictions(model, tmp_path):
    specs = [(AVA_LABELS[i % 4], s) for i, s in enumerate([0.63, 1.0, 1.7, 2.3, 0.9, 1.26, 3.1,
                                                           0.7])]
    entries = read_manifest(_write_segments(tmp_path / "ava", specs))
    rows = score_entries(model, entries, Config(), overlap=0.5, batch_size=16, progress=False)
    hop = hop_samples(Config(), 0.5)
    for entry, row in zip(entries, rows.itertuples()):
        audio = sf.read(entry.audio_filepath, dtype="float32")[0]
        starts = window_starts(audio.size, WINDOW, hop)
        windows = np.stack([audio[s:s + WINDOW] for s in starts])
        speech = model.predict(windows, batch_size=1, verbose=0)[:, 1]
        assert row.swi_windows == len(starts)
        assert row.spi == pytest.approx(speech[0], abs=1e-6)
        assert row.swi_median == pytest.approx(np.median(speech), abs=1e-6)
        assert row.swi_mean == pytest.approx(np.mean(speech), abs=1e-6)
    assert list(rows["source_label"]) == [s[0] for s in specs]


def test_scores_do_not_depend_on_the_batch_size(model, tmp_path):
    entries = read_manifest(_write_segments(tmp_path / "b", [("speech", 1.5), ("background", 2.0),
                                                             ("speech", 0.63)]))
    one = score_entries(model, entries, Config(), batch_size=1, progress=False)
    many = score_entries(model, entries, Config(), batch_size=64, progress=False)
    for column in ("spi", "swi_median", "swi_mean"):
        np.testing.assert_allclose(one[column], many[column], atol=1e-6)


def test_segments_read_once_score_like_entries(model, tmp_path):
    entries = read_manifest(_write_segments(tmp_path / "r", [("speech", 1.5), ("background", 2.0),
                                                             ("speech", 0.63)]))
    streamed = score_entries(model, entries, Config(), overlap=0.5, progress=False)
    segments = read_segments(entries, Config(), progress=False)
    pd.testing.assert_frame_equal(score_entries(model, segments, Config(), overlap=0.5,
                                                progress=False), streamed)
    first_only = read_segments(entries, Config(), modes=("spi",), progress=False)
    assert all(a.shape == (WINDOW,) for a in first_only.audio)
    spi = score_entries(model, first_only, Config(), modes=("spi",), progress=False)
    np.testing.assert_allclose(spi["spi"], streamed["spi"], atol=1e-6)
    with pytest.raises(EvaluationError, match="SPI only"):
        score_entries(model, first_only, Config(), modes=("spi", "swi"), progress=False)


def test_per_label_breakdown_and_files(model_path, tmp_path):
    specs = [(label, 1.0 + 0.1 * i) for i in range(3) for label in AVA_LABELS]
    manifest = _write_segments(tmp_path / "ava", specs)
    result = evaluate(model_path, manifest, out_dir=tmp_path / "out", progress=False)
    predictions = pd.read_csv(tmp_path / "out" / "predictions.csv")
    written = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert len(predictions) == len(specs)
    for score in ("spi", "swi_median", "swi_mean"):
        found = written["scores"][score]
        assert set(found["by_source_label"]) == set(AVA_LABELS)
        y, p = predictions["is_speech"], predictions[score]
        assert found["overall"]["auroc"] == pytest.approx(roc_auc_score(y, p))
        clean = found["by_source_label"]["CLEAN_SPEECH"]
        assert clean["auroc"] is None and "only speech" in clean["auroc_undefined"]
        assert clean["n"] == 3 and clean["accuracy"] is not None
        subset = predictions["source_label"].isin(["CLEAN_SPEECH", "NO_SPEECH"])
        assert clean["auroc_against_all_background"] == pytest.approx(
            roc_auc_score(y[subset], p[subset]))
    assert result.metrics["overlap"] == 0.875


def test_single_class_manifest_reports_auroc_undefined(model_path, tmp_path):
    manifest = _write_segments(tmp_path / "bg", [("background", 1.0)] * 3)
    overall = evaluate(model_path, manifest, modes=("spi",), progress=False) \
        .metrics["scores"]["spi"]["overall"]
    assert overall["auroc"] is None and "only background" in overall["auroc_undefined"]
    assert overall["accuracy"] is not None and overall["n"] == 3


def test_short_segment_is_an_error_naming_the_line_unless_padded(model_path, tmp_path):
    manifest = _write_segments(tmp_path / "short", [("speech", 1.0), ("speech", 0.3)])
    with pytest.raises(EvaluationError, match=r"manifest.json line 2.*0\.300 s.*--pad-short"):
        evaluate(model_path, manifest, progress=False)
    padded = evaluate(model_path, manifest, pad_short=True, progress=False).predictions
    assert list(padded["swi_windows"]) == [len(window_starts(16000, WINDOW, 1260)), 1]


def test_a_config_that_differs_from_the_recorded_one_is_named(model_path, tmp_path):
    fold = tmp_path / "fold_0"
    fold.mkdir()
    (fold / "best.keras").write_bytes(model_path.read_bytes())
    Config().save(fold / "config.yaml")
    manifest = _write_segments(tmp_path / "m", [("speech", 1.0), ("background", 1.0)])
    with pytest.raises(EvaluationError, match="n_mfcc: recorded 64, requested 40"):
        evaluate(fold / "best.keras", manifest, Config(n_mfcc=40), progress=False)
    # no recorded config: the model's own MFCC settings are compared with the config
    with pytest.raises(EvaluationError, match="n_mels: model 64, requested 40"):
        evaluate(model_path, manifest, Config(n_mels=40, n_mfcc=40), progress=False)


def test_published_checkpoint_scores_match_the_reference(published_dir, tmp_path):
    inputs = np.load(published_dir / "inputs.npy")
    expected = np.load(published_dir / "expected_probabilities.npy")[0, :, 1]
    names = json.loads((published_dir / "reference.json").read_text())["input_names"]
    folder = tmp_path / "parity"
    folder.mkdir()
    lines = []
    for i, (name, window) in enumerate(zip(names, inputs)):
        sf.write(folder / f"{i}.wav", window, 16000, subtype="FLOAT")
        label = "speech" if name.startswith(("espeak", "speech")) else "background"
        lines.append(json.dumps({"audio_filepath": f"{i}.wav", "duration": 0.63,
                                 "label": label}))
    (folder / "manifest.json").write_text("\n".join(lines) + "\n")
    result = evaluate(published_dir / "AtomicVADGGCU-chkpt0.keras", folder / "manifest.json",
                      modes=("spi",), progress=False)
    np.testing.assert_allclose(result.predictions["spi"], expected, atol=1e-4)
    assert result.metrics["published_checkpoint"] is True


def test_evaluate_command(model_path, tmp_path, capsys):
    manifest = _write_segments(tmp_path / "m", [("speech", 1.0), ("background", 1.2)])
    assert main(["evaluate", str(model_path), "--manifest", str(manifest), "--out",
                 str(tmp_path / "out"), "--mode", "swi", "--overlap", "0.5",
                 "--no-progress"]) == 0
    assert "swi_median" in capsys.readouterr().out
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["overlap"] == 0.5
    assert main(["evaluate", str(tmp_path / "missing.keras"), "--manifest", str(manifest),
                 "--out", str(tmp_path / "o2")]) == 2
    assert "no model at" in capsys.readouterr().err
