"""Streaming VAD: block-wise reading equals an all-in-memory computation, bounded blocks, decisions."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import soundfile as sf
import soxr

from atomicvad_lib import streaming as S
from atomicvad_lib.streaming import DecisionSettings, Segment

SR = 16000
W = 10080


def energy_predictor(windows: np.ndarray) -> np.ndarray:
    """A cheap stand-in for the model: a logistic of the window's level in dB."""
    db = 10 * np.log10(np.mean(np.asarray(windows, np.float64) ** 2, axis=1) + 1e-12)
    return (1 / (1 + np.exp(-(db + 25)))).astype(np.float32)


def _clip(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=int(seconds * SR)) * 0.01
    t = np.arange(3 * SR) / SR
    x[5 * SR: 8 * SR] += 0.5 * np.sin(2 * np.pi * 200 * t) * (1 + np.sin(2 * np.pi * 4 * t))
    return x.astype(np.float32)


def reference_frames(audio: np.ndarray, hop_s: float = 0.08) -> np.ndarray:
    """Independent construction: frame j is scored on the window centred on [j*hop, (j+1)*hop)."""
    hop = int(round(hop_s * SR))
    n = -(-len(audio) // hop)
    rows = []
    for j in range(n):
        centre = j * hop + hop // 2
        start = centre - W // 2
        window = np.zeros(W, np.float32)
        lo, hi = max(start, 0), min(start + W, len(audio))
        window[lo - start: hi - start] = audio[lo:hi]
        rows.append(window)
    return energy_predictor(np.stack(rows))


@pytest.mark.parametrize("hop", [0.08, 0.25, 0.63])
def test_stream_equals_in_memory_reference(tmp_path, hop):
    audio = _clip(20.3)
    path = tmp_path / "clip.wav"
    sf.write(path, audio, SR, subtype="FLOAT")
    result = S.stream_probabilities(path, energy_predictor, hop, block_seconds=1.7, progress=False)
    want = reference_frames(audio, hop)
    assert result.blocks > 10
    assert len(result.probabilities) == len(want) == int(np.ceil(len(audio) / round(hop * SR)))
    np.testing.assert_array_equal(result.probabilities, want)
    np.testing.assert_array_equal(S.frame_probabilities(audio, energy_predictor, hop), want)
    assert result.duration == pytest.approx(20.3)
    assert result.envelope.shape == (len(want), 2)
    assert np.all(result.envelope[:, 0] <= result.envelope[:, 1])


def test_stereo_44k_is_mixed_down_and_resampled_like_one_shot(tmp_path):
    mono = _clip(12.0, seed=1)
    stereo = np.stack([mono, 0.3 * mono + 0.01], axis=1)
    native = soxr.resample(stereo, SR, 44100)
    path = tmp_path / "stereo44k.wav"
    sf.write(path, native, 44100, subtype="FLOAT")
    result = S.stream_probabilities(path, energy_predictor, block_seconds=0.9, progress=False)
    data, _ = sf.read(path, dtype="float32")
    one_shot = soxr.resample(data.mean(axis=1), 44100, SR, quality="HQ")
    want = reference_frames(one_shot.astype(np.float32))
    assert any("mixed down" in n for n in result.source.notes)
    assert any("44100" in n for n in result.source.notes)
    assert len(result.probabilities) == len(want)
    # soxr's streaming resampler reproduces its one-shot output, block edges included
    np.testing.assert_allclose(result.probabilities, want, atol=1e-6)


def _write_noise(path, minutes: int) -> None:
    rng = np.random.default_rng(2)
    with sf.SoundFile(path, "w", SR, 1, subtype="PCM_16") as f:
        for _ in range(minutes * 6):  # written in 10 s pieces
            f.write((rng.normal(size=10 * SR) * 0.05).astype(np.float32))


def _peak_bytes(path) -> tuple[int, S.StreamResult]:
    tracemalloc.start()
    result = S.stream_probabilities(path, energy_predictor, block_seconds=4.0, batch_size=64,
                                    progress=False)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak, result


def test_long_file_is_read_in_bounded_blocks(tmp_path, monkeypatch):
    minutes = 5
    _write_noise(tmp_path / "long.wav", minutes)
    _write_noise(tmp_path / "short.wav", 1)
    requested, delivered = [], []
    real_blocks = sf.SoundFile.blocks

    def spy(self, blocksize=None, *args, **kwargs):
        requested.append(blocksize)
        for block in real_blocks(self, blocksize, *args, **kwargs):
            delivered.append(len(block))
            yield block

    monkeypatch.setattr(sf.SoundFile, "blocks", spy)
    peak_long, result = _peak_bytes(tmp_path / "long.wav")
    assert requested == [4 * SR]
    assert max(delivered) <= 4 * SR and len(delivered) == minutes * 60 // 4
    assert len(result.probabilities) == minutes * 60 * SR // 1280
    peak_short, _ = _peak_bytes(tmp_path / "short.wav")
    # memory does not grow with the length of the file (5x longer, same peak within 25 %)
    assert peak_long < 1.25 * peak_short, (peak_long, peak_short)
    assert peak_long < minutes * 60 * SR * 4 / 2  # far below the whole file as float32


def test_bad_files_give_clear_errors(tmp_path):
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(SR // 2, np.float32), SR)
    with pytest.raises(S.StreamError, match=r"short\.wav.*0\.500 s.*shorter than one"):
        S.stream_probabilities(short, energy_predictor, progress=False)
    with pytest.raises(S.StreamError, match="does not exist"):
        S.open_source(tmp_path / "missing.wav")
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF not really a wave file")
    with pytest.raises(S.StreamError, match=r"corrupt\.wav.*cannot decode"):
        S.open_source(corrupt)
    with pytest.raises(S.StreamError, match="hop"):
        sf.write(tmp_path / "ok.wav", np.zeros(SR, np.float32), SR)
        S.stream_probabilities(tmp_path / "ok.wav", energy_predictor, hop=1.0, progress=False)


def test_decisions_hangover_gap_bridging_and_minimum_speech():
    hop = 0.1
    p = np.zeros(40, np.float32)
    p[5:10] = 0.9   # 0.5 s of speech
    p[12:15] = 0.9  # after a 0.2 s gap
    p[30] = 0.9     # a 0.1 s blip
    raw = DecisionSettings(smoothing="none", hangover_ms=0, min_speech_ms=0, min_silence_ms=0)
    assert S.segments_from_mask(S.decide(p, hop, raw), hop) == [
        Segment(0.5, 1.0), Segment(1.2, 1.5), Segment(3.0, 3.1)]
    bridged = DecisionSettings(smoothing="none", hangover_ms=0, min_speech_ms=200, min_silence_ms=300)
    assert S.segments_from_mask(S.decide(p, hop, bridged), hop) == [Segment(0.5, 1.5)]
    held = DecisionSettings(smoothing="none", hangover_ms=300, min_speech_ms=0, min_silence_ms=0)
    assert S.segments_from_mask(S.decide(p, hop, held), hop) == [Segment(0.5, 1.8), Segment(3.0, 3.4)]
    # a 3-frame median removes the one-frame blip, a mean of 0.3 falls under the threshold too
    median = DecisionSettings(smoothing="median", smooth_ms=300, hangover_ms=0, min_speech_ms=0,
                              min_silence_ms=0)
    assert Segment(3.0, 3.1) not in S.segments_from_mask(S.decide(p, hop, median), hop)
    np.testing.assert_allclose(S.smooth(p, "mean", 3)[30], 0.3, atol=1e-6)
    with pytest.raises(ValueError, match="smoothing"):
        DecisionSettings(smoothing="gaussian")


def test_segment_files(tmp_path):
    segments = [Segment(0.48, 1.2), Segment(3.0, 4.56)]
    csv_text = S.write_segments_csv(segments, tmp_path / "s.csv").read_text().splitlines()
    assert csv_text == ["start,end,duration", "0.480,1.200,0.720", "3.000,4.560,1.560"]
    rttm = S.write_rttm(segments, tmp_path / "s.rttm", "my file").read_text().splitlines()
    assert rttm[1].split() == ["SPEAKER", "my_file", "1", "3.000", "1.560", "<NA>", "<NA>",
                               "speech", "<NA>", "<NA>"]


def test_keras_predictor_matches_model_and_cli_writes_outputs(tmp_path, capsys):
    import keras

    from atomicvad_lib import Config, build_model, predict_speech
    from atomicvad_lib.cli import main

    keras.utils.set_random_seed(0)
    model = build_model(Config(), seed=0)
    audio = _clip(9.0, seed=4)
    windows = np.lib.stride_tricks.sliding_window_view(audio, W)[::4000][:5]
    np.testing.assert_allclose(S.keras_predictor(model, batch_size=2)(windows),
                               predict_speech(model, windows), atol=1e-6)
    model_path = tmp_path / "m.keras"
    model.save(model_path)
    wav = tmp_path / "talk.wav"
    sf.write(wav, audio, SR)
    out = tmp_path / "out"
    assert main(["stream", str(wav), "--model", str(model_path), "--out", str(out),
                 "--no-progress", "--hop", "0.16"]) == 0
    printed = capsys.readouterr().out
    assert "real-time factor" in printed
    for name in ("segments.csv", "talk.rttm", "frames.csv", "timeline.png"):
        assert (out / name).is_file(), name
    frames = np.loadtxt(out / "frames.csv", delimiter=",", skiprows=1)
    assert len(frames) == int(np.ceil(9.0 / 0.16))
    sf.write(tmp_path / "tiny.wav", audio[:5000], SR)
    assert main(["stream", str(tmp_path / "tiny.wav"), "--model", str(model_path)]) == 2
    assert "shorter than one" in capsys.readouterr().err


def test_tflite_predictor_streams_like_keras(tmp_path):
    import json

    import keras

    from atomicvad_lib import Config, build_model
    from atomicvad_lib import export as ex

    keras.utils.set_random_seed(3)
    model = build_model(Config(), seed=3)
    path = tmp_path / "model_float32.tflite"
    path.write_bytes(ex.convert_float(ex.inference_head(model)))
    (tmp_path / ex.FRONTEND_FILE).write_text(json.dumps({"top_db": 80.0, "note": "ignored"}))
    audio = _clip(9.0, seed=5)
    wav = tmp_path / "clip.wav"
    sf.write(wav, audio, SR, subtype="FLOAT")
    litert = S.stream_probabilities(wav, S.load_predictor(path), hop=0.32, progress=False)
    keras_result = S.stream_probabilities(wav, S.keras_predictor(model), hop=0.32, progress=False)
    # NumPy (float64) vs Keras (float32) front-end: ~1e-4 at windows half made of zero padding
    np.testing.assert_allclose(litert.probabilities, keras_result.probabilities, atol=5e-4)
    assert np.median(np.abs(litert.probabilities - keras_result.probabilities)) < 2e-5
