"""The MFCC front-end: 0.63 s of 16 kHz audio in, a (64 coefficients, 64 frames, 1) image out."""
from __future__ import annotations

import keras
import tensorflow as tf

from .activations import PACKAGE
from .config import Config


@keras.saving.register_keras_serializable(package=PACKAGE)
class MFCC(keras.layers.Layer):
    """MFCCs as the published AtomicVAD computes them, but one window at a time.

    The steps are Keras' ``MelSpectrogram`` (centred STFT, ``window``, power spectrum, HTK mel
    filters from ``fmin`` to ``fmax``), ``10*log10`` with a floor ``top_db`` below the maximum, and
    ``tf.signal.mfccs_from_log_mel_spectrograms`` over the mel axis. The output is laid out as
    (batch, n_mfcc, frames, 1).

    Why the floor is per window: Keras' ``MelSpectrogram`` takes the ``top_db`` maximum over the
    *whole batch*. A quiet window batched with a loud one is then floored 80 dB below the loud one
    instead of below itself, so its features, and the model's output for it, change with whatever
    else happens to be in the batch: evaluation numbers then depend on batch size and shuffling,
    and a streaming device (batch of one) sees different features from the ones it was trained on.
    Here the maximum is taken over each window alone (``floor="window"``). ``floor="batch"``
    reproduces the published behaviour, for demonstrating the pitfall. With one window per batch
    both are identical, which is how the published checkpoints are checked for parity.
    """

    def __init__(self, sample_rate: int = 16000, n_fft: int = 512, hop_length: int = 160,
                 win_length: int = 400, window: str = "hamming", n_mels: int = 64,
                 n_mfcc: int = 64, fmin: float = 20.0, fmax: float | None = None,
                 top_db: float = 80.0, floor: str = "window", **kwargs):
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

    @classmethod
    def from_settings(cls, config: Config, **kwargs) -> "MFCC":
        return cls(sample_rate=config.sample_rate, n_fft=config.n_fft, hop_length=config.hop_length,
                   win_length=config.win_length, window=config.window, n_mels=config.n_mels,
                   n_mfcc=config.n_mfcc, fmin=config.fmin, fmax=config.fmax, top_db=config.top_db,
                   **kwargs)

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"MFCC expects a batch of waveforms shaped (batch, samples), "
                             f"got shape {tuple(input_shape)}")

    def log_mel(self, inputs):
        """(batch, frames, n_mels) mel power in dB, floored ``top_db`` below the maximum."""
        power = tf.transpose(self._mel(inputs), (0, 2, 1))
        db = 10.0 * tf.math.log(tf.maximum(power, 1e-10)) / tf.math.log(10.0)
        if self.floor == "window":
            peak = tf.reduce_max(db, axis=(1, 2), keepdims=True)
        else:
            peak = tf.reduce_max(db)
        return tf.maximum(db, peak - self.top_db)

    def call(self, inputs):
        mfcc = tf.signal.mfccs_from_log_mel_spectrograms(self.log_mel(inputs))[..., : self.n_mfcc]
        return tf.transpose(mfcc, (0, 2, 1))[..., None]

    def compute_output_shape(self, input_shape):
        frames = None if input_shape[1] is None else 1 + input_shape[1] // self.hop_length
        return (input_shape[0], self.n_mfcc, frames, 1)

    def get_config(self):
        return {**super().get_config(), "sample_rate": self.sample_rate, "n_fft": self.n_fft,
                "hop_length": self.hop_length, "win_length": self.win_length,
                "window": self.window, "n_mels": self.n_mels, "n_mfcc": self.n_mfcc,
                "fmin": self.fmin, "fmax": self.fmax, "top_db": self.top_db, "floor": self.floor}
