"""Training one fold with the paper's recipe; resumable after a kill, deterministic on CPU.

``train_fold`` (and ``atomicvad train``) trains AtomicVAD once for one seed: binary focal
cross-entropy on the two one-hot columns, AdamW with cosine decay and warm restarts (optionally
after a linear warm-up), the best model by validation AUROC kept as ``best.keras``, early stopping
on it, and the test split scored with that best model. What goes where in the run folder is
``runs.FoldPaths``.

For speed on a CPU the MFCCs are computed by the tf.data pipeline and ``fit`` trains the layers
after them (``model.feature_model``, sharing the saved model's weights), on a stateless stream of
epochs (see ``pipeline.make_dataset``'s ``repeat``); ``runinfo.set_training_threads`` leaves
cores to the pipeline.

Run again with the same command after an interruption and it continues from the last completed
epoch, provided the data is the same: ``fold.json`` records the SHA-256 of each of the six
manifests and the decoded-audio cache key of each split (manifests, audio sizes and modification
times), and a resume on other data is refused before anything changes. Ctrl-C stops
``atomicvad train`` with a line saying how many epochs are saved and the command that resumes.
``fold`` is the index of the run (the paper trains once per seed; fold i conventionally uses
``config.seeds[i]``); both are recorded.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import pandas as pd
from keras import ops
from tqdm.auto import tqdm

from .activations import PACKAGE
from .config import RECIPES, Config, ConfigError, config_differences, describe_differences
from .files import atomic_open, atomic_path, check_output_dir, read_json, write_json_atomic
from .manifest import SPLITS, split_manifests
from .metrics import SpeechAUC, binary_metrics, focal_loss, fpr_key, make_focal_loss
from .model import adapt_feature_norm, build_model, feature_model
from .pipeline import load_split, make_dataset, window_key
from .runinfo import Timings, environment, gpu_present, now, set_global_seed, set_training_threads
from .runs import FoldPaths, load_model, read_training_log

# Training steps run per call into TensorFlow: fewer Python round trips per batch. Measured with
# benchmarks/training_throughput.py; it changes speed only, never the numbers.
STEPS_PER_EXECUTION = 8
# validation features up to this size are computed once and kept in memory for every epoch
VALIDATION_CACHE_BYTES = 512 * 2**20
MONITOR = "val_auroc"


class TrainingError(ValueError):
    """A run cannot start or continue; the message says why and what to do."""


class RunConflictError(TrainingError):
    """The output folder holds another run's files; nothing was changed."""


# schedule -----------------------------------------------------------------------------------------
@keras.saving.register_keras_serializable(package=PACKAGE)
class LinearWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """Rise linearly to ``peak`` over ``warmup_steps`` steps, then follow ``after`` (started
    from its own step 0)."""

    def __init__(self, after, warmup_steps: int, peak: float):
        if isinstance(after, dict):
            after = keras.optimizers.schedules.deserialize(after)
        self.after, self.warmup_steps, self.peak = after, int(warmup_steps), float(peak)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warm = self.peak * (step + 1.0) / max(self.warmup_steps, 1)
        return ops.where(step < self.warmup_steps, warm,
                         self.after(ops.maximum(step - self.warmup_steps, 0.0)))

    def get_config(self):
        return {"after": keras.optimizers.schedules.serialize(self.after),
                "warmup_steps": self.warmup_steps, "peak": self.peak}


@keras.saving.register_keras_serializable(package=PACKAGE)
class Triangular(keras.optimizers.schedules.LearningRateSchedule):
    """Smith's triangular cyclic learning rate: from ``low`` up to ``high`` in ``half_cycle``
    steps, back down in as many, and again."""

    def __init__(self, low: float, high: float, half_cycle: int):
        self.low, self.high, self.half_cycle = float(low), float(high), max(1, int(half_cycle))

    def __call__(self, step):
        phase = ops.cast(step, "float32") / self.half_cycle  # 0..2 over one cycle
        rising = 1.0 - ops.abs(phase - 2.0 * ops.floor(phase / 2.0) - 1.0)
        return self.low + (self.high - self.low) * rising

    def get_config(self):
        return {"low": self.low, "high": self.high, "half_cycle": self.half_cycle}


def make_schedule(config: Config, total_steps: int):
    """The learning rate per step for ``config.schedule``:

    - ``cosine_restarts``: CosineDecayRestarts from ``learning_rate``, first decay period
      ``first_decay_fraction`` of ``total_steps``, periods growing by ``t_mul``, restarts scaled
      by ``m_mul``;
    - ``warmup_cosine``: one cosine decay to 0 over the steps after the warm-up;
    - ``triangular``: ``Triangular`` between ``cycle_min_fraction * learning_rate`` and
      ``learning_rate``, one cycle every ``cycle_fraction`` of the steps;

    each behind a linear warm-up of ``warmup_fraction`` of the steps when that is above 0.
    """
    warmup = round(config.warmup_fraction * total_steps)
    if config.schedule == "warmup_cosine":
        schedule = keras.optimizers.schedules.CosineDecay(config.learning_rate,
                                                          max(1, total_steps - warmup))
    elif config.schedule == "triangular":
        schedule = Triangular(config.cycle_min_fraction * config.learning_rate,
                              config.learning_rate, round(config.cycle_fraction * total_steps / 2))
    else:
        # rounded up: periods that should end at the last step must not end a step or two early
        # and restart there (1/7 of 576 steps is 82.3)
        first_decay = max(1, math.ceil(config.first_decay_fraction * total_steps - 1e-9))
        schedule = keras.optimizers.schedules.CosineDecayRestarts(
            config.learning_rate, first_decay, t_mul=config.t_mul, m_mul=config.m_mul)
    return LinearWarmup(schedule, warmup, config.learning_rate) if warmup > 0 else schedule


def make_optimizer(config: Config, total_steps: int) -> keras.optimizers.Optimizer:
    """AdamW, or SGD with ``momentum``, on ``make_schedule``; both with decoupled weight decay
    ``weight_decay`` (Keras applies it as ``w -= lr * weight_decay * w`` for any optimizer)."""
    schedule = make_schedule(config, total_steps)
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(schedule, momentum=config.momentum,
                                    weight_decay=config.weight_decay or None)
    return keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay)


def compile_model(model: keras.Model, config: Config, total_steps: int,
                  steps_per_execution: int = STEPS_PER_EXECUTION) -> keras.Model:
    """``make_optimizer`` + focal loss; training-time metrics accuracy and (approximate) speech
    AUROC.

    ``jit_compile`` stays off: on a CPU XLA made this model's training step about 2.5x slower.
    """
    model.compile(
        optimizer=make_optimizer(config, total_steps),
        loss=make_focal_loss(config),
        metrics=[keras.metrics.BinaryAccuracy(name="accuracy"), SpeechAUC()],
        jit_compile=False, steps_per_execution=steps_per_execution)
    return model


def aligned_steps_per_execution(steps_per_epoch: int, wanted: int = STEPS_PER_EXECUTION) -> int:
    """The largest number <= ``wanted`` that divides ``steps_per_epoch``.

    Keras runs ``steps_per_execution`` steps per call even when fewer are left in the epoch; on
    the endless training stream the extra batches would come from the next epoch and shift every
    later epoch's batches (and a resumed run's would no longer match).
    """
    wanted = max(1, min(int(wanted), int(steps_per_epoch)))
    return max(d for d in range(1, wanted + 1) if steps_per_epoch % d == 0)


def make_model(config: Config, seed: int) -> tuple[keras.Model, bool]:
    """``build_model(config, seed)``; mixed precision only on a GPU and when the config asks for
    it (the output is then cast back to float32). Returns (model, mixed precision used)."""
    if not (config.mixed_precision and gpu_present()):
        return build_model(config, seed=seed), False
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        inner = build_model(config, seed=seed)
    finally:
        keras.config.set_dtype_policy(previous)
    outputs = keras.layers.Activation("linear", dtype="float32", name="float32_output")(
        inner.output)
    return keras.Model(inner.input, outputs, name=inner.name), True


# the state of a fold folder ---------------------------------------------------------------------
def _fold_state(paths: FoldPaths, config: Config, seed: int) -> str:
    """"new", "resume" or "complete"; RunConflictError when the folder holds another run."""
    present = [p for p in (paths.best_model, paths.training_log, paths.metrics, paths.config,
                           paths.fold_record, paths.backup_state) if p.exists()]
    if not present:
        return "new"
    where = paths.fold_dir
    keep = "nothing was changed: choose another --out (or --fold) for this run"
    if not (paths.fold_record.is_file() and paths.config.is_file()):
        raise RunConflictError(f"{where} holds files of an unknown run "
                               f"({', '.join(p.name for p in present)}) but no fold.json/"
                               f"config.yaml saying how they were made; {keep}")
    try:
        record = read_json(paths.fold_record)
    except ValueError as err:
        raise RunConflictError(f"{err}; {keep}") from None
    if not isinstance(record, dict):
        raise RunConflictError(f"{paths.fold_record} does not hold a JSON object; {keep}")
    if int(record.get("seed", -1)) != int(seed) or int(record.get("fold", -1)) != paths.fold:
        raise RunConflictError(f"{where} holds fold {record.get('fold')} trained with seed "
                               f"{record.get('seed')}, not fold {paths.fold} with seed {seed}; "
                               f"{keep}")
    try:
        recorded = Config.load(paths.config)
    except ConfigError as err:
        raise RunConflictError(f"{paths.config} cannot be read ({err}); {keep}") from None
    differences = config_differences(recorded, config)
    if differences:
        raise RunConflictError(f"{where} was trained with a different config "
                               f"({describe_differences(differences)}); {keep}, or rerun with "
                               f"--config {paths.config}")
    if paths.metrics.is_file():
        return "complete"
    _check_same_manifests(paths, record, config.data_dir)
    return "resume"


# the data a fold was started on --------------------------------------------------------------------
def manifest_fingerprints(data_dir) -> dict[str, str]:
    """``{file name: SHA-256}`` of the six balanced manifests in ``data_dir`` (those present)."""
    out = {}
    for split in SPLITS:
        for path in split_manifests(data_dir, split).values():
            if path.is_file():
                out[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def window_keys(splits: dict, config: Config) -> dict[str, str]:
    """Each split's decoded-audio cache key (``pipeline``'s: its manifests, the size and
    modification time of every audio file they list, the window settings)."""
    keys = {}
    for split, windows in splits.items():
        manifests = split_manifests(config.data_dir, split)
        keys[split] = window_key([manifests["speech"], manifests["background"]],
                                   windows.entries, config)
    return keys


def data_record(splits: dict, config: Config) -> dict:
    """What fold.json records about the data: manifest hashes and window keys."""
    return {"manifests": manifest_fingerprints(config.data_dir),
            "windows": window_keys(splits, config)}


_RESUME_HINT = ("nothing was changed: put back the data the run started on to resume it, or "
                "train on this data into another --out (or --fold)")


def _check_same_manifests(paths: FoldPaths, record: dict, data_dir) -> None:
    """RunConflictError naming each manifest that differs from the one the fold started on
    (folds started before fingerprints were recorded are not checked)."""
    recorded = (record.get("data") or {}).get("manifests")
    if not recorded:
        return
    now = manifest_fingerprints(data_dir)
    changed = [name for name, digest in recorded.items() if name in now and now[name] != digest]
    if changed:
        names = ", ".join(str(Path(data_dir) / name) for name in changed)
        raise RunConflictError(f"{paths.fold_dir} was started on other data: {names} "
                               f"changed since (SHA-256 recorded in {paths.fold_record}); "
                               f"{_RESUME_HINT}")


def _check_same_audio(paths: FoldPaths, splits: dict, config: Config) -> None:
    """RunConflictError when the audio of a split changed since the fold started."""
    try:
        recorded = (read_json(paths.fold_record).get("data") or {}).get("windows")
    except (ValueError, AttributeError):
        return
    if not recorded:
        return
    now = window_keys(splits, config)
    changed = [split for split, key in recorded.items() if split in now and now[split] != key]
    if changed:
        raise RunConflictError(f"{paths.fold_dir} was started on other audio: files listed by "
                               f"the {' and '.join(changed)} manifests of {config.data_dir} "
                               f"changed size or modification time since (keys recorded in "
                               f"{paths.fold_record}); {_RESUME_HINT}")


def _truncate_log(path: Path, first_epoch: int) -> pd.DataFrame:
    """Drop log rows of epochs >= first_epoch (epochs that will run again after a resume); the
    kept lines stay byte for byte as CSVLogger wrote them."""
    log = read_training_log(path)
    if log.empty or (log["epoch"] < first_epoch).all():
        return log
    header, *rows = Path(path).read_bytes().splitlines(keepends=True)
    kept = [row for row in rows if row.strip() and int(row.split(b",", 1)[0]) < first_epoch]
    with atomic_open(path, "wb") as handle:
        handle.writelines([header, *kept])
    return log[log["epoch"] < first_epoch].reset_index(drop=True)


def _completed_epochs(paths: FoldPaths) -> int:
    state = EpochBackup.read_state(paths.backup_dir)
    return int(state["epoch"]) if state else 0


# callbacks ----------------------------------------------------------------------------------------
class ValidationMetrics(keras.callbacks.Callback):
    """At each epoch end: exact validation metrics from scikit-learn on the whole validation set
    (``val_auroc``, ``val_loss``, ``val_accuracy``, ``val_f1``, ``val_f2``,
    ``val_tpr_at_fpr_0.315``), the learning rate and the epoch's training time, put into
    ``logs``. It must come before any callback that reads them (BestModelCheckpoint, EarlyStopping,
    CSVLogger)."""

    def __init__(self, dataset, labels, config: Config):
        super().__init__()
        self.dataset, self.labels, self.config = dataset, np.asarray(labels), config

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._start
        speech = self.model.predict(self.dataset, verbose=0)[:, 1]
        learning_rate = float(ops.convert_to_numpy(self.model.optimizer.learning_rate))
        if not np.all(np.isfinite(speech)):
            # the weights diverged: stop, keeping the best epoch so far (never saved over)
            self.model.stop_training = True
            warnings.warn(f"epoch {epoch + 1}: the model's outputs became NaN (the training "
                          f"diverged at learning rate {learning_rate:.3g}); training stops "
                          f"and keeps its best epoch. A lower learning_rate avoids it.",
                          RuntimeWarning, stacklevel=2)
            logs.update({key: float("nan") for key in (
                "val_loss", "val_auroc", "val_accuracy", "val_f1", "val_f2", f"val_{fpr_key()}")},
                learning_rate=learning_rate, epoch_seconds=round(seconds, 3))
            return
        found = binary_metrics(self.labels, speech)
        logs.update(val_loss=focal_loss(self.labels, speech, self.config),
                    val_auroc=found["auroc"], val_accuracy=found["accuracy"], val_f1=found["f1"],
                    val_f2=found["f2"], **{f"val_{fpr_key()}": found[fpr_key()]},
                    learning_rate=learning_rate, epoch_seconds=round(seconds, 3))


class TqdmProgress(keras.callbacks.Callback):
    """One tqdm bar over the epochs and one per epoch over its batches."""

    def __init__(self, description: str = "training", first_epoch: int = 0):
        super().__init__()
        self.description, self.first_epoch = description, first_epoch
        self.epochs_bar = self.batches_bar = None

    def on_train_begin(self, logs=None):
        self.epochs_bar = tqdm(total=self.params["epochs"], desc=self.description, unit="epoch",
                               initial=self.first_epoch)

    def on_epoch_begin(self, epoch, logs=None):
        self.batches_bar = tqdm(total=self.params.get("steps"), desc=f"epoch {epoch + 1}",
                                unit="batch", leave=False)

    def on_train_batch_end(self, batch, logs=None):
        done = batch + 1 if self.batches_bar.total is None else min(batch + 1, self.batches_bar.total)
        self.batches_bar.update(done - self.batches_bar.n)  # steps_per_execution may overshoot
        if logs and "loss" in logs:
            self.batches_bar.set_postfix(loss=f"{float(logs['loss']):.4f}", refresh=False)

    def on_epoch_end(self, epoch, logs=None):
        self.batches_bar.close()
        logs = logs or {}
        self.epochs_bar.update(1)
        self.epochs_bar.set_postfix({k: f"{float(logs[k]):.4f}" for k in
                                     ("loss", "val_loss", "val_auroc") if logs.get(k) is not None})

    def on_train_end(self, logs=None):
        if self.epochs_bar is not None:
            self.epochs_bar.close()


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """EarlyStopping that starts from a recovered state (best value, its epoch and weights, and
    the epochs waited since) instead of forgetting the epochs before a resume."""

    def __init__(self, *args, resume: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.resume = resume

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self.resume:
            self.best = self.resume["best"]
            self.best_epoch = self.resume["best_epoch"]
            self.wait = self.resume["wait"]
            self.best_weights = self.resume.get("best_weights")


class BestModelCheckpoint(keras.callbacks.Callback):
    """Save ``model`` to ``path`` whenever ``monitor`` beats its best so far (higher is better,
    starting from ``best``).

    ``model`` is the waveform model, while fit trains the feature model that shares its weights.
    The file is written atomically: a run killed while saving keeps its previous best model
    instead of a torn archive.
    """

    def __init__(self, path, model: keras.Model, monitor: str = MONITOR, best=None):
        super().__init__()
        self.path, self.model_to_save, self.monitor = Path(path), model, monitor
        self.best = -math.inf if best is None else float(best)

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if current is None or not math.isfinite(current) or current <= self.best:
            return
        self.best = float(current)
        with atomic_path(self.path) as partial:
            self.model_to_save.save(partial)


class EpochBackup(keras.callbacks.Callback):
    """Back up the training state at every epoch end; restore it when the run starts again.

    It does the job of ``keras.callbacks.BackupAndRestore``, which cannot survive a SIGKILL at
    the wrong moment: it rewrites its weights file in place and then its epoch count, so a kill
    during the write (which this project's kill test hit) leaves an HDF5 file the next run cannot
    open, and a kill between the two files pairs new weights with an old epoch count. It also
    does not keep the random generators' states, so a resumed run would draw SpecAugment, cutout
    and dropout masks anew. Here each epoch's weights (model and optimizer) go to a new file, and
    ``state.json`` (epoch count, that file's name, the generators' states), written atomically,
    commits them in one step; older weight files go after the commit. Place it
    last, so everything the other callbacks write for an epoch is on disk before it commits.
    """

    def __init__(self, folder):
        super().__init__()
        self.folder = Path(folder)

    @staticmethod
    def read_state(folder) -> dict | None:
        path = Path(folder) / "state.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def _generators(self):
        return [g for layer in self.model.layers for g in getattr(layer, "_seed_generators", [])]

    def on_train_begin(self, logs=None):
        state = self.read_state(self.folder)
        if state is None:
            return
        if not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        self.model.load_weights(self.folder / state["weights"])
        generators = self._generators()
        if len(generators) != len(state["seed_states"]):
            raise TrainingError(f"{self.folder} was written by a model with "
                                f"{len(state['seed_states'])} random generators, this one has "
                                f"{len(generators)}: it belongs to another model")
        for generator, saved in zip(generators, state["seed_states"]):
            generator.state.assign(np.asarray(saved, generator.state.dtype))

    def on_epoch_end(self, epoch, logs=None):
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"epoch_{epoch + 1}.weights.h5"
        with atomic_path(self.folder / name) as partial:
            self.model.save_weights(partial)
        write_json_atomic(self.folder / "state.json", {
            "epoch": epoch + 1, "weights": name,
            "seed_states": [ops.convert_to_numpy(g.state).tolist() for g in self._generators()]})
        for old in self.folder.glob("*epoch_*.weights.h5"):
            if old.name != name:
                old.unlink()


# one fold -----------------------------------------------------------------------------------------
@dataclass
class FoldResult:
    """What ``train_fold`` returns: the best model (by validation AUROC), the training log, the
    test metrics, the full record written to metrics.json, and the paths."""

    model: keras.Model
    history: pd.DataFrame
    test_metrics: dict
    record: dict
    paths: FoldPaths
    resumed_from_epoch: int = 0
    already_complete: bool = False
    timings: dict = field(default_factory=dict)


def _require_classes(windows, split: str, data_dir, both: bool) -> None:
    manifests = split_manifests(data_dir, split)
    counts = {label: int((windows.labels == value).sum())
              for label, value in (("speech", 1), ("background", 0))}
    if len(windows) == 0:
        raise TrainingError(f"the {split} split of {data_dir} has no windows: "
                            f"{manifests['speech']} and {manifests['background']} are empty")
    missing = [label for label, n in counts.items() if n == 0]
    if both and missing:
        raise TrainingError(f"the {split} split of {data_dir} holds only "
                            f"{'speech' if missing[0] == 'background' else 'background'} windows "
                            f"({len(windows)}); {manifests[missing[0]]} has none: a detector needs "
                            f"both classes to train and to be validated by AUROC")


def _recover_state(paths: FoldPaths, first_epoch: int) -> tuple[pd.DataFrame, dict | None]:
    """The log of the completed epochs and the early-stopping state they imply."""
    log = _truncate_log(paths.training_log, first_epoch)
    if log.empty or MONITOR not in log:
        return log, None
    scores = log[MONITOR].to_numpy(float)
    row = int(np.nanargmax(scores))  # the first best, as BestModelCheckpoint keeps it
    best_epoch = int(log["epoch"].iloc[row])
    state = {"best": float(scores[row]), "best_epoch": best_epoch,
             "wait": first_epoch - 1 - best_epoch}
    if paths.best_model.is_file():
        state["best_weights"] = load_model(paths.best_model).get_weights()
    return log, state


def train_fold(config: Config | None = None, seed: int | None = None, fold: int = 0,
               out_dir="experiments/run", data_dir=None, progress: bool = True,
               callbacks=(), *, steps_per_execution: int = STEPS_PER_EXECUTION) -> FoldResult:
    """Train fold ``fold`` with ``seed`` (default ``config.seeds[fold]``) on ``data_dir`` (default
    ``config.data_dir``), score the best model on the test split and write the fold's files under
    ``out_dir`` (see the module docstring). Resumes an interrupted fold; returns a finished one
    as recorded. ``callbacks`` are extra Keras callbacks; they see the validation metrics.

    Raises TrainingError for an empty or single-class split and RunConflictError when the
    fold folder holds a different run (another seed or config), changing nothing.
    """
    config = config or Config()
    if data_dir is not None:
        config = config.replace(data_dir=str(data_dir))
    if seed is None:
        if not 0 <= fold < len(config.seeds):
            raise TrainingError(f"fold {fold} has no seed in config.seeds ({len(config.seeds)} "
                                f"seeds): pass --seed")
        seed = config.seeds[fold]
    seed, fold = int(seed), int(fold)
    paths = FoldPaths(Path(out_dir), fold)
    for folder in (Path(out_dir), paths.fold_dir, paths.backup_dir):  # before any work
        check_output_dir(folder)
    state = _fold_state(paths, config, seed)
    if state == "complete":
        return load_fold_result(paths)

    timings = Timings()
    started = now()
    with timings.phase("loading_data"):
        splits = {split: load_split(config.data_dir, split, config, progress=progress)
                  for split in ("training", "validation", "testing")}
    _require_classes(splits["training"], "training", config.data_dir, both=True)
    _require_classes(splits["validation"], "validation", config.data_dir, both=True)
    _require_classes(splits["testing"], "testing", config.data_dir, both=False)
    if state == "resume":
        _check_same_audio(paths, splits, config)

    paths.fold_dir.mkdir(parents=True, exist_ok=True)
    if state == "new":
        config.save(paths.config)
        write_json_atomic(paths.fold_record, {"seed": seed, "fold": fold, "started": started,
                                              "data": data_record(splits, config)})

    set_global_seed(seed)
    model, mixed = make_model(config, seed)
    if config.feature_norm:  # training windows as they are, before augmentation
        adapt_feature_norm(model, make_dataset(splits["training"], config, seed, training=False,
                                               features=True).map(lambda x, y: x))
    # fit trains the layers after the MFCCs on features the pipeline computes in parallel
    trainer = feature_model(model)
    steps_per_epoch = math.ceil(len(splits["training"]) / config.batch_size)
    steps_per_execution = aligned_steps_per_execution(steps_per_epoch, steps_per_execution)
    compile_model(trainer, config, steps_per_epoch * config.epochs, steps_per_execution)

    first_epoch = _completed_epochs(paths)
    log, resume = _recover_state(paths, first_epoch)
    # one endless stream of epochs (see make_dataset's `repeat`), cut into epochs by fit
    train_data = make_dataset(splits["training"], config, seed, training=True,
                              first_epoch=first_epoch, features=True, repeat=True)
    val_data = make_dataset(splits["validation"], config, seed, training=False, features=True)
    if len(splits["validation"]) * config.n_mfcc * config.n_frames * 4 <= VALIDATION_CACHE_BYTES:
        val_data = val_data.cache()  # the same features every epoch: compute them once
    stopped_before = resume is not None and resume["wait"] >= config.patience and first_epoch > 0
    if first_epoch < config.epochs and not stopped_before:
        fit_callbacks = [
            ValidationMetrics(val_data, splits["validation"].labels, config),
            *callbacks,
            BestModelCheckpoint(paths.best_model, model, MONITOR,
                                best=resume["best"] if resume else None),
            ResumableEarlyStopping(monitor=MONITOR, mode="max", patience=config.patience,
                                   restore_best_weights=True, resume=resume),
            keras.callbacks.CSVLogger(paths.training_log, append=True),
            EpochBackup(paths.backup_dir),  # last: it commits the epoch
        ]
        if progress:
            fit_callbacks.insert(1, TqdmProgress(f"fold {fold} (seed {seed})", first_epoch))
        with timings.phase("training"):
            trainer.fit(train_data, epochs=config.epochs, initial_epoch=first_epoch, verbose=0,
                        steps_per_epoch=steps_per_epoch, shuffle=False, callbacks=fit_callbacks)

    log = read_training_log(paths.training_log)
    if log.empty or not paths.best_model.is_file():
        if not log.empty and log[MONITOR].isna().all():
            raise TrainingError(f"{paths.fold_dir}: the training diverged (NaN outputs) in its "
                                f"first epoch: lower learning_rate and train again")
        raise TrainingError(f"{paths.fold_dir}: training ended without a completed epoch")
    with timings.phase("testing"):
        best = load_model(paths.best_model)
        test_metrics = evaluate_windows(best, splits["testing"], config)
    row = int(np.nanargmax(log[MONITOR].to_numpy(float)))
    record = {
        "seed": seed, "fold": fold,
        "test": test_metrics,
        "validation": {k[4:]: _number(log[k].iloc[row]) for k in log if k.startswith("val_")},
        "best_epoch": int(log["epoch"].iloc[row]),
        "epochs_run": int(len(log)),
        "stopped_early": bool(len(log) < config.epochs),
        "resumed_from_epoch": first_epoch,
        "n_windows": {split: len(w) for split, w in splits.items()},
        "config": config.to_dict(),
        "environment": environment(),
        "mixed_precision_used": mixed,
        "steps_per_execution": steps_per_execution,
        "timings": {**timings, "training_epochs_total": round(float(log["epoch_seconds"].sum()), 3)},
        "started": started, "finished": now(),
        "files": {"best_model": paths.best_model.name, "training_log": paths.training_log.name,
                  "config": paths.config.name},
    }
    write_json_atomic(paths.metrics, _jsonable(record))
    shutil.rmtree(paths.backup_dir, ignore_errors=True)  # this fold's own backup, now redundant
    try:
        paths.backup_dir.parent.rmdir()  # only when no other fold has a backup there
    except OSError:
        pass
    return FoldResult(best, log, test_metrics, record, paths, first_epoch, False, dict(timings))


def evaluate_windows(model: keras.Model, windows, config: Config) -> dict:
    """Test metrics of one window per entry: focal loss, AUROC, accuracy, F1, F2, TPR@FPR."""
    speech = model.predict(make_dataset(windows, config, 0, training=False), verbose=0)[:, 1]
    metrics = binary_metrics(windows.labels, speech)
    return {"loss": focal_loss(windows.labels, speech, config), **metrics}


def load_fold_result(paths: FoldPaths) -> FoldResult:
    """A finished fold as recorded (best model, log, metrics)."""
    record = read_json(paths.metrics, f"delete it and rerun `atomicvad train --out "
                                      f"{paths.run_dir} --fold {paths.fold}` to train the fold "
                                      f"again")
    return FoldResult(load_model(paths.best_model), read_training_log(paths.training_log),
                      record["test"], record, paths, record.get("resumed_from_epoch", 0), True,
                      record.get("timings", {}))


def _number(value):
    value = float(value)
    return value if math.isfinite(value) else None


def _jsonable(value):
    """NumPy scalars to Python numbers and NaN to None, recursively."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return _number(value)
    return value


# command line -------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, help="training seed (default: config.seeds[fold])")
    parser.add_argument("--fold", type=int, default=0, help="index of the run (default 0)")
    parser.add_argument("--out", required=True, help="run folder, e.g. experiments/<run>")
    parser.add_argument("--data", help="data folder with the six balanced manifests "
                                       "(default: config.data_dir)")
    parser.add_argument("--config", help="YAML/JSON config file (default: --recipe's settings)")
    parser.add_argument("--recipe", default="paper", choices=sorted(RECIPES),
                        help="settings without --config: 'paper' (defaults) or 'course' (learns "
                             "on data_samples/ in CPU minutes; see config.RECIPES)")
    parser.add_argument("--epochs", type=int, help="override config.epochs")
    parser.add_argument("--batch-size", type=int, help="override config.batch_size")
    parser.add_argument("-p", "--param", nargs=2, action="append", metavar=("KEY", "VALUE"),
                        help="override any Config setting (YAML value), e.g. -p architecture "
                             "resnet -p schedule warmup_cosine -p warmup_fraction 0.1")
    parser.add_argument("--steps-per-execution", type=int, default=STEPS_PER_EXECUTION,
                        help=f"training steps per TensorFlow call (speed only; default "
                             f"{STEPS_PER_EXECUTION})")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Errors (TrainingError, ConfigError, ManifestError, AudioError, ...) go to ``cli.main``,
    which prints them in the command's one-line style."""
    check_output_dir(args.out)  # before reading any config or data
    set_training_threads()
    config = Config.load(args.config) if args.config else Config.for_recipe(args.recipe)
    changes = _param_changes(args.param)
    changes.update({k: v for k, v in (("epochs", args.epochs), ("batch_size", args.batch_size))
                    if v is not None})
    config = config.replace(**changes) if changes else config
    result = train_fold(config, args.seed, args.fold, args.out, args.data,
                        progress=not args.no_progress,
                        steps_per_execution=args.steps_per_execution)
    test = result.test_metrics
    state = "already finished; recorded" if result.already_complete else "finished"
    print(f"fold {result.record['fold']} (seed {result.record['seed']}) {state} in "
          f"{result.paths.fold_dir}: best epoch {result.record['best_epoch']} of "
          f"{result.record['epochs_run']}; test AUROC {_fmt(test['auroc'])}, accuracy "
          f"{_fmt(test['accuracy'])}, F1 {_fmt(test['f1'])}, F2 {_fmt(test['f2'])}")
    return 0


def _param_changes(pairs) -> dict:
    """``-p KEY VALUE`` pairs as Config changes, each value read as YAML (``0.1`` a number,
    ``resnet`` a string, ``[8, 2]`` a list); unknown keys are the Config's ConfigError."""
    import yaml

    changes = {}
    for key, value in pairs or ():
        try:
            changes[key] = yaml.safe_load(value)
        except yaml.YAMLError:
            changes[key] = value
    return changes


def _fmt(value) -> str:
    return "undefined" if value is None else f"{value:.4f}"


def describe_interrupt(args: argparse.Namespace) -> str:
    """Where an interrupted ``atomicvad train`` stands, for the Ctrl-C message."""
    paths = FoldPaths(Path(args.out), args.fold)
    if paths.metrics.is_file():
        return f"fold {args.fold} had finished: its files in {paths.fold_dir} are complete"
    total = args.epochs
    if total is None and paths.config.is_file():
        try:
            total = Config.load(paths.config).epochs
        except ConfigError:
            pass
    of = f" of {total}" if total else ""
    state = EpochBackup.read_state(paths.backup_dir)
    if state:
        done = int(state["epoch"])
        if total and done >= total:
            return (f"fold {args.fold} trained all {done} epochs (saved in {paths.backup_dir}); "
                    f"scoring the test split had not finished")
        return (f"fold {args.fold} has {done}{of} epochs done and saved in {paths.backup_dir}; "
                f"only the epoch in progress is lost")
    if paths.fold_record.is_file():
        return (f"fold {args.fold} stopped before its first epoch{of} finished: a rerun starts "
                f"it from the beginning in {paths.fold_dir}")
    return f"nothing was written to {args.out} yet"
