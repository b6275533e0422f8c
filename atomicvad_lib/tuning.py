"""``atomicvad tune``: hyperparameter search with Optuna, on this machine or on a Dask cluster.

Each trial trains one fold with ``training.train_fold`` (one seed, the course's epochs and batch
budget) and is scored by its **validation** AUROC: the best epoch's, as ``train_fold`` selects
models; the test split is never used. After every epoch the best validation AUROC so far is
reported to Optuna, and Hyperband (the bandit half of BOHB) stops trials that trail the others
at the same epoch. With several seeds (``--seeds``) a trial that survives its first seed's
epochs trains folds 1, 2, ... with the others too and scores the mean of their validation
AUROCs: one seed's luck weighs less in which trial wins. ``--search`` limits the search to some
of ``SEARCH_SPACE``'s settings (the others keep the base recipe's values). TPE proposes the settings (``SEARCH_SPACE``) from a random state fixed by the
sampler seed and the trial number: the same study reruns the same way, and workers running side
by side do not propose the same settings. Trial 0 of a new study is the base recipe itself, so
the study measures what the search adds to it.

Layout of ``experiments/<run>/``::

    study.db                             the Optuna study (SQLite; --storage for any database)
    trials/trial_<n>/checkpoints/fold_0/ each trial's fold folder (train_fold's files)
    best_config.yaml                     the best trial's Config: atomicvad train --config,
                                         notebook 05 with -p config <file>
    best_trial.json, trials.csv          the best trial, and one row per trial

Running the command again continues the study: more trials, nothing lost. A trial whose process
was killed does not stay RUNNING: Ctrl-C and SIGTERM mark it FAIL at once; after a SIGKILL the
next start on the same machine marks it FAIL (each trial records its host, process id and the
process' start time), and on other machines Optuna's heartbeat does after ``GRACE_SECONDS``.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import socket
import sys
import threading
import time
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from .config import RECIPES, SCHEDULES, Config
from .course import COURSE_TRAINING, dask_client
from .paths import repo_root
from .processes import interrupt_on_signals, raise_if_signalled

HEARTBEAT_SECONDS, GRACE_SECONDS = 60, 300
REDUCTION_FACTOR = 3  # Hyperband: a third of the trials at each rung go on
DEFAULT_SEED = 43185  # the training seed of every trial: the paper's first
STUDY_FILE, BEST_CONFIG, BEST_TRIAL, TRIALS_CSV = ("study.db", "best_config.yaml",
                                                  "best_trial.json", "trials.csv")
_TRAINING_LOCK = threading.Lock()  # one trial at a time per process (TensorFlow's global state)


class TuningError(ValueError):
    """A study cannot start or continue; the message says why and what to do."""


# the search space ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Param:
    """One searched setting: a ``Config`` key and its range (``low``..``high``, on a log scale
    when ``log``) or its ``choices``; sampled only ``when`` another setting has one of the given
    values (otherwise the base config's value stays)."""

    name: str
    kind: str  # "float", "int" or "categorical"
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple = ()
    when: tuple[str, tuple] | None = None
    why: str = ""

    def describe(self) -> str:
        if self.kind == "categorical":
            values = " | ".join(str(c) for c in self.choices)
        else:
            values = f"{self.low:g} .. {self.high:g}{' (log)' if self.log else ''}"
        when = f"  [if {self.when[0]} in {list(self.when[1])}]" if self.when else ""
        return f"{self.name:<20} {values}{when}"


# The one declaration of what `atomicvad tune` searches (printed by --show-space and --help).
SEARCH_SPACE: tuple[Param, ...] = (
    Param("learning_rate", "float", 1e-3, 5e-2, log=True,
          why="the course recipe's 1e-2 was picked from three values"),
    Param("batch_size", "categorical", choices=(64, 128, 256),
          why="steps per epoch against gradient noise"),
    Param("optimizer", "categorical", choices=("adamw", "sgd")),
    Param("momentum", "float", 0.8, 0.98, when=("optimizer", ("sgd",))),
    Param("schedule", "categorical", choices=SCHEDULES),
    Param("warmup_fraction", "float", 0.02, 0.2, when=("schedule", ("warmup_cosine",))),
    Param("cycle_fraction", "float", 0.1, 0.5, when=("schedule", ("triangular",))),
    Param("label_smoothing", "float", 0.0, 0.2),
    Param("focal_gamma", "float", 0.0, 3.0, why="0 is plain (alpha-balanced) cross-entropy"),
    Param("dropout", "float", 0.0, 0.4),
    Param("freq_masks", "int", 0, 2, why="SpecAugment: frequency masks"),
    Param("freq_mask_param", "int", 2, 15, when=("freq_masks", (1, 2))),
    Param("time_masks", "int", 0, 2, why="SpecAugment: time masks"),
    Param("time_mask_param", "int", 2, 25, when=("time_masks", (1, 2))),
    Param("cutout_masks", "int", 0, 5, why="SpecCutout rectangles"),
    Param("cutout_time", "int", 2, 25, when=("cutout_masks", (1, 2, 3, 4, 5))),
    Param("cutout_freq", "int", 2, 15, when=("cutout_masks", (1, 2, 3, 4, 5))),
    Param("background_prob", "float", 0.0, 0.8, why="speech windows mixed with a background"),
    Param("background_snr_min", "float", 0.0, 10.0),
    Param("background_snr_max", "float", 10.0, 30.0),
)


def select_space(names: Sequence[str] = ()) -> tuple[Param, ...]:
    """The settings of SEARCH_SPACE named in ``names`` (all of them when empty)."""
    if not names:
        return SEARCH_SPACE
    known = {p.name for p in SEARCH_SPACE}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise TuningError(f"--search {', '.join(unknown)}: not in the search space; choose from "
                          f"{', '.join(p.name for p in SEARCH_SPACE)}")
    return tuple(p for p in SEARCH_SPACE if p.name in set(names))


def describe_space(space: Sequence[Param] = SEARCH_SPACE) -> str:
    """The search space, one line per setting."""
    lines = ["searched (Config keys; everything else is the base recipe's):"]
    lines += [f"  {p.describe()}" for p in space]
    return "\n".join(lines)


def _active(param: Param, values: dict[str, Any]) -> bool:
    return param.when is None or values.get(param.when[0]) in param.when[1]


def suggest(trial, base: Config, space: Sequence[Param] = SEARCH_SPACE) -> dict[str, Any]:
    """Ask ``trial`` for every active setting of ``space``; returns the Config changes."""
    values: dict[str, Any] = {}
    for p in space:
        if not _active(p, {**base.to_dict(), **values}):
            continue
        if p.kind == "categorical":
            values[p.name] = trial.suggest_categorical(p.name, list(p.choices))
        elif p.kind == "int":
            values[p.name] = trial.suggest_int(p.name, int(p.low), int(p.high), log=p.log)
        else:
            values[p.name] = trial.suggest_float(p.name, p.low, p.high, log=p.log)
    return values


def base_params(base: Config, space: Sequence[Param] = SEARCH_SPACE) -> dict[str, Any] | None:
    """The base config's values of the active settings, or None when one lies outside the space
    (then the base recipe cannot be trial 0)."""
    values: dict[str, Any] = {}
    for p in space:
        if not _active(p, {**base.to_dict(), **values}):
            continue
        value = getattr(base, p.name)
        inside = (value in p.choices if p.kind == "categorical"
                  else p.low <= value <= p.high and (p.kind == "float" or float(value).is_integer()))
        if not inside:
            return None
        values[p.name] = value
    return values


# the study ---------------------------------------------------------------------------------------
@dataclass
class StudySettings:
    """What a worker needs to run trials of one study (picklable, for processes and Dask)."""

    run: str
    run_dir: Path
    storage: str
    base: Config
    seed: int = DEFAULT_SEED          # training seed of every trial (fold 0)
    sampler_seed: int = 0
    more_seeds: tuple[int, ...] = ()  # folds 1, 2, ... of every trial that is not pruned
    search: tuple[str, ...] = ()      # the SEARCH_SPACE settings searched (empty: all)
    threads: int | None = None        # TensorFlow op threads of a worker process
    progress: bool = True

    def recorded(self) -> dict[str, Any]:
        """What the study records at its creation and checks when it is continued."""
        return {"base_config": self.base.to_dict(), "seed": self.seed,
                "sampler_seed": self.sampler_seed, "more_seeds": list(self.more_seeds),
                "search": list(self.search)}

    @property
    def space(self) -> tuple[Param, ...]:
        return select_space(self.search)


def default_storage(run_dir: Path) -> str:
    return f"sqlite:///{Path(run_dir).resolve() / STUDY_FILE}"


def make_storage(url: str):
    """Optuna's RDBStorage for ``url``, with a heartbeat (so trials of dead workers on other
    machines fail) and, for SQLite, a long lock timeout (several writers share the file)."""
    import warnings

    import optuna

    kwargs = {"connect_args": {"timeout": 120}} if url.startswith("sqlite") else {}
    try:
        with warnings.catch_warnings():  # the heartbeat is "experimental" in Optuna 4 and 5
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(url, engine_kwargs=kwargs,
                                              heartbeat_interval=HEARTBEAT_SECONDS,
                                              grace_period=GRACE_SECONDS)
    except ImportError as err:
        raise TuningError(f"--storage {_safe_url(url)}: the database driver is missing ({err}); "
                          f"for PostgreSQL install it with `pip install -e \".[postgres]\"` and "
                          f"use a URL like postgresql+psycopg://user@host/db") from None
    except Exception as err:  # sqlalchemy's errors: bad URL, server down, no permission
        raise TuningError(f"--storage {_safe_url(url)} cannot be opened: "
                          f"{type(err).__name__}: {str(err).splitlines()[0]}") from None


def _safe_url(url: str) -> str:
    """The URL without its password."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - only for messages
        return url.split("@")[-1]


def _mix(*parts) -> int:
    return zlib.crc32(json.dumps(parts).encode()) & 0x7FFFFFFF


def make_sampler(seed: int):
    """TPE (independent, with the constant liar for parallel workers) whose random state for
    trial n is fixed by (seed, n): reproducible, and different trials draw differently even
    when several processes sample at once."""
    import optuna

    class TrialSeededTPE(optuna.samplers.BaseSampler):
        def __init__(self):
            self._per_trial: dict[int, optuna.samplers.TPESampler] = {}

        def _tpe(self, trial):
            if trial.number not in self._per_trial:
                self._per_trial[trial.number] = optuna.samplers.TPESampler(
                    seed=_mix(seed, trial.number), multivariate=False, constant_liar=True)
            return self._per_trial[trial.number]

        def before_trial(self, study, trial):
            self._tpe(trial).before_trial(study, trial)

        def infer_relative_search_space(self, study, trial):
            return {}

        def sample_relative(self, study, trial, search_space):
            return {}

        def sample_independent(self, study, trial, param_name, param_distribution):
            return self._tpe(trial).sample_independent(study, trial, param_name,
                                                       param_distribution)

        def after_trial(self, study, trial, state, values):
            self._tpe(trial).after_trial(study, trial, state, values)
            self._per_trial.pop(trial.number, None)

    return TrialSeededTPE()


def make_pruner(epochs: int):
    import optuna

    return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=int(epochs),
                                          reduction_factor=REDUCTION_FACTOR)


@contextmanager
def _creation_lock(url: str):
    """For a SQLite file: an exclusive lock while its tables and the study are created, so
    processes started together do not race on the schema (other databases handle it)."""
    if not url.startswith("sqlite:///") or url.endswith(":memory:"):
        yield
        return
    try:
        import fcntl
    except ImportError:  # Windows: no lock
        yield
        return
    path = Path(url[len("sqlite:///"):])
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def open_study(settings: StudySettings, create: bool = True):
    """The study ``settings.run`` in ``settings.storage``: created with the base recipe as
    trial 0 when new (and ``create``); TuningError when it was started with other settings."""
    with _creation_lock(settings.storage):
        return _open_study(settings, create)


def _open_study(settings: StudySettings, create: bool):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # trials are reported by `optimize`
    storage = make_storage(settings.storage)
    kwargs = dict(study_name=settings.run, storage=storage,
                  sampler=make_sampler(settings.sampler_seed),
                  pruner=make_pruner(settings.base.epochs))
    try:
        study = optuna.load_study(**kwargs)
    except KeyError:
        if not create:
            raise TuningError(f"no study {settings.run!r} in {_safe_url(settings.storage)}: "
                              f"start it with `atomicvad tune --run {settings.run}`") from None
        trials = Path(settings.run_dir) / "trials"
        if trials.is_dir() and any(trials.iterdir()):
            raise TuningError(f"{trials} holds trial folders but {_safe_url(settings.storage)} "
                              f"has no study {settings.run!r}: they belong to a study whose "
                              f"database is gone; move them away, or choose another --run")
        try:
            study = optuna.create_study(direction="maximize", **kwargs)
        except optuna.exceptions.DuplicatedStudyError:  # another worker created it just now
            study = optuna.load_study(**kwargs)
        else:
            for key, value in settings.recorded().items():
                study.set_user_attr(key, value)
            baseline = base_params(settings.base, settings.space)
            if baseline is not None:
                study.enqueue_trial(baseline, user_attrs={"baseline": True})
            return study
    _check_same_settings(study, settings)
    return study


def _check_same_settings(study, settings: StudySettings) -> None:
    recorded = study.user_attrs
    if "base_config" not in recorded:
        return  # created by a worker that has not recorded them yet
    before, now = Config.from_dict(recorded["base_config"]).to_dict(), settings.base.to_dict()
    differences = {key: (before[key], now[key]) for key in before
                   if key != "cache" and before[key] != now[key]
                   and not (key == "data_dir" and _data_path(before[key]) == _data_path(now[key]))}
    for key in ("seed", "sampler_seed"):
        if recorded.get(key) != getattr(settings, key):
            differences[key] = (recorded.get(key), getattr(settings, key))
    for key in ("more_seeds", "search"):  # lists; absent in studies made before they existed
        if list(recorded.get(key, [])) != list(getattr(settings, key)):
            differences[key] = (list(recorded.get(key, [])), list(getattr(settings, key)))
    if differences:
        described = "; ".join(f"{k}: recorded {a!r}, requested {b!r}"
                              for k, (a, b) in differences.items())
        raise TuningError(f"study {settings.run!r} in {_safe_url(settings.storage)} was started "
                          f"with other settings ({described}): continue it with the same "
                          f"options, or choose another --run")


# trials ------------------------------------------------------------------------------------------
def _process_identity() -> dict[str, Any]:
    import psutil

    return {"host": socket.gethostname(), "pid": os.getpid(),
            "started": psutil.Process().create_time()}


def _process_alive(identity: dict[str, Any]) -> bool:
    import psutil

    try:
        process = psutil.Process(int(identity["pid"]))
        return abs(process.create_time() - float(identity["started"])) < 1.0
    except (psutil.NoSuchProcess, KeyError, TypeError, ValueError):
        return False


def fail_dead_trials(study) -> list[int]:
    """Mark FAIL every RUNNING trial whose process on this machine is gone (killed); returns
    their numbers. Trials of other machines are left to Optuna's heartbeat."""
    from optuna.trial import TrialState

    host, failed = socket.gethostname(), []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = trial.user_attrs.get("worker")
        if not worker or worker.get("host") != host or _process_alive(worker):
            continue
        study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
        failed.append(trial.number)
    return failed


def trial_dir(run_dir: Path, number: int) -> Path:
    """The run folder ``train_fold`` writes trial ``number``'s fold into."""
    return Path(run_dir) / "trials" / f"trial_{number}"


def _signal_watch():
    """A Keras callback that raises a signal taken by this process again before every batch, in
    case its first KeyboardInterrupt was dropped (processes.raise_if_signalled). A batch-begin
    hook, because a batch-end one would turn off Keras' asynchronous callback dispatch."""
    import keras

    class StopOnSignal(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            raise_if_signalled()

    return StopOnSignal()


def _epoch_reporter(trial, epochs: int):
    """A Keras callback reporting the best validation AUROC so far to ``trial`` after each
    epoch, and stopping training (``pruned_at``) when the pruner says so before the last of
    ``epochs`` (a trial that trained them all is complete, whatever its rung)."""
    import keras

    class ReportToOptuna(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.best, self.pruned_at = -math.inf, None

        def on_epoch_end(self, epoch, logs=None):
            value = (logs or {}).get("val_auroc")
            if value is None or not math.isfinite(value):
                return
            self.best = max(self.best, float(value))
            trial.report(self.best, epoch + 1)
            if epoch + 1 < epochs and trial.should_prune():
                self.pruned_at = epoch + 1
                self.model.stop_training = True  # the epoch's files are still written

    return ReportToOptuna()


def objective(trial, settings: StudySettings) -> float:
    """Train trial's config for fold 0 (and, unless pruned, folds 1, 2, ... with
    ``settings.more_seeds``); the mean of their best validation AUROCs (TrialPruned when
    pruned)."""
    import optuna

    from .paths import repo_path
    from .training import train_fold

    config = settings.base.replace(**suggest(trial, settings.base, settings.space))
    # a relative data folder is found in this worker's own checkout (see paths.repo_path)
    config = config.replace(data_dir=str(repo_path(config.data_dir)))
    out = trial_dir(settings.run_dir, trial.number)
    trial.set_user_attr("worker", _process_identity())
    trial.set_user_attr("fold_dir", str(out / "checkpoints" / "fold_0"))
    reporter = _epoch_reporter(trial, config.epochs)
    result = train_fold(config, settings.seed, 0, out, progress=False,
                        callbacks=[_signal_watch(), reporter])
    record = result.record
    trial.set_user_attr("best_epoch", int(record["best_epoch"]) + 1)
    trial.set_user_attr("epochs_run", int(record["epochs_run"]))
    trial.set_user_attr("training_seconds", record["timings"].get("training"))
    if reporter.pruned_at is not None:
        raise optuna.TrialPruned(f"at epoch {reporter.pruned_at}, best validation AUROC "
                                 f"{reporter.best:.4f}")
    values = [_validation_auroc(result)]
    for fold, seed in enumerate(settings.more_seeds, start=1):
        values.append(_validation_auroc(train_fold(config, seed, fold, out, progress=False,
                                                   callbacks=[_signal_watch()])))
    if settings.more_seeds:
        trial.set_user_attr("validation_aurocs", values)
    return float(sum(values) / len(values))


def _validation_auroc(result) -> float:
    value = result.record["validation"]["auroc"]
    if value is None:
        raise TuningError(f"{result.paths.fold_dir}: validation AUROC undefined")
    return float(value)


def _trial_line(study, frozen) -> str:
    state = frozen.state.name.lower()
    epochs = frozen.user_attrs.get("epochs_run")
    if state == "complete":
        text = f"validation AUROC {frozen.value:.4f}"
        if frozen.value >= study.best_value:
            text += " (best so far)"
    elif state == "pruned":
        last = max(frozen.intermediate_values, default=None)
        text = (f"pruned after epoch {last}, best validation AUROC "
                f"{frozen.intermediate_values[last]:.4f}" if last else "pruned")
    else:
        text = state
    per_seed = frozen.user_attrs.get("validation_aurocs")
    if per_seed:
        text += " = mean of " + ", ".join(f"{v:.4f}" for v in per_seed)
    return f"trial {frozen.number}: {text}" + (f" [{epochs} epochs]" if epochs else "")


def optimize(settings: StudySettings, n_trials: int | None, timeout: float | None = None,
             ) -> list[int]:
    """Run up to ``n_trials`` trials (or until ``timeout`` seconds) of the study in this process,
    one at a time; returns their numbers. KeyboardInterrupt marks the running trial FAIL."""
    import logging

    from .runinfo import set_training_threads

    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # retracing notes of each new model
    set_training_threads(settings.threads)
    numbers: list[int] = []

    def report(study, frozen):
        numbers.append(frozen.number)
        if settings.progress:
            print(_trial_line(study, frozen), flush=True)

    with _TRAINING_LOCK:
        study = open_study(settings)
        dead = fail_dead_trials(study)
        if dead and settings.progress:
            print(f"marked failed: trial(s) {', '.join(map(str, dead))} (their process is gone)",
                  flush=True)
        if n_trials is None or n_trials > 0:
            study.optimize(lambda trial: objective(trial, settings), n_trials=n_trials,
                           timeout=timeout, callbacks=[report], gc_after_trial=True)
    return numbers


def _worker(settings: StudySettings, n_trials: int | None, timeout: float | None) -> list[int]:
    """A worker process or Dask task: SIGTERM ends the running trial as FAIL, like Ctrl-C."""
    with interrupt_on_signals():  # a no-op in a Dask worker's thread
        return optimize(settings, n_trials, timeout)


def _shares(n_trials: int | None, workers: int) -> list[int | None]:
    if n_trials is None:
        return [None] * workers
    return [n_trials // workers + (i < n_trials % workers) for i in range(workers)]


def tune(settings: StudySettings, n_trials: int | None = 20, timeout: float | None = None,
         jobs: int = 1, scheduler: str | None = None) -> "optuna.Study":  # noqa: F821
    """Run trials of the study: in this process (``jobs`` 1), in ``jobs`` processes here, or as
    Dask tasks on the cluster at ``scheduler`` (``jobs`` tasks, default one per worker). Then
    write the best config and the trial table; returns the study."""
    Path(settings.run_dir).mkdir(parents=True, exist_ok=True)  # holds study.db by default
    open_study(settings)  # create it (and its trial 0) once, before any worker starts
    jobs = max(1, int(jobs or 1))
    if scheduler:
        _run_on_dask(settings, n_trials, timeout, jobs if jobs > 1 else None, scheduler)
    elif jobs == 1:
        optimize(settings, n_trials, timeout)
    else:
        _run_in_processes(settings, n_trials, timeout, jobs)
    return write_results(settings)


def _run_in_processes(settings: StudySettings, n_trials, timeout, jobs: int) -> None:
    """``jobs`` worker processes sharing the study; interrupted, they are sent SIGTERM, which
    fails their running trials."""
    import multiprocessing

    cores = os.cpu_count() or 1
    settings = _replace(settings, threads=settings.threads or max(1, cores // (2 * jobs)))
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_process_main, args=(settings, share, timeout),
                               name=f"tune-worker-{i}")
               for i, share in enumerate(_shares(n_trials, jobs)) if share != 0]
    for worker in workers:
        worker.start()
    try:
        for worker in workers:
            worker.join()
    except BaseException:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()  # SIGTERM: the worker marks its trial FAIL and stops
        for worker in workers:
            worker.join()
        raise
    failed = [w.name for w in workers if w.exitcode != 0]
    if failed:
        raise TuningError(f"{len(failed)} of {len(workers)} worker processes failed "
                          f"({', '.join(failed)}); their messages are above")


def _process_main(settings: StudySettings, n_trials, timeout) -> None:
    """A local worker process: errors as one line on stderr and exit code 2, like the CLI."""
    try:
        _worker(settings, n_trials, timeout)
    except KeyboardInterrupt:
        sys.exit(130)
    except ValueError as err:
        print(f"atomicvad tune ({_process_name()}): {err}", file=sys.stderr)
        sys.exit(2)


def _process_name() -> str:
    import multiprocessing

    return multiprocessing.current_process().name


def _replace(settings: StudySettings, **changes) -> StudySettings:
    return StudySettings(**{**settings.__dict__, **changes})


def _run_on_dask(settings, n_trials, timeout, tasks, scheduler: str) -> None:
    client, addresses = dask_client(scheduler, TuningError)
    with client:
        workers = len(addresses)
        shares = [s for s in _shares(n_trials, tasks or workers) if s != 0]
        futures = [client.submit(_worker, settings, share, timeout, pure=False)
                   for share in shares]
        client.gather(futures)


def write_results(settings: StudySettings):
    """Write ``trials.csv`` and, when a trial completed, ``best_config.yaml`` and
    ``best_trial.json`` into the run folder; returns the study."""
    import optuna

    study = open_study(settings, create=False)
    run_dir = Path(settings.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    frame = study.trials_dataframe(attrs=("number", "state", "value", "params", "user_attrs",
                                          "duration"))
    frame.to_csv(run_dir / TRIALS_CSV, index=False)
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if complete:
        best = study.best_trial
        config = best_config(study, settings.base)
        config.save(run_dir / BEST_CONFIG)
        from .files import write_json_atomic

        write_json_atomic(run_dir / BEST_TRIAL, {
            "number": best.number, "validation_auroc": best.value, "params": best.params,
            "fold_dir": best.user_attrs.get("fold_dir"), "config_file": BEST_CONFIG,
            "seed": settings.seed, "more_seeds": list(settings.more_seeds), "baseline": bool(best.user_attrs.get("baseline"))})
    return study


def best_config(study, base: Config) -> Config:
    """The base config with the best trial's settings."""
    return base.replace(**study.best_trial.params)


def summary(study) -> str:
    """Counts of trials by state, the base recipe's and the best trial's validation AUROC."""
    from collections import Counter

    trials = study.get_trials(deepcopy=False)
    counts = Counter(t.state.name.lower() for t in trials)
    lines = [f"study {study.study_name}: {len(trials)} trials ("
             + ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) + ")"]
    baseline = [t for t in trials if t.user_attrs.get("baseline")]
    if baseline and baseline[0].value is not None:
        lines.append(f"base recipe (trial {baseline[0].number}): validation AUROC "
                     f"{baseline[0].value:.4f}")
    if counts.get("complete"):
        best = study.best_trial
        lines.append(f"best: trial {best.number}, validation AUROC {best.value:.4f}: "
                     + ", ".join(f"{k}={_short(v)}" for k, v in best.params.items()))
    return "\n".join(lines)


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


# command line ------------------------------------------------------------------------------------
def settings_from(run: str, *, experiments_root=None, out=None, storage: str | None = None,
                  recipe: str = "course", config_file: str | None = None,
                  data_dir: str | None = None, epochs: int | None = None,
                  seed: int = DEFAULT_SEED, sampler_seed: int = 0, quick: bool = False,
                  progress: bool = True, more_seeds: Sequence[int] = (),
                  search: Sequence[str] = ()) -> StudySettings:
    """StudySettings of the run ``run`` in the folder ``out`` (default: ``experiments_root``, by
    default experiments/, then ``run``): the base config is ``config_file``, or ``recipe`` with
    the course's epochs and batch size as notebook 05 trains it. ``quick``: 3 epochs on a subset
    of the data. ``more_seeds``, ``search``: see StudySettings."""
    from .manifest import subset_manifests

    select_space(search)  # an unknown name is an error before anything is written
    run_dir = Path(experiments_root or repo_root() / "experiments") / run
    run_dir = Path(out).resolve() if out else run_dir
    if config_file:
        base = Config.load(config_file)
    else:
        base = Config.for_recipe(recipe, epochs=COURSE_TRAINING["epochs"],
                                 batch_size=COURSE_TRAINING["batch_size"])
    if data_dir is not None:
        base = base.replace(data_dir=str(data_dir))
    if epochs is not None:
        base = base.replace(epochs=int(epochs))
    if quick:
        base = base.replace(epochs=min(base.epochs, 3), data_dir=str(subset_manifests(
            _data_path(base.data_dir), run_dir / "quick_data", per_manifest=48, seed=seed)))
    return StudySettings(run=run, run_dir=run_dir, storage=storage or default_storage(run_dir),
                         base=base, seed=int(seed), sampler_seed=int(sampler_seed),
                         progress=progress, more_seeds=tuple(int(s) for s in more_seeds),
                         search=tuple(search))


def _data_path(data_dir: str) -> Path:
    from .paths import repo_path

    return repo_path(data_dir).resolve()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = describe_space()
    parser.add_argument("--run", default="tune",
                        help="study name and run folder experiments/<run> (default tune)")
    parser.add_argument("--out", help="run folder (default experiments/<run>)")
    parser.add_argument("--n-trials", type=int, default=20,
                        help="trials to add in this call (default 20; 0: only write results)")
    parser.add_argument("--timeout", type=float, help="stop starting trials after this many s")
    parser.add_argument("--jobs", type=int, default=1,
                        help="trials at once: processes here, or Dask tasks with --scheduler "
                             "(default 1; with --scheduler, one per worker)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="run the trials on this Dask cluster, e.g. tcp://host:8786")
    parser.add_argument("--storage", metavar="URL",
                        help="Optuna storage, any SQLAlchemy URL (default sqlite:///"
                             "experiments/<run>/study.db); e.g. postgresql+psycopg://user@host/db")
    parser.add_argument("--recipe", default="course", choices=sorted(RECIPES),
                        help="base settings the search starts from (default course)")
    parser.add_argument("--config", help="base settings from a YAML/JSON file instead")
    parser.add_argument("--data", help="data folder (default: the base config's data_dir)")
    parser.add_argument("--epochs", type=int, help="epochs per trial (default: the course's, course.COURSE_TRAINING)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help=f"training seed of every trial (default {DEFAULT_SEED})")
    parser.add_argument("--more-seeds", type=int, nargs="+", default=(), metavar="SEED",
                        help="also train folds 1, 2, ... with these seeds in every trial that is "
                             "not pruned; the trial scores the mean validation AUROC")
    parser.add_argument("--search", nargs="+", default=(), metavar="KEY",
                        help="search only these settings of the space below (default: all)")
    parser.add_argument("--sampler-seed", type=int, default=0, help="TPE's seed (default 0)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke test: 3 epochs on 48 windows per manifest")
    parser.add_argument("--show-space", action="store_true",
                        help="print the search space and exit")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.show_space:
        print(describe_space())
        return 0
    from .files import check_output_dir

    if args.n_trials < 0:
        raise TuningError(f"--n-trials {args.n_trials}: give 0 or more trials")
    out = check_output_dir(args.out or repo_root() / "experiments" / args.run)  # before any work
    settings = settings_from(args.run, out=out, storage=args.storage, recipe=args.recipe,
                             config_file=args.config, data_dir=args.data, epochs=args.epochs,
                             seed=args.seed, sampler_seed=args.sampler_seed, quick=args.quick,
                             more_seeds=args.more_seeds, search=args.search)
    start = time.monotonic()
    with interrupt_on_signals():  # a killed command fails its trial, and exits 143
        study = tune(settings, args.n_trials, args.timeout, args.jobs, args.scheduler)
    print(f"\n{summary(study)}")
    print(f"{(time.monotonic() - start) / 60:.1f} minutes; trials in {settings.run_dir / 'trials'}")
    if (settings.run_dir / BEST_CONFIG).is_file():
        print(f"best config: {settings.run_dir / BEST_CONFIG} (atomicvad train --config FILE, "
              f"or notebook 05 with -p config FILE)")
    return 0


def describe_interrupt(args: argparse.Namespace) -> str:
    return "the running trial(s) are marked failed; finished trials are kept in the study"

