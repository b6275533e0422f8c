"""Sweeps and studies beyond one process: a study lives in a real PostgreSQL server started for the
test (skipped, saying why, where one cannot be started), and a real Dask LocalCluster (two worker
processes, conftest's ``dask_cluster``, shared by this module's tests) runs a two-seed sweep and a
two-trial study. The real notebook 05 with a config file is executed in test_notebooks.py."""
from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import nbformat
import optuna
import pytest
from conftest import write_stand_in_notebooks, write_tiny_corpus
from optuna.trial import TrialState

from atomicvad_lib import course, tuning


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_tiny_corpus(tmp_path_factory.mktemp("data") / "tiny")


def _postgres_binaries() -> tuple[str, str]:
    found = [shutil.which("initdb"), shutil.which("pg_ctl")]
    if None in found:
        folders = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        found = [os.path.join(folders[-1], name) for name in ("initdb", "pg_ctl")] if folders \
            else found
    if None in found or not all(os.path.isfile(f) for f in found):
        pytest.skip("PostgreSQL's initdb/pg_ctl are not installed (Debian: apt-get install "
                    "postgresql); the study-in-PostgreSQL test needs a server it can start")
    return found[0], found[1]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def postgres_url():
    """A PostgreSQL server in a temporary folder, on a free local port; its URL."""
    initdb, pg_ctl = _postgres_binaries()
    folder = Path(tempfile.mkdtemp(prefix="atomicvad-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: cannot start PostgreSQL as another user")
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to start PostgreSQL as")
        shutil.chown(folder, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", _free_port()
    try:
        # a throwaway server: no fsync (initdb's --no-sync, the server's fsync=off)
        subprocess.run([*as_user, initdb, "-D", str(data), "-U", "postgres", "--auth=trust",
                        "--no-sync"], check=True, capture_output=True, timeout=120)
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-l", str(folder / "server.log"),
                        "-w", "-t", "60", "-o",
                        f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off "
                        f"-c synchronous_commit=off -c full_page_writes=off", "start"],
                       check=True, capture_output=True, timeout=120)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as err:
        log = folder / "server.log"
        detail = getattr(err, "stderr", b"") or b""
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"PostgreSQL could not be started here ({err}: {detail.decode()[-300:]}"
                    f"{log.read_text()[-300:] if log.is_file() else ''})")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "-W", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


def test_study_in_postgresql(postgres_url, corpus, tmp_path):
    settings = tuning.settings_from("pg", out=tmp_path / "run", storage=postgres_url,
                                    data_dir=str(corpus), epochs=1, progress=False)
    tuning.tune(settings, n_trials=1)
    assert not (tmp_path / "run" / tuning.STUDY_FILE).exists()  # not in SQLite
    study = optuna.load_study(study_name="pg", storage=postgres_url)  # another connection
    assert [t.state for t in study.get_trials()] == [TrialState.COMPLETE]
    assert study.user_attrs["base_config"]["epochs"] == 1
    tuning.tune(settings, n_trials=1)  # a second machine would do the same: continue it
    trials = optuna.load_study(study_name="pg", storage=postgres_url).get_trials()
    assert [t.number for t in trials] == [0, 1] and trials[1].state == TrialState.COMPLETE


# the Dask tests last: the module's cluster starts with the first and is closed after the last
def test_sweep_runs_each_seed_as_a_dask_task(dask_cluster, tmp_path):
    """Two seeds on the cluster, each a notebook run by a worker: one writes its fold, the other
    fails and is reported without stopping the first."""
    cluster, worker_pids = dask_cluster
    notebooks = write_stand_in_notebooks(tmp_path / "notebooks")
    result = course.sweep("dask", [43185, -1], quick=True, data_dir=tmp_path, analysis=False,
                          progress=False, runs_root=tmp_path / "runs",
                          experiments_root=tmp_path / "experiments",
                          notebook=notebooks / "05_training.ipynb",
                          parameters={"data_dir": "from -p"},
                          scheduler=cluster.scheduler_address)
    good, bad = sorted(result.runs, key=lambda r: -r.parameters["seed"])
    assert good.ok, f"{good.error} (see {good.output})"
    assert not bad.ok and "seed must be non-negative, got -1" in bad.error
    assert result.failures == [bad] and bad.output.is_file()
    executed = nbformat.read(bad.output, as_version=4)
    assert any(o.get("output_type") == "error" for c in executed.cells if c.cell_type == "code"
               for o in c.outputs)
    seen = json.loads((tmp_path / "experiments" / "dask" / "fold_0" / "seen.json").read_text())
    # seed 43185 trains its paper fold, in a kernel that a Dask worker process started
    assert seen["seed"] == 43185 and seen["quick"] is True and seen["data_dir"] == "from -p"
    assert seen["kernel_parent_pid"] in worker_pids.values()
    assert seen["kernel_parent_pid"] != os.getpid()
    # two workers on this host share its cores: TensorFlow's threads are capped to a half
    assert seen["threads"] == str(max(1, (os.cpu_count() or 1) // 2)) and seen["headless"] == "1"
    assert seen["figures"] == str((tmp_path / "runs" / "dask" / "figures" / "seed43185").resolve())


def test_study_runs_its_trials_on_the_dask_workers(dask_cluster, corpus, tmp_path):
    cluster, worker_pids = dask_cluster
    settings = tuning.settings_from("on-dask", out=tmp_path / "run", data_dir=str(corpus),
                                    epochs=1, progress=False)
    study = tuning.tune(settings, n_trials=2, scheduler=cluster.scheduler_address)
    trials = study.get_trials()
    assert sorted(t.number for t in trials) == [0, 1]
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    # one task per worker: each worker process ran a trial, this process none
    assert {t.user_attrs["worker"]["pid"] for t in trials} == set(worker_pids.values())
    assert os.getpid() not in worker_pids.values()
    assert (settings.run_dir / tuning.BEST_CONFIG).is_file()
