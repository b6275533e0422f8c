"""``atomicvad course`` and ``atomicvad sweep``: the notebooks run headless with papermill.

``course`` executes every notebook on ``data_samples/``, writing executed copies to
``runs/<run>/``: notebook 05 once per seed through the sweep, the notebooks that do not depend on
it (01-04, 07, 08) in the same workers after the seeds, 06 at the end. A failing notebook does
not stop the others; the command names each failure and its executed copy (which shows the
failing cell) and exits 1.

``sweep`` runs ``05_training`` once per seed (several at once with ``--jobs``), writing
``runs/<run>/05_training_seed<seed>.ipynb`` and training outputs to ``experiments/<run>/``, then
``06_results_analysis`` over the run. A failed seed does not stop the others; the command lists
the failures and exits 1. With ``--scheduler ADDRESS`` each seed's notebook runs as a task on that
Dask cluster (whose workers need the same checkout and data at the same paths) instead of in a
local process pool.

Ctrl-C or SIGTERM stops either command with everything it started: pool workers, papermill's
kernels and their children (``processes``). Seeds that finished keep their outputs; running the
same command again reuses them and resumes a seed that was stopped mid-training from its last
completed epoch (``train_fold``'s resume). Tasks already running on a Dask cluster are the
cluster's and go on.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import papermill
import yaml
from jupyter_client.manager import AsyncKernelManager
from tqdm.auto import tqdm

from .config import PAPER_SEEDS, fold_for_seed
from .paths import FIGURES_ENV, HEADLESS_ENV, repo_root
from .processes import ignore_sigint, interrupt_on_signals, raise_if_signalled, stop_children

NOTEBOOKS = ("01_data_exploration", "02_augmentation", "03_ggcu_derivation", "04_model_building",
             "05_training", "06_results_analysis", "07_deployment_and_streaming",
             "08_hyperparameter_search")
TRAINING, ANALYSIS = "05_training", "06_results_analysis"
# The other notebooks by their measured run time, longest first: the order they join the
# workers after the seeds, so the shortest fill the end.
LONGEST_FIRST = ("08_hyperparameter_search", "07_deployment_and_streaming", "02_augmentation",
                 "01_data_exploration", "03_ggcu_derivation", "04_model_building")
# Training settings of the course's sweep: ten seeds on data_samples/ within its 15-minute budget
# on two cores. 24 epochs rather than 12: test AUROC 0.894 / 0.894 / 0.888 against 0.874 / 0.871 /
# 0.882 (seeds 43185 / 86648 / 47845), most of what 48 epochs give (0.895 / 0.892). Where
# TensorFlow runs Eigen's kernels instead of oneDNN's (AMD, older Intel) training is about half as
# fast and the course trains EIGEN_EPOCHS (`course_training`). Measured figures: see the README.
COURSE_TRAINING: dict[str, Any] = {"epochs": 24, "batch_size": 64, "recipe": "course"}
EIGEN_EPOCHS = 12  # 24 took the course over 17 minutes on the Eigen kernels of a 2-core Xeon
# Parameters the course passes to other notebooks: notebook 08's study at a size that fits the
# course (3 trials of 2 epochs on 500 windows per manifest, about a minute; see the README). Its
# own defaults, for a student in JupyterLab, are the larger study. The study goes to
# experiments/<run>_notebook08 (STUDY_08), apart from the notebook's default folder, since a study
# refuses to continue with other settings.
COURSE_NOTEBOOK_PARAMETERS: dict[str, dict[str, Any]] = {
    "08_hyperparameter_search": {"n_trials": 3, "epochs": 2, "per_manifest": 500},
}
STUDY_08 = "{run}_notebook08"
BASELINE_RUN = "resnet"  # experiments/resnet: the ResNet baseline notebook 06 compares with
DASK_CONNECT_TIMEOUT = "20s"  # how long --scheduler waits for the Dask scheduler to answer
KERNEL_SOCKETS_ENV = "ATOMICVAD_KERNEL_SOCKETS"  # the running command's folder for kernel sockets


@dataclass
class NotebookRun:
    """One executed notebook: where it came from and went, and how it ended."""

    notebook: Path
    output: Path
    parameters: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None

    def describe(self) -> str:
        label = self.notebook.stem
        if "seed" in self.parameters:
            label += f" (seed {self.parameters['seed']})"
        if self.ok:
            return f"ok      {label}: {self.output} [{self.seconds:.0f} s]"
        return f"FAILED  {label}: {self.error}\n        see the executed copy {self.output}"


def notebooks_dir() -> Path:
    return repo_root() / "notebooks"


def notebook_path(name: str) -> Path:
    path = notebooks_dir() / f"{name}.ipynb"
    if not path.is_file():
        raise FileNotFoundError(f"notebook {path} does not exist (known: {', '.join(NOTEBOOKS)})")
    return path


def declared_parameters(notebook: Path) -> dict[str, Any]:
    """The notebook's ``parameters`` cell as papermill sees it: name -> default (as written)."""
    return {name: info["default"] for name, info in papermill.inspect_notebook(str(notebook)).items()}


def _logged_kernel_manager(log_path: Path):
    """A Jupyter kernel manager whose kernel writes its own stdout and stderr to ``log_path``.

    The kernel process prints start-up chatter there (TensorFlow's
    C++ logging, which starts before TF_CPP_MIN_LOG_LEVEL applies, and a KeyboardInterrupt line at
    shutdown); on a student's terminal it reads as failures. The notebook's own outputs and
    errors do not pass through it: they are in the executed notebook.
    """
    class LoggedKernelManager(AsyncKernelManager):
        def __init__(self, **kw):
            # Unix sockets in a folder of its own, not TCP ports: a TCP port is picked free,
            # released and bound again by the kernel, and a kernel started at the same moment
            # can take it ("Address already in use"; seen with two seeds starting together).
            # The path is absolute because the kernel's working folder is not this one's.
            # The folder sits in the command's own (stopping_on_interrupt), which it removes
            # even when the kernel is killed before it can clean up.
            if os.name == "posix":  # Windows keeps TCP
                root = os.environ.get(KERNEL_SOCKETS_ENV)
                root = root if root and os.path.isdir(root) else None
                folder = tempfile.mkdtemp(prefix="k" if root else "atomicvad-kernel-", dir=root)
                kw.setdefault("transport", "ipc")
                kw.setdefault("ip", os.path.join(folder, "k"))
            super().__init__(**kw)

        async def _async_cleanup_resources(self, restart: bool = False) -> None:
            await super()._async_cleanup_resources(restart=restart)
            if not restart and self.transport == "ipc":
                shutil.rmtree(os.path.dirname(self.ip), ignore_errors=True)

        async def _async_launch_kernel(self, kernel_cmd, **kw):
            log = open(log_path, "ab")  # the kernel process keeps its own copy of the descriptor
            try:
                return await super()._async_launch_kernel(kernel_cmd, stdout=log, stderr=log, **kw)
            finally:
                log.close()

    return LoggedKernelManager


def execute(notebook: str | Path, output: str | Path, parameters: dict[str, Any] | None = None,
            *, figures: str | Path | None = None, kernel_name: str = "python3",
            threads: int | None = None, progress: bool = False) -> NotebookRun:
    """Run one notebook with papermill, headless, in ``notebooks/`` as working directory.

    ``figures`` becomes ``ATOMICVAD_FIGURES`` for the kernel, ``threads`` caps TensorFlow's
    thread pools (for several runs side by side). Failures are returned, not raised. What the
    kernel process itself prints goes to ``<output>.kernel.log``, kept when the run fails.
    """
    notebook, output = Path(notebook), Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    env = {HEADLESS_ENV: "1"}
    if figures is not None:
        env[FIGURES_ENV] = str(Path(figures).resolve())
    if threads:
        env.update(TF_NUM_INTRAOP_THREADS=str(threads), TF_NUM_INTEROP_THREADS="1",
                   OMP_NUM_THREADS=str(threads))
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)  # the kernel inherits this process's environment
    run = NotebookRun(notebook, output, dict(parameters or {}))
    kernel_log = output.with_suffix(".kernel.log")
    kernel_log.unlink(missing_ok=True)
    start = time.monotonic()
    try:
        papermill.execute_notebook(str(notebook), str(output), parameters=run.parameters,
                                   kernel_name=kernel_name, cwd=str(notebook.parent),
                                   progress_bar=progress, log_output=False,
                                   kernel_manager_class=_logged_kernel_manager(kernel_log))
    except papermill.PapermillExecutionError as err:
        run.error = f"cell {err.exec_count}: {err.ename}: {err.evalue}".strip()
    except Exception as err:  # kernel died, notebook unreadable, ...
        run.error = f"{type(err).__name__}: {err}"
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    run.seconds = time.monotonic() - start
    if run.ok:
        kernel_log.unlink(missing_ok=True)
    elif kernel_log.is_file() and kernel_log.stat().st_size:
        run.error += f" (the kernel's own messages: {kernel_log})"
    return run


def _execute_task(task: dict[str, Any]) -> NotebookRun:
    return execute(**task)


def _execute_on_dask_worker(task: dict[str, Any], workers_per_host: dict[str, int]) -> NotebookRun:
    """A Dask task: ``execute`` with TensorFlow's threads shared among this host's workers."""
    from urllib.parse import urlparse

    from distributed import get_worker

    host = urlparse(get_worker().address).hostname
    threads = max(1, (os.cpu_count() or 1) // max(1, workers_per_host.get(host, 1)))
    return execute(**{**task, "threads": threads})


def dask_client(scheduler: str, error: type[Exception] = ValueError):
    """A connected ``distributed.Client`` for the scheduler at ``scheduler`` and its workers'
    addresses; ``error`` (naming what to do) when the package, the scheduler or workers are
    missing. Shared by the sweep and by ``atomicvad tune``."""
    try:
        from distributed import Client
    except ImportError as err:
        raise error(f"--scheduler needs dask's distributed package ({err})") from None
    try:
        client = Client(scheduler, timeout=DASK_CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as err:
        raise error(f"--scheduler {scheduler}: no Dask scheduler answers there ({err}); "
                    f"start one with `dask scheduler` and workers with `dask worker "
                    f"{scheduler} --nthreads 1`") from None
    workers = client.scheduler_info()["workers"]
    if not workers:
        client.close()
        raise error(f"--scheduler {scheduler}: the cluster has no workers; start some "
                    f"with `dask worker {scheduler} --nthreads 1`")
    return client, list(workers)


def _run_on_dask(tasks: list[dict[str, Any]], scheduler: str, bar=None) -> list[NotebookRun]:
    """Run ``tasks`` on the Dask cluster at ``scheduler``; a task whose worker died comes back
    as a failed run, and the others go on."""
    from urllib.parse import urlparse

    from distributed import as_completed as completed

    client, workers = dask_client(scheduler)
    runs = []
    with client:
        per_host: dict[str, int] = {}
        for address in workers:
            host = urlparse(address).hostname
            per_host[host] = per_host.get(host, 0) + 1
        futures = {client.submit(_execute_on_dask_worker, task, per_host, pure=False): task
                   for task in tasks}
        for future in completed(futures):
            try:
                run = future.result()
            except Exception as err:  # noqa: BLE001 - the worker died or could not run it
                task = futures[future]
                run = NotebookRun(Path(task["notebook"]), Path(task["output"]),
                                  dict(task["parameters"]),
                                  error=f"the Dask task failed: {type(err).__name__}: {err}")
            runs.append(run)
            if bar is not None:
                bar.update()
            _report(run, bar)
    return runs


def _run_in_pool(tasks: list[dict[str, Any]], jobs: int, bar=None) -> list[NotebookRun]:
    """Run ``tasks`` in ``jobs`` worker processes. Interrupted (Ctrl-C, or SIGTERM under
    ``stopping_on_interrupt``), it stops the workers and their kernels before the interrupt goes
    on: leaving the pool as a ``with`` block would wait for the running notebooks to finish."""
    runs = []
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=ignore_sigint)
    try:
        pending = {pool.submit(_execute_task, task) for task in tasks}
        while pending:
            done, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
            raise_if_signalled()  # a signal whose exception a finalizer swallowed
            for future in done:
                runs.append(future.result())
                if bar is not None:
                    bar.update()
                _report(runs[-1], bar)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        stop_children()
        raise
    pool.shutdown()
    return runs


@dataclass
class SweepResult:
    runs: list[NotebookRun]
    analysis: NotebookRun | None = None
    others: list[NotebookRun] = field(default_factory=list)  # the course's other notebooks

    @property
    def failures(self) -> list[NotebookRun]:
        return [r for r in [*self.others, *self.runs, self.analysis]
                if r is not None and not r.ok]


def sweep(run: str, seeds: Sequence[int] = PAPER_SEEDS, *, jobs: int = 1, quick: bool = False,
          data_dir: str | Path | None = None, parameters: dict[str, Any] | None = None,
          analysis: bool = True, runs_root: str | Path | None = None,
          experiments_root: str | Path | None = None, notebook: str | Path | None = None,
          analysis_notebook: str | Path | None = None, kernel_name: str = "python3",
          progress: bool = True, scheduler: str | None = None,
          other_tasks: Sequence[dict[str, Any]] = ()) -> SweepResult:
    """Train one fold per seed with notebook 05, then analyse the run with notebook 06.

    ``other_tasks`` (``execute``'s arguments, without ``threads``) run in the same workers after
    the seeds: the course's notebooks that do not depend on the training fill the workers while
    the last seeds train, instead of running alone before them.

    A paper seed trains its paper fold (``fold_for_seed``). Executed notebooks go to
    ``<runs_root>/<run>/``, training outputs to ``<experiments_root>/<run>/``. With ``scheduler``
    (a Dask scheduler's address) the seeds run as tasks on that cluster and ``jobs`` is unused.
    """
    root = repo_root()
    out_dir = Path(runs_root or root / "runs") / run
    run_dir = Path(experiments_root or root / "experiments") / run
    notebook = Path(notebook or notebook_path(TRAINING))
    known = declared_parameters(notebook)
    common = {"quick": quick, "run_dir": str(run_dir.resolve()), "interactive": False}
    if data_dir is not None:
        common["data_dir"] = str(Path(data_dir).resolve())
    common = {k: v for k, v in common.items() if k in known}
    common.update(parameters or {})
    jobs = max(1, int(jobs))
    threads = max(1, (os.cpu_count() or 1) // jobs) if jobs > 1 else None
    tasks = [dict(notebook=notebook, output=out_dir / f"{notebook.stem}_seed{seed}.ipynb",
                  parameters={**common, "seed": int(seed), "fold": fold_for_seed(seed, i)},
                  figures=out_dir / "figures" / f"seed{seed}", kernel_name=kernel_name,
                  threads=threads)
             for i, seed in enumerate(seeds)]
    seed_outputs = {task["output"] for task in tasks}
    tasks += [{**task, "threads": threads} for task in other_tasks]
    runs: list[NotebookRun] = []
    bar = tqdm(total=len(tasks), desc=f"sweep {run}", unit="notebook" if other_tasks else "seed",
               disable=not progress)
    try:
        if scheduler:
            runs.extend(_run_on_dask(tasks, scheduler, bar))
        elif jobs == 1:
            for task in tasks:
                runs.append(_execute_task(task))
                bar.update()
                _report(runs[-1], bar)
        else:
            runs.extend(_run_in_pool(tasks, jobs, bar))
    finally:
        bar.close()  # before an interrupt's message
    others = [r for r in runs if r.output not in seed_outputs]
    runs = sorted((r for r in runs if r.output in seed_outputs), key=lambda r: r.parameters["fold"])
    result = SweepResult(runs, others=sorted(others, key=lambda r: r.notebook.stem))
    if analysis and any(r.ok for r in runs):
        analysis_nb = Path(analysis_notebook or notebook_path(ANALYSIS))
        known = declared_parameters(analysis_nb)
        # the ResNet baseline, when trained into the same experiments folder (see compare)
        baseline = run_dir.parent / BASELINE_RUN
        params = {k: v for k, v in {"run_dir": str(run_dir.resolve()), "quick": quick,
                                    "interactive": False,
                                    "data_dir": common.get("data_dir"),
                                    "baseline_dir": str(baseline.resolve())}.items()
                  if k in known and v is not None}
        result.analysis = execute(analysis_nb, out_dir / f"{analysis_nb.stem}.ipynb", params,
                                  figures=out_dir / "figures" / analysis_nb.stem,
                                  kernel_name=kernel_name)
        _report(result.analysis, bar)
    return result


def _report(run: NotebookRun, bar=None) -> None:
    text = run.describe()
    if bar is not None:
        bar.write(text)
    else:
        print(text, flush=True)


def _summary(failures: Iterable[NotebookRun]) -> int:
    failures = list(failures)
    if not failures:
        return 0
    print(f"\n{len(failures)} notebook run(s) failed:", file=sys.stderr)
    for run in failures:
        print("  " + run.describe().replace("\n", "\n  "), file=sys.stderr)
    return 1


def onednn_kernels() -> bool:
    """Whether TensorFlow runs oneDNN's CPU kernels here (``conv.native_kernel_is_fast``), asked
    in a child process so that this one does not load TensorFlow; False if the child fails."""
    import subprocess

    code = "from atomicvad_lib.conv import native_kernel_is_fast as f; print(int(f()))"
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        return done.stdout.strip().endswith("1")
    except (OSError, subprocess.SubprocessError):
        return False


def course_training() -> dict[str, Any]:
    """COURSE_TRAINING, with EIGEN_EPOCHS where TensorFlow's oneDNN kernels are off (so the
    course stays within its 15 minutes there)."""
    if onednn_kernels():
        return dict(COURSE_TRAINING)
    return {**COURSE_TRAINING, "epochs": EIGEN_EPOCHS}


def course(run: str = "course", seeds: Sequence[int] = PAPER_SEEDS, *, jobs: int = 2,
           quick: bool = False, data_dir: str | Path | None = None,
           notebooks: Sequence[str] = NOTEBOOKS, training: dict[str, Any] | None = None,
           runs_root: str | Path | None = None, experiments_root: str | Path | None = None,
           kernel_name: str = "python3", scheduler: str | None = None) -> int:
    """Run the course's notebooks; 0 when all succeed, else 1 after listing the failures.

    Notebook 05 runs once per seed, ``jobs`` at a time, and the notebooks that do not depend on
    it (01-04, 07, 08) run in the same workers after the seeds (the longest first), so no core
    idles; 06 analyses the run at the end. A failing notebook does not stop the others.
    """
    root = repo_root()
    data_dir = Path(data_dir or root / "data_samples")
    out_dir = Path(runs_root or root / "runs") / run
    experiments = Path(experiments_root or root / "experiments")
    start = time.monotonic()

    def task(name: str) -> dict[str, Any]:
        notebook = notebook_path(name)
        known = declared_parameters(notebook)
        params = {k: v for k, v in {"quick": quick, "interactive": False,
                                    "data_dir": str(data_dir.resolve())}.items() if k in known}
        if name == ANALYSIS:
            params["run_dir"] = str((experiments / run).resolve())
            if "baseline_dir" in known:
                params["baseline_dir"] = str((experiments / BASELINE_RUN).resolve())
        if name == "08_hyperparameter_search" and "run_dir" in known:
            params["run_dir"] = str((experiments / STUDY_08.format(run=run)).resolve())
        params.update({k: v for k, v in COURSE_NOTEBOOK_PARAMETERS.get(name, {}).items()
                       if k in known})
        return dict(notebook=notebook, output=out_dir / f"{name}.ipynb", parameters=params,
                    figures=out_dir / "figures" / name, kernel_name=kernel_name)

    others = sorted((n for n in notebooks if n not in (TRAINING, ANALYSIS)),
                    key=lambda n: LONGEST_FIRST.index(n) if n in LONGEST_FIRST else len(NOTEBOOKS))
    if TRAINING in notebooks:
        settings = dict(training or {})
        if not quick and "epochs" not in settings:
            settings = {**course_training(), **settings}
            slower = settings["epochs"] != COURSE_TRAINING["epochs"]
            print(f"training: {settings['epochs']} epochs per seed"
                  + (" (TensorFlow's oneDNN kernels are off on this CPU, so training is slower: "
                     f"{EIGEN_EPOCHS} instead of {COURSE_TRAINING['epochs']}, to stay within the "
                     "course's 15 minutes)" if slower else ""), flush=True)
        result = sweep(run, seeds, jobs=jobs, quick=quick, data_dir=data_dir,
                       parameters={**COURSE_TRAINING, **settings},
                       analysis=ANALYSIS in notebooks, runs_root=runs_root,
                       experiments_root=experiments_root, kernel_name=kernel_name,
                       scheduler=scheduler, other_tasks=[task(n) for n in others])
        failures = result.failures
    else:
        jobs = max(1, int(jobs))
        threads = max(1, (os.cpu_count() or 1) // jobs) if jobs > 1 else None
        tasks = [{**task(n), "threads": threads} for n in others]
        if scheduler:
            runs = _run_on_dask(tasks, scheduler)
        elif jobs == 1:
            runs = []
            for one in tasks:
                runs.append(_execute_task(one))
                _report(runs[-1])
        else:
            runs = _run_in_pool(tasks, jobs)
        if ANALYSIS in notebooks:
            runs.append(_execute_task(task(ANALYSIS)))
            _report(runs[-1])
        failures = [r for r in runs if not r.ok]
    minutes = (time.monotonic() - start) / 60
    if failures:
        print(f"\nThe course ran in {minutes:.1f} minutes, with failures: open the executed "
              f"copies named below to see the failing cells, fix them and rerun (finished folds "
              f"are kept).", file=sys.stderr)
        return _summary(failures)
    print(f"\nThe course ran in {minutes:.1f} minutes; executed notebooks are in {out_dir}.")
    return 0


# --- command line --------------------------------------------------------------------------------
def _parameter_pairs(pairs: Sequence[Sequence[str]] | None) -> dict[str, Any]:
    out = {}
    for key, value in pairs or ():
        try:
            out[key] = yaml.safe_load(value)
        except yaml.YAMLError:
            out[key] = value
    return out


def _add_common(parser: argparse.ArgumentParser, default_jobs: int) -> None:
    parser.add_argument("--seeds", type=int, nargs="+", default=list(PAPER_SEEDS),
                        help="training seeds, one fold each (default: the paper's ten)")
    parser.add_argument("--jobs", type=int, default=default_jobs,
                        help=f"seeds trained at once (default {default_jobs})")
    parser.add_argument("--quick", action="store_true",
                        help="the notebooks' quick settings: a smoke test in a few minutes")
    parser.add_argument("--data-dir", default=None,
                        help="folder with the six balanced manifests (default: data_samples/)")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"),
                        help="a parameter for 05_training (YAML value), e.g. -p epochs 5")
    parser.add_argument("--kernel", default="python3", help="Jupyter kernel (default python3)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="run each seed as a task on this Dask cluster, e.g. "
                             "tcp://host:8786 (--jobs is then unused)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``course`` command's options (``sweep`` has its own, see add_sweep_arguments)."""
    parser.add_argument("--run", default="course", help="run name: runs/<run>, experiments/<run>")
    parser.add_argument("--only", nargs="+", choices=NOTEBOOKS, metavar="NOTEBOOK",
                        help="run only these notebooks (in course order)")
    _add_common(parser, default_jobs=2)
    parser.set_defaults(func=run_course)


def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", required=True, help="run name: runs/<run>, experiments/<run>")
    parser.add_argument("--no-analysis", action="store_true",
                        help="skip 06_results_analysis after training")
    _add_common(parser, default_jobs=1)
    parser.set_defaults(func=run_sweep)


@contextmanager
def stopping_on_interrupt():
    """SIGTERM interrupts like Ctrl-C; either stops every process the command started (pool
    workers, papermill's kernels and their children) before the interrupt reaches ``cli.main``,
    which prints ``describe_interrupt`` and the command that resumes. The kernels' socket
    folders live in one temporary folder of the command's (``KERNEL_SOCKETS_ENV``, inherited by
    its workers), removed at the end whichever way the command ends."""
    root = tempfile.mkdtemp(prefix="atomicvad-kernels-")
    previous = os.environ.get(KERNEL_SOCKETS_ENV)
    os.environ[KERNEL_SOCKETS_ENV] = root
    try:
        with interrupt_on_signals():
            try:
                yield
            except BaseException:
                stop_children()
                raise
    finally:
        if previous is None:
            os.environ.pop(KERNEL_SOCKETS_ENV, None)
        else:
            os.environ[KERNEL_SOCKETS_ENV] = previous
        shutil.rmtree(root, ignore_errors=True)


def run_course(args) -> int:
    notebooks = [n for n in NOTEBOOKS if not args.only or n in args.only]
    with stopping_on_interrupt():
        return course(args.run, args.seeds, jobs=args.jobs, quick=args.quick,
                      data_dir=args.data_dir, notebooks=notebooks,
                      training=_parameter_pairs(args.parameter), kernel_name=args.kernel,
                      scheduler=args.scheduler)


def run_sweep(args) -> int:
    start = time.monotonic()
    with stopping_on_interrupt():
        result = sweep(args.run, args.seeds, jobs=args.jobs, quick=args.quick,
                       data_dir=args.data_dir, parameters=_parameter_pairs(args.parameter),
                       analysis=not args.no_analysis, kernel_name=args.kernel,
                       scheduler=args.scheduler)
    code = _summary(result.failures)
    if not code:
        print(f"\nThe sweep ran in {(time.monotonic() - start) / 60:.1f} minutes.")
    return code


def describe_interrupt(args) -> str:
    """Where an interrupted ``course`` or ``sweep`` stands, for ``cli.main``'s message."""
    run_dir = repo_root() / "experiments" / args.run
    where = (f"seeds already trained are kept in {run_dir}, and a seed stopped mid-training "
             f"resumes from its last completed epoch")
    if getattr(args, "scheduler", None):
        where += "; tasks already running on the Dask cluster were not stopped"
    return f"its notebook runs and their kernels were stopped; {where}"
