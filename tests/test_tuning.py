"""atomicvad tune on a tiny corpus: the objective is each trial's validation AUROC, reported per
epoch for Hyperband; studies continue, refuse other settings, survive killed and concurrent
workers, and hand their best config to `atomicvad train`. The Dask and PostgreSQL runs are in
test_distributed.py."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from conftest import REPO_ROOT, write_tiny_corpus
from optuna.trial import TrialState

from atomicvad_lib import Config, cli, processes, tuning
from atomicvad_lib.config import RECIPES

EPOCHS = 2
# with it, trials 0 and 1 of the tiny corpus study finish (validation AUROC 0.53 and 0.89 after
# epoch 1) and trial 2, added when the study is continued, is pruned after epoch 1
SAMPLER_SEED = 3


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_tiny_corpus(tmp_path_factory.mktemp("data") / "tiny")


def _settings(corpus, folder: Path, run="study", epochs=EPOCHS, **changes):
    return tuning.settings_from(run, out=folder, data_dir=str(corpus), epochs=epochs,
                                progress=False, **changes)


def _env():
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}


def _tune_command(corpus, folder, *extra):
    return [sys.executable, "-m", "atomicvad_lib.cli", "tune", "--run", "shared", "--out",
            str(folder), "--data", str(corpus), *extra]


def test_space_is_shown_and_the_base_recipe_is_trial_zero(capsys):
    assert cli.main(["tune", "--show-space"]) == 0
    shown = capsys.readouterr().out
    assert [line.split()[0] for line in shown.splitlines()[1:]] == [
        p.name for p in tuning.SEARCH_SPACE]
    assert "momentum             0.8 .. 0.98  [if optimizer in ['sgd']]" in shown
    assert all(p.name in Config.__dataclass_fields__ for p in tuning.SEARCH_SPACE)
    course = Config.for_recipe("course", batch_size=256)
    baseline = tuning.base_params(course)
    searched = {k: v for k, v in RECIPES["course"].items() if k in baseline}
    assert searched and searched == {k: baseline[k] for k in searched}
    assert "momentum" not in baseline and "freq_mask_param" not in baseline  # inactive
    assert tuning.base_params(Config(batch_size=512)) is None  # outside the space: no trial 0


def test_a_study_over_two_seeds_and_some_settings_scores_the_mean(corpus, tmp_path, capsys):
    settings = _settings(corpus, tmp_path / "run", epochs=1, more_seeds=(86648,),
                         search=("learning_rate", "focal_gamma"))
    study = tuning.tune(settings, n_trials=2)
    trials = study.get_trials()
    # trial 0 is the base recipe's two searched values; the other settings are never sampled
    assert trials[0].params == {"learning_rate": RECIPES["course"]["learning_rate"],
                                "focal_gamma": RECIPES["course"]["focal_gamma"]}
    assert all(set(t.params) == {"learning_rate", "focal_gamma"} for t in trials)
    for trial in trials:
        assert trial.state == TrialState.COMPLETE  # one epoch: Hyperband cannot prune
        folds = tmp_path / "run" / "trials" / f"trial_{trial.number}" / "checkpoints"
        records = [json.loads((folds / f"fold_{f}" / "metrics.json").read_text()) for f in (0, 1)]
        assert [r["seed"] for r in records] == [tuning.DEFAULT_SEED, 86648]
        aurocs = [r["validation"]["auroc"] for r in records]
        assert trial.user_attrs["validation_aurocs"] == pytest.approx(aurocs)
        assert trial.value == pytest.approx(sum(aurocs) / 2)
        config = Config.load(folds / "fold_1" / "config.yaml")
        assert config.learning_rate == trial.params["learning_rate"]
    with pytest.raises(tuning.TuningError, match=r"more_seeds: recorded \[86648\], requested \[\]"):
        tuning.tune(_settings(corpus, tmp_path / "run", epochs=1,
                              search=("learning_rate", "focal_gamma")), n_trials=1)
    with pytest.raises(tuning.TuningError, match="--search momentum_x: not in the search space"):
        _settings(corpus, tmp_path / "other", search=("momentum_x",))
    assert not (tmp_path / "other").exists()


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_study_reports_validation_auroc_prunes_continues_and_writes_the_best_config(
        corpus, tmp_path, capsys):
    settings = _settings(corpus, tmp_path / "run", sampler_seed=SAMPLER_SEED)
    study = tuning.tune(settings, n_trials=2)
    first = study.get_trials()
    assert [t.number for t in first] == [0, 1]
    assert first[0].user_attrs["baseline"] and first[0].params == tuning.base_params(settings.base)

    best = json.loads((settings.run_dir / tuning.BEST_TRIAL).read_text())
    assert best["number"] == study.best_trial.number and best["validation_auroc"] == study.best_value
    config_file = settings.run_dir / tuning.BEST_CONFIG
    assert Config.load(config_file) == settings.base.replace(**study.best_trial.params)
    assert (settings.run_dir / tuning.TRIALS_CSV).read_text().count("\n") == 3

    # atomicvad train accepts the best config as it is: pointed at the best trial's own folder,
    # it finds that fold finished with exactly these settings (any difference is refused, see
    # test_training) and returns it as recorded, changing nothing
    best_run = tuning.trial_dir(settings.run_dir, study.best_trial.number)
    before = _tree(best_run)
    assert cli.main(["train", "--config", str(config_file), "--out", str(best_run), "--seed",
                     str(settings.seed), "--data", str(corpus), "--no-progress"]) == 0
    assert "fold 0 (seed 43185) already finished; recorded" in capsys.readouterr().out
    assert _tree(best_run) == before

    # running again continues the study: one more trial (pruned), the earlier ones untouched
    again = tuning.tune(settings, n_trials=1)
    trials = again.get_trials()
    assert [(t.number, t.state, t.value, t.params) for t in trials[:2]] == [
        (t.number, t.state, t.value, t.params) for t in first]
    assert [t.number for t in trials] == [0, 1, 2]
    assert TrialState.PRUNED in {t.state for t in trials}, [t.state for t in trials]
    assert TrialState.COMPLETE in {t.state for t in trials}, [t.state for t in trials]
    for trial in trials:
        fold = Path(trial.user_attrs["fold_dir"])
        assert fold == tuning.trial_dir(settings.run_dir, trial.number) / "checkpoints" / "fold_0"
        record = json.loads((fold / "metrics.json").read_text())
        assert Config.load(fold / "config.yaml").to_dict() == {
            **settings.base.replace(**trial.params).to_dict(), "data_dir": str(corpus)}
        log = record["epochs_run"]
        # reported after each epoch: the best validation AUROC so far, from the training log
        steps = sorted(trial.intermediate_values)
        assert steps == list(range(1, log + 1))
        assert trial.intermediate_values[log] == pytest.approx(record["validation"]["auroc"])
        if trial.state == TrialState.COMPLETE:
            assert trial.value == pytest.approx(record["validation"]["auroc"])  # never test's
            assert log == EPOCHS
        else:
            assert trial.state == TrialState.PRUNED and log < EPOCHS and record["stopped_early"]
    assert (settings.run_dir / tuning.TRIALS_CSV).read_text().count("\n") == 4
    # ... and refuses to mix in trials of other settings
    with pytest.raises(tuning.TuningError, match="epochs: recorded 2, requested 3"):
        tuning.tune(_settings(corpus, tmp_path / "run", epochs=3, sampler_seed=SAMPLER_SEED),
                    n_trials=1)


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")  # ask/tell by hand, no optimize()
def test_same_seeds_propose_the_same_trials(tmp_path):
    """TPE's random state is fixed by (sampler seed, trial number): reruns propose the same
    settings, and a new sampler seed proposes others."""
    def proposals(folder, sampler_seed):
        settings = tuning.StudySettings("s", folder, tuning.default_storage(folder),
                                        Config.for_recipe("course", batch_size=256),
                                        sampler_seed=sampler_seed)
        folder.mkdir()
        study = tuning.open_study(settings)
        out = []
        for _ in range(4):
            trial = study.ask()
            out.append(tuning.suggest(trial, settings.base))
            study.tell(trial, 0.5 + 0.1 * len(out))
        return out

    first = proposals(tmp_path / "a", 0)
    assert first == proposals(tmp_path / "b", 0)
    assert first[1:] != proposals(tmp_path / "c", 1)[1:]  # trial 0 is the base recipe
    assert first[0] == tuning.base_params(Config.for_recipe("course", batch_size=256))


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_killed_trials_end_failed_not_running(corpus, tmp_path):
    """`atomicvad tune --jobs 2`: one worker is SIGKILLed (its trial is failed by the next
    start), then the command gets SIGTERM (the other worker's trial fails at once)."""
    folder = tmp_path / "run"
    process = subprocess.Popen(_tune_command(corpus, folder, "--epochs", "30", "--n-trials", "2",
                                             "--jobs", "2"),
                               env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    started = [folder / "trials" / f"trial_{n}" / "checkpoints" / "fold_0" / "fold.json"
               for n in (0, 1)]
    deadline = time.monotonic() + 180
    while process.poll() is None and time.monotonic() < deadline:
        if all(path.is_file() for path in started):  # both trials are training
            break
        time.sleep(0.1)
    assert process.poll() is None, process.stderr.read().decode()[-2000:]
    storage = tuning.default_storage(folder)
    study = optuna.load_study(study_name="shared", storage=storage)
    pids = {t.number: t.user_attrs["worker"]["pid"] for t in study.get_trials()}
    os.kill(pids[0], signal.SIGKILL)
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, err.decode()[-2000:]
    assert "atomicvad tune: interrupted (SIGTERM)" in err.decode()
    states = [t.state for t in study.get_trials()]
    assert states == [TrialState.RUNNING, TrialState.FAIL], (  # SIGKILL leaves trial 0 running
        [(t.number, t.state.name, t.user_attrs.get("epochs_run")) for t in study.get_trials()],
        err.decode()[-3000:])
    assert tuning.fail_dead_trials(study) == [0]
    assert study.get_trials()[0].state == TrialState.FAIL
    alive = study.ask()  # a running trial of a live process (this one) is left alone
    alive.set_user_attr("worker", tuning._process_identity())
    assert tuning.fail_dead_trials(study) == [] and study.get_trials()[2].state == TrialState.RUNNING


def test_two_processes_share_one_sqlite_study(corpus, tmp_path):
    """Two `atomicvad tune` started together (--jobs 2 is in the killed-trials test)."""
    folder = tmp_path / "run"
    commands = [_tune_command(corpus, folder, "--epochs", "1", "--n-trials", "1")] * 2
    processes = [subprocess.Popen(command, env=_env(), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE) for command in commands]
    outputs = [p.communicate(timeout=120) for p in processes]
    for process, (out, err) in zip(processes, outputs):
        assert process.returncode == 0, err.decode()[-3000:]
    study = optuna.load_study(study_name="shared", storage=tuning.default_storage(folder))
    trials = study.get_trials()
    assert sorted(t.number for t in trials) == [0, 1]  # no number twice, none lost
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    assert {t.user_attrs["worker"]["pid"] for t in trials} == {p.pid for p in processes}
    assert sum(t.user_attrs.get("baseline", False) for t in trials) == 1
    for out, _ in outputs:
        assert "study shared: " in out.decode()


def test_bad_storage_and_scheduler_are_clear_errors(tmp_path, capsys, monkeypatch):
    from atomicvad_lib import course

    monkeypatch.setattr(course, "DASK_CONNECT_TIMEOUT", "1s")  # the sweep's and tune's client
    code = cli.main(["tune", "--out", str(tmp_path / "x"), "--storage", "nosuchdb://x/y",
                     "--n-trials", "0"])
    assert code == 2 and "--storage nosuchdb://x/y cannot be opened" in capsys.readouterr().err
    code = cli.main(["tune", "--out", str(tmp_path / "x"), "--scheduler", "tcp://127.0.0.1:1",
                     "--n-trials", "1"])
    assert code == 2 and "no Dask scheduler answers there" in capsys.readouterr().err
    code = cli.main(["sweep", "--run", "x", "--seeds", "1", "--scheduler", "tcp://127.0.0.1:1"])
    err = capsys.readouterr().err
    assert code == 2 and "atomicvad sweep: --scheduler tcp://127.0.0.1:1: no Dask" in err


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_signal_dropped_in_a_finalizer_still_stops_the_trial(monkeypatch):
    """SIGTERM handled while Python runs a finalizer: the KeyboardInterrupt is printed and
    dropped there (the killed-trials test once saw a trial train on to COMPLETE that way), so the
    next batch raises it again."""
    monkeypatch.setattr(processes, "_received", [])
    watch = tuning._signal_watch()
    watch.on_train_batch_begin(0)  # no signal: nothing happens

    class Finalized:
        def __del__(self):
            processes._raise_interrupted(signal.SIGTERM, None)  # the handler tune installs

    Finalized()  # "Exception ignored in ...": the interrupt does not reach this test
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        watch.on_train_batch_begin(1)
