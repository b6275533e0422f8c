"""What a benchmark figure was measured on: CPU, vector extensions, TensorFlow build, oneDNN, threads.

TensorFlow's CPU kernels depend on the CPU: x86 builds turn oneDNN on by default only where the CPU
has AVX512_VNNI, AVX512_BF16 or AMX (recent Intel Xeons); elsewhere (AMD Zen with AVX2, older
Intel) Eigen's kernels run, some of them many times slower. ``TF_ENABLE_ONEDNN_OPTS=0`` / ``=1``
forces either path, so one machine can measure both.
"""
from __future__ import annotations

import os
import platform
import re
from pathlib import Path

VECTOR_FLAGS = re.compile(r"^(avx\w*|amx\w*|fma)$")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def vector_extensions() -> list[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return sorted(f for f in line.split(":", 1)[1].split() if VECTOR_FLAGS.match(f))
    except OSError:
        pass
    return []


def onednn_enabled() -> bool | None:
    """Whether TensorFlow runs its oneDNN CPU kernels (None when this build cannot tell)."""
    try:
        from tensorflow.python.util import _pywrap_util_port
        return bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
        return None


def describe() -> str:
    """A few lines naming the machine, TensorFlow's build and kernels, and the thread settings."""
    import keras
    import tensorflow as tf

    build = tf.sysconfig.get_build_info()
    build_text = ", ".join(f"{k}={v}" for k, v in build.items() if not isinstance(v, (list, dict)))
    onednn = onednn_enabled()
    env = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    intra = tf.config.threading.get_intra_op_parallelism_threads()
    inter = tf.config.threading.get_inter_op_parallelism_threads()
    return "\n".join([
        f"CPU        {cpu_model()}, {os.cpu_count()} logical cores",
        f"vector ext {' '.join(vector_extensions()) or 'unknown'}",
        f"TensorFlow {tf.__version__} ({build_text}), Keras {keras.__version__}, "
        f"Python {platform.python_version()}",
        f"oneDNN     {'on' if onednn else 'off' if onednn is False else 'unknown'} "
        f"(TF_ENABLE_ONEDNN_OPTS={env if env is not None else 'unset: the CPU decides'})",
        f"threads    intra-op {intra or 'default (all cores)'}, inter-op {inter or 'default'}, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}",
    ])
