"""One dataclass holding every AtomicVAD setting, with the paper's values as defaults."""
from __future__ import annotations

import dataclasses
import difflib
import functools
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

PAPER_SEEDS = (43185, 86648, 92813, 89816, 69375, 47845, 10357, 37555, 79511, 78417)
ACTIVATIONS = ("ggcu", "gcu", "relu", "leaky_relu", "gelu", "silu", "swish", "mish", "elu", "selu")
# "atomicvad": the paper's model on MFCCs; "resnet": the larger baseline of issue 14, a small
# ResNet-style CNN on log-mel features (model.build_resnet), trained by the same train_fold.
ARCHITECTURES = ("atomicvad", "resnet")
CLASS_NAMES = ("background", "speech")
OPTIMIZERS = ("adamw", "sgd")
# cosine_restarts: the paper's cosine decay with warm restarts; warmup_cosine: a linear warm-up
# over warmup_fraction of the steps, then one cosine decay to 0; triangular: Smith's cyclic
# learning rate between cycle_min_fraction * learning_rate and learning_rate.
SCHEDULES = ("cosine_restarts", "warmup_cosine", "triangular")
# The settings of the MFCC front-end: the MFCC layer, its NumPy port and the exported frontend.json
# hold exactly these.
FRONTEND_KEYS = ("sample_rate", "n_fft", "hop_length", "win_length", "window", "n_mels", "n_mfcc",
                 "fmin", "fmax", "top_db")
# Settings that change where or how fast a run goes, never its results: ignored when a run
# folder's recorded config is compared with a new one.
RESULT_NEUTRAL_KEYS = ("cache",)


# Settings a recipe changes on top of the paper's defaults. The paper's recipe (heavy SpecAugment
# and SpecCutout that mask up to about 70 % of the MFCC image, speech mixed with background down to
# 0 dB SNR, dropout 0.2, focal gamma 2, learning rate 1e-3) is built for ~100k real windows and 150
# epochs; the course trains 24 epochs (batch 64) per seed in about a CPU minute on the 6,000
# training windows of data_samples/, where the model underfits (training accuracy ~0.80 at the
# end). Measured there (test AUROC, scripts/measure_recipe.py, 12 epochs at batch 64, seeds 47845 /
# 10357 / 89816, the three that learned slowest before): learning rate 1e-2, no masks, background
# mixing for half the speech windows at 0-20 dB 0.742 / 0.879 / 0.801 once the MFCCs are
# standardised (feature_norm; 0.706 / 0.693 for 89816 / 10357 without it: the raw coefficients
# range from about -800 to 200, c0 dominating); the same without dropout and with focal gamma 0.5
# 0.868 / 0.880 / 0.863 (chosen); with learning rate 2e-2 0.874 / 0.873 / 0.860; focal gamma 0
# diverged (NaN) on seed 43185; a weight average (EMA 0.99) 0.877 / 0.904 / 0.863, not kept (its
# gain is within the seed-to-seed spread and it complicates resuming). Notebook 05 has the
# tables; `recipe="paper"` restores the paper's.
RECIPES: dict[str, dict[str, Any]] = {
    "paper": {},
    "course": {"learning_rate": 1e-2, "freq_masks": 0, "time_masks": 0, "cutout_masks": 0,
               "background_prob": 0.5, "feature_norm": True, "dropout": 0.0, "focal_gamma": 0.5},
}


class ConfigError(ValueError):
    """A setting is unknown or out of range; the message names the key."""


@dataclass
class Config:
    """Every setting of a run. Defaults are the values of Soto-Vergel et al. (2026)."""

    # audio
    sample_rate: int = 16000
    window_seconds: float = 0.63
    # MFCC front-end (Keras MelSpectrogram + DCT, as in the published model)
    n_fft: int = 512
    hop_length: int = 160
    win_length: int = 400
    window: str = "hamming"
    n_mels: int = 64
    n_mfcc: int = 64
    fmin: float = 20.0
    fmax: float | None = None
    top_db: float = 80.0
    # SpecAugment / SpecCutout
    freq_masks: int = 2
    freq_mask_param: int = 15
    time_masks: int = 2
    time_mask_param: int = 25
    cutout_masks: int = 5
    cutout_time: int = 25
    cutout_freq: int = 15
    # architecture ("resnet": the block settings below do not apply; see model.build_resnet)
    architecture: str = "atomicvad"
    block1_depth_multiplier: int = 3
    block1_kernel: int = 7
    block1_pool: int = 5
    block1_filters: tuple[int, int] = (8, 2)
    block2_depth_multiplier: int = 1
    block2_kernel: int = 3
    block2_pool: int = 7
    block2_filters: tuple[int, int] = (8, 2)
    dropout: float = 0.2
    normalization: str = "layer"
    # standardise each MFCC coefficient with the training set's mean and variance (fixed, not
    # trained; the published model has no such layer)
    feature_norm: bool = False
    activation: str = "ggcu"
    ggcu_l1: float = 1e-5
    ggcu_l2: float = 1e-4
    n_classes: int = 2
    # training
    batch_size: int = 256
    epochs: int = 150
    learning_rate: float = 1e-3
    weight_decay: float = 0.004
    optimizer: str = "adamw"          # "adamw" or "sgd" (with momentum; same weight decay)
    momentum: float = 0.9             # SGD only
    schedule: str = "cosine_restarts"  # one of SCHEDULES
    first_decay_fraction: float = 0.1
    t_mul: float = 2.0
    m_mul: float = 1.0
    warmup_fraction: float = 0.0      # any schedule; "warmup_cosine" needs it above 0
    cycle_fraction: float = 0.2       # triangular: one full cycle, as a fraction of all steps
    cycle_min_fraction: float = 0.1   # triangular: lowest rate, as a fraction of learning_rate
    focal_gamma: float = 2.0
    focal_alpha: float = 0.25
    label_smoothing: float = 0.0      # targets 0/1 become ls/2 and 1 - ls/2
    class_balancing: bool = True
    patience: int = 20
    mixed_precision: bool = False
    # waveform augmentation
    time_shift_ms: float = 5.0
    time_shift_prob: float = 0.8
    noise_db_min: float = -90.0
    noise_db_max: float = -46.0
    noise_prob: float = 0.8
    background_snr_min: float = 0.0
    background_snr_max: float = 20.0
    background_prob: float = 0.5
    # data
    data_dir: str = "data_samples"
    cache: str = "memory"
    shuffle_buffer: int = 10000
    # seeds of the paper's ten runs
    seeds: tuple[int, ...] = PAPER_SEEDS

    def __post_init__(self) -> None:
        for key in ("block1_filters", "block2_filters", "seeds"):
            value = getattr(self, key)
            if isinstance(value, list):
                setattr(self, key, tuple(value))
        self.validate()

    # derived values ---------------------------------------------------------
    @property
    def window_samples(self) -> int:
        """Samples per window: 0.63 s at 16 kHz is 10,080."""
        return int(round(self.window_seconds * self.sample_rate))

    @property
    def n_frames(self) -> int:
        """MFCC frames per window (centred STFT): 1 + samples // hop."""
        return 1 + self.window_samples // self.hop_length

    def frontend(self) -> dict[str, Any]:
        """The front-end settings (``FRONTEND_KEYS``), as the MFCC layer takes them."""
        return {key: getattr(self, key) for key in FRONTEND_KEYS}

    # checks -----------------------------------------------------------------
    def validate(self) -> None:
        """Raise ConfigError naming the first key whose value is of the wrong type or range."""
        for f in fields(self):
            value = getattr(self, f.name)
            expected = {"int": int, "float": (int, float), "str": str, "bool": bool}.get(str(f.type))
            if expected and (not isinstance(value, expected) or
                             (expected is not bool and isinstance(value, bool))):
                raise ConfigError(f"config key '{f.name}' = {value!r}: must be of type {f.type}")

        def need(ok: bool, key: str, what: str) -> None:
            if not ok:
                raise ConfigError(f"config key '{key}' = {getattr(self, key)!r}: {what}")

        positive_ints = ("sample_rate", "n_fft", "hop_length", "win_length", "n_mels", "n_mfcc",
                         "block1_depth_multiplier", "block1_kernel", "block1_pool",
                         "block2_depth_multiplier", "block2_kernel", "block2_pool",
                         "n_classes", "batch_size", "epochs", "shuffle_buffer")
        for key in positive_ints:
            value = getattr(self, key)
            need(isinstance(value, int) and not isinstance(value, bool) and value > 0, key,
                 "must be a positive integer")
        non_negative_ints = ("freq_masks", "freq_mask_param", "time_masks", "time_mask_param",
                             "cutout_masks", "cutout_time", "cutout_freq", "patience")
        for key in non_negative_ints:
            value = getattr(self, key)
            need(isinstance(value, int) and not isinstance(value, bool) and value >= 0, key,
                 "must be a non-negative integer")
        probabilities = ("dropout", "time_shift_prob", "noise_prob", "background_prob",
                         "first_decay_fraction", "warmup_fraction", "focal_alpha", "momentum",
                         "cycle_min_fraction", "label_smoothing")
        for key in probabilities:
            need(0.0 <= float(getattr(self, key)) <= 1.0, key, "must lie in [0, 1]")
        need(self.dropout < 1.0, "dropout", "must be below 1")
        need(0 < self.window_seconds <= 10, "window_seconds", "must lie in (0, 10] seconds")
        need(self.win_length <= self.n_fft, "win_length", f"must not exceed n_fft ({self.n_fft})")
        need(self.n_mfcc <= self.n_mels, "n_mfcc", f"must not exceed n_mels ({self.n_mels})")
        need(self.window in ("hamming", "hann"), "window", "must be 'hamming' or 'hann'")
        nyquist = self.sample_rate / 2
        need(0 <= self.fmin < nyquist, "fmin", f"must lie in [0, {nyquist}) Hz")
        need(self.fmax is None or self.fmin < self.fmax <= nyquist, "fmax",
             f"must be None or lie in (fmin, {nyquist}] Hz")
        need(self.top_db > 0, "top_db", "must be positive")
        need(self.freq_mask_param <= self.n_mfcc, "freq_mask_param",
             f"must not exceed n_mfcc ({self.n_mfcc})")
        need(self.cutout_freq <= self.n_mfcc, "cutout_freq", f"must not exceed n_mfcc ({self.n_mfcc})")
        need(self.time_mask_param <= self.n_frames, "time_mask_param",
             f"must not exceed the number of frames ({self.n_frames})")
        need(self.cutout_time <= self.n_frames, "cutout_time",
             f"must not exceed the number of frames ({self.n_frames})")
        for key in ("block1_filters", "block2_filters"):
            value = getattr(self, key)
            need(len(value) == 2 and all(isinstance(v, int) and v > 0 for v in value), key,
                 "must be two positive integers (expansion, projection)")
        need(self.block1_filters[1] == self.block2_filters[1], "block2_filters",
             "projection width must equal block 1's so the skip connection can be added")
        need(self.architecture in ARCHITECTURES, "architecture",
             f"must be one of {', '.join(ARCHITECTURES)}")
        need(self.normalization in ("layer", "batch", "none"), "normalization",
             "must be 'layer', 'batch' or 'none'")
        need(self.activation in ACTIVATIONS, "activation", f"must be one of {', '.join(ACTIVATIONS)}")
        need(self.ggcu_l1 >= 0, "ggcu_l1", "must be >= 0")
        need(self.ggcu_l2 >= 0, "ggcu_l2", "must be >= 0")
        need(self.n_classes == 2, "n_classes", "AtomicVAD has two classes [background, speech]")
        need(0 < self.learning_rate < 1, "learning_rate", "must lie in (0, 1)")
        need(self.weight_decay >= 0, "weight_decay", "must be >= 0")
        need(self.optimizer in OPTIMIZERS, "optimizer", f"must be one of {', '.join(OPTIMIZERS)}")
        need(self.schedule in SCHEDULES, "schedule", f"must be one of {', '.join(SCHEDULES)}")
        need(self.warmup_fraction < 1, "warmup_fraction", "must be below 1")
        need(self.schedule != "warmup_cosine" or self.warmup_fraction > 0, "warmup_fraction",
             "must be above 0 with schedule 'warmup_cosine' (e.g. 0.1)")
        need(0 < self.cycle_fraction <= 1, "cycle_fraction", "must lie in (0, 1]")
        need(self.label_smoothing < 1, "label_smoothing", "must be below 1")
        need(self.t_mul >= 1, "t_mul", "must be >= 1")
        need(0 < self.m_mul <= 1, "m_mul", "must lie in (0, 1]")
        need(self.focal_gamma >= 0, "focal_gamma", "must be >= 0")
        need(self.time_shift_ms >= 0, "time_shift_ms", "must be >= 0")
        need(self.noise_db_max <= 0, "noise_db_max", "must be <= 0 dB (relative to full scale)")
        need(self.noise_db_min <= self.noise_db_max, "noise_db_min", "must not exceed noise_db_max")
        need(self.background_snr_min <= self.background_snr_max, "background_snr_min",
             "must not exceed background_snr_max")
        need(self.cache == "memory" or self.cache == "none" or self.cache.startswith("disk:"), "cache",
             "must be 'memory', 'none' or 'disk:<folder>'")
        need(len(self.seeds) > 0 and all(isinstance(s, int) and s >= 0 for s in self.seeds), "seeds",
             "must be a non-empty list of non-negative integers")

    # (de)serialisation ------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = list(value)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Config":
        _check_keys(data)
        return cls(**data)

    @classmethod
    def for_recipe(cls, recipe: str = "paper", **changes: Any) -> "Config":
        """The paper's defaults, then the recipe's settings (``RECIPES``), then ``changes``."""
        if recipe not in RECIPES:
            raise ConfigError(f"unknown recipe {recipe!r}: choose one of {', '.join(RECIPES)}")
        return cls.from_dict({**RECIPES[recipe], **changes})

    def replace(self, **changes: Any) -> "Config":
        """A copy with some settings changed (validated like any other)."""
        return Config.from_dict({**self.to_dict(), **changes})

    def save(self, path: str | Path) -> Path:
        """Write as YAML (``.yaml``/``.yml``) or JSON (anything else)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix in (".yaml", ".yml"):
            path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))
        else:
            path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Config":
        path = Path(path)
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        try:
            data = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
        except (yaml.YAMLError, json.JSONDecodeError) as err:
            raise ConfigError(f"config file {path} is not valid: {err}") from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"config file {path} must hold a mapping of keys to values")
        return cls.from_dict(data)


def fold_for_seed(seed: int, position: int = 0) -> int:
    """The fold a seed trains: its index among the paper's seeds (fold i uses PAPER_SEEDS[i]),
    or ``len(PAPER_SEEDS) + position`` for another seed (its place in a sweep's list)."""
    seed = int(seed)
    return PAPER_SEEDS.index(seed) if seed in PAPER_SEEDS else len(PAPER_SEEDS) + int(position)


def config_differences(recorded: Config, requested: Config,
                       ignore=RESULT_NEUTRAL_KEYS) -> dict[str, tuple]:
    """``{key: (recorded value, requested value)}`` for every setting that differs."""
    a, b = recorded.to_dict(), requested.to_dict()
    out = {}
    for key in a:
        if key in ignore or a[key] == b[key]:
            continue
        if key == "data_dir" and Path(a[key]).resolve() == Path(b[key]).resolve():
            continue
        out[key] = (a[key], b[key])
    return out


def describe_differences(differences: dict[str, tuple]) -> str:
    return "; ".join(f"{k}: recorded {v[0]!r}, requested {v[1]!r}" for k, v in differences.items())


def _check_keys(keys) -> None:
    """ConfigError naming every unknown key (with the nearest known one, when close)."""
    known = [f.name for f in fields(Config)]
    unknown = sorted(set(keys) - set(known))
    if unknown:
        hints = [f"{key} (did you mean {close[0]}?)" if (close := difflib.get_close_matches(
            key, known, n=1)) else key for key in unknown]
        raise ConfigError(f"unknown config key(s): {', '.join(hints)}; known keys are listed in "
                          f"atomicvad_lib.Config")


def _init_checking_keys(init):
    """The dataclass ``__init__``, raising ConfigError (not TypeError) for an unknown key, as
    ``Config.from_dict`` does."""
    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        _check_keys(kwargs)
        init(self, *args, **kwargs)

    return __init__


Config.__init__ = _init_checking_keys(Config.__init__)
