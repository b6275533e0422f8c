"""Stopping `atomicvad sweep` and `atomicvad course` (issue 11): SIGTERM to the command, or Ctrl-C
to its process group, stops every process it started (pool workers, papermill's kernels), says
how to resume, and a rerun resumes an interrupted seed from its last completed epoch.

Each test runs the real command in a subprocess, in a stand-in checkout in a temporary folder
(a ``pyproject.toml`` naming the package, and a ``notebooks/`` folder), so its runs/ and
experiments/ folders are temporary too."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import psutil
import pytest
from conftest import REPO_ROOT, write_tiny_corpus

from atomicvad_lib import Config, processes

SURVIVAL_SECONDS = 10  # every started process must be gone this soon after the command exits


def _checkout(root: Path, notebooks: Path) -> Path:
    """A folder that ``paths.repo_root`` takes for a checkout, with ``notebooks``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text('[project]\nname = "atomicvad-lib"\n')
    (root / "notebooks").symlink_to(notebooks, target_is_directory=True)
    return root


def _start(checkout: Path, *args: str, env: dict | None = None, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "atomicvad_lib.cli", *args], cwd=checkout,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


def _wait_for(condition, process: subprocess.Popen, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"the command ended before {what}: {err.decode()[-2000:]}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"no {what} within {seconds} s")
        time.sleep(0.05)


def _kernels(tree: list[psutil.Process]) -> list[psutil.Process]:
    found = []
    for p in tree:
        try:
            if "ipykernel" in " ".join(p.cmdline()):
                found.append(p)
        except psutil.NoSuchProcess:
            pass
    return found


def _survivors(tree: list[psutil.Process]) -> list[str]:
    """Processes of ``tree`` still running SURVIVAL_SECONDS from now (zombies count as gone)."""
    deadline = time.monotonic() + SURVIVAL_SECONDS
    while True:
        alive = []
        for p in tree:
            try:
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                    alive.append(f"{p.pid} {' '.join(p.cmdline())[:120]}")
            except psutil.NoSuchProcess:
                pass
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


# How long a signalled command may take to stop its tree and print its message: generous, since
# on a loaded 2-core machine 60 s ran out; still well inside pytest-timeout's 300 s.
STOP_SECONDS = 150


def _signal_and_collect(process: subprocess.Popen, tree: list[psutil.Process], send) -> tuple:
    """``send()`` the interrupt, wait for ``process`` to end; its stderr and what of ``tree``
    survived."""
    send()
    _, err = process.communicate(timeout=STOP_SECONDS)
    return err.decode(), _survivors(tree)


def _kill_all(tree: list[psutil.Process]) -> None:
    for p in tree:  # a failed test must not leave trainings behind
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass


def test_sigterm_stops_the_sweeps_workers_and_kernels_and_a_rerun_resumes(tmp_path):
    corpus = write_tiny_corpus(tmp_path / "tiny")
    config = Config.for_recipe("course", epochs=12, patience=12, batch_size=4,
                               data_dir=str(corpus)).save(tmp_path / "long.yaml")
    checkout = _checkout(tmp_path / "checkout", REPO_ROOT / "notebooks")
    seeds = ("43185", "86648")  # folds 0 and 1
    command = ("sweep", "--run", "stop", "--seeds", *seeds, "--jobs", "2", "--no-analysis",
               "--data-dir", str(corpus), "-p", "config", str(config))
    run_dir = checkout / "experiments" / "stop"
    states = [run_dir / "backups" / f"fold_{fold}" / "state.json" for fold in (0, 1)]
    process = _start(checkout, *command)
    tree: list[psutil.Process] = []
    try:
        # both seeds have finished an epoch: two workers and two kernels are training
        _wait_for(lambda: all(s.is_file() for s in states), process, 300, "saved epoch in both folds")
        tree = processes.descendants(process.pid)
        assert len(_kernels(tree)) == 2, [p.cmdline() for p in tree]
        err, survivors = _signal_and_collect(process, tree,
                                             lambda: process.send_signal(signal.SIGTERM))
    finally:
        if process.poll() is None:
            process.kill()
        _kill_all(tree)
    assert not survivors, survivors
    assert process.returncode == 128 + signal.SIGTERM, err[-2000:]
    line = [x for x in err.splitlines() if x.startswith("atomicvad sweep: ")]
    assert len(line) == 1 and "Traceback" not in err, err[-2000:]
    assert "interrupted (SIGTERM)" in line[0] and "resumes from its last completed epoch" in line[0]
    assert line[0].endswith("resume with: atomicvad " + " ".join(command))
    saved = [json.loads(s.read_text())["epoch"] for s in states]
    assert all(1 <= n < 12 for n in saved), saved  # stopped mid-training, epochs kept
    assert not list(run_dir.glob("checkpoints/fold_*/metrics.json"))

    rerun = _start(checkout, *command)
    out, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err.decode()[-2000:]
    for fold, done in zip((0, 1), saved):
        record = json.loads((run_dir / "checkpoints" / f"fold_{fold}" / "metrics.json").read_text())
        # resumed, not restarted: from the epochs saved when it was stopped (or one more, when
        # an epoch was committed between reading state.json and the signal)
        assert done <= record["resumed_from_epoch"] <= done + 1, (record["resumed_from_epoch"], done)
        assert record["epochs_run"] == 12


SLEEPER = """import pathlib, time
pathlib.Path(run_dir, f"started_{seed}").parent.mkdir(parents=True, exist_ok=True)
pathlib.Path(run_dir, f"started_{seed}").write_text("")
time.sleep(600)
"""


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_stops_the_course_and_its_kernels(tmp_path, jobs):
    """Ctrl-C in a terminal: SIGINT to the whole process group, the command's workers and
    kernels included. Notebook 05 here is a stand-in that sleeps for ten minutes."""
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    parameters = nbformat.v4.new_code_cell('seed = 0\nfold = 0\nrun_dir = ""')
    parameters.metadata["tags"] = ["parameters"]
    nb.cells = [parameters, nbformat.v4.new_code_cell(SLEEPER)]
    nbformat.write(nb, notebooks / "05_training.ipynb")
    checkout = _checkout(tmp_path / "checkout", notebooks)
    command = ("course", "--only", "05_training", "--seeds", "1", "2", "3", "--jobs", jobs)
    started = checkout / "experiments" / "course"
    # a temp folder of the command's own (short: Unix socket paths are limited to ~100 bytes)
    temp = Path(tempfile.mkdtemp(prefix="av"))
    process = _start(checkout, *command, env={"TMPDIR": str(temp)},
                     start_new_session=True)  # its own group, as in a shell
    tree: list[psutil.Process] = []
    try:
        wanted = int(jobs)
        _wait_for(lambda: len(list(started.glob("started_*"))) >= wanted, process, 120,
                  f"{wanted} sleeping notebook(s)")
        tree = processes.descendants(process.pid)
        assert len(_kernels(tree)) == wanted
        err, survivors = _signal_and_collect(process, tree,
                                             lambda: os.killpg(process.pid, signal.SIGINT))
    finally:
        if process.poll() is None:
            process.kill()
        _kill_all(tree)
        try:
            os.killpg(process.pid, signal.SIGKILL)  # anything of its group started later
        except ProcessLookupError:
            pass
    assert not survivors, survivors
    assert process.returncode == 130, err[-2000:]
    assert "atomicvad course: interrupted (Ctrl-C)" in err and "resume with: atomicvad course" in err
    assert len(list(started.glob("started_*"))) == wanted  # no notebook started after Ctrl-C
    # the killed kernels' socket folders went with the command's folder
    left = [p.name for p in temp.iterdir() if p.name.startswith("atomicvad-kernel")]
    shutil.rmtree(temp, ignore_errors=True)
    assert not left, left


def test_a_signal_dropped_in_a_finalizer_still_stops_the_pool(tmp_path, monkeypatch):
    """A SIGTERM whose exception Python dropped (the handler ran inside a finalizer) was recorded
    by the handler: the pool's wait loop raises it within a second or so and stops the kernel,
    instead of waiting for the ten-minute notebook; the kernel's sockets go with it."""
    import threading

    from atomicvad_lib import course

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(f"seed, run_dir = 1, {str(tmp_path)!r}"),
                nbformat.v4.new_code_cell(SLEEPER)]
    nbformat.write(nb, tmp_path / "sleeper.ipynb")
    monkeypatch.setattr(processes, "_received", [])
    started = tmp_path / "started_1"

    def drop_a_sigterm():  # what remember_signal leaves behind when the raise is swallowed
        deadline = time.monotonic() + 120
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        processes._received.append(signal.SIGTERM)

    threading.Thread(target=drop_a_sigterm, daemon=True).start()
    task = {"notebook": str(tmp_path / "sleeper.ipynb"), "output": str(tmp_path / "out.ipynb")}
    with pytest.raises(processes.Interrupted) as raised:
        with course.stopping_on_interrupt():  # as the course and sweep commands run it
            sockets = Path(os.environ[course.KERNEL_SOCKETS_ENV])
            course._run_in_pool([task], jobs=1)
    assert raised.value.name == "SIGTERM" and started.exists()
    assert not sockets.exists()  # with the killed kernel's socket folder in it
    leftovers = [p for p in processes.descendants() if "ipykernel" in " ".join(p.cmdline())]
    assert not leftovers, [p.cmdline() for p in leftovers]
