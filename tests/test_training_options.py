"""The optimizer, schedule and label-smoothing options of Config: each computes what it says and
reaches the model that train_fold trains."""
from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import write_tiny_corpus

from atomicvad_lib import Config, ConfigError
from atomicvad_lib.metrics import make_focal_loss
from atomicvad_lib.training import LinearWarmup, Triangular, make_optimizer, make_schedule, \
    train_fold


@pytest.mark.parametrize("changes, key", [
    ({"optimizer": "adam"}, "optimizer"), ({"schedule": "cyclic"}, "schedule"),
    ({"schedule": "warmup_cosine"}, "warmup_fraction"), ({"momentum": 1.5}, "momentum"),
    ({"label_smoothing": 1.0}, "label_smoothing"), ({"cycle_fraction": 0.0}, "cycle_fraction"),
])
def test_bad_option_names_the_key(changes, key):
    with pytest.raises(ConfigError, match=f"'{key}'"):
        Config(**changes)


def _values(schedule, steps):
    return np.array([float(schedule(np.float32(s))) for s in steps])


def test_warmup_cosine_rises_linearly_then_decays_once_to_zero():
    config = Config(schedule="warmup_cosine", warmup_fraction=0.1, learning_rate=0.01)
    schedule = make_schedule(config, total_steps=100)
    assert isinstance(schedule, LinearWarmup) and schedule.warmup_steps == 10
    got = _values(schedule, range(101))
    np.testing.assert_allclose(got[:10], 0.01 * np.arange(1, 11) / 10, rtol=1e-6)
    after = np.arange(10, 101) - 10  # one half cosine over the 90 steps after the warm-up
    np.testing.assert_allclose(got[10:], 0.005 * (1 + np.cos(np.pi * after / 90)), atol=1e-7)
    assert got[55] == pytest.approx(0.005, rel=1e-5) and np.all(np.diff(got[10:]) <= 0)


def test_triangular_cycles_between_its_bounds_and_serialises():
    config = Config(schedule="triangular", learning_rate=0.02, cycle_fraction=0.2,
                    cycle_min_fraction=0.1)
    schedule = make_schedule(config, total_steps=200)  # one cycle every 40 steps
    assert isinstance(schedule, Triangular) and schedule.half_cycle == 20
    got = _values(schedule, range(200))
    expected = 0.002 + 0.018 * (1 - np.abs((np.arange(200) % 40) / 20 - 1))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert got[0] == pytest.approx(0.002) and got[20] == pytest.approx(0.02)
    np.testing.assert_allclose(got[:40], got[40:80], rtol=1e-6)  # periodic
    copy = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    np.testing.assert_allclose(_values(copy, range(200)), got, rtol=1e-6)


def _two_steps(optimizer, w0, x, y):
    """Weights after two optimizer steps of a linear model on squared error, and the gradients."""
    w = keras.Variable(w0.copy())
    grads = []
    for _ in range(2):
        g = 2 * x.T @ (x @ w.numpy() - y) / len(x)  # d mean((xw - y)^2) / dw
        grads.append(g)
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(g), w)])
    return w.numpy(), grads


def test_sgd_applies_momentum_and_differs_from_adamw():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 3)).astype("float32"), rng.normal(size=(8, 1)).astype("float32")
    w0 = rng.normal(size=(3, 1)).astype("float32")
    constant = dict(schedule="triangular", cycle_min_fraction=1.0, learning_rate=0.1,
                    weight_decay=0.0)  # a triangle from lr to lr: a constant rate
    sgd = make_optimizer(Config(optimizer="sgd", momentum=0.5, **constant), total_steps=10)
    assert isinstance(sgd, keras.optimizers.SGD) and sgd.momentum == 0.5
    got, (g1, g2) = _two_steps(sgd, w0, x, y)
    v1 = -0.1 * g1                     # velocity = momentum * velocity - lr * gradient
    v2 = 0.5 * v1 - 0.1 * g2
    np.testing.assert_allclose(got, w0 + v1 + v2, rtol=1e-5)
    adamw = make_optimizer(Config(**constant), total_steps=10)
    assert isinstance(adamw, keras.optimizers.AdamW)
    assert not np.allclose(_two_steps(adamw, w0, x, y)[0], got)


def test_label_smoothing_moves_the_targets_towards_one_half():
    onehot = np.array([[0, 1], [1, 0], [0, 1]], "float32")
    probs = np.array([[0.2, 0.8], [0.7, 0.3], [0.4, 0.6]], "float32")
    smoothed = float(make_focal_loss(Config(label_smoothing=0.2))(onehot, probs))
    by_hand = float(make_focal_loss(Config())(onehot * 0.8 + 0.1, probs))
    assert smoothed == pytest.approx(by_hand, rel=1e-6)
    assert smoothed != pytest.approx(float(make_focal_loss(Config())(onehot, probs)), rel=1e-3)


class _Capture(keras.callbacks.Callback):
    """What fit trains with: the optimizer, the loss and the rate at each epoch's end."""

    def on_train_begin(self, logs=None):
        self.optimizer, self.loss, self.rates = self.model.optimizer, self.model.loss, []

    def on_epoch_end(self, epoch, logs=None):
        self.rates.append((int(self.model.optimizer.iterations.numpy()),
                           float(self.model.optimizer.learning_rate.numpy())))


def test_train_fold_trains_with_the_configured_options(tmp_path):
    corpus = write_tiny_corpus(tmp_path / "tiny")
    config = Config(data_dir=str(corpus), epochs=2, batch_size=4, optimizer="sgd", momentum=0.8,
                    schedule="triangular", cycle_fraction=0.5, label_smoothing=0.1)
    capture = _Capture()
    result = train_fold(config, 5, 0, tmp_path / "run", progress=False, callbacks=[capture])
    assert isinstance(capture.optimizer, keras.optimizers.SGD)
    assert capture.optimizer.momentum == pytest.approx(0.8)
    assert capture.loss.get_config()["label_smoothing"] == pytest.approx(0.1)
    schedule = make_schedule(config, total_steps=2 * 3)  # 12 windows / batch 4 = 3 steps
    assert [step for step, _ in capture.rates] == [3, 6]
    np.testing.assert_allclose([rate for _, rate in capture.rates],
                               [float(schedule(np.float32(s))) for s, _ in capture.rates],
                               rtol=1e-6)
    np.testing.assert_allclose(result.history["learning_rate"], [r for _, r in capture.rates],
                               rtol=1e-6)


def test_feature_norm_holds_the_training_windows_mfcc_statistics(tmp_path):
    """feature_norm standardises each MFCC coefficient with the mean and variance of the training
    windows (before augmentation), kept in the saved model; computed here independently with the
    NumPy front-end (float64) over the same windows."""
    from atomicvad_lib.mfcc_numpy import FrontendSpec, mfcc
    from atomicvad_lib.pipeline import load_split
    from atomicvad_lib.runs import load_model

    corpus = write_tiny_corpus(tmp_path / "tiny")
    config = Config(data_dir=str(corpus), epochs=1, batch_size=4, feature_norm=True)
    result = train_fold(config, 5, 0, tmp_path / "run", progress=False)
    images = mfcc(load_split(corpus, "training", config, progress=False).waveforms,
                  FrontendSpec.from_config(config)).astype(np.float64)
    mean, variance = images.mean(axis=(0, 2, 3)), images.var(axis=(0, 2, 3))
    saved = load_model(result.paths.best_model).get_layer("feature_norm")
    # float32 TensorFlow front-end against float64 NumPy: MFCCs agree to ~1e-3 of their range
    np.testing.assert_allclose(np.ravel(saved.mean), mean, rtol=1e-3, atol=0.05)
    np.testing.assert_allclose(np.ravel(saved.variance), variance, rtol=1e-2, atol=0.05)
    assert mean.std() > 1.0  # the coefficients' means differ a lot: the check is not vacuous


def test_models_without_feature_norm_have_no_such_layer():
    from atomicvad_lib.model import adapt_feature_norm, build_model

    model = build_model(Config(), seed=0)
    assert "feature_norm" not in [layer.name for layer in model.layers]
    before = [w.copy() for w in model.get_weights()]
    adapt_feature_norm(model, np.ones((2, 64, 64, 1), np.float32))  # leaves it alone
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
