"""Run folders and model files: where a run keeps what, one loader for every model file, and the
best checkpoint of a run.

Layout of a run folder (written by ``training.train_fold`` and ``atomicvad train``)::

    experiments/<run>/checkpoints/fold_<i>/  best.keras, training_log.csv, metrics.json,
                                             config.yaml, fold.json (seed, fold and a
                                             fingerprint of the data, from the start)
    experiments/<run>/backups/fold_<i>/      training state for a resume (while unfinished)

:func:`load_model` reads every kind of AtomicVAD ``.keras`` file: the ones this library saves
(today's, and older ones with Keras' stock ``DepthwiseConv2D``) and the authors' published
checkpoints, whose four custom layers (``Custom>Spectrogram``, ``Custom>SpecAugment``,
``Custom>SpecCutout``, ``Custom>GGCU``) are mapped here onto this library's layers with the same
behaviour; their weights then load as saved. Depthwise layers come back as
:class:`~atomicvad_lib.conv.FastDepthwiseConv2D` and max-pools as
:class:`~atomicvad_lib.pooling.FastMaxPooling2D` (same weights and outputs, fast on every CPU).
"""
from __future__ import annotations

import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import keras
import pandas as pd

from .activations import GGCU
from .features import MFCC
from .files import read_json
from .model import with_fast_kernels
from .paths import repo_root
from .spec_augment import SpecAugment, SpecCutout

CHECKPOINTS, BACKUPS = "checkpoints", "backups"
BEST_MODEL = "best.keras"


@dataclass(frozen=True)
class FoldPaths:
    """Where fold ``fold`` of the run in ``run_dir`` keeps its files."""

    run_dir: Path
    fold: int

    @property
    def fold_dir(self) -> Path:
        return Path(self.run_dir) / CHECKPOINTS / f"fold_{self.fold}"

    @property
    def backup_dir(self) -> Path:
        return Path(self.run_dir) / BACKUPS / f"fold_{self.fold}"

    @property
    def best_model(self) -> Path:
        return self.fold_dir / BEST_MODEL

    @property
    def training_log(self) -> Path:
        return self.fold_dir / "training_log.csv"

    @property
    def metrics(self) -> Path:
        return self.fold_dir / "metrics.json"

    @property
    def config(self) -> Path:
        return self.fold_dir / "config.yaml"

    @property
    def fold_record(self) -> Path:
        return self.fold_dir / "fold.json"

    @property
    def backup_state(self) -> Path:  # the commit point of training.EpochBackup
        return self.backup_dir / "state.json"


def is_run_folder(run_dir) -> bool:
    return (Path(run_dir) / CHECKPOINTS).is_dir() or (Path(run_dir) / BACKUPS).is_dir()


def fold_indices(run_dir) -> set[int]:
    """The folds of ``run_dir`` that have a fold folder or a backup."""
    found = set()
    for parent in (CHECKPOINTS, BACKUPS):
        for folder in (Path(run_dir) / parent).glob("fold_*"):
            suffix = folder.name[len("fold_"):]
            if folder.is_dir() and suffix.isdigit():
                found.add(int(suffix))
    return found


def read_training_log(path) -> pd.DataFrame:
    """A fold's CSV training log as a DataFrame (empty when absent)."""
    if not Path(path).is_file() or Path(path).stat().st_size == 0:
        return pd.DataFrame()
    return pd.read_csv(path)


def best_checkpoint(experiments_root: str | Path | None = None) -> Path | None:
    """Of the newest run under ``experiments_root`` (default ``experiments/``), the fold whose
    ``best.keras`` has the highest *validation* AUROC, never chosen on the test split; the newest
    checkpoint when no fold has finished; None when there is none."""
    root = Path(experiments_root or repo_root() / "experiments")
    found = sorted(root.glob(f"*/{CHECKPOINTS}/fold_*/{BEST_MODEL}"),
                   key=lambda p: p.stat().st_mtime)
    if not found:
        return None
    run_dir = found[-1].parents[2]
    scored = []
    for fold in sorted(fold_indices(run_dir)):
        paths = FoldPaths(run_dir, fold)
        if not (paths.metrics.is_file() and paths.best_model.is_file()):
            continue
        auroc = read_json(paths.metrics).get("validation", {}).get("auroc")
        if auroc is not None:
            scored.append((auroc, paths.fold_dir.name, paths.best_model))
    return max(scored)[2] if scored else found[-1]


# model files --------------------------------------------------------------------------------------
class _PublishedSpectrogram(MFCC):
    @classmethod
    def from_config(cls, config):
        if config.get("spec_type", "mfcc") != "mfcc":
            raise ValueError(f"published front-end type {config['spec_type']!r} is not supported")
        # the authors' layer always used a 400-sample Hamming window; its config does not say so
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


_PUBLISHED_LAYERS = {"Custom>Spectrogram": _PublishedSpectrogram,
                     "Custom>SpecAugment": _PublishedSpecAugment,
                     "Custom>SpecCutout": _PublishedSpecCutout,
                     "Custom>GGCU": _PublishedGGCU}


def _archive_config(path: Path) -> str:
    """The ``config.json`` of a ``.keras`` archive; ValueError naming the file when it has none."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.read("config.json").decode("utf-8", "replace")
    except (zipfile.BadZipFile, KeyError) as err:
        reason = str(err) if isinstance(err, zipfile.BadZipFile) else \
            "a zip archive without config.json"
        raise ValueError(f"{path} is not a Keras 3 .keras archive ({reason}): the file is damaged "
                         f"or another file renamed; save models with model.save('name.keras')") \
            from None


def is_published_archive(path) -> bool:
    """Whether a ``.keras`` archive is one of the authors' (their ``Custom>`` layer names)."""
    return '"Custom>' in _archive_config(Path(path))


def load_model(path) -> keras.Model:
    """Any AtomicVAD ``.keras`` file as an inference-ready Keras model (not compiled, optimizer
    state not restored): one saved by this library, or a published checkpoint.

    FileNotFoundError when there is no file; ValueError when it is not a Keras archive (Keras
    itself would say "File not found" of a file that exists).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model at {path}: pass a .keras file, e.g. experiments/<run>/"
                                f"checkpoints/fold_<i>/best.keras or a published checkpoint "
                                f"AtomicVADGGCU-chkpt*.keras from the AtomicVAD authors")
    published = is_published_archive(path)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*optimizer.*")
        if published:
            model = keras.models.load_model(path, custom_objects=_PUBLISHED_LAYERS, compile=False,
                                            safe_mode=True)
        else:
            model = keras.models.load_model(path, compile=False)
    # stock DepthwiseConv2D / MaxPooling2D layers (published checkpoints, older saved models)
    return with_fast_kernels(model)
