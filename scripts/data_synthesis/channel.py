"""Recording channels: synthetic rooms, devices, levels, microphone noise and mixing."""
from __future__ import annotations

import numpy as np
from scipy import signal

from . import SAMPLE_RATE

EPS = 1e-12


def rms_dbfs(x: np.ndarray, mask: np.ndarray | None = None) -> float:
    """RMS level in dB relative to a full-scale sine-free square wave (1.0 = 0 dBFS)."""
    values = x if mask is None else x[mask]
    return float(10 * np.log10(np.mean(values ** 2) + EPS))


def set_level(x: np.ndarray, target_dbfs: float, mask: np.ndarray | None = None) -> np.ndarray:
    """Scale x so that its RMS (over `mask` when given) is `target_dbfs`."""
    return x * 10 ** ((target_dbfs - rms_dbfs(x, mask)) / 20)


def coloured_noise(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    """Gaussian noise with power spectrum ~ 1/f**exponent (0 white, 1 pink, 2 brown, -1 blue)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    spectrum *= np.maximum(freqs, 20.0) ** (-exponent / 2)
    spectrum[0] = 0.0
    noise = np.fft.irfft(spectrum, n)
    return noise / (np.std(noise) + EPS)


def butter(x: np.ndarray, kind: str, cutoff, order: int = 4) -> np.ndarray:
    """Butterworth filter (kind: 'lowpass', 'highpass', 'bandpass') as second-order sections."""
    sos = signal.butter(order, cutoff, btype=kind, fs=SAMPLE_RATE, output="sos")
    return signal.sosfilt(sos, x)


def peaking_eq(x: np.ndarray, freq: float, gain_db: float, q: float) -> np.ndarray:
    """One peaking biquad (the audio-EQ-cookbook formulas)."""
    a_gain = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * freq / SAMPLE_RATE
    alpha = np.sin(w0) / (2 * q)
    b = [1 + alpha * a_gain, -2 * np.cos(w0), 1 - alpha * a_gain]
    a = [1 + alpha / a_gain, -2 * np.cos(w0), 1 - alpha / a_gain]
    return signal.lfilter(b, a, x)


def synthetic_rir(rng: np.random.Generator, rt60: float, drr_db: float) -> np.ndarray:
    """Room impulse response: direct path at sample 0, sparse early reflections, then an
    exponentially decaying noise tail whose high band dies faster than its low band.

    `rt60` is the broadband reverberation time (s); `drr_db` the direct-to-reverberant ratio.
    """
    n = int(min(1.3 * rt60, 1.2) * SAMPLE_RATE) + 1
    t = np.arange(n) / SAMPLE_RATE
    tail = np.zeros(n)
    bands = (("lowpass", 500.0, 1.15), ("bandpass", (500.0, 3000.0), 1.0), ("highpass", 3000.0, 0.6))
    for kind, cutoff, rt_scale in bands:
        band = butter(rng.standard_normal(n), kind, cutoff, order=2)
        tail += band * np.exp(-6.908 * t / (rt60 * rt_scale))
    predelay = rng.uniform(0.002, 0.010)
    tail *= np.clip((t - predelay) / 0.005, 0.0, 1.0)
    for _ in range(rng.integers(3, 9)):
        at = int(rng.uniform(0.001, 0.030) * SAMPLE_RATE)
        tail[at] += rng.choice([-1.0, 1.0]) * rng.uniform(0.1, 0.5) * np.exp(-6.908 * at / SAMPLE_RATE / rt60)
    tail *= np.sqrt(10 ** (-drr_db / 10) / (np.sum(tail ** 2) + EPS))
    tail[0] = 1.0
    return tail


def reverberate(x: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """Convolve with an impulse response whose direct path is at sample 0 (no time shift)."""
    return signal.fftconvolve(x, rir)[: len(x)]


def telephone(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    """Narrow-band phone line: 8 kHz sampling, 300-3400 Hz band, sometimes 8-bit mu-law."""
    narrow = signal.resample_poly(x, 1, 2)
    narrow = signal.sosfilt(signal.butter(4, (300.0, 3400.0), btype="bandpass", fs=8000, output="sos"),
                            narrow)
    if rng.random() < 0.5:
        peak = np.max(np.abs(narrow)) + EPS
        mu = 255.0
        companded = np.sign(narrow / peak) * np.log1p(mu * np.abs(narrow / peak)) / np.log1p(mu)
        companded = np.round(companded * 127) / 127
        narrow = peak * np.sign(companded) * np.expm1(np.abs(companded) * np.log1p(mu)) / mu
    return signal.resample_poly(narrow, 2, 1)[: len(x)]


def microphone(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    """A cheap microphone: high-pass, sometimes a low-pass, one or two resonant peaks or dips."""
    y = butter(x, "highpass", rng.uniform(40, 220), order=2)
    if rng.random() < 0.6:
        y = butter(y, "lowpass", rng.uniform(3500, 7600), order=int(rng.integers(2, 5)))
    for _ in range(rng.integers(1, 3)):
        y = peaking_eq(y, rng.uniform(200, 6000), rng.uniform(-8, 8), rng.uniform(0.7, 3.0))
    return y


def apply_channel(rng: np.random.Generator, x: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Random room and device, the same distribution for speech and backgrounds.

    Returns the processed signal and the names of the stages applied (for the manifests).
    """
    stages = []
    if rng.random() < 0.5:
        rir = synthetic_rir(rng, rt60=rng.uniform(0.15, 0.9), drr_db=rng.uniform(-4, 12))
        x = reverberate(x, rir)
        stages.append("room")
    device = rng.random()
    if device < 0.2:
        x = telephone(rng, x)
        stages.append("phone")
    elif device < 0.55:
        x = microphone(rng, x)
        stages.append("mic")
    return x, stages


def add_mic_noise(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    """Self-noise of the recording chain, -90 to -55 dBFS, white to pink."""
    noise = coloured_noise(rng, len(x), rng.uniform(0.0, 1.2))
    return x + set_level(noise, rng.uniform(-90, -55))


def finish(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    """Occasional soft clipping (overdriven input), then keep the peak below full scale."""
    if rng.random() < 0.05:
        drive = rng.uniform(1.5, 6.0)
        peak = np.max(np.abs(x)) + EPS
        x = np.tanh(drive * x / peak) * peak / np.tanh(drive)
    peak = np.max(np.abs(x))
    if peak > 0.98:
        x = x * (0.98 / peak)
    return x


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float,
               speech_mask: np.ndarray | None = None) -> np.ndarray:
    """speech + noise scaled so that active-speech power / noise power = snr_db."""
    noise_level = rms_dbfs(speech, speech_mask) - snr_db
    return speech + set_level(noise, noise_level)


def to_pcm16(x: np.ndarray) -> np.ndarray:
    """Float in [-1, 1] to int16 with rounding (deterministic, no dither)."""
    return np.clip(np.round(x * 32767), -32768, 32767).astype(np.int16)
