"""The front-ends: 0.63 s of 16 kHz audio in, an image out. ``MFCC`` (AtomicVAD's: 64
coefficients x 64 frames) and ``LogMel`` (the ResNet baseline's: 64 mel bands x 64 frames, the
same mel spectrogram in dB without the DCT); ``frontend_layer`` picks the one a config's
architecture uses."""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from .activations import PACKAGE
from .config import Config

_DEFAULT = Config()  # the front-end's defaults are the config's


@keras.saving.register_keras_serializable(package=PACKAGE)
class MFCC(keras.layers.Layer):
    """MFCCs as the published AtomicVAD computes them, but one window at a time.

    The steps are those of Keras' ``MelSpectrogram`` (centred STFT, ``window``, power spectrum,
    HTK mel filters from ``fmin`` to ``fmax``), ``10*log10`` with a floor ``top_db`` below the
    maximum, and ``tf.signal.mfccs_from_log_mel_spectrograms`` over the mel axis. The output is
    laid out as (batch, n_mfcc, frames, 1).

    For speed the layer takes Keras' window and mel matrix and the DCT once, as constants, and
    runs the rest itself: frames of the window's non-zero ``win_length`` samples, a real FFT, the
    power as re²+im² (Keras takes a square root and squares again) and two matrix products; about
    a tenth less CPU time than Keras' chain. The numbers are those of the Keras chain to float
    rounding; the published checkpoints' parity test holds them to it.

    Why the floor is per window: Keras' ``MelSpectrogram`` takes the ``top_db`` maximum over the
    *whole batch*. A quiet window batched with a loud one is then floored 80 dB below the loud one
    instead of below itself, so its features, and the model's output for it, change with whatever
    else happens to be in the batch: evaluation numbers then depend on batch size and shuffling,
    and a streaming device (batch of one) sees different features from the ones it was trained on.
    Here the maximum is taken over each window alone (``floor="window"``). ``floor="batch"``
    reproduces the published behaviour, for demonstrating the pitfall. With one window per batch
    both are identical, which is how the published checkpoints are checked for parity.
    """

    def __init__(self, sample_rate: int = _DEFAULT.sample_rate, n_fft: int = _DEFAULT.n_fft,
                 hop_length: int = _DEFAULT.hop_length, win_length: int = _DEFAULT.win_length,
                 window: str = _DEFAULT.window, n_mels: int = _DEFAULT.n_mels,
                 n_mfcc: int = _DEFAULT.n_mfcc, fmin: float = _DEFAULT.fmin,
                 fmax: float | None = _DEFAULT.fmax, top_db: float = _DEFAULT.top_db,
                 floor: str = "window", **kwargs):
        super().__init__(**kwargs)
        if floor not in ("window", "batch"):
            raise ValueError(f"floor must be 'window' or 'batch', not {floor!r}")
        self.sample_rate, self.n_fft, self.hop_length = int(sample_rate), int(n_fft), int(hop_length)
        self.win_length, self.window = int(win_length), window
        self.n_mels, self.n_mfcc = int(n_mels), int(n_mfcc)
        self.fmin, self.fmax, self.top_db, self.floor = float(fmin), fmax, float(top_db), floor
        self._mel = keras.layers.MelSpectrogram(
            fft_length=self.n_fft, sequence_stride=self.hop_length, sequence_length=self.win_length,
            window=self.window, sampling_rate=self.sample_rate, num_mel_bins=self.n_mels,
            min_freq=self.fmin, max_freq=self.fmax, power_to_db=False, dtype="float32")
        with tf.init_scope():  # constants, even when the layer is made inside a traced function
            self._window, mel, self._dct = self._constants()
            self._mel_pairs = tf.repeat(mel, 2, axis=0)  # one row per re and im of each bin

    def _constants(self):
        """(analysis window of win_length samples, (n_fft//2+1, n_mels) mel matrix, (n_mels,
        n_mfcc) DCT), all taken from Keras/TensorFlow so they are theirs exactly."""
        make = tf.signal.hann_window if self.window == "hann" else tf.signal.hamming_window
        window = make(self.win_length, periodic=True, dtype=tf.float32)
        mel = self._mel.linear_to_mel_weight_matrix(
            num_mel_bins=self.n_mels, num_spectrogram_bins=self.n_fft // 2 + 1,
            sampling_rate=self.sample_rate, lower_edge_hertz=self.fmin,
            upper_edge_hertz=self._mel.max_freq)
        # the map is linear, so it is its own matrix applied to the identity
        dct = tf.signal.mfccs_from_log_mel_spectrograms(tf.eye(self.n_mels))[:, : self.n_mfcc]
        return (tf.constant(window), tf.constant(tf.cast(mel, tf.float32)), tf.constant(dct))

    @classmethod
    def from_settings(cls, config: Config, **kwargs) -> "MFCC":
        return cls(**config.frontend(), **kwargs)

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"MFCC expects a batch of waveforms shaped (batch, samples), "
                             f"got shape {tuple(input_shape)}")

    def mel_power(self, inputs):
        """(batch, frames, n_mels) mel power of the centred, windowed STFT."""
        length = inputs.shape[1] if inputs.shape[1] is not None else tf.shape(inputs)[1]
        frames = 1 + length // self.hop_length
        padded = tf.pad(inputs, [[0, 0], [self.n_fft // 2, self.n_fft // 2]], mode="REFLECT")
        # Keras centres the window in n_fft samples: start where it does and skip the zeros (the
        # shift changes the FFT's phase only, not its power)
        offset = (self.n_fft - self.win_length) // 2
        chunks = tf.signal.frame(padded[:, offset:], self.win_length, self.hop_length)[:, :frames]
        spectrum = tf.signal.rfft(chunks * self._window, fft_length=[self.n_fft])
        # re² + im² summed by the mel product itself: the complex numbers viewed as (re, im)
        # pairs, each mel row repeated for both (saves four element-wise passes)
        pairs = tf.reshape(tf.bitcast(spectrum, tf.float32), (-1, frames, 2 * spectrum.shape[-1]))
        return tf.tensordot(tf.square(pairs), self._mel_pairs, axes=1)

    def log_mel(self, inputs):
        """(batch, frames, n_mels) mel power in dB, floored ``top_db`` below the maximum."""
        db = 10.0 * tf.math.log(tf.maximum(self.mel_power(inputs), 1e-10)) / tf.math.log(10.0)
        if self.floor == "window":
            peak = tf.reduce_max(db, axis=(1, 2), keepdims=True)
        else:
            peak = tf.reduce_max(db)
        return tf.maximum(db, peak - self.top_db)

    def call(self, inputs):
        mfcc = tf.tensordot(self.log_mel(inputs), self._dct, axes=1)
        return tf.transpose(mfcc, (0, 2, 1))[..., None]

    def images(self, waveforms, batch_size: int = 256) -> np.ndarray:
        """The layer over (n, samples) windows as NumPy, in batches: (n, n_mfcc, frames, 1)."""
        waveforms = np.asarray(waveforms, dtype=np.float32)
        parts = [np.asarray(self(waveforms[i:i + batch_size]))
                 for i in range(0, len(waveforms), batch_size)]
        return np.concatenate(parts) if parts else np.zeros(
            (0, *self.compute_output_shape((None, waveforms.shape[1]))[1:]), np.float32)

    def compute_output_shape(self, input_shape):
        frames = None if input_shape[1] is None else 1 + input_shape[1] // self.hop_length
        return (input_shape[0], self.n_mfcc, frames, 1)

    def get_config(self):
        return {**super().get_config(), "sample_rate": self.sample_rate, "n_fft": self.n_fft,
                "hop_length": self.hop_length, "win_length": self.win_length,
                "window": self.window, "n_mels": self.n_mels, "n_mfcc": self.n_mfcc,
                "fmin": self.fmin, "fmax": self.fmax, "top_db": self.top_db, "floor": self.floor}


@keras.saving.register_keras_serializable(package=PACKAGE)
class LogMel(MFCC):
    """The log-mel image, (batch, n_mels, frames, 1): ``MFCC``'s steps up to the mel power in dB,
    floored ``top_db`` below each window's maximum (``floor``), without the DCT. ``n_mfcc`` is
    kept in the settings (it is part of ``Config.frontend()``) but unused. The ResNet baseline's
    front-end; ``mfcc_numpy.log_mel`` computes the same numbers with NumPy."""

    def call(self, inputs):
        return tf.transpose(self.log_mel(inputs), (0, 2, 1))[..., None]

    def compute_output_shape(self, input_shape):
        frames = None if input_shape[1] is None else 1 + input_shape[1] // self.hop_length
        return (input_shape[0], self.n_mels, frames, 1)


FRONTENDS = {"atomicvad": MFCC, "resnet": LogMel}  # Config.architecture -> its front-end


def frontend_layer(config: Config, **kwargs) -> MFCC:
    """The front-end layer of ``config.architecture`` with the config's settings."""
    return FRONTENDS[config.architecture].from_settings(config, **kwargs)
