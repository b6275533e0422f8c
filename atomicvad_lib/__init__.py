"""AtomicVAD: a ~300-parameter voice activity detector, and the library behind the course.

Importing the package registers its Keras layers, so ``keras.models.load_model`` reads models
saved by it.
"""
import os

# TensorFlow's C++ start-up chatter (oneDNN, CPU features) buries the course's own output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # set it to 0 to see them

from .config import ACTIVATIONS, CLASS_NAMES, PAPER_SEEDS, RECIPES, Config, ConfigError  # noqa: E402

try:
    from .activations import GCU, GGCU, make_activation
    from .features import MFCC
    from .model import build_model, check_waveforms, predict_speech
    from .published import load_published
    from .spec_augment import SpecAugment, SpecCutout
except ModuleNotFoundError as _err:  # let `atomicvad check` report what is missing
    _MISSING = _err

    def __getattr__(name):
        raise ImportError(f"atomicvad_lib needs {_MISSING.name!r}, which is not installed: "
                          f"run `make test` from the repository root, or `atomicvad check`")

__version__ = "0.1.0"

__all__ = ["ACTIVATIONS", "CLASS_NAMES", "GCU", "GGCU", "MFCC", "PAPER_SEEDS", "RECIPES", "Config",
           "ConfigError", "SpecAugment", "SpecCutout", "build_model", "check_waveforms",
           "load_published", "make_activation", "predict_speech"]
