"""The course runner and the sweep, on tiny stand-in notebooks (fast; the real notebooks are
executed in test_notebooks.py)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest
from conftest import write_notebook, write_stand_in_notebooks

from atomicvad_lib import cli, course


@pytest.fixture
def fake_notebooks(tmp_path, monkeypatch):
    folder = write_stand_in_notebooks(tmp_path / "notebooks")
    monkeypatch.setattr(course, "notebooks_dir", lambda: folder)
    return folder


def _roots(tmp_path):
    return dict(runs_root=tmp_path / "runs", experiments_root=tmp_path / "experiments")


def test_failed_seed_is_reported_and_others_continue(fake_notebooks, tmp_path):
    result = course.sweep("demo", [11, -5, 22], data_dir=tmp_path, progress=False,
                          **_roots(tmp_path))
    assert [r.parameters["seed"] for r in result.runs] == [11, -5, 22]
    assert [r.ok for r in result.runs] == [True, False, True]
    failed = result.failures[0]
    assert failed.output == tmp_path / "runs" / "demo" / "05_training_seed-5.ipynb"
    assert "ValueError" in failed.error and "seed must be non-negative" in failed.error
    executed = nbformat.read(failed.output, as_version=4)
    assert any(o.get("output_type") == "error" for c in executed.cells if c.cell_type == "code"
               for o in c.outputs)
    run_dir = tmp_path / "experiments" / "demo"
    seen = json.loads((run_dir / "fold_12" / "seen.json").read_text())
    assert seen["seed"] == 22 and seen["headless"] == "1" and seen["quick"] is False
    assert seen["data_dir"] == str(tmp_path.resolve())
    assert seen["figures"] == str((tmp_path / "runs" / "demo" / "figures" / "seed22").resolve())
    assert Path(seen["cwd"]) == fake_notebooks
    # the analysis ran over the folds that trained
    assert result.analysis.ok
    assert (run_dir / "analysed.txt").read_text() == "fold_10,fold_12"
    assert "see the executed copy" in failed.describe()


def test_parallel_jobs_run_every_seed(fake_notebooks, tmp_path):
    result = course.sweep("par", [3, 4], jobs=2, quick=True, analysis=False, progress=False,
                          **_roots(tmp_path))
    assert [r.ok for r in result.runs] == [True, True] and result.analysis is None
    seen = json.loads((tmp_path / "experiments" / "par" / "fold_11" / "seen.json").read_text())
    assert seen["seed"] == 4 and seen["quick"] is True and int(seen["threads"]) >= 1


def test_sweep_command_exits_nonzero_listing_failures(fake_notebooks, tmp_path, monkeypatch,
                                                      capsys):
    monkeypatch.setattr(course, "repo_root", lambda: tmp_path)
    code = cli.main(["sweep", "--run", "cmd", "--seeds", "1", "-2", "-p", "data_dir", "x"])
    assert code == 1
    err = capsys.readouterr().err
    assert "1 notebook run(s) failed" in err and "05_training_seed-2.ipynb" in err
    assert (tmp_path / "runs" / "cmd" / "05_training_seed1.ipynb").is_file()
    seen = json.loads((tmp_path / "experiments" / "cmd" / "fold_10" / "seen.json").read_text())
    assert seen["data_dir"] == "x"  # -p values reach the notebook


def test_a_failing_notebook_is_reported_and_the_others_still_run(fake_notebooks, tmp_path,
                                                                 capsys):
    write_notebook(fake_notebooks / "01_data_exploration.ipynb", "quick = False\ndata_dir = ''",
                   "assert data_dir")
    write_notebook(fake_notebooks / "02_augmentation.ipynb", "quick = False",
                   "raise RuntimeError('augmentation broke')")
    write_notebook(fake_notebooks / "03_ggcu_derivation.ipynb", "quick = False", "print('ran')")
    code = course.course("c", [1], notebooks=course.NOTEBOOKS[:3], data_dir=tmp_path,
                         **_roots(tmp_path))
    assert code == 1
    out = capsys.readouterr()
    assert "1 notebook run(s) failed" in out.err and "augmentation broke" in out.err
    assert str(tmp_path / "runs" / "c" / "02_augmentation.ipynb") in out.err
    for name in ("01_data_exploration", "03_ggcu_derivation"):
        assert f"ok      {name}" in out.out
        assert (tmp_path / "runs" / "c" / f"{name}.ipynb").is_file()


def test_course_runs_the_other_notebooks_in_the_seeds_workers(fake_notebooks, tmp_path, capsys):
    """With notebook 05 in the course, 01-04 and 07 run in the sweep's two workers after the
    seeds (their kernels get the workers' thread share), and 06 analyses the run at the end."""
    names = ["01_data_exploration", "03_ggcu_derivation", "07_deployment_and_streaming"]
    for name in names:
        write_notebook(fake_notebooks / f"{name}.ipynb", "quick = False",
                       "import os, pathlib\npathlib.Path('threads_" + name + "').write_text("
                       "os.environ.get('TF_NUM_INTRAOP_THREADS', ''))")
    code = course.course("p", [3, 4], jobs=2, data_dir=tmp_path,
                         notebooks=[*names, "05_training", "06_results_analysis"],
                         **_roots(tmp_path))
    assert code == 0
    printed = capsys.readouterr().out
    for name in names:
        assert f"ok      {name}" in printed
        threads = (fake_notebooks / f"threads_{name}").read_text()
        assert int(threads) == max(1, (os.cpu_count() or 1) // 2)
    assert "ok      05_training (seed 3)" in printed and "ok      06_results_analysis" in printed
    # 06 reports last, after every seed and notebook
    assert printed.index("06_results_analysis") > max(printed.index(n) for n in names)
    assert (tmp_path / "experiments" / "p" / "analysed.txt").read_text() == "fold_10,fold_11"


@pytest.mark.parametrize("onednn, epochs", [(True, 24), (False, course.EIGEN_EPOCHS)])
def test_course_trains_fewer_epochs_where_onednn_is_off(fake_notebooks, tmp_path, monkeypatch,
                                                        capsys, onednn, epochs):
    passed = []

    def sweep(run, seeds, parameters, **kwargs):
        passed.append(parameters)
        return course.SweepResult(runs=[])

    monkeypatch.setattr(course, "sweep", sweep)
    monkeypatch.setattr(course, "onednn_kernels", lambda: onednn)
    assert course.course("p", [3], notebooks=["05_training"], **_roots(tmp_path)) == 0
    assert passed[-1]["epochs"] == epochs == course.course_training()["epochs"]
    assert passed[-1]["batch_size"] == course.COURSE_TRAINING["batch_size"]
    printed = capsys.readouterr().out
    assert f"training: {epochs} epochs per seed" in printed
    assert ("oneDNN kernels are off" in printed) is (not onednn)
    # an explicit number of epochs, or quick mode, is passed as it is
    course.course("p", [3], notebooks=["05_training"], training={"epochs": 5}, **_roots(tmp_path))
    course.course("p", [3], notebooks=["05_training"], quick=True, **_roots(tmp_path))
    assert [p["epochs"] for p in passed[-2:]] == [5, course.COURSE_TRAINING["epochs"]]


def test_onednn_kernels_is_asked_of_tensorflow_in_a_child_process():
    from atomicvad_lib.conv import native_kernel_is_fast

    assert course.onednn_kernels() is native_kernel_is_fast()


def test_unknown_notebook_is_a_clear_error(fake_notebooks):
    with pytest.raises(FileNotFoundError, match="01_data_exploration"):
        course.notebook_path("99_nothing")


def test_kernel_chatter_goes_to_a_log_kept_only_on_failure(tmp_path, capfd):
    """The kernel process' own stderr (transport warning, C++ logging) never reaches the terminal;
    a failed run names the log that holds it, a successful one leaves none behind."""
    body = "import sys, os\nos.write(2, b'kernel-side noise\\n')\nif fail:\n    raise RuntimeError('boom')"
    notebook = write_notebook(tmp_path / "nb.ipynb", "fail = False", body)
    good = course.execute(notebook, tmp_path / "out" / "good.ipynb", {"fail": False})
    bad = course.execute(notebook, tmp_path / "out" / "bad.ipynb", {"fail": True})
    assert good.ok and not bad.ok
    printed = capfd.readouterr()
    assert "kernel-side noise" not in printed.out + printed.err
    assert "[IPKernelApp]" not in printed.out + printed.err
    log = tmp_path / "out" / "bad.kernel.log"
    assert not (tmp_path / "out" / "good.kernel.log").exists()
    assert "kernel-side noise" in log.read_text() and str(log) in bad.error


def test_course_runs_notebook_08_with_a_small_study_in_its_own_folder(fake_notebooks, tmp_path):
    """The course passes notebook 08 the small study's sizes (its own defaults stay the full-size
    study) and a study folder of its own, apart from the notebook's default folder."""
    params = ('run_dir = "experiments/notebook08"\ndata_dir = ""\nn_trials = 6\nepochs = 9\n'
              'per_manifest = 0\nquick = False\ninteractive = None')
    body = ("import json, pathlib\npathlib.Path(run_dir).mkdir(parents=True)\n"
            "(pathlib.Path(run_dir) / 'seen.json').write_text(json.dumps(dict(n_trials=n_trials, "
            "epochs=epochs, per_manifest=per_manifest, quick=quick, data_dir=data_dir)))")
    write_notebook(fake_notebooks / "08_hyperparameter_search.ipynb", params, body)
    code = course.course("c8", [1], notebooks=["08_hyperparameter_search"], data_dir=tmp_path,
                         **_roots(tmp_path))
    assert code == 0
    study = tmp_path / "experiments" / course.STUDY_08.format(run="c8")
    seen = json.loads((study / "seen.json").read_text())
    assert seen == {**course.COURSE_NOTEBOOK_PARAMETERS["08_hyperparameter_search"],
                    "quick": False, "data_dir": str(tmp_path.resolve())}
    assert seen["n_trials"] < 6 and seen["epochs"] < 9 and seen["per_manifest"] > 0
