"""AtomicVAD: a ~300-parameter voice activity detector, and the library behind the course.

``import atomicvad_lib`` is cheap: it loads the configuration only. The Keras names below
(``build_model``, ``MFCC``, ``load_model``, ...) are imported on first use, and with them
TensorFlow, so ``atomicvad --help`` and the course runner start in a fraction of a second. Using
any of them (or importing ``atomicvad_lib.model``) registers the library's Keras layers, so
``keras.models.load_model`` then reads models saved by it.
"""
import importlib
import os

# TensorFlow's C++ start-up chatter (oneDNN, CPU features) buries the course's own output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # set it to 0 to see them

from .config import ACTIVATIONS, CLASS_NAMES, PAPER_SEEDS, RECIPES, Config, ConfigError  # noqa: E402

__version__ = "0.1.0"

# name -> module that defines it; imported when the name is first used
_LAZY = {
    "GCU": "activations", "GGCU": "activations", "make_activation": "activations",
    "MFCC": "features",
    "build_model": "model", "check_waveforms": "model", "predict_speech": "model",
    "load_model": "runs",
    "SpecAugment": "spec_augment", "SpecCutout": "spec_augment",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'atomicvad_lib' has no attribute {name!r}")
    try:
        value = getattr(importlib.import_module(f".{module}", __name__), name)
    except ModuleNotFoundError as err:  # let `atomicvad check` report what is missing
        raise ImportError(f"atomicvad_lib.{name} needs {err.name!r}, which is not installed: "
                          f"run `make test` from the repository root, or `atomicvad check`") from err
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted({*globals(), *_LAZY})


__all__ = ["ACTIVATIONS", "CLASS_NAMES", "PAPER_SEEDS", "RECIPES", "Config", "ConfigError",
           *_LAZY]
