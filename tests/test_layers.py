"""GGCU, the named activations, SpecAugment and SpecCutout."""
from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import atomicvad_lib as av


def _ggcu(w1, w2, b1, b2):
    layer = av.GGCU(l1=0.0, l2=0.0)
    layer.build((None, 1))
    layer.set_weights([np.array([v], np.float32) for v in (w1, w2, b1, b2)])
    return layer


def test_ggcu_forward_matches_formula():
    layer = _ggcu(0.7, 1.9, -0.3, 0.4)
    x = np.linspace(-6, 6, 101).astype(np.float32)
    expected = (0.7 * x - 0.3) * np.cos(1.9 * x + 0.4)
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_ggcu_gradients_match_finite_differences():
    params = np.array([0.7, 1.9, -0.3, 0.4], np.float64)  # w1, w2, b1, b2
    x = np.linspace(-3, 3, 13)

    def f(p, xs):
        w1, w2, b1, b2 = p
        return (w1 * xs + b1) * np.cos(w2 * xs + b2)

    layer = _ggcu(*params)
    xt = tf.constant(x, tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(xt)
        total = tf.reduce_sum(layer(xt))
    dx = tape.gradient(total, xt).numpy()
    dparams = [tape.gradient(total, w).numpy()[0] for w in (layer.w1, layer.w2, layer.b1, layer.b2)]

    h = 1e-6
    fd_x = (f(params, x + h) - f(params, x - h)) / (2 * h)
    np.testing.assert_allclose(dx, fd_x, rtol=1e-4, atol=1e-4)
    for i, got in enumerate(dparams):
        step = np.zeros(4)
        step[i] = h
        fd = (f(params + step, x).sum() - f(params - step, x).sum()) / (2 * h)
        assert got == pytest.approx(fd, rel=1e-4, abs=1e-4)


def test_ggcu_initialisation_is_seeded_and_regularised():
    def weights(seed):
        layer = av.GGCU(seed=seed)
        layer.build((None, 4))
        return np.concatenate([w.numpy() for w in layer.weights])

    np.testing.assert_array_equal(weights(7), weights(7))
    assert not np.array_equal(weights(7), weights(8))
    layer = av.GGCU(l1=0.01, l2=0.1)
    layer(np.ones((1, 3), np.float32))
    expected = sum(0.01 * abs(v) + 0.1 * v * v for v in np.concatenate([w.numpy() for w in layer.weights]))
    assert float(sum(layer.losses)) == pytest.approx(expected, rel=1e-5)


def test_gcu_is_x_cos_x():
    x = np.linspace(-5, 5, 21).astype(np.float32)
    np.testing.assert_allclose(av.GCU()(x).numpy(), x * np.cos(x), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", av.ACTIVATIONS)
def test_every_named_activation_builds_a_model(name):
    model = av.build_model(av.Config(activation=name))
    expected = 298 if name == "ggcu" else 290  # two GGCU layers hold 4 scalars each
    assert model.count_params() == expected
    assert model(np.zeros((2, 10080), np.float32)).shape == (2, 2)


def test_unknown_activation_is_named():
    with pytest.raises(ValueError, match="'tanhh'.*ggcu"):
        av.make_activation("tanhh")


def _masked(layer, x, training=True):
    return layer(x, training=training).numpy() == 0.0


def test_spec_augment_is_identity_at_inference_and_masks_bands_in_training():
    x = np.random.default_rng(0).uniform(1, 2, (16, 64, 64, 1)).astype(np.float32)
    layer = av.SpecAugment(freq_mask_param=15, time_mask_param=25, n_freq_masks=2,
                           n_time_masks=2, seed=3)
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x)
    masked = _masked(layer, x)[..., 0]
    for example in masked:
        rows = np.where(example.all(axis=1))[0]  # fully masked coefficient rows
        cols = np.where(example.all(axis=0))[0]  # fully masked frames
        assert len(rows) <= 30 and len(cols) <= 50
        # every masked cell lies in a masked row or column: masks are bands, not speckles
        assert np.array_equal(example, example.all(axis=1)[:, None] | example.all(axis=0)[None, :])
    # examples differ from each other, and two calls differ
    assert len({m.tobytes() for m in masked}) > 8
    assert not np.array_equal(masked, _masked(layer, x)[..., 0])


def test_spec_augment_draws_repeat_for_a_seed():
    x = np.ones((8, 64, 64, 1), np.float32)
    first = [_masked(av.SpecAugment(seed=11), x) for _ in range(2)]
    np.testing.assert_array_equal(first[0], first[1])
    assert not np.array_equal(first[0], _masked(av.SpecAugment(seed=12), x))


def test_spec_cutout_masks_rectangles_of_the_configured_size():
    x = np.ones((32, 64, 64, 1), np.float32)
    layer = av.SpecCutout(n_masks=1, time_size=25, freq_size=15, seed=5)
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x)
    masked = _masked(layer, x)[..., 0]
    for example in masked:
        rows, cols = np.where(example)
        assert example.sum() == 15 * 25
        assert rows.max() - rows.min() + 1 == 15 and cols.max() - cols.min() + 1 == 25
    five = _masked(av.SpecCutout(seed=5), x)[..., 0].sum(axis=(1, 2))
    assert (five >= 375).all() and (five <= 5 * 375).all() and five.max() > 375


def test_augmentation_is_active_in_fit_only():
    model = av.build_model(av.Config(), seed=1)
    x = np.random.default_rng(1).normal(0, 0.1, (4, 10080)).astype(np.float32)
    np.testing.assert_array_equal(model(x, training=False).numpy(), model(x, training=False).numpy())
    sub = keras.Model(model.input, model.get_layer("spec_cutout").output)
    assert not np.array_equal(sub(x, training=True).numpy(), sub(x, training=False).numpy())
