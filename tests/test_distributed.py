"""Sweeps and studies beyond one process: a real Dask LocalCluster (two worker processes) runs a
two-seed sweep of notebook 05 and a three-trial study, and a study lives in a real PostgreSQL
server started for the test (skipped, saying why, where one cannot be started)."""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import nbformat
import optuna
import pytest
from conftest import write_tiny_corpus
from optuna.trial import TrialState

from atomicvad_lib import Config, course, tuning


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_tiny_corpus(tmp_path_factory.mktemp("data") / "tiny")


@pytest.fixture(scope="module")
def cluster():
    """A LocalCluster of two single-threaded worker processes."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as local:
        yield local


def test_sweep_runs_each_seed_as_a_dask_task(cluster, corpus, tmp_path):
    """Two seeds on the cluster: one trains with a config file as atomicvad tune writes it, the
    other fails and is reported without stopping the first."""
    tuned = Config.for_recipe("course", optimizer="sgd", momentum=0.85, label_smoothing=0.05,
                              schedule="triangular", epochs=12, batch_size=64)
    config_file = tuned.save(tmp_path / "best_config.yaml")
    result = course.sweep("dask", [43185, -1], quick=True, data_dir=corpus, analysis=False,
                          progress=False, runs_root=tmp_path / "runs",
                          experiments_root=tmp_path / "experiments",
                          parameters={"config": str(config_file)},
                          scheduler=cluster.scheduler_address)
    good, bad = sorted(result.runs, key=lambda r: -r.parameters["seed"])
    assert good.ok, f"{good.error} (see {good.output})"
    nb = nbformat.read(good.output, as_version=4)
    assert not [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
                if o.output_type == "error"]
    assert not bad.ok and "seed must be a non-negative integer" in bad.error
    assert result.failures == [bad] and bad.output.is_file()
    folder = tmp_path / "experiments" / "dask" / "checkpoints" / "fold_0"  # seed 43185's fold
    assert {"best.keras", "metrics.json"} <= {p.name for p in folder.iterdir()}
    trained = Config.load(folder / "config.yaml")  # the file's settings, quick's budget
    assert trained.to_dict() == {**tuned.to_dict(), "epochs": 2, "batch_size": 32,
                                 "data_dir": trained.data_dir}


def test_study_runs_its_trials_on_the_dask_workers(cluster, corpus, tmp_path):
    settings = tuning.settings_from("on-dask", out=tmp_path / "run", data_dir=str(corpus),
                                    epochs=1, progress=False)
    study = tuning.tune(settings, n_trials=3, scheduler=cluster.scheduler_address)
    trials = study.get_trials()
    assert sorted(t.number for t in trials) == [0, 1, 2]
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    workers = {t.user_attrs["worker"]["pid"] for t in trials}
    assert len(workers) == 2 and os.getpid() not in workers  # both workers, not this process
    assert (settings.run_dir / tuning.BEST_CONFIG).is_file()


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
        subprocess.run([*as_user, initdb, "-D", str(data), "-U", "postgres", "--auth=trust"],
                       check=True, capture_output=True, timeout=120)
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-l", str(folder / "server.log"),
                        "-w", "-t", "60", "-o",
                        f"-p {port} -k {folder} -c listen_addresses=127.0.0.1", "start"],
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
