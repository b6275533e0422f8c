"""Load the authors' published ``.keras`` checkpoints with this library's classes.

Their archives name four custom layers ``Custom>Spectrogram``, ``Custom>SpecAugment``,
``Custom>SpecCutout`` and ``Custom>GGCU``. Each is mapped here onto this library's layer with the
same behaviour, translating the published config keys; the weights then load as saved. Their
stock ``DepthwiseConv2D`` layers become :class:`~atomicvad_lib.conv.FastDepthwiseConv2D` (same
weights and outputs, fast on every CPU).
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import keras

from .activations import GGCU
from .conv import with_fast_depthwise
from .features import MFCC
from .spec_augment import SpecAugment, SpecCutout


class _PublishedSpectrogram(MFCC):
    @classmethod
    def from_config(cls, config):
        if config.get("spec_type", "mfcc") != "mfcc":
            raise ValueError(f"published front-end type {config['spec_type']!r} is not supported")
        return MFCC(name=config.get("name", "spectrogram"), sample_rate=config["sample_rate"],
                    n_fft=config["n_fft"], hop_length=config["hop_length"], win_length=400,
                    window="hamming", n_mels=config["n_mels"], n_mfcc=config["n_mfcc"])


class _PublishedSpecAugment(SpecAugment):
    @classmethod
    def from_config(cls, config):
        return SpecAugment(config["freq_mask_param"], config["time_mask_param"],
                           config["n_freq_mask"], config["n_time_mask"], config["mask_value"],
                           name=config.get("name", "spec_augment"))


class _PublishedSpecCutout(SpecCutout):
    @classmethod
    def from_config(cls, config):
        return SpecCutout(config["masks_number"], config["time_mask_size"],
                          config["frequency_mask_size"], name=config.get("name", "spec_cutout"))


class _PublishedGGCU(GGCU):
    @classmethod
    def from_config(cls, config):
        return GGCU(l1=0.0, l2=0.0, name=config.get("name", "ggcu"))


PUBLISHED_OBJECTS = {"Custom>Spectrogram": _PublishedSpectrogram,
                     "Custom>SpecAugment": _PublishedSpecAugment,
                     "Custom>SpecCutout": _PublishedSpecCutout,
                     "Custom>GGCU": _PublishedGGCU}


def load_published(path: str | Path) -> keras.Model:
    """A published AtomicVAD checkpoint as an inference-ready Keras model (not compiled).

    FileNotFoundError when there is no file; ValueError when the file is not a Keras archive
    (Keras itself would say "File not found" of a file that exists)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}: the published checkpoints come from "
                                f"the AtomicVAD authors' repository (AtomicVADGGCU-chkpt*.keras)")
    try:
        with zipfile.ZipFile(path) as archive:
            archive.getinfo("config.json")
    except (zipfile.BadZipFile, KeyError) as err:
        reason = "not a zip archive" if isinstance(err, zipfile.BadZipFile) else \
            "a zip archive without config.json"
        raise ValueError(f"{path} is not a Keras .keras archive ({reason}): the file is damaged "
                         f"or another file renamed; download the checkpoint again") from None
    model = keras.models.load_model(path, custom_objects=PUBLISHED_OBJECTS, compile=False,
                                    safe_mode=True)
    return with_fast_depthwise(model)  # their stock DepthwiseConv2D layers, computed fast
