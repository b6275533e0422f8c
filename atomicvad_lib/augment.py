"""Waveform augmentation of whole batches with TensorFlow stateless random ops.

Every draw comes from a key (a shape-[2] int seed) that the pipeline derives from
(seed, epoch, batch index), so a run is reproducible yet each epoch sees new augmentation.
Per window, in this order:

1. background mixing (speech windows only, probability ``background_prob``): a background window
   drawn uniformly from the pool is added at an SNR uniform in
   [``background_snr_min``, ``background_snr_max``] dB. Background windows are left unmixed:
   background plus background is still background, and an "SNR" between two noises means nothing.
2. time shift (probability ``time_shift_prob``): by a whole number of samples uniform in
   +-``time_shift_ms``; the window moves and the gap is filled with zeros (no wrap-around, which
   would splice the window's end onto its start).
3. white noise (probability ``noise_prob``): Gaussian noise whose RMS level is uniform in
   [``noise_db_min``, ``noise_db_max``] dB relative to full scale (RMS 1.0 = 0 dB).
"""
from __future__ import annotations

from typing import Callable

import tensorflow as tf

from .config import Config

_EPS = 1e-12


def mix_at_snr(signal, noise, snr_db):
    """``signal + g * noise`` with ``g`` chosen so that power(signal) / power(g * noise) is
    ``snr_db`` dB. Works on single windows (L,) or batches (B, L) with ``snr_db`` shaped () or
    (B,). A silent signal or silent noise gets no noise (g = 0)."""
    signal = tf.convert_to_tensor(signal, tf.float32)
    noise = tf.convert_to_tensor(noise, tf.float32)
    snr_db = tf.convert_to_tensor(snr_db, tf.float32)
    power_signal = tf.reduce_mean(tf.square(signal), axis=-1)
    power_noise = tf.reduce_mean(tf.square(noise), axis=-1)
    target_noise = power_signal * tf.pow(10.0, -snr_db / 10.0)
    gain = tf.where((power_signal > _EPS) & (power_noise > _EPS),
                    tf.sqrt(target_noise / tf.maximum(power_noise, _EPS)), 0.0)
    return signal + gain[..., None] * noise


def time_shift(waveforms, shifts):
    """Shift each row of (B, L) ``waveforms`` right by ``shifts`` (B,) samples (negative: left),
    filling the gap with zeros."""
    waveforms = tf.convert_to_tensor(waveforms, tf.float32)
    length = tf.shape(waveforms)[1]
    source = tf.range(length)[None, :] - tf.cast(shifts, tf.int32)[:, None]
    inside = (source >= 0) & (source < length)
    moved = tf.gather(waveforms, tf.clip_by_value(source, 0, length - 1), batch_dims=1)
    return tf.where(inside, moved, 0.0)


def _keys(key, count: int):
    return tf.unstack(tf.random.experimental.stateless_split(key, num=count))


def augment_batch(waveforms, labels, key, config: Config,
                  background: Callable[[tf.Tensor], tf.Tensor] | None = None,
                  background_count: int = 0):
    """Augment a (B, L) batch; ``labels`` (B,) int, 1 = speech. ``background(indices)`` returns
    background windows (K, L) for indices in [0, ``background_count``).

    Returns ``(augmented, details)``; ``details`` holds each window's draws: ``snr_db`` (NaN when
    not mixed), ``background_index`` (-1 when not mixed), ``shift`` (samples) and ``noise_db``
    (NaN when no noise was added).
    """
    waveforms = tf.convert_to_tensor(waveforms, tf.float32)
    batch = tf.shape(waveforms)[0]
    k = _keys(key, 8)
    uniform = lambda i, low, high: tf.random.stateless_uniform([batch], k[i], low, high)  # noqa: E731
    is_speech = tf.equal(tf.cast(labels, tf.int32), 1)
    nan = tf.fill([batch], float("nan"))

    # 1. background mixing
    if background is not None and background_count > 0 and config.background_prob > 0:
        mix = is_speech & (uniform(0, 0.0, 1.0) < config.background_prob)
        index = tf.random.stateless_uniform([batch], k[1], 0, background_count, dtype=tf.int32)
        snr = uniform(2, config.background_snr_min, config.background_snr_max) \
            if config.background_snr_max > config.background_snr_min \
            else tf.fill([batch], float(config.background_snr_min))
        mixed = mix_at_snr(waveforms, background(index), snr)
        waveforms = tf.where(mix[:, None], mixed, waveforms)
        snr_db = tf.where(mix, snr, nan)
        background_index = tf.where(mix, index, -1)
    else:
        snr_db, background_index = nan, tf.fill([batch], -1)

    # 2. time shift
    max_shift = int(round(config.time_shift_ms / 1000.0 * config.sample_rate))
    if max_shift > 0 and config.time_shift_prob > 0:
        shift = tf.random.stateless_uniform([batch], k[3], -max_shift, max_shift + 1, tf.int32)
        shift = tf.where(uniform(4, 0.0, 1.0) < config.time_shift_prob, shift, 0)
        waveforms = time_shift(waveforms, shift)
    else:
        shift = tf.zeros([batch], tf.int32)

    # 3. white noise
    if config.noise_prob > 0:
        add = uniform(5, 0.0, 1.0) < config.noise_prob
        level = uniform(6, config.noise_db_min, config.noise_db_max) \
            if config.noise_db_max > config.noise_db_min \
            else tf.fill([batch], float(config.noise_db_min))
        gaussian = tf.random.stateless_normal(tf.shape(waveforms), k[7])
        amplitude = tf.where(add, tf.pow(10.0, level / 20.0), 0.0)
        waveforms = waveforms + amplitude[:, None] * gaussian
        noise_db = tf.where(add, level, nan)
    else:
        noise_db = nan

    details = {"snr_db": snr_db, "background_index": background_index, "shift": shift,
               "noise_db": noise_db}
    return waveforms, details
