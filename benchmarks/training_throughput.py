"""Windows per second of training: the tf.data pipeline with fresh augmentation plus the train step.

Trains the model exactly as ``train_fold`` compiles it (focal loss, AdamW, cosine restarts) on
data_samples/'s training split when it exists (decoding is not timed), otherwise on synthetic
windows, for each ``steps_per_execution`` / ``jit_compile`` variant asked for. Besides the end
to end figure it times the parts alone: the pipeline, the train step on cached batches, and the
MFCC front-end's forward pass (the model's most expensive layer).

Wall-clock windows/s depend on what else runs on the machine; windows per CPU-second (all
threads of this process) do not, and twice that is what two idle cores could reach at best.

    .venv/bin/python benchmarks/training_throughput.py [--synthetic] [--epochs 3]
        [--steps-per-execution 1 8 32] [--jit]
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from atomicvad_lib import Config
from atomicvad_lib.model import build_model
from atomicvad_lib.pipeline import load_split, make_dataset
from atomicvad_lib.runinfo import set_global_seed
from atomicvad_lib.training import STEPS_PER_EXECUTION, compile_model
from pipeline_throughput import synthetic_windows  # the script folder is on sys.path

REPO = Path(__file__).resolve().parents[1]




def timed(function, windows: int) -> tuple[float, float]:
    """(windows per second, windows per CPU-second) of one call."""
    start, start_cpu = time.perf_counter(), time.process_time()
    function()
    return windows / (time.perf_counter() - start), windows / (time.process_time() - start_cpu)


def report(name: str, rates: list[tuple[float, float]]) -> None:
    wall = statistics.median(r[0] for r in rates)
    cpu = statistics.median(r[1] for r in rates)
    print(f"{name:<44} {wall:8,.0f} windows/s  {cpu:8,.0f} windows per CPU-second", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", action="store_true", help="ignore data_samples/")
    parser.add_argument("--windows", type=int, default=6144, help="synthetic windows")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per variant")
    parser.add_argument("--batch-size", type=int, default=Config().batch_size)
    parser.add_argument("--steps-per-execution", type=int, nargs="+",
                        default=sorted({1, STEPS_PER_EXECUTION}))
    parser.add_argument("--jit", action="store_true", help="also time jit_compile=True")
    parser.add_argument("--no-op-determinism", action="store_true",
                        help="seed only, without tf.config.experimental.enable_op_determinism")
    args = parser.parse_args()

    config = Config(batch_size=args.batch_size)
    if args.no_op_determinism:
        keras.utils.set_random_seed(0)
    else:
        set_global_seed(0)  # as train_fold: seeds and op determinism (which can serialise tf.data)
    data_dir = REPO / config.data_dir
    if not args.synthetic and (data_dir / "balanced_speech_training_manifest.json").is_file():
        windows, source = load_split(data_dir, "training", config, progress=False), \
            f"{data_dir.name}/ training"
    else:
        windows, source = synthetic_windows(args.windows, config), "synthetic"
    n = len(windows)
    steps = math.ceil(n / config.batch_size)
    print(f"{n} {source} windows, batch {config.batch_size}, {os.cpu_count()} cores, "
          f"TensorFlow {tf.__version__}, Keras {keras.__version__}")
    dataset = make_dataset(windows, config, seed=0, training=True)

    # the parts alone
    for _ in dataset:  # warm-up
        pass
    report("pipeline alone (augmentation on)",
           [timed(lambda: [None for _ in dataset], n) for _ in range(args.epochs)])
    cached = dataset.take(steps).cache()  # one epoch of augmented batches, replayed
    model = compile_model(build_model(config, seed=0), config, steps * 10, STEPS_PER_EXECUTION)
    model.fit(cached, epochs=1, verbose=0, shuffle=False)
    report(f"train step alone (cached batches, spe {STEPS_PER_EXECUTION})",
           [timed(lambda: model.fit(cached, epochs=1, verbose=0, shuffle=False), n)
            for _ in range(args.epochs)])
    mfcc = model.get_layer("mfcc")
    batch = tf.constant(windows.waveforms[:config.batch_size])
    forward = tf.function(lambda x: tf.reduce_sum(mfcc(x)))
    forward(batch)
    report("MFCC front-end forward alone",
           [timed(lambda: [forward(batch).numpy() for _ in range(8)], 8 * int(batch.shape[0]))
            for _ in range(args.epochs)])

    # end to end, as train_fold runs it
    variants = [(spe, False) for spe in args.steps_per_execution]
    if args.jit:
        variants += [(spe, True) for spe in args.steps_per_execution]
    for spe, jit in variants:
        model = compile_model(build_model(config, seed=0), config, steps * 10, spe)
        if jit:
            model.jit_compile = True
            model.make_train_function(force=True)
        model.fit(dataset, epochs=1, verbose=0, shuffle=False)  # tracing
        rates = [timed(lambda: model.fit(dataset, epochs=1, verbose=0, shuffle=False), n)
                 for _ in range(args.epochs)]
        report(f"pipeline + train step, spe {spe}, jit {jit}", rates)


if __name__ == "__main__":
    main()
