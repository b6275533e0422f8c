"""What a run records about itself: seeding, package versions, devices and timings."""
from __future__ import annotations

import os
import platform
import random
import time
from contextlib import contextmanager
from datetime import datetime, timezone

import keras
import numpy as np
import tensorflow as tf

from .checks import package_versions


def set_global_seed(seed: int) -> None:
    """Seed Python's ``random``, NumPy, TensorFlow and Keras, and make TensorFlow's ops
    deterministic. Op determinism is process-wide and cannot be switched off again."""
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)
    tf.random.set_seed(seed)
    keras.utils.set_random_seed(seed)  # the three above again, plus Keras' own global generator
    tf.config.experimental.enable_op_determinism()


def set_training_threads(threads: int | None = None) -> bool:
    """Give TensorFlow's op thread pool ``threads`` threads (default: half the cores, at least one)
    and so leave the other cores to the tf.data pipeline, which augments and computes the MFCCs
    on threads of its own.

    On a two-core machine the train step then runs on one core and the pipeline on the other,
    side by side, instead of both spreading over both cores and spinning while they wait on each
    other. It works only before TensorFlow runs its first op: call it right after the imports.
    Returns False, changing nothing, when it is too late.
    """
    threads = int(threads or max(1, (os.cpu_count() or 2) // 2))
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    except RuntimeError:
        return False
    return True


def gpu_present() -> bool:
    return bool(tf.config.list_physical_devices("GPU"))


def environment() -> dict:
    """Package versions (``checks.package_versions``), platform and devices."""
    return {"packages": package_versions(), "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
            "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
            "tensorflow_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "python_hash_seed": os.environ.get("PYTHONHASHSEED")}


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Timings(dict):
    """Seconds spent per named phase: ``with timings.phase("training"): ...``."""

    @contextmanager
    def phase(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self[name] = round(self.get(name, 0.0) + time.perf_counter() - start, 3)
