"""Real-time factor of ``atomicvad stream`` on generated audio (10 minutes by default).

Writes a WAV of alternating voiced 'speech' bursts and noise into a temporary folder, streams it
block by block with the Keras model (and with an exported LiteRT file when ``--tflite`` is given),
and prints processing time over audio duration (below 1: faster than real time) and the peak
memory Python allocated (tracemalloc), which stays near one block whatever the length.
``--stock-kernels`` also streams with the depthwise convolutions and max-pools on TensorFlow's
stock kernels (before issue 11), to compare in the same run.

    .venv/bin/python benchmarks/stream_rtf.py [--minutes 10] [--hop 0.08] [--model M.keras]
        [--tflite exports/NAME/atomicvad_int8.tflite] [--sample-rate 16000] [--stock-kernels]
"""
from __future__ import annotations

import argparse
import tempfile
import tracemalloc
from pathlib import Path

import numpy as np
import soundfile as sf

from atomicvad_lib.synthetic import harmonic_tone


def write_test_audio(path: Path, minutes: float, sample_rate: int, seed: int = 0) -> None:
    """Ten-second pieces: 2-4 s of harmonic bursts with a syllable envelope, then noise."""
    rng = np.random.default_rng(seed)
    piece = 10 * sample_rate
    t = np.arange(piece) / sample_rate
    with sf.SoundFile(path, "w", sample_rate, 1, subtype="PCM_16") as f:
        for _ in range(int(np.ceil(minutes * 6))):
            x = rng.normal(size=piece) * 10 ** rng.uniform(-3.5, -2)
            start, length = rng.uniform(0, 5), rng.uniform(2, 4)
            on = (t >= start) & (t < start + length)
            x[on] += 0.2 * harmonic_tone(t, rng.uniform(100, 220), 9)[on]
            f.write(np.clip(x, -1, 1).astype(np.float32))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--hop", type=float, default=0.08)
    parser.add_argument("--model", default=None, help="trained .keras (default: untrained)")
    parser.add_argument("--tflite", default=None, help="also stream with this exported file")
    parser.add_argument("--sample-rate", type=int, default=16000,
                        help="rate of the generated file (not 16000: resampled while streaming)")
    parser.add_argument("--block-seconds", type=float, default=30.0)
    parser.add_argument("--stock-kernels", action="store_true",
                        help="also stream on TensorFlow's stock depthwise and max-pool kernels "
                             "(before)")
    args = parser.parse_args()

    import keras

    from atomicvad_lib import Config, build_model
    from atomicvad_lib import streaming as S
    from atomicvad_lib.model import with_stock_kernels
    from atomicvad_lib.runs import load_model
    from machine import describe  # the script folder is on sys.path

    def make_model():
        if args.model:
            return load_model(args.model)
        keras.utils.set_random_seed(0)
        return build_model(Config(), seed=0)

    predictors = {"Keras": S.keras_predictor(make_model())}
    if args.stock_kernels:
        predictors["Keras, stock kernels"] = S.keras_predictor(with_stock_kernels(make_model()))
    if args.tflite:
        predictors[f"LiteRT {Path(args.tflite).name}"] = S.load_predictor(args.tflite)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "generated.wav"
        write_test_audio(path, args.minutes, args.sample_rate)
        print(describe())
        print(f"{args.minutes:g} min of generated audio at {args.sample_rate} Hz, hop {args.hop} s, "
              f"blocks of {args.block_seconds:g} s")
        for name, predictor in predictors.items():
            tracemalloc.start()
            result = S.stream_probabilities(path, predictor, args.hop,
                                            block_seconds=args.block_seconds, progress=False)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            segments = S.detect_segments(result)
            print(f"{name:32s} {len(result.probabilities):6d} frames  {result.seconds:7.2f} s  "
                  f"real-time factor {result.real_time_factor:.4f} "
                  f"({1 / result.real_time_factor:5.0f}x real time)  {len(segments)} segments  "
                  f"peak Python memory {peak / 2 ** 20:.0f} MiB")


if __name__ == "__main__":
    main()
