"""The NumPy front-end (the microcontroller spec) against the Keras MFCC layer and SciPy."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.fft
import scipy.signal

from atomicvad_lib import MFCC, Config
from atomicvad_lib.mfcc_numpy import (FrontendSpec, analysis_window, dct_matrix, log_mel,
                                      mel_filterbank, mfcc)

SR = 16000
N = Config().window_samples


def _signals() -> np.ndarray:
    rng = np.random.default_rng(7)
    t = np.arange(N) / SR
    chirp = scipy.signal.chirp(t, 50, t[-1], 7500) * 0.3
    voiced = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 15)) * (1 + np.sin(2 * np.pi * 4 * t))
    return np.stack([rng.normal(size=N) * 0.1, np.sin(2 * np.pi * 440 * t) * 0.5, np.zeros(N),
                     rng.normal(size=N) * 1e-4, chirp, 0.05 * voiced,
                     np.where(rng.uniform(size=N) < 0.001, 0.9, 0.0)]).astype(np.float32)


@pytest.mark.parametrize("floor", ["window", "batch"])
def test_matches_keras_layer_within_1e_5_of_range(floor):
    x = _signals()
    layer = MFCC.from_settings(Config(), floor=floor)
    want = np.asarray(layer(x))
    got = mfcc(x, FrontendSpec.from_layer(layer))
    assert got.shape == want.shape == (len(x), 64, 64, 1)
    for i in range(len(x)):
        spread = np.ptp(want[i])
        # measured: at most ~1.2e-6 of the range (float32 FFT in TF, float64 here)
        assert np.abs(got[i] - want[i]).max() <= 1e-5 * spread, f"signal {i}"


def test_log_mel_matches_keras_and_floor_is_per_window():
    x = _signals() * np.array([1, 1, 1, 1, 1e-3, 1, 1], np.float32)[:, None]
    layer = MFCC.from_settings(Config())
    want = np.asarray(layer.log_mel(x))
    got = log_mel(x)
    assert np.abs(got - want).max() < 1e-3
    for row in got:
        assert row.min() >= row.max() - 80.0 - 1e-9


def test_mel_filterbank_equals_keras_matrix():
    import keras
    layer = keras.layers.MelSpectrogram(fft_length=512, sampling_rate=SR, num_mel_bins=64,
                                        min_freq=20.0)
    want = np.asarray(layer.linear_to_mel_weight_matrix(64, 257, SR, 20.0, 8000.0))
    got = mel_filterbank(512, SR, 64, 20.0, None)
    np.testing.assert_allclose(got, want, atol=5e-5)  # Keras builds it in float32
    assert np.all(got[0] == 0) and np.isclose(got.max(), 1.0, atol=0.02)


def test_window_and_dct_against_scipy():
    periodic = scipy.signal.get_window("hamming", 400, fftbins=True)
    np.testing.assert_allclose(analysis_window(400, 512)[56:456], periodic, atol=1e-12)
    assert np.all(analysis_window(400, 512)[:56] == 0) and np.all(analysis_window(400, 512)[456:] == 0)
    x = np.random.default_rng(0).normal(size=(3, 64))
    # unnormalised DCT-II is 2 * sum; TF scales it by 1 / sqrt(2 * N)
    want = scipy.fft.dct(x, type=2, axis=-1) / np.sqrt(2 * 64)
    np.testing.assert_allclose(x @ dct_matrix(64, 64), want, atol=1e-10)


def test_centred_frames_use_reflect_padding():
    """A signal whose first samples differ only in what reflect vs zero padding would see."""
    import keras
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1, 2048)).astype(np.float32)
    real, imag = keras.ops.stft(x, 400, 160, 512, window="hamming", center=True)
    want = np.asarray(real) ** 2 + np.asarray(imag) ** 2
    spec = FrontendSpec(n_mels=64)
    padded = np.pad(x[0].astype(np.float64), 256, mode="reflect")
    frame0 = padded[:512] * analysis_window(400, 512)
    np.testing.assert_allclose(np.abs(np.fft.rfft(frame0)) ** 2, want[0, 0], rtol=1e-3, atol=1e-3)
    assert log_mel(x, spec).shape == (1, 1 + 2048 // 160, 64)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="batch, samples"):
        mfcc(np.zeros((2, 2, N)))
    with pytest.raises(ValueError, match="reflect padding"):
        mfcc(np.zeros((1, 100)))
    with pytest.raises(ValueError, match="hamming"):
        analysis_window(400, 512, "blackman")


def test_frontend_spec_defaults_follow_config():
    """The port's spec repeats the front-end settings on purpose (it stands alone beside a device
    port); this keeps its defaults from drifting away from Config's."""
    from atomicvad_lib import Config, MFCC
    from atomicvad_lib.mfcc_numpy import FrontendSpec
    assert FrontendSpec() == FrontendSpec.from_config(Config())
    assert FrontendSpec() == FrontendSpec.from_layer(MFCC.from_settings(Config()))
