"""Windows per second of the training input pipeline with waveform augmentation on.

Uses data_samples/'s training split when it exists (decoding is not timed), otherwise synthetic
windows. Prints the figure per epoch and the median; the model is not involved (the pipeline with
the MFCCs, as ``train_fold`` runs it: ``benchmarks/training_throughput.py``).

    .venv/bin/python benchmarks/pipeline_throughput.py [--synthetic] [--windows 16384] [--epochs 4]
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

from atomicvad_lib import Config
from atomicvad_lib.manifest import ManifestEntry
from atomicvad_lib.pipeline import WindowSet, load_split, make_dataset
from machine import describe  # the script folder is on sys.path

REPO = Path(__file__).resolve().parents[1]


def synthetic_windows(count: int, config: Config) -> WindowSet:
    rng = np.random.default_rng(0)
    waveforms = (0.1 * rng.standard_normal((count, config.window_samples))).astype(np.float32)
    labels = (np.arange(count) % 2).astype(np.int32)
    entries = [ManifestEntry(f"synthetic_{i}.wav", config.window_seconds, 0.0,
                             "speech" if y else "background") for i, y in enumerate(labels)]
    return WindowSet(waveforms, labels, entries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", action="store_true", help="ignore data_samples/")
    parser.add_argument("--windows", type=int, default=16384, help="synthetic windows")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=Config().batch_size)
    args = parser.parse_args()

    config = Config(batch_size=args.batch_size)
    data_dir = REPO / config.data_dir
    if not args.synthetic and (data_dir / "balanced_speech_training_manifest.json").is_file():
        windows = load_split(data_dir, "training", config, progress=False)
        source = f"{data_dir.name}/ training"
    else:
        windows, source = synthetic_windows(args.windows, config), "synthetic"
    print(f"{len(windows)} {source} windows, batch {config.batch_size}, augmentation: "
          f"shift p={config.time_shift_prob}, noise p={config.noise_prob}, "
          f"background mix p={config.background_prob}")
    print(describe(), flush=True)
    dataset = make_dataset(windows, config, seed=0, training=True)
    rates, cpu_rates = [], []
    for epoch in range(args.epochs + 1):  # epoch 0 warms up (tracing, autotune)
        start, start_cpu = time.perf_counter(), time.process_time()
        count = sum(int(x.shape[0]) for x, _ in dataset)
        seconds, cpu = time.perf_counter() - start, time.process_time() - start_cpu
        if epoch:
            rates.append(count / seconds)
            cpu_rates.append(count / cpu)
            print(f"epoch {epoch}: {count / seconds:,.0f} windows/s "
                  f"({count / cpu:,.0f} windows per CPU-second)")
    # CPU-seconds (all threads) do not depend on what else runs on the machine; wall time does
    print(f"median: {statistics.median(rates):,.0f} windows/s, "
          f"{statistics.median(cpu_rates):,.0f} windows per CPU-second "
          f"(training pipeline, augmentation on, {os.cpu_count()} cores)")
    evaluation = make_dataset(windows, config, seed=0, training=False)
    for _ in evaluation:  # warm-up
        pass
    start = time.perf_counter()
    count = sum(int(x.shape[0]) for x, _ in evaluation)
    print(f"evaluation pipeline (no augmentation): "
          f"{count / (time.perf_counter() - start):,.0f} windows/s")


if __name__ == "__main__":
    main()
