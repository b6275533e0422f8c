"""Windows per second of training: the tf.data pipeline with fresh augmentation plus the train step.

Trains the model exactly as ``train_fold`` does (the MFCCs computed in the tf.data pipeline, the
layers after them trained by fit; focal loss, AdamW, cosine restarts) on data_samples/'s training
split when it exists (decoding is not timed), otherwise on synthetic windows, for each
``steps_per_execution`` / ``jit_compile`` variant asked for. Besides the end to end figure it times
the parts alone: the pipeline without and with the MFCCs, and the train step on cached features.
``--stock-kernels`` also times train_fold with the depthwise convolutions and max-pools on
TensorFlow's native kernels (the stock Keras layers, as before issue 11), to compare in the same
run.

The authors' approach (on by default; ``--no-authors`` skips it), re-created from their paper and
published model, not their code: the waveform model with the MFCC layer inside it (so the MFCCs are
computed in every train step) and the stock Keras DepthwiseConv2D and MaxPooling2D; the waveform
augmentation applied once, in the first epoch, and the augmented windows ``.cache()``d, reshuffled
and replayed in every later epoch; batch 256, focal loss, AdamW, cosine restarts
(``compile_model``), Keras' default of one step per execution, and TensorFlow's default threads
(every core for the train step: their code leaves them alone, so it runs in a child process of its
own, TensorFlow's thread settings being fixed once per process). Its first epoch (augmenting) is
printed apart; the figure compared is the median of the later, cached epochs, which is their steady
state and the most favourable reading of it. The last line prints this course's end to end figure
(spe 8) as a multiple of theirs. (Until 2026-12-04 the re-creation ran in this process, on the one
op thread this course's training uses, which understated it: on 2 cores with oneDNN, 2,700 instead
of 4,700 windows/s.)

``--before`` also times the layout of session 1, the waveform model (MFCCs inside the train step)
on a dataset whose epoch count came from a Python generator: under op determinism that one
stateful op made tf.data run every map serially and stop prefetching.

Each figure is the median over ``--epochs`` timed epochs, with the best epoch beside it.
Wall-clock windows/s depend on what else runs on the machine (on a shared virtual machine the
same epoch can take half again as long from one minute to the next); windows per CPU-second (all
threads of this process) depend on it less.

    .venv/bin/python benchmarks/training_throughput.py [--synthetic] [--epochs 3]
        [--steps-per-execution 1 8 32] [--jit] [--before]
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from atomicvad_lib import Config
from atomicvad_lib.model import build_model, feature_model, with_stock_kernels
from atomicvad_lib.pipeline import load_split, make_dataset
from atomicvad_lib.runinfo import set_global_seed, set_training_threads
from atomicvad_lib.training import (STEPS_PER_EXECUTION, aligned_steps_per_execution,
                                    compile_model)
from machine import describe  # the script folder is on sys.path
from pipeline_throughput import synthetic_windows

REPO = Path(__file__).resolve().parents[1]




def timed(function, windows: int) -> tuple[float, float]:
    """(windows per second, windows per CPU-second) of one call."""
    start, start_cpu = time.perf_counter(), time.process_time()
    function()
    return windows / (time.perf_counter() - start), windows / (time.process_time() - start_cpu)


def report(name: str, rates: list[tuple[float, float]]) -> None:
    wall = [r[0] for r in rates]
    cpu = statistics.median(r[1] for r in rates)
    print(f"{name:<48} {statistics.median(wall):7,.0f} windows/s (best {max(wall):7,.0f})  "
          f"{cpu:7,.0f} windows per CPU-second", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", action="store_true", help="ignore data_samples/")
    parser.add_argument("--windows", type=int, default=6144, help="synthetic windows")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per variant")
    parser.add_argument("--batch-size", type=int, default=Config().batch_size)
    parser.add_argument("--steps-per-execution", type=int, nargs="+",
                        default=sorted({1, STEPS_PER_EXECUTION}))
    parser.add_argument("--jit", action="store_true", help="also time jit_compile=True")
    parser.add_argument("--all-threads", action="store_true",
                        help="leave TensorFlow's op threads at its default (all cores) instead of "
                             "runinfo.set_training_threads()")
    parser.add_argument("--before", action="store_true",
                        help="also time session 1's layout: the waveform model (MFCCs in the "
                             "train step) on a dataset re-iterated each epoch")
    parser.add_argument("--stock-kernels", action="store_true",
                        help="also time train_fold with the stock Keras DepthwiseConv2D and "
                             "MaxPooling2D (before)")
    parser.add_argument("--no-authors", action="store_true",
                        help="skip the re-creation of the authors' training loop")
    parser.add_argument("--authors-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-op-determinism", action="store_true",
                        help="seed only, without tf.config.experimental.enable_op_determinism")
    args = parser.parse_args()

    if not args.all_threads and not args.authors_only:
        set_training_threads()  # as atomicvad train and notebook 05 do
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
    threads = tf.config.threading.get_intra_op_parallelism_threads()
    print(f"{n} {source} windows, batch {config.batch_size}, {os.cpu_count()} cores, "
          f"TensorFlow {tf.__version__} with {threads or 'all'} op thread(s), "
          f"Keras {keras.__version__}")
    print(describe(), flush=True)
    if args.authors_only:  # the child process of authors_in_child
        print(f"{AUTHORS_MARK} {authors_approach(windows, config, args.epochs)}", flush=True)
        return

    def stream(features: bool):
        return make_dataset(windows, config, seed=0, training=True, features=features,
                            repeat=True)

    # the parts alone
    for name, features in (("pipeline alone (augmentation)", False),
                           ("pipeline alone (augmentation + MFCC)", True)):
        batches = iter(stream(features))
        one_epoch = lambda: [next(batches) for _ in range(steps)]  # noqa: E731
        one_epoch()  # warm-up
        report(name, [timed(one_epoch, n) for _ in range(args.epochs)])
    spe = aligned_steps_per_execution(steps, STEPS_PER_EXECUTION)
    cached = stream(True).take(steps).cache().apply(  # one epoch of features, replayed
        tf.data.experimental.assert_cardinality(steps))
    head = compile_model(feature_model(build_model(config, seed=0)), config, steps * 10, spe)
    head.fit(cached, epochs=1, verbose=0, shuffle=False)
    report(f"train step alone (cached features, spe {spe})",
           [timed(lambda: head.fit(cached, epochs=1, verbose=0, shuffle=False), n)
            for _ in range(args.epochs)])

    # end to end as train_fold runs it: MFCCs in the pipeline, the epochs streamed, fit of the
    # feature model; optionally the session-1 layout for comparison
    variants = [(s, False, "train_fold") for s in args.steps_per_execution]
    if args.jit:
        variants += [(s, True, "train_fold") for s in args.steps_per_execution]
    if args.stock_kernels:
        variants += [(s, False, "stock_kernels") for s in args.steps_per_execution]
    if args.before:
        variants += [(s, False, "before") for s in args.steps_per_execution]
    ours = {}
    for wanted, jit, layout in variants:
        spe = aligned_steps_per_execution(steps, wanted)
        full = build_model(config, seed=0)
        if layout == "stock_kernels":
            with_stock_kernels(full)
        model = compile_model(full if layout == "before" else feature_model(full), config,
                              steps * 10, spe)
        if jit:
            model.jit_compile = True
            model.make_train_function(force=True)
        timer = EpochTimer(n)
        if layout != "before":
            model.fit(stream(True), steps_per_epoch=steps, epochs=args.epochs + 1, verbose=0,
                      callbacks=[timer])
        else:  # waveform model, MFCCs in the train step, a dataset re-iterated per epoch
            model.fit(make_dataset(windows, config, seed=0, training=True),
                      epochs=args.epochs + 1, verbose=0, shuffle=False, callbacks=[timer])
        name = {"train_fold": "as train_fold", "stock_kernels": "train_fold, stock kernels",
                "before": "session-1 layout"}[layout]
        report(f"end to end, {name}, spe {spe}, jit {jit}", timer.rates[1:])  # 1st: tracing
        if layout == "train_fold" and not jit:
            ours[spe] = statistics.median(r[0] for r in timer.rates[1:])

    if not args.no_authors:
        theirs = authors_in_child(args)
        best = ours.get(max(ours)) if ours else None
        if best:
            print(f"this course (end to end, spe {max(ours)}) / the authors' approach: "
                  f"{best / theirs:.1f}x", flush=True)


AUTHORS_MARK = "authors' median windows/s:"


def authors_in_child(args: argparse.Namespace) -> float:
    """Run :func:`authors_approach` in a child process with TensorFlow's default threads, print
    what it prints and return its median windows/s."""
    command = [sys.executable, __file__, "--authors-only", "--epochs", str(args.epochs),
               "--batch-size", str(args.batch_size), "--windows", str(args.windows)]
    command += ["--synthetic"] * args.synthetic + ["--no-op-determinism"] * args.no_op_determinism
    print("the authors' approach, in a child process with TensorFlow's default threads:",
          flush=True)
    child = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
    lines = child.stdout.splitlines()
    print("\n".join(line for line in lines if not line.startswith(AUTHORS_MARK)), flush=True)
    return next(float(line.split(":")[1]) for line in lines if line.startswith(AUTHORS_MARK))


def authors_approach(windows, config: Config, epochs: int) -> float:
    """Time the authors' training loop (module docstring); returns its median windows/s."""
    n = len(windows)
    augmented_once = make_dataset(windows, config, seed=0, training=True).unbatch().cache()
    dataset = (augmented_once.shuffle(min(n, config.shuffle_buffer), seed=0)
               .batch(config.batch_size).prefetch(tf.data.AUTOTUNE))
    steps = math.ceil(n / config.batch_size)
    model = compile_model(with_stock_kernels(build_model(config, seed=0)), config, steps * 10, 1)
    timer = EpochTimer(n)
    model.fit(dataset, epochs=epochs + 1, verbose=0, callbacks=[timer])
    report("authors' approach, 1st epoch (augmenting)", timer.rates[:1])
    report("authors' approach, cached epochs (MFCC in step)", timer.rates[1:])
    return statistics.median(r[0] for r in timer.rates[1:])


class EpochTimer(keras.callbacks.Callback):
    """(windows/s, windows per CPU-second) of every epoch of one fit."""

    def __init__(self, windows: int):
        super().__init__()
        self.windows, self.rates = windows, []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = (time.perf_counter(), time.process_time())

    def on_epoch_end(self, epoch, logs=None):
        wall, cpu = time.perf_counter() - self._start[0], time.process_time() - self._start[1]
        self.rates.append((self.windows / wall, self.windows / cpu))


if __name__ == "__main__":
    main()
