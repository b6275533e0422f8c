"""FastDepthwiseConv2D: the stock DepthwiseConv2D's outputs, gradients, weights and files."""
from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from atomicvad_lib.conv import FastDepthwiseConv2D
from atomicvad_lib.model import build_model, with_fast_kernels, with_stock_kernels


def _pair(kernel, multiplier, padding, channels=1, seed=0):
    """A stock layer and a FastDepthwiseConv2D forced onto its matrix product, same weights."""
    stock = keras.layers.DepthwiseConv2D(kernel, depth_multiplier=multiplier, padding=padding)
    fast = FastDepthwiseConv2D(kernel, depth_multiplier=multiplier, padding=padding)
    fast.matmul = True
    for layer in (stock, fast):
        layer.build((None, 20, 17, channels))
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=w.shape).astype(np.float32) for w in stock.get_weights()]
    stock.set_weights(weights)
    fast.set_weights(weights)
    return stock, fast


def _outputs_and_gradients(layer, x, upstream):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
        loss = tf.reduce_sum(y * upstream)
    return [y.numpy()] + [g.numpy() for g in tape.gradient(loss, [x, *layer.trainable_variables])]


@pytest.mark.parametrize("kernel,multiplier,padding", [(7, 3, "same"), (4, 2, "same"),
                                                       ((3, 5), 1, "valid"), (7, 3, "valid")])
def test_matmul_path_matches_the_stock_layer(kernel, multiplier, padding):
    stock, fast = _pair(kernel, multiplier, padding)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 20, 17, 1)).astype(np.float32)
    upstream = rng.normal(size=stock(x).shape).astype(np.float32)
    for want, got in zip(_outputs_and_gradients(stock, x, upstream),
                         _outputs_and_gradients(fast, x, upstream)):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


def test_several_channels_use_the_stock_kernel():
    stock, fast = _pair(3, 1, "same", channels=2)
    x = np.random.default_rng(2).normal(size=(2, 20, 17, 2)).astype(np.float32)
    np.testing.assert_array_equal(fast(x).numpy(), stock(x).numpy())


def test_build_model_uses_it_with_the_stock_weights():
    model = build_model(seed=0)
    layer = model.get_layer("block1_depthwise")
    assert isinstance(layer, FastDepthwiseConv2D)
    assert [w.path for w in layer.weights] == ["block1_depthwise/kernel", "block1_depthwise/bias"]
    stock = layer.as_stock()
    assert type(stock) is keras.layers.DepthwiseConv2D
    for a, b in zip(stock.get_weights(), layer.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_files_saved_with_the_stock_layer_load_as_the_fast_one(tmp_path):
    inputs = keras.Input((20, 17, 1))
    outputs = keras.layers.DepthwiseConv2D(7, depth_multiplier=3, padding="same", name="dw")(inputs)
    model = keras.Model(inputs, outputs)
    model.get_layer("dw").set_weights(
        [np.random.default_rng(3).normal(size=w.shape).astype(np.float32)
         for w in model.get_layer("dw").get_weights()])
    model.save(tmp_path / "stock.keras")
    loaded = with_fast_kernels(keras.models.load_model(tmp_path / "stock.keras", compile=False))
    assert type(loaded.get_layer("dw")) is FastDepthwiseConv2D
    x = np.random.default_rng(4).normal(size=(2, 20, 17, 1)).astype(np.float32)
    loaded.get_layer("dw").matmul = True
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-4)
    loaded.save(tmp_path / "fast.keras")  # and the new class round-trips
    again = keras.models.load_model(tmp_path / "fast.keras", compile=False)
    assert type(again.get_layer("dw")) is FastDepthwiseConv2D
    np.testing.assert_allclose(again(x).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-4)


def test_with_stock_kernels_undoes_with_fast_kernels():
    model = build_model(seed=0)
    model.get_layer("block1_depthwise").matmul = True
    x = np.random.default_rng(5).normal(scale=0.1, size=(3, 10080)).astype(np.float32)
    fast = model(x).numpy()
    with_stock_kernels(model)
    assert not any(isinstance(layer, FastDepthwiseConv2D) for layer in model.layers)
    np.testing.assert_allclose(model(x).numpy(), fast, rtol=1e-5, atol=1e-6)
    with_fast_kernels(model)
    assert type(model.get_layer("block1_depthwise")) is FastDepthwiseConv2D


def test_library_loaders_give_the_fast_layer(tmp_path):
    from atomicvad_lib.runs import load_model

    model = build_model(seed=0)
    model.get_layer("block1_depthwise").__class__ = keras.layers.DepthwiseConv2D  # as main saved it
    model.save(tmp_path / "old.keras")
    loaded = load_model(tmp_path / "old.keras")
    assert type(loaded.get_layer("block1_depthwise")) is FastDepthwiseConv2D
