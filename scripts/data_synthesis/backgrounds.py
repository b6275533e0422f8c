"""Background sounds made from numbers: noises, hum, tones, music, impulses, speech-like buzzes.

A *source* is "family/variant" (e.g. "music/pluck"). SOURCES_BY_SPLIT gives every split its own
variants of every family, so the testing split only holds sources never heard in training.
`generate(source, rng, n)` returns n samples with unit RMS (levels are set later).
"""
from __future__ import annotations

import numpy as np
from scipy import signal
from scipy.interpolate import CubicSpline

from . import SAMPLE_RATE
from .channel import EPS, butter, coloured_noise

SOURCES_BY_SPLIT: dict[str, dict[str, list[str]]] = {
    "noise": {"training": ["white", "brown", "grey", "red", "band-low"],
              "validation": ["blue", "band-high"],
              "testing": ["pink", "band-mid"]},
    "speech-shaped-noise": {"training": ["steady-dark", "syllabic"],
                            "validation": ["slow-swell"],
                            "testing": ["steady-bright", "gated"]},
    "hum": {"training": ["50hz-soft", "60hz-buzz", "100hz-transformer"],
            "validation": ["60hz-soft"],
            "testing": ["50hz-buzz", "120hz-transformer"]},
    "tones": {"training": ["beeps", "chord", "sweep", "alarm"],
              "validation": ["dtmf", "birdsong"],
              "testing": ["siren", "steady-tone"]},
    "music": {"training": ["saw-lead", "pluck", "organ", "drums", "chiptune"],
              "validation": ["fm-bells"],
              "testing": ["pad-chords", "sine-melody-drums"]},
    "impulses": {"training": ["clicks", "knocks", "crackle"],
                 "validation": ["ticks"],
                 "testing": ["claps", "drips"]},
    "silence": {"training": ["white-hiss", "pink-room"],
                "validation": ["digital"],
                "testing": ["brown-room"]},
    "buzz": {"training": ["vowel-steady", "nasal-hum", "motor"],
             "validation": ["vowel-glide"],
             "testing": ["sung-vowel", "engine-idle"]},
}

# Vowel formants (Hz) of an adult voice, roughly after Peterson & Barney (1952).
VOWELS = {
    "i": (270, 2290, 3010), "I": (390, 1990, 2550), "e": (530, 1840, 2480), "ae": (660, 1720, 2410),
    "a": (730, 1090, 2440), "o": (570, 840, 2410), "U": (440, 1020, 2240), "u": (300, 870, 2240),
    "er": (490, 1350, 1690),
}


def sources(split: str, family: str | None = None) -> list[str]:
    """All 'family/variant' names of a split (optionally of one family)."""
    return [f"{fam}/{var}" for fam, by_split in SOURCES_BY_SPLIT.items()
            if family in (None, fam) for var in by_split[split]]


def unit_rms(x: np.ndarray) -> np.ndarray:
    return x / (np.sqrt(np.mean(x ** 2)) + EPS)


def smooth_envelope(rng: np.random.Generator, n: int, rate_hz: float, depth_db: float) -> np.ndarray:
    """Random gain curve varying at about `rate_hz`, spanning about `depth_db` decibels."""
    knots = max(int(n / SAMPLE_RATE * rate_hz) + 3, 4)
    values = rng.uniform(-depth_db / 2, depth_db / 2, knots)
    curve = CubicSpline(np.arange(knots), values)(np.linspace(0, knots - 1, n))
    return 10 ** (curve / 20)


def harmonic_tone(f0: np.ndarray, amplitudes, phases=None) -> np.ndarray:
    """Sum of harmonics k*f0(t) (f0 may vary per sample), skipping those above 7.8 kHz."""
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    out = np.zeros_like(phase)
    for k, amp in enumerate(amplitudes, start=1):
        ok = k * f0 < 7800
        offset = 0.0 if phases is None else phases[k - 1]
        out += np.where(ok, amp * np.sin(k * phase + offset), 0.0)
    return out


def adsr(n: int, attack: float, decay_time: float) -> np.ndarray:
    t = np.arange(n) / SAMPLE_RATE
    return np.minimum(t / max(attack, 1e-4), 1.0) * np.exp(-t / decay_time)


def formant_filter(source: np.ndarray, formants: np.ndarray, bandwidths) -> np.ndarray:
    """Cascade of two-pole resonators; formants is (n_blocks, n_formants), updated per 10 ms block."""
    block = SAMPLE_RATE // 100
    out = source.copy()
    for j in range(formants.shape[1]):
        zi = np.zeros(2)
        y = np.empty_like(out)
        for b in range(formants.shape[0]):
            seg = out[b * block:(b + 1) * block]
            if len(seg) == 0:
                break
            r = np.exp(-np.pi * bandwidths[j] / SAMPLE_RATE)
            theta = 2 * np.pi * formants[b, j] / SAMPLE_RATE
            a = [1.0, -2 * r * np.cos(theta), r * r]
            gain = 1 - 2 * r * np.cos(theta) + r * r
            y[b * block:b * block + len(seg)], zi = signal.lfilter([gain], a, seg, zi=zi)
        out = y
    return out


def glottal_source(rng: np.random.Generator, f0: np.ndarray, breath: float) -> np.ndarray:
    """Harmonic-rich pulse train falling 6-10 dB/octave, with shimmer and a little aspiration."""
    n_harm = 60
    amps = 1.0 / np.arange(1, n_harm + 1) ** rng.uniform(1.0, 1.6)  # source slope + lip radiation
    voiced = harmonic_tone(f0, amps)
    voiced *= smooth_envelope(rng, len(f0), 12.0, rng.uniform(0.5, 2.5))  # shimmer
    return unit_rms(voiced) + breath * butter(rng.standard_normal(len(f0)), "highpass", 500)


def f0_contour(rng: np.random.Generator, n: int, base: float, drift: float, jitter: float) -> np.ndarray:
    """Slowly wandering fundamental frequency with cycle-to-cycle jitter."""
    curve = base * smooth_envelope(rng, n, 1.5, drift)
    return curve * (1 + jitter * butter(rng.standard_normal(n), "lowpass", 40.0, order=2))


# ---------------------------------------------------------------- families
def gen_noise(rng, n, variant):
    exponents = {"white": 0.0, "grey": 0.5, "pink": 1.0, "red": 1.5, "brown": 2.0, "blue": -1.0}
    if variant in exponents:
        x = coloured_noise(rng, n, exponents[variant] + rng.uniform(-0.15, 0.15))
    else:
        low, high = {"band-low": (80, 500), "band-mid": (400, 2500), "band-high": (2000, 6500)}[variant]
        centre = np.exp(rng.uniform(np.log(low), np.log(high)))
        width = 2 ** rng.uniform(0.3, 1.2)
        x = butter(rng.standard_normal(n), "bandpass", (centre / width, min(centre * width, 7900)), 2)
    return x * smooth_envelope(rng, n, rng.uniform(0.3, 2.0), rng.uniform(0, 6))


def speech_spectrum(rng, n, knee_hz, slope):
    """Noise with a long-term speech-like spectrum: flat to a knee, then falling."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    shape = 1 / (1 + (freqs / knee_hz) ** 2) ** (slope / 2) * (freqs / (freqs + 120.0))
    return np.fft.irfft(spectrum * shape, n)


def gen_speech_shaped_noise(rng, n, variant):
    bright = variant == "steady-bright"
    x = speech_spectrum(rng, n, rng.uniform(700, 1200) if bright else rng.uniform(350, 700),
                        rng.uniform(0.8, 1.3))
    if variant == "syllabic":
        x *= smooth_envelope(rng, n, rng.uniform(3, 6), rng.uniform(12, 25))
    elif variant == "slow-swell":
        x *= smooth_envelope(rng, n, rng.uniform(0.5, 1.5), rng.uniform(8, 18))
    elif variant == "gated":
        gate = np.zeros(n)
        at = 0
        while at < n:
            length = int(rng.uniform(0.08, 0.5) * SAMPLE_RATE)
            gate[at:at + length] = rng.random() < 0.6
            at += length
        x *= np.convolve(gate, np.hanning(161) / np.hanning(161).sum(), mode="same") + 0.05
    return x


def gen_hum(rng, n, variant):
    mains = float(variant.split("hz")[0])
    f0 = np.full(n, mains * (1 + rng.uniform(-0.004, 0.004)))
    if variant.endswith("soft"):
        amps = [1.0] + [rng.uniform(0.05, 0.5) / k ** 1.5 for k in range(2, 8)]
    elif variant.endswith("buzz"):
        amps = [rng.uniform(0.3, 1.0) / k ** rng.uniform(0.5, 1.0) * (1.0 if k % 2 else rng.uniform(0.1, 0.6))
                for k in range(1, 80)]
    else:  # transformer: mains doubled, a few strong overtones, some mechanical rattle
        amps = [1.0, rng.uniform(0.2, 0.8), rng.uniform(0.1, 0.6), rng.uniform(0.05, 0.3),
                rng.uniform(0.02, 0.2), rng.uniform(0.02, 0.1)]
    x = harmonic_tone(f0, amps, rng.uniform(0, 2 * np.pi, len(amps)))
    return unit_rms(x) + rng.uniform(0.01, 0.2) * coloured_noise(rng, n, 1.0)


def midi_hz(note):
    return 440.0 * 2 ** ((np.asarray(note, dtype=float) - 69) / 12)


def gen_tones(rng, n, variant):
    t = np.arange(n) / SAMPLE_RATE
    x = np.zeros(n)
    if variant == "beeps":
        freq = rng.uniform(400, 3000)
        on, off = rng.uniform(0.05, 0.4), rng.uniform(0.05, 0.5)
        gate = (np.mod(t + rng.uniform(0, on + off), on + off) < on).astype(float)
        x = np.sin(2 * np.pi * freq * t) * np.convolve(gate, np.ones(40) / 40, mode="same")
    elif variant == "chord":
        root = rng.integers(45, 70)
        intervals = [[0, 4, 7], [0, 3, 7], [0, 4, 7, 10], [0, 3, 7, 10], [0, 5, 7]][rng.integers(5)]
        for step in intervals:
            x += np.sin(2 * np.pi * midi_hz(root + step) * (1 + rng.uniform(-0.003, 0.003)) * t)
        x *= smooth_envelope(rng, n, 1.0, rng.uniform(0, 10))
    elif variant == "sweep":
        period = rng.uniform(0.3, 1.5)
        lo, hi = np.sort(rng.uniform(200, 5000, 2))
        frac = np.mod(t, period) / period
        freq = lo * (hi / lo) ** frac
        x = np.sin(2 * np.pi * np.cumsum(freq) / SAMPLE_RATE)
    elif variant == "alarm":
        f1, f2 = rng.uniform(500, 2500, 2)
        period = rng.uniform(0.2, 0.8)
        freq = np.where(np.mod(t, period) < period / 2, f1, f2)
        x = harmonic_tone(freq, [1 / k if k % 2 else 0.0 for k in range(1, 12)])
    elif variant == "dtmf":
        rows, cols = [697, 770, 852, 941], [1209, 1336, 1477]
        at = 0
        while at < n:
            tone, gap = int(rng.uniform(0.06, 0.2) * SAMPLE_RATE), int(rng.uniform(0.04, 0.2) * SAMPLE_RATE)
            seg = t[: min(tone, n - at)]
            x[at:at + len(seg)] = (np.sin(2 * np.pi * rows[rng.integers(4)] * seg)
                                   + np.sin(2 * np.pi * cols[rng.integers(3)] * seg))
            at += tone + gap
    elif variant == "birdsong":
        at = int(rng.uniform(0, 0.2) * SAMPLE_RATE)
        while at < n:
            length = int(rng.uniform(0.03, 0.15) * SAMPLE_RATE)
            seg = np.arange(min(length, n - at)) / SAMPLE_RATE
            f_start, f_end = rng.uniform(2000, 7000, 2)
            freq = f_start + (f_end - f_start) * seg / (length / SAMPLE_RATE)
            freq *= 1 + 0.05 * np.sin(2 * np.pi * rng.uniform(30, 80) * seg)
            x[at:at + len(seg)] = np.sin(2 * np.pi * np.cumsum(freq) / SAMPLE_RATE) * np.hanning(len(seg))
            at += length + int(rng.uniform(0.02, 0.3) * SAMPLE_RATE)
    elif variant == "siren":
        centre, depth, rate = rng.uniform(600, 1500), rng.uniform(150, 600), rng.uniform(0.3, 3.0)
        freq = centre + depth * np.sin(2 * np.pi * rate * t + rng.uniform(0, 6.3))
        x = harmonic_tone(freq, [1.0, 0.3, 0.1])
    elif variant == "steady-tone":
        x = harmonic_tone(np.full(n, rng.uniform(100, 4000)), [1.0, rng.uniform(0, 0.3)])
    return x


def karplus_strong(rng, freq, n):
    period = max(int(SAMPLE_RATE / freq), 2)
    buf = rng.uniform(-1, 1, period)
    out = np.empty(n)
    for i in range(n):
        out[i] = buf[i % period]
        buf[i % period] = 0.996 * 0.5 * (buf[i % period] + buf[(i + 1) % period])
    return out


def instrument(rng, timbre, freq, n):
    """One note of a synthetic instrument, n samples long."""
    t = np.arange(n) / SAMPLE_RATE
    f0 = np.full(n, freq)
    if timbre == "saw-lead":
        return harmonic_tone(f0 * (1 + 0.004 * np.sin(2 * np.pi * 5 * t)), [1 / k for k in range(1, 40)]) * adsr(n, 0.01, 0.6)
    if timbre == "chiptune":
        return np.sign(np.sin(2 * np.pi * freq * t)) * adsr(n, 0.002, 1.0) * 0.5
    if timbre == "sine":
        return np.sin(2 * np.pi * freq * t) * adsr(n, 0.01, 0.4)
    if timbre == "organ":
        return harmonic_tone(f0, [1.0, 0.8, 0.0, 0.6, 0.0, 0.4, 0.0, 0.3]) * adsr(n, 0.02, 5.0)
    if timbre == "fm-bells":
        ratio, index = rng.choice([1.4, 2.0, 3.5]), rng.uniform(2, 6)
        env = adsr(n, 0.002, 0.5)
        return np.sin(2 * np.pi * freq * t + index * env * np.sin(2 * np.pi * freq * ratio * t)) * env
    if timbre == "pad":
        x = sum(harmonic_tone(f0 * (1 + d), [1 / k for k in range(1, 25)]) for d in (-0.006, 0.0, 0.007))
        return butter(x, "lowpass", rng.uniform(800, 2500), 2) * np.minimum(t / 0.25, 1.0)
    if timbre == "pluck":
        return karplus_strong(rng, freq, n)
    raise ValueError(timbre)


def drum_track(rng, n, tempo):
    """Kick on beats, snare on off-beats, hi-hat on eighths."""
    out = np.zeros(n)
    beat = int(60 / tempo * SAMPLE_RATE)
    start = int(rng.uniform(0, min(beat // 2, n // 2)))
    for i, at in enumerate(range(start, n, beat // 2)):
        length = min(int(0.25 * SAMPLE_RATE), n - at)
        t = np.arange(length) / SAMPLE_RATE
        if i % 4 == 0:
            hit = np.sin(2 * np.pi * np.cumsum(50 + 100 * np.exp(-t / 0.03)) / SAMPLE_RATE) * np.exp(-t / 0.12)
        elif i % 4 == 2:
            hit = (butter(rng.standard_normal(length), "bandpass", (1000, 5000), 2) * 0.6
                   + 0.4 * np.sin(2 * np.pi * 190 * t)) * np.exp(-t / 0.06)
        else:
            hit = butter(rng.standard_normal(length), "highpass", 6000, 2) * np.exp(-t / 0.02) * 0.4
        out[at:at + length] += hit
    return out


def gen_music(rng, n, variant):
    tempo = rng.uniform(80, 160)
    scale = [[0, 2, 4, 5, 7, 9, 11], [0, 2, 3, 5, 7, 8, 10], [0, 2, 4, 7, 9]][rng.integers(3)]
    root = int(rng.integers(48, 64))
    timbre = {"saw-lead": "saw-lead", "pluck": "pluck", "organ": "organ", "chiptune": "chiptune",
              "fm-bells": "fm-bells", "pad-chords": "pad", "sine-melody-drums": "sine"}.get(variant)
    x = np.zeros(n)
    if timbre == "pad":
        at = 0
        while at < n:
            length = int(rng.uniform(0.5, 1.5) * SAMPLE_RATE)
            degree = int(rng.integers(len(scale)))
            for step in (0, 2, 4):
                d = degree + step
                note = root + scale[d % len(scale)] + 12 * (d // len(scale))
                x[at:at + length] += instrument(rng, "pad", midi_hz(note), length)[: n - at]
            at += length
    elif timbre is not None:
        at = 0
        beat = 60 / tempo
        while at < n:
            length = int(beat * rng.choice([0.25, 0.5, 0.5, 1.0, 1.5]) * SAMPLE_RATE)
            d = int(rng.integers(len(scale) * 2))
            note = root + 12 + scale[d % len(scale)] + 12 * (d // len(scale))
            x[at:at + length] += instrument(rng, timbre, midi_hz(note), length)[: n - at]
            if timbre in ("organ", "saw-lead") and rng.random() < 0.5:  # bass line
                x[at:at + length] += 0.5 * instrument(rng, timbre, midi_hz(root - 12 + scale[d % len(scale)]), length)[: n - at]
            at += length
    if variant in ("drums", "sine-melody-drums"):
        x = unit_rms(x) * (variant != "drums") + drum_track(rng, n, tempo) * rng.uniform(0.5, 1.5)
    return x


def gen_impulses(rng, n, variant):
    x = np.zeros(n)

    def place(at, burst):
        burst = burst[: n - at]
        x[at:at + len(burst)] += burst

    if variant == "clicks":
        for at in np.sort(rng.integers(0, n, rng.poisson(rng.uniform(3, 15) * n / SAMPLE_RATE) + 1)):
            length = int(rng.uniform(0.001, 0.006) * SAMPLE_RATE)
            place(at, butter(rng.standard_normal(length + 16), "highpass", rng.uniform(500, 3000), 2)
                  * np.exp(-np.arange(length + 16) / length) * rng.uniform(0.3, 1.0))
    elif variant == "knocks":
        at = int(rng.uniform(0, 0.3) * SAMPLE_RATE)
        while at < n:
            length = int(0.25 * SAMPLE_RATE)
            t = np.arange(length) / SAMPLE_RATE
            freq, decay = rng.uniform(80, 400), rng.uniform(0.02, 0.08)
            place(at, (np.sin(2 * np.pi * freq * t) + 0.3 * np.sin(2 * np.pi * 2.7 * freq * t)) * np.exp(-t / decay))
            at += int(rng.uniform(0.12, 0.6) * SAMPLE_RATE)
    elif variant == "crackle":
        x += 0.02 * coloured_noise(rng, n, 0.5)
        for at in rng.integers(0, n, rng.poisson(rng.uniform(20, 100) * n / SAMPLE_RATE) + 1):
            place(at, rng.choice([-1, 1]) * rng.pareto(2.0) * np.exp(-np.arange(24) / 4.0) * 0.2)
    elif variant == "ticks":
        period = rng.uniform(0.25, 1.0)
        for at in np.arange(rng.uniform(0, period), n / SAMPLE_RATE, period):
            length = 200
            t = np.arange(length) / SAMPLE_RATE
            place(int(at * SAMPLE_RATE), np.sin(2 * np.pi * rng.uniform(2000, 4000) * t) * np.exp(-t / 0.002))
    elif variant == "claps":
        at = int(rng.uniform(0, 0.3) * SAMPLE_RATE)
        period = rng.uniform(0.2, 0.6)
        while at < n:
            length = int(0.08 * SAMPLE_RATE)
            t = np.arange(length) / SAMPLE_RATE
            place(at, butter(rng.standard_normal(length), "bandpass", (800, 3500), 2) * np.exp(-t / rng.uniform(0.008, 0.025)))
            at += int(period * rng.uniform(0.9, 1.1) * SAMPLE_RATE)
    elif variant == "drips":
        at = int(rng.uniform(0, 0.3) * SAMPLE_RATE)
        while at < n:
            length = int(0.06 * SAMPLE_RATE)
            t = np.arange(length) / SAMPLE_RATE
            f_start = rng.uniform(400, 1200)
            freq = f_start * (1 + rng.uniform(1, 3) * t / t[-1])
            place(at, np.sin(2 * np.pi * np.cumsum(freq) / SAMPLE_RATE) * np.exp(-t / rng.uniform(0.01, 0.03)))
            at += int(rng.uniform(0.1, 0.7) * SAMPLE_RATE)
    return x


def gen_silence(rng, n, variant):
    if variant == "digital":  # near-digital silence: a little dither noise only
        return rng.uniform(-1, 1, n) + rng.uniform(-1, 1, n)
    exponent = {"white-hiss": 0.0, "pink-room": 1.0, "brown-room": 1.8}[variant]
    x = coloured_noise(rng, n, exponent + rng.uniform(-0.2, 0.2))
    if variant != "white-hiss" and rng.random() < 0.5:
        x += rng.uniform(0.05, 0.4) * np.sin(2 * np.pi * rng.choice([50.0, 60.0]) * np.arange(n) / SAMPLE_RATE)
    return x


def gen_buzz(rng, n, variant):
    """Voice-like harmonic sounds without phonetic structure (no consonants, no syllables)."""
    blocks = n // (SAMPLE_RATE // 100) + 1
    bandwidths = (rng.uniform(60, 120), rng.uniform(80, 160), rng.uniform(120, 250), 250.0)
    if variant in ("motor", "engine-idle"):
        base = rng.uniform(25, 60) if variant == "engine-idle" else rng.uniform(60, 200)
        f0 = f0_contour(rng, n, base, rng.uniform(0.5, 3.0), 0.01)
        src = glottal_source(rng, f0, rng.uniform(0.1, 0.6))
        if variant == "engine-idle":
            src *= 1 + 0.5 * np.sin(2 * np.pi * np.cumsum(f0 / 2) / SAMPLE_RATE)
        body = np.tile(rng.uniform(150, 3000, 4), (blocks, 1))
        return formant_filter(src, body, bandwidths)
    speaker_scale = rng.uniform(0.85, 1.25)
    base = rng.uniform(85, 260)
    if variant == "vowel-steady":
        f0 = f0_contour(rng, n, base, rng.uniform(0.5, 3.0), 0.01)
        f = np.array(VOWELS[rng.choice(list(VOWELS))]) * speaker_scale
        formants = np.tile(np.append(f, 3500 * speaker_scale), (blocks, 1))
    elif variant == "nasal-hum":
        f0 = f0_contour(rng, n, base, rng.uniform(1.0, 4.0), 0.01)
        formants = np.tile([rng.uniform(220, 300), rng.uniform(900, 1100), 2200, 3300], (blocks, 1))
        bandwidths = (60.0, 300.0, 400.0, 400.0)
    elif variant == "vowel-glide":
        f0 = f0_contour(rng, n, base, 2.0, 0.01) * np.linspace(1.1, 0.85, n)
        names = rng.choice(list(VOWELS), 2, replace=False)
        start, end = (np.array(VOWELS[v]) * speaker_scale for v in names)
        mix = np.linspace(0, 1, blocks)[:, None]
        formants = np.hstack([(1 - mix) * start + mix * end, np.full((blocks, 1), 3500 * speaker_scale)])
    else:  # sung-vowel: held notes with vibrato
        steps = np.repeat(rng.choice([0, 2, 4, 5, 7, 9], n // int(0.4 * SAMPLE_RATE) + 1),
                          int(0.4 * SAMPLE_RATE))[:n]
        vibrato = 1 + rng.uniform(0.01, 0.03) * np.sin(2 * np.pi * rng.uniform(4.5, 6.5) * np.arange(n) / SAMPLE_RATE)
        f0 = base * 2 ** (steps / 12) * vibrato
        f = np.array(VOWELS[rng.choice(["a", "o", "e", "u", "i"])]) * speaker_scale
        formants = np.tile(np.append(f, 3500 * speaker_scale), (blocks, 1))
    src = glottal_source(rng, f0, rng.uniform(0.0, 0.15))
    out = formant_filter(src, formants, bandwidths)
    return out * smooth_envelope(rng, n, 0.8, rng.uniform(0, 6))


GENERATORS = {"noise": gen_noise, "speech-shaped-noise": gen_speech_shaped_noise, "hum": gen_hum,
              "tones": gen_tones, "music": gen_music, "impulses": gen_impulses, "silence": gen_silence,
              "buzz": gen_buzz}


def generate(source: str, rng: np.random.Generator, n: int) -> np.ndarray:
    """n samples of `source` ('family/variant', or 'mix(a+b)') with unit RMS."""
    if source.startswith("mix("):
        parts = source[4:-1].split("+")
        total = sum(unit_rms(generate(p, rng, n)) * 10 ** (rng.uniform(-12, 0) / 20) for p in parts)
        return unit_rms(total)
    family, variant = source.split("/", 1)
    if family not in GENERATORS or variant not in sum(SOURCES_BY_SPLIT[family].values(), []):
        raise ValueError(f"unknown background source {source!r}")
    x = GENERATORS[family](rng, n, variant)
    if not np.all(np.isfinite(x)) or np.max(np.abs(x)) == 0:
        raise RuntimeError(f"background source {source!r} produced silence or non-finite samples")
    return unit_rms(x - np.mean(x))
