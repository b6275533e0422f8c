"""Stand-in signals for tests, benchmarks and demos: a voiced "speech" tone and labelled windows.

They are not speech (no formants, no words); they are cheap, seeded and shaped enough like voiced
speech (a harmonic series under a syllable-rate envelope) for a detector to tell them from noise.
"""
from __future__ import annotations

import numpy as np


def harmonic_tone(t: np.ndarray, f0: float, harmonics: int, envelope_hz: float = 4.0,
                  depth: float = 0.5, phase: float = 0.0) -> np.ndarray:
    """Harmonics 1..``harmonics`` of ``f0`` at amplitudes 1/k (a band-limited sawtooth), times
    an envelope ``1 - depth + depth * sin(2 pi envelope_hz t + phase)``; ``t`` in seconds."""
    voiced = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, harmonics + 1))
    return voiced * (1 - depth + depth * np.sin(2 * np.pi * envelope_hz * t + phase))


def synthetic_windows(n: int, seed: int, window_samples: int = 10080, sample_rate: int = 16000,
                      noise_log10: tuple[float, float] = (-3.0, -1.0),
                      voice_log10: tuple[float, float] = (-1.5, -0.5)) -> tuple[np.ndarray, np.ndarray]:
    """``n`` windows alternating background (label 0: white noise at a random level) and
    "speech" (label 1: the same noise plus a harmonic tone); float32 waveforms, int32 labels."""
    rng = np.random.default_rng(seed)
    t = np.arange(window_samples) / sample_rate
    x = np.empty((n, window_samples), np.float32)
    for i in range(n):
        row = rng.normal(size=window_samples) * 10 ** rng.uniform(*noise_log10)
        if i % 2:
            tone = harmonic_tone(t, rng.uniform(90, 250), 11, rng.uniform(2, 6),
                                 phase=rng.uniform(0, 6))
            row = row + tone * 10 ** rng.uniform(*voice_log10)
        x[i] = row
    return x, (np.arange(n) % 2).astype(np.int32)
