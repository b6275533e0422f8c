"""SpecAugment and SpecCutout on (batch, coefficients, frames, channels) MFCC images.

Both are active only when ``training=True``. Every call draws new masks for every example from a
``keras.random.SeedGenerator``: the generator's state advances on each draw, so masks differ from
example to example and from step to step, yet a seeded run repeats exactly. (A fixed op-level seed,
``tf.random.uniform(..., seed=1)``, would instead repeat one draw on every call.)
"""
from __future__ import annotations

import keras
from keras import ops

from .activations import PACKAGE


def _band_mask(length: int, start, width):
    """(batch, n, length) boolean: True where index i lies in [start, start + width)."""
    index = ops.arange(length, dtype="int32")[None, None, :]
    return (index >= start[..., None]) & (index < (start + width)[..., None])


def _random_int(shape, low, high, seed):
    """Integers uniform in [low, high] (inclusive; high may be a tensor broadcast to shape)."""
    u = keras.random.uniform(shape, seed=seed)
    return ops.cast(ops.floor(u * ops.cast(high - low + 1, "float32")), "int32") + low


@keras.saving.register_keras_serializable(package=PACKAGE)
class SpecAugment(keras.layers.Layer):
    """Frequency and time masking (Park et al., 2019) with per-example random widths.

    ``n_freq_masks`` bands of 0..``freq_mask_param`` coefficients and ``n_time_masks`` bands of
    0..``time_mask_param`` frames are set to ``mask_value``.
    """

    def __init__(self, freq_mask_param: int = 15, time_mask_param: int = 25, n_freq_masks: int = 2,
                 n_time_masks: int = 2, mask_value: float = 0.0, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.freq_mask_param, self.time_mask_param = int(freq_mask_param), int(time_mask_param)
        self.n_freq_masks, self.n_time_masks = int(n_freq_masks), int(n_time_masks)
        self.mask_value, self.seed = float(mask_value), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _masks(self, batch, n, length, max_width):
        if n == 0 or max_width == 0:
            return ops.zeros((batch, length), dtype="bool")
        width = _random_int((batch, n), 0, min(max_width, length), self.seed_generator)
        start = _random_int((batch, n), 0, length - width, self.seed_generator)
        return ops.any(_band_mask(length, start, width), axis=1)

    def call(self, inputs, training=None):
        no_masks = (self.n_freq_masks == 0 or self.freq_mask_param == 0) and \
            (self.n_time_masks == 0 or self.time_mask_param == 0)
        if not training or no_masks:
            return inputs
        batch = ops.shape(inputs)[0]
        n_freq, n_time = inputs.shape[1], inputs.shape[2]
        freq = self._masks(batch, self.n_freq_masks, n_freq, self.freq_mask_param)
        time = self._masks(batch, self.n_time_masks, n_time, self.time_mask_param)
        masked = freq[:, :, None, None] | time[:, None, :, None]
        return ops.where(masked, ops.cast(self.mask_value, inputs.dtype), inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "freq_mask_param": self.freq_mask_param,
                "time_mask_param": self.time_mask_param, "n_freq_masks": self.n_freq_masks,
                "n_time_masks": self.n_time_masks, "mask_value": self.mask_value, "seed": self.seed}


@keras.saving.register_keras_serializable(package=PACKAGE)
class SpecCutout(keras.layers.Layer):
    """Cutout (DeVries & Taylor, 2017) on the MFCC image: ``n_masks`` rectangles of
    ``freq_size`` coefficients by ``time_size`` frames at random places, set to ``mask_value``."""

    def __init__(self, n_masks: int = 5, time_size: int = 25, freq_size: int = 15,
                 mask_value: float = 0.0, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.n_masks, self.time_size, self.freq_size = int(n_masks), int(time_size), int(freq_size)
        self.mask_value, self.seed = float(mask_value), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training or self.n_masks == 0:
            return inputs
        batch = ops.shape(inputs)[0]
        n_freq, n_time = inputs.shape[1], inputs.shape[2]
        fs, ts = min(self.freq_size, n_freq), min(self.time_size, n_time)
        f0 = _random_int((batch, self.n_masks), 0, n_freq - fs, self.seed_generator)
        t0 = _random_int((batch, self.n_masks), 0, n_time - ts, self.seed_generator)
        in_f = ops.cast(_band_mask(n_freq, f0, fs), "float32")  # (batch, masks, freq)
        in_t = ops.cast(_band_mask(n_time, t0, ts), "float32")  # (batch, masks, time)
        # how many rectangles cover each cell, as one small batched matrix product: a third of
        # the time of or-ing the (batch, masks, freq, time) outer products
        cover = ops.matmul(ops.transpose(in_f, (0, 2, 1)), in_t)
        return ops.where(cover[..., None] > 0, ops.cast(self.mask_value, inputs.dtype), inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "n_masks": self.n_masks, "time_size": self.time_size,
                "freq_size": self.freq_size, "mask_value": self.mask_value, "seed": self.seed}
