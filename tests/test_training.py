"""train_fold on a tiny corpus: outputs, exact metrics, determinism, resume after SIGKILL, bad input.

One fold is trained once per module (``trained``) and reused; a few tests train again.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from conftest import REPO_ROOT, write_tiny_corpus
from sklearn.metrics import roc_auc_score

from atomicvad_lib import Config
from atomicvad_lib.checks import package_versions
from atomicvad_lib.pipeline import load_split
from atomicvad_lib.training import LinearWarmup, RunConflictError, TrainingError, \
    aligned_steps_per_execution, make_schedule, train_fold

SEED = 11
TINY = dict(epochs=3, batch_size=4, patience=5)
TIMING_COLUMNS = ["epoch_seconds"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_tiny_corpus(tmp_path_factory.mktemp("data") / "tiny")


@pytest.fixture(scope="module")
def config(corpus) -> Config:
    return Config(data_dir=str(corpus), **TINY)


@pytest.fixture(scope="module")
def trained(config, tmp_path_factory):
    return train_fold(config, SEED, 0, tmp_path_factory.mktemp("run") / "exp", progress=False)


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def _results(record: dict) -> dict:
    return {k: record[k] for k in ("test", "validation", "best_epoch", "epochs_run")}


def test_fold_writes_the_documented_layout(trained, config):
    paths = trained.paths
    for path in (paths.best_model, paths.training_log, paths.metrics, paths.config):
        assert path.is_file(), path
    assert not paths.backup_dir.exists()  # removed once metrics.json is written
    record = json.loads(paths.metrics.read_text())
    assert record["seed"] == SEED and record["fold"] == 0
    assert record["config"] == config.to_dict()
    assert Config.load(paths.config) == config
    assert record["environment"]["packages"] == package_versions()
    assert record["epochs_run"] == len(trained.history) == config.epochs
    assert set(record["timings"]) >= {"loading_data", "training", "testing"}
    assert record["n_windows"] == {"training": 12, "validation": 12, "testing": 12}
    assert list(trained.history["epoch"]) == [0, 1, 2]
    data = json.loads(paths.fold_record.read_text())["data"]  # what a resume compares
    assert sorted(data["manifests"]) == sorted(p.name for p in Path(config.data_dir).glob("*.json"))
    assert sorted(data["windows"]) == ["testing", "training", "validation"]


def test_validation_auroc_in_the_log_is_sklearns_and_picks_best_keras(trained, config):
    log = trained.history
    validation = load_split(config.data_dir, "validation", config, progress=False)
    speech = trained.model.predict(validation.waveforms, batch_size=5, verbose=0)[:, 1]
    best = int(np.argmax(log["val_auroc"].to_numpy()))
    assert roc_auc_score(validation.labels, speech) == pytest.approx(log["val_auroc"][best],
                                                                     abs=1e-6)
    assert trained.record["best_epoch"] == log["epoch"][best]
    assert trained.record["validation"]["auroc"] == pytest.approx(log["val_auroc"][best])
    assert {"loss", "accuracy", "auroc", "val_loss", "val_f1", "val_f2",
            "learning_rate"} <= set(log.columns)


def test_test_metrics_are_those_of_the_best_model(trained, config):
    testing = load_split(config.data_dir, "testing", config, progress=False)
    speech = trained.model.predict(testing.waveforms, batch_size=3, verbose=0)[:, 1]
    metrics = trained.test_metrics
    assert metrics["auroc"] == pytest.approx(roc_auc_score(testing.labels, speech), abs=1e-6)
    assert metrics["accuracy"] == pytest.approx(np.mean((speech >= 0.5) == testing.labels))
    assert {"loss", "f1", "f2", "tpr_at_fpr_0.315"} <= set(metrics)


def test_same_seed_gives_identical_metrics_and_another_seed_differs(trained, config, tmp_path):
    again = train_fold(config, SEED, 0, tmp_path / "again", progress=False)
    assert _results(again.record) == _results(trained.record)
    pd.testing.assert_frame_equal(again.history.drop(columns=TIMING_COLUMNS),
                                  trained.history.drop(columns=TIMING_COLUMNS))
    other = train_fold(config, SEED + 1, 0, tmp_path / "other", progress=False)
    assert other.record["test"]["loss"] != trained.record["test"]["loss"]
    assert not np.allclose(other.history["loss"], trained.history["loss"])


def test_finished_fold_is_returned_as_recorded(trained, config):
    before = _tree(trained.paths.run_dir)
    again = train_fold(config, SEED, 0, trained.paths.run_dir, progress=False)
    assert again.already_complete and again.record == trained.record
    assert _tree(trained.paths.run_dir) == before


def test_other_seed_or_config_in_the_folder_is_refused_untouched(trained, config):
    before = _tree(trained.paths.run_dir)
    with pytest.raises(RunConflictError, match="seed 11, not fold 0 with seed 99"):
        train_fold(config, 99, 0, trained.paths.run_dir, progress=False)
    with pytest.raises(RunConflictError, match=r"dropout: recorded 0.2, requested 0.3; epochs: recorded 3, requested 4"):
        train_fold(config.replace(epochs=4, dropout=0.3), SEED, 0, trained.paths.run_dir,
                   progress=False)
    assert _tree(trained.paths.run_dir) == before


def test_unknown_files_in_the_fold_folder_are_left_alone(config, tmp_path):
    fold_dir = tmp_path / "run" / "checkpoints" / "fold_0"
    fold_dir.mkdir(parents=True)
    (fold_dir / "best.keras").write_bytes(b"someone else's model")
    with pytest.raises(RunConflictError, match="unknown run"):
        train_fold(config, SEED, 0, tmp_path / "run", progress=False)
    assert (fold_dir / "best.keras").read_bytes() == b"someone else's model"


@pytest.mark.parametrize("emptied, message", [
    (("speech", "background"), "training split .* has no windows"),
    (("background",), "holds only speech windows"),
])
def test_empty_or_single_class_training_split_is_refused(corpus, tmp_path, emptied, message):
    data = tmp_path / "data"
    shutil.copytree(corpus, data)
    for label in emptied:
        (data / f"balanced_{label}_training_manifest.json").write_text("")
    with pytest.raises(TrainingError, match=message):
        train_fold(Config(data_dir=str(data), **TINY), SEED, 0, tmp_path / "run",
                   progress=False)
    assert not (tmp_path / "run").exists()


def test_warmup_schedule_ramps_then_follows_cosine_restarts_and_serialises():
    config = Config(warmup_fraction=0.1, first_decay_fraction=0.2)
    schedule = make_schedule(config, total_steps=100)
    assert isinstance(schedule, LinearWarmup) and schedule.warmup_steps == 10
    cosine = keras.optimizers.schedules.CosineDecayRestarts(1e-3, 20, t_mul=2.0, m_mul=1.0)
    steps = np.arange(100)
    got = np.array([float(schedule(s)) for s in steps])
    np.testing.assert_allclose(got[:10], 1e-3 * (steps[:10] + 1) / 10, rtol=1e-6)
    np.testing.assert_allclose(got[10:], [float(cosine(s - 10)) for s in steps[10:]], rtol=1e-5)
    copy = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    np.testing.assert_allclose([float(copy(s)) for s in steps], got, rtol=1e-6)
    plain = make_schedule(Config(), total_steps=1000)  # no warm-up: Keras' schedule itself
    assert isinstance(plain, keras.optimizers.schedules.CosineDecayRestarts)
    assert plain.first_decay_steps == 100


@pytest.mark.parametrize("total_steps", [576, 480, 100])
def test_restarts_timed_to_end_at_the_last_step_do_not_restart_before_it(total_steps):
    config = Config(learning_rate=1e-2, first_decay_fraction=1 / 7)  # periods 1 : 2 : 4
    schedule = make_schedule(config, total_steps)
    rates = np.array([float(schedule(s)) for s in range(total_steps)])
    # three periods 1 : 2 : 4 cover the run; the rate falls to the end instead of jumping back
    assert rates[-1] < 0.05 * config.learning_rate
    jumps = np.flatnonzero(np.diff(rates) > 0) + 1
    assert len(jumps) <= 2 and all(j < total_steps - 1 for j in jumps)


KILLABLE = """
import sys, time, keras, tensorflow as tf
from atomicvad_lib import Config
from atomicvad_lib.training import train_fold

class SlowEpochs(keras.callbacks.Callback):  # leaves time to kill the run between epochs
    def on_epoch_begin(self, epoch, logs=None):
        if epoch >= 1:
            time.sleep(2)

data_dir, out, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
if threads:  # the op threads of the test's process: float sums in the same order
    tf.config.threading.set_intra_op_parallelism_threads(threads)
train_fold(Config(data_dir=data_dir, epochs=3, batch_size=4, patience=5), 11, 0, out,
           progress=False, callbacks=(SlowEpochs(),))
"""


def test_sigkilled_run_resumes_and_matches_an_uninterrupted_one(trained, config, corpus,
                                                                  tmp_path):
    script = tmp_path / "killable.py"
    script.write_text(KILLABLE)
    out = tmp_path / "exp"
    # 0 (TensorFlow's default) unless a test before set them, as `atomicvad train` does
    threads = tf.config.threading.get_intra_op_parallelism_threads()
    command = [sys.executable, str(script), str(corpus), str(out), str(threads)]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    log = out / "checkpoints" / "fold_0" / "training_log.csv"
    state = out / "backups" / "fold_0" / "state.json"
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and process.poll() is None:
        if state.is_file() and log.is_file() and len(log.read_text().splitlines()) >= 2:
            break
        time.sleep(0.05)
    assert process.poll() is None, process.stderr.read().decode()[-2000:]
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    process.stderr.close()
    assert not (out / "checkpoints" / "fold_0" / "metrics.json").exists()

    # run again (here, in this process: only the files carry over from the killed one)
    resumed = train_fold(config, SEED, 0, out, progress=False)
    assert resumed.resumed_from_epoch >= 1
    record = json.loads((out / "checkpoints" / "fold_0" / "metrics.json").read_text())
    resumed_log = pd.read_csv(log)
    assert list(resumed_log["epoch"]) == [0, 1, 2]  # continued, nothing repeated
    assert record["resumed_from_epoch"] >= 1
    # weights, optimizer, random generators and data order all resumed: same as uninterrupted
    assert _results(record) == _results(trained.record)
    pd.testing.assert_frame_equal(resumed_log.drop(columns=TIMING_COLUMNS),
                                  trained.history.drop(columns=TIMING_COLUMNS))
    assert not state.exists()


def test_resume_state_comes_from_the_completed_epochs_of_the_log(tmp_path):
    from atomicvad_lib.runs import FoldPaths
    from atomicvad_lib.training import _recover_state

    paths = FoldPaths(tmp_path, 0)
    paths.fold_dir.mkdir(parents=True)
    rows = "".join(f"{e},{a}\r\n" for e, a in enumerate([0.5, 0.7, 0.6, 0.7, 0.66]))
    paths.training_log.write_bytes(b"epoch,val_auroc\r\n" + rows.encode())
    log, state = _recover_state(paths, first_epoch=4)  # epoch 4 did not commit: it runs again
    assert list(log["epoch"]) == [0, 1, 2, 3]
    assert paths.training_log.read_bytes() == b"epoch,val_auroc\r\n" + \
        "".join(f"{e},{a}\r\n" for e, a in enumerate([0.5, 0.7, 0.6, 0.7])).encode()
    # the first best is kept (BestModelCheckpoint saves on strict improvement), 2 epochs waited
    assert state == {"best": 0.7, "best_epoch": 1, "wait": 2}


def test_epoch_backup_restores_the_committed_epoch_despite_a_torn_write(tmp_path):
    from atomicvad_lib.training import EpochBackup

    x = np.random.default_rng(0).normal(size=(32, 3)).astype("float32")
    y = x @ np.array([[1.0], [2.0], [-1.0]], "float32")

    def model():
        m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        m.compile(keras.optimizers.Adam(0.1), "mse")
        return m

    first = model()
    first.fit(x, y, epochs=2, verbose=0, callbacks=[EpochBackup(tmp_path)])
    assert EpochBackup.read_state(tmp_path)["epoch"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch_2.weights.h5", "state.json"]
    (tmp_path / ".epoch_3.weights.h5").write_bytes(b"torn")  # killed while writing epoch 3
    second = model()
    second.fit(x, y, epochs=2, initial_epoch=2, verbose=0, callbacks=[EpochBackup(tmp_path)])
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert int(second.optimizer.iterations) == int(first.optimizer.iterations)


def test_train_command_refuses_a_folder_with_another_config(trained, corpus, capsys):
    from atomicvad_lib.cli import main

    before = _tree(trained.paths.run_dir)
    assert main(["train", "--seed", str(SEED), "--fold", "0", "--out", str(trained.paths.run_dir),
                 "--data", str(corpus), "--epochs", "3", "--batch-size", "4", "--recipe",
                 "course", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "learning_rate: recorded 0.001, requested 0.01" in err and "patience" in err
    assert _tree(trained.paths.run_dir) == before


@pytest.mark.parametrize("steps, wanted, expected", [(94, 8, 2), (24, 8, 8), (7, 8, 7), (5, 1, 1),
                                                     (1, 8, 1), (30, 8, 6)])
def test_steps_per_execution_divides_the_epoch(steps, wanted, expected):
    assert aligned_steps_per_execution(steps, wanted) == expected


class _PoisonWeights(keras.callbacks.Callback):
    """Makes the classifier's weights NaN when epoch ``epoch`` begins: a stand-in for a diverging
    run (the model's outputs are NaN from that epoch on)."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            layer = self.model.get_layer("classifier")
            layer.set_weights([np.full_like(w, np.nan) for w in layer.get_weights()])


def test_a_diverging_run_stops_and_keeps_its_best_epoch(corpus, tmp_path):
    config = Config(data_dir=str(corpus), **TINY)
    with pytest.warns(RuntimeWarning, match="epoch 2: the model's outputs became NaN"):
        result = train_fold(config, SEED, 0, tmp_path / "run", progress=False,
                            callbacks=(_PoisonWeights(1),))
    assert list(result.history["epoch"]) == [0, 1]  # stopped after the NaN epoch
    assert np.isnan(result.history["val_auroc"].iloc[1])
    assert result.record["best_epoch"] == 0 and result.record["stopped_early"]
    assert np.isfinite(result.test_metrics["auroc"])
    assert np.all(np.isfinite(result.model.get_layer("classifier").get_weights()[0]))
    with pytest.raises(TrainingError, match="diverged .* in its first epoch"):
        train_fold(config, SEED, 0, tmp_path / "first", progress=False,
                   callbacks=(_PoisonWeights(0),))
