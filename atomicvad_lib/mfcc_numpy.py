"""The MFCC front-end in plain NumPy: the specification a microcontroller port follows.

The int8 LiteRT export starts at the MFCC image, so a device computes the features itself. This
module spells out every step of :class:`atomicvad_lib.MFCC` (Keras ``MelSpectrogram`` followed by
``tf.signal.mfccs_from_log_mel_spectrograms``) with NumPy only, and agrees with the Keras layer to
within about 1e-4 of the feature range (``tests/test_mfcc_numpy.py`` checks it):

1. centre the frames: pad ``n_fft // 2`` samples on both sides by *reflection* (``x[1], x[2], ...``,
   the edge sample is not repeated), as ``keras.ops.stft(center=True)`` does;
2. frames of ``n_fft`` samples every ``hop_length``; a *periodic* Hamming (or Hann) window of
   ``win_length`` samples, zero-padded equally on both sides to ``n_fft``;
3. power spectrum ``|rfft|**2`` (``n_fft // 2 + 1`` bins);
4. triangular HTK mel filters, ``mel(f) = 1127 ln(1 + f / 700)``, peak 1, from ``fmin`` to
   ``fmax`` (the Nyquist frequency when None), the DC bin excluded;
5. ``10 log10(max(power, 1e-10))``, floored ``top_db`` below the window's maximum;
6. DCT-II over the mel axis scaled by ``sqrt(2 / n_mels)`` (for every coefficient, including the
   first: this is not the orthonormal DCT), keeping the first ``n_mfcc``;
7. layout (batch, n_mfcc, frames, 1).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

from .config import Config

_DEFAULT = Config()  # the front-end's defaults are the config's
MEL_BREAK_HZ = 700.0
MEL_HIGH_Q = 1127.0


def hz_to_mel(hz):
    """HTK mel scale in natural-log form: ``1127 ln(1 + f/700)`` (= ``2595 log10(1 + f/700)``)."""
    return MEL_HIGH_Q * np.log1p(np.asarray(hz, dtype=np.float64) / MEL_BREAK_HZ)


def mel_filterbank(n_fft: int = 512, sample_rate: int = 16000, n_mels: int = 64,
                   fmin: float = 20.0, fmax: float | None = None) -> np.ndarray:
    """(n_fft // 2 + 1, n_mels) matrix of triangular filters, as Keras' ``MelSpectrogram`` builds it.

    Bin ``k`` sits at ``k * sr / n_fft`` Hz; the band edges are ``n_mels + 2`` points evenly spaced
    in mel between ``fmin`` and ``fmax``; each triangle rises and falls linearly *in mel* and peaks
    at 1 (no area normalisation, unlike librosa's Slaney default). Row 0 (DC) is zero.
    """
    fmax = sample_rate / 2 if fmax is None else float(fmax)
    n_bins = n_fft // 2 + 1
    bin_mel = hz_to_mel(np.linspace(0.0, sample_rate / 2, n_bins)[1:])[:, None]
    edges = np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2)
    lower, centre, upper = edges[:-2][None, :], edges[1:-1][None, :], edges[2:][None, :]
    rising = (bin_mel - lower) / (centre - lower)
    falling = (upper - bin_mel) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    return np.vstack([np.zeros((1, n_mels)), weights])


def analysis_window(win_length: int = 400, n_fft: int = 512, kind: str = "hamming") -> np.ndarray:
    """Periodic window of ``win_length`` samples, zero-padded on both sides to ``n_fft``."""
    n = np.arange(win_length)
    if kind == "hamming":
        window = 0.54 - 0.46 * np.cos(2 * np.pi * n / win_length)
    elif kind == "hann":
        window = 0.5 - 0.5 * np.cos(2 * np.pi * n / win_length)
    else:
        raise ValueError(f"window must be 'hamming' or 'hann', not {kind!r}")
    left = (n_fft - win_length) // 2
    return np.pad(window, (left, n_fft - win_length - left))


def dct_matrix(n_mels: int = 64, n_mfcc: int = 64) -> np.ndarray:
    """(n_mels, n_mfcc): DCT-II scaled by sqrt(2/N), as ``tf.signal.mfccs_from_log_mel_spectrograms``."""
    n = np.arange(n_mels)[:, None]
    k = np.arange(n_mfcc)[None, :]
    return np.sqrt(2.0 / n_mels) * np.cos(np.pi * k * (2 * n + 1) / (2 * n_mels))


@dataclass(frozen=True)
class FrontendSpec:
    """The front-end settings (``config.FRONTEND_KEYS`` and the floor); ``from_layer`` reads them
    off a Keras ``MFCC`` layer."""

    sample_rate: int = _DEFAULT.sample_rate
    n_fft: int = _DEFAULT.n_fft
    hop_length: int = _DEFAULT.hop_length
    win_length: int = _DEFAULT.win_length
    window: str = _DEFAULT.window
    n_mels: int = _DEFAULT.n_mels
    n_mfcc: int = _DEFAULT.n_mfcc
    fmin: float = _DEFAULT.fmin
    fmax: float | None = _DEFAULT.fmax
    top_db: float = _DEFAULT.top_db
    floor: str = "window"

    @classmethod
    def from_layer(cls, layer) -> "FrontendSpec":
        cfg = layer.get_config()
        return cls(**{k: cfg[k] for k in cls.__dataclass_fields__})

    @classmethod
    def from_config(cls, config: Config) -> "FrontendSpec":
        return cls(**config.frontend())

    @classmethod
    def from_dict(cls, data: dict) -> "FrontendSpec":
        """From ``to_dict``'s output (``frontend.json``); other keys are ignored."""
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def to_dict(self) -> dict:
        return asdict(self)


@lru_cache(maxsize=32)
def _cached(builder, *args) -> np.ndarray:
    """A constant matrix built once per setting (read-only, so callers cannot change it)."""
    matrix = builder(*args)
    matrix.flags.writeable = False
    return matrix


def log_mel(waveforms, spec: FrontendSpec = FrontendSpec()) -> np.ndarray:
    """(batch, frames, n_mels) mel power in dB, floored ``top_db`` below the maximum (float64)."""
    x = np.asarray(waveforms, dtype=np.float64)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise ValueError(f"waveforms must be shaped (batch, samples), got shape {x.shape}")
    half = spec.n_fft // 2
    if x.shape[1] <= half:
        raise ValueError(f"need more than {half} samples per window for reflect padding, "
                         f"got {x.shape[1]}")
    padded = np.pad(x, ((0, 0), (half, half)), mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, spec.n_fft, axis=1)[:, ::spec.hop_length]
    window = _cached(analysis_window, spec.win_length, spec.n_fft, spec.window)
    power = np.abs(np.fft.rfft(frames * window, n=spec.n_fft, axis=-1)) ** 2
    mel = power @ _cached(mel_filterbank, spec.n_fft, spec.sample_rate, spec.n_mels, spec.fmin,
                          spec.fmax)
    db = 10.0 * np.log10(np.maximum(mel, 1e-10))
    peak = db.max(axis=(1, 2), keepdims=True) if spec.floor == "window" else db.max()
    return np.maximum(db, peak - spec.top_db)


def mfcc(waveforms, spec: FrontendSpec = FrontendSpec()) -> np.ndarray:
    """(batch, n_mfcc, frames, 1) float32 MFCC image, the input of the exported int8 graph."""
    coefficients = log_mel(waveforms, spec) @ _cached(dct_matrix, spec.n_mels, spec.n_mfcc)
    return np.transpose(coefficients, (0, 2, 1))[..., None].astype(np.float32)
