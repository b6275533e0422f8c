"""FastMaxPooling2D: the stock MaxPooling2D's outputs and gradients, and its files."""
from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from atomicvad_lib import Config
from atomicvad_lib.model import build_model, feature_model, with_fast_kernels, with_stock_kernels
from atomicvad_lib.pooling import FastMaxPooling2D


def _forward_backward(layer, x, upstream):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
    return y.numpy(), tape.gradient(y, x, output_gradients=tf.constant(upstream)).numpy()


def _fast(pool, padding):
    layer = FastMaxPooling2D(pool, padding=padding)
    layer.reshape = True  # the reductions, whatever this CPU's kernels
    return layer


@pytest.mark.parametrize("shape,pool,padding", [
    ((64, 64, 3), 5, "same"), ((13, 13, 2), 7, "same"), ((20, 17, 3), (3, 4), "same"),
    ((13, 11, 2), 2, "valid"), ((64, 64, 4), 2, "valid")])
def test_reductions_match_the_stock_layer(shape, pool, padding):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, *shape)).astype(np.float32)  # continuous: no ties
    stock = keras.layers.MaxPooling2D(pool, padding=padding)
    upstream = rng.normal(size=stock(x).shape).astype(np.float32)
    want_y, want_dx = _forward_backward(stock, x, upstream)
    got_y, got_dx = _forward_backward(_fast(pool, padding), x, upstream)
    np.testing.assert_array_equal(got_y, want_y)
    np.testing.assert_array_equal(got_dx, want_dx)


def test_ties_share_the_gradient_the_stock_kernel_gives_to_one():
    x = np.zeros((1, 10, 10, 1), np.float32)  # a masked-out image: every tile ties everywhere
    x[0, 7, 8, 0] = 1.0  # one tile with a single maximum
    upstream = np.arange(1, 5, dtype=np.float32).reshape(1, 2, 2, 1)
    want_y, want_dx = _forward_backward(keras.layers.MaxPooling2D(5), x, upstream)
    got_y, got_dx = _forward_backward(_fast(5, "valid"), x, upstream)
    np.testing.assert_array_equal(got_y, want_y)
    tiles = lambda g: g.reshape(2, 5, 2, 5).sum(axis=(1, 3))  # noqa: E731
    np.testing.assert_allclose(tiles(got_dx), tiles(want_dx), rtol=1e-6)  # same total per tile
    np.testing.assert_allclose(got_dx[0, :5, :5, 0], np.full((5, 5), 1 / 25), rtol=1e-6)
    assert np.count_nonzero(want_dx[0, :5, :5, 0]) == 1
    assert got_dx[0, 7, 8, 0] == want_dx[0, 7, 8, 0] == 4.0


def test_model_gradients_match_the_stock_pools_in_training_mode():
    """The whole train step's gradients, augmentation masks and dropout on: ties from the masked
    zeros must not move the weight gradients."""
    config = Config()  # the paper's SpecAugment, SpecCutout and dropout, all drawing
    rng = np.random.default_rng(1)
    x = rng.normal(size=(16, config.n_mfcc, config.n_frames, 1)).astype(np.float32)
    y = tf.one_hot(rng.integers(0, 2, 16), 2)
    gradients = []
    for reshape in (False, True):
        keras.utils.set_random_seed(0)
        model = feature_model(build_model(config, seed=3))
        for layer in model._flatten_layers(include_self=False):
            if isinstance(layer, FastMaxPooling2D):
                layer.reshape = reshape
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(keras.losses.categorical_crossentropy(y, model(x, training=True)))
        gradients.append([g.numpy() for g in tape.gradient(loss, model.trainable_variables)])
    for want, got in zip(*gradients):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * np.abs(want).max())


def test_build_model_uses_it_and_export_gets_the_stock_layer():
    model = build_model(seed=0)
    pools = [layer for layer in model.layers if isinstance(layer, keras.layers.MaxPooling2D)]
    assert [p.name for p in pools] == ["block1_pool", "block2_pool", "skip_pool"]
    assert all(type(p) is FastMaxPooling2D for p in pools)
    stock = pools[0].as_stock()
    assert type(stock) is keras.layers.MaxPooling2D
    assert stock.get_config() == {**pools[0].get_config()}


def test_stock_files_load_as_the_fast_layer_and_back(tmp_path):
    from atomicvad_lib.runs import load_model

    model = build_model(seed=0)
    for layer in model.layers:  # the pools as models were saved before the class existed
        if isinstance(layer, FastMaxPooling2D):
            layer.__class__ = keras.layers.MaxPooling2D
    assert not any(isinstance(layer, FastMaxPooling2D) for layer in model.layers)
    model.save(tmp_path / "old.keras")
    loaded = load_model(tmp_path / "old.keras")
    assert type(loaded.get_layer("block1_pool")) is FastMaxPooling2D
    x = np.random.default_rng(2).normal(scale=0.1, size=(2, 10080)).astype(np.float32)
    loaded.get_layer("block1_pool").reshape = True
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), rtol=1e-6, atol=1e-7)
    loaded.save(tmp_path / "new.keras")  # the new class round-trips
    again = load_model(tmp_path / "new.keras")
    assert type(again.get_layer("skip_pool")) is FastMaxPooling2D
    assert type(with_fast_kernels(with_stock_kernels(again)).get_layer("skip_pool")) \
        is FastMaxPooling2D
