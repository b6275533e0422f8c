"""Latency per 0.63 s window: Keras, LiteRT float32, LiteRT int8, LiteRT int8 + float layer norm.

One window at a time (batch of one, as a streaming device runs), after a warm-up; prints the median
and the 90th percentile in milliseconds, for the front-end and the network separately where they are
separate. Also Keras' throughput with batches of 256. Both Keras figures are printed twice: with the
depthwise convolutions and max-pools as the library computes them (``FastDepthwiseConv2D``,
``FastMaxPooling2D``) and on TensorFlow's stock kernels (before issue 11). A trained model is
optional: latency does not depend on the weights (the int8 files are calibrated on synthetic windows
when none is given). Run it with ``TF_ENABLE_ONEDNN_OPTS=0`` as well to see the kernels of CPUs
without oneDNN (AMD Zen 3).

    .venv/bin/python benchmarks/inference_latency.py [--model M.keras] [--repeats 200] [--threads 1]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

# One thread everywhere, as on a device, and set before NumPy loads its BLAS: on a busy machine a
# multi-threaded BLAS spins and a 64x257 @ 257x64 product can take 30 ms instead of 0.06 ms.
_threads = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--threads=")), "1")
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, _threads)

import numpy as np  # noqa: E402


def timed(function, inputs, repeats: int) -> tuple[float, float]:
    function(inputs[0])
    times = []
    for i in range(repeats):
        started = time.perf_counter()
        function(inputs[i % len(inputs)])
        times.append(time.perf_counter() - started)
    return float(np.median(times) * 1e3), float(np.percentile(times, 90) * 1e3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="trained .keras (default: untrained)")
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1,
                        help="threads for TensorFlow, LiteRT and BLAS (write --threads=N)")
    args = parser.parse_args()

    import keras
    import tensorflow as tf

    from atomicvad_lib import Config, build_model
    from atomicvad_lib import export as ex
    from atomicvad_lib.mfcc_numpy import FrontendSpec, mfcc
    from atomicvad_lib.model import with_fast_kernels, with_stock_kernels
    from atomicvad_lib.runs import load_model
    from machine import describe  # the script folder is on sys.path

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    config = Config()
    rng = np.random.default_rng(0)
    t = np.arange(config.window_samples) / config.sample_rate
    windows = np.stack([0.1 * np.sin(2 * np.pi * rng.uniform(100, 300) * t) * rng.uniform(0, 1)
                        + rng.normal(size=t.size) * 10 ** rng.uniform(-4, -1)
                        for _ in range(64)]).astype(np.float32)
    if args.model:
        model = load_model(args.model)
    else:
        keras.utils.set_random_seed(0)
        model = build_model(config, seed=0)
    frontend = ex.frontend_layer(model)
    spec = FrontendSpec.from_layer(frontend)
    features = frontend.images(windows)
    head = ex.inference_head(model)

    rows, throughput = [], {}
    batch = np.repeat(windows, 4, axis=0)
    for variant, convert in (("stock kernels", with_stock_kernels),
                             ("library", with_fast_kernels)):
        convert(model)
        call = tf.function(lambda x: model(x, training=False),
                           input_signature=[tf.TensorSpec((None, config.window_samples), tf.float32)])
        rows.append((f"Keras, waveform -> softmax (tf.function), {variant}",
                     *timed(lambda w: call(w[None]).numpy(), windows, args.repeats)))
        call(batch).numpy()
        started = time.perf_counter()
        for _ in range(5):
            call(batch).numpy()
        throughput[variant] = (time.perf_counter() - started) / (5 * len(batch)) * 1e3
    rows.append(("NumPy MFCC front-end", *timed(lambda w: mfcc(w[None], spec), windows, args.repeats)))
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        files = {"float32": ex.convert_float(head),
                 "int8": ex.convert_int8(ex.int8_head(model), features)}
        sizes = {}
        for name, blob in files.items():
            path = folder / f"{name}.tflite"
            path.write_bytes(blob)
            sizes[name] = len(blob)
            runner = ex.LiteRTModel(path, spec, num_threads=args.threads)
            tensors = runner.quantize_input(features)
            rows.append((f"LiteRT {name}, MFCC -> softmax",
                         *timed(lambda x: runner.invoke_raw(x[None]), tensors, args.repeats)))
            rows.append((f"LiteRT {name}, waveform -> P(speech) incl. NumPy MFCC",
                         *timed(lambda w: runner(w[None]), windows, args.repeats)))
    print(describe())
    print(f"model: {args.model or 'untrained build_model'} ({model.count_params()} parameters); "
          f"threads: {args.threads}; {args.repeats} windows each")
    print(f"{'':64s} {'median ms':>10s} {'p90 ms':>8s}")
    for name, median, p90 in rows:
        print(f"{name:64s} {median:10.3f} {p90:8.3f}")
    for variant, per_window in throughput.items():
        print(f"Keras throughput, batches of {len(batch)}, {variant}: {per_window:.3f} ms per window "
              f"({1e3 / per_window:,.0f} windows/s)")
    print("file sizes: " + ", ".join(f"{k} {v:,} bytes" for k, v in sizes.items()))


if __name__ == "__main__":
    main()
