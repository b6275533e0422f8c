"""GGCU derivatives three ways (sympy, finite differences, TF autodiff) and the XOR experiment."""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from atomicvad_lib import ggcu_math as gm

SETTINGS = [dict(w1=1.0, b1=0.0, w2=1.0, b2=0.0), dict(w1=1.3, b1=-0.2, w2=2.1, b2=0.4),
            dict(w1=-0.7, b1=0.5, w2=0.3, b2=-1.2)]
XS = np.linspace(-5, 5, 41)


def test_expression_is_gcu_at_unit_parameters():
    expr = gm.ggcu_expression().subs({gm.w1: 1, gm.b1: 0, gm.w2: 1, gm.b2: 0})
    assert sp.simplify(expr - gm.x * sp.cos(gm.x)) == 0
    np.testing.assert_allclose(gm.ggcu(XS), XS * np.cos(XS), atol=1e-12)


def test_derivatives_match_hand_derivation():
    d = gm.ggcu_derivatives()
    lin, arg = gm.w1 * gm.x + gm.b1, gm.w2 * gm.x + gm.b2
    by_hand = {"x": gm.w1 * sp.cos(arg) - gm.w2 * lin * sp.sin(arg), "w1": gm.x * sp.cos(arg),
               "b1": sp.cos(arg), "w2": -gm.x * lin * sp.sin(arg), "b2": -lin * sp.sin(arg)}
    for name, expr in by_hand.items():
        assert sp.simplify(d[name] - expr) == 0, name


@pytest.mark.parametrize("params", SETTINGS)
@pytest.mark.parametrize("wrt", gm.VARIABLES)
def test_sympy_matches_finite_differences(params, wrt):
    exact = gm.ggcu_gradient(XS, wrt, **params)
    np.testing.assert_allclose(exact, gm.finite_difference(XS, wrt, **params), atol=1e-6)


@pytest.mark.parametrize("params", SETTINGS)
def test_sympy_matches_tensorflow_autodiff(params):
    tf_grads = gm.autodiff_gradients(XS, **params)
    for wrt in gm.VARIABLES:
        np.testing.assert_allclose(gm.ggcu_gradient(XS, wrt, **params), tf_grads[wrt],
                                   atol=1e-9, err_msg=wrt)


def test_gradient_check_table_reports_small_errors():
    table = gm.gradient_check(XS, **SETTINGS[1])
    assert list(table.index) == list(gm.VARIABLES)
    assert (table["max |sympy - finite diff|"] < 1e-6).all()
    assert (table["max |sympy - TF autodiff|"] < 1e-9).all()


def test_bad_variable_name_is_rejected():
    with pytest.raises(ValueError, match="wrt must be one of"):
        gm.ggcu_gradient(XS, "w3")


@pytest.mark.parametrize("params", SETTINGS)
def test_zeros_are_zeros_and_complete(params):
    zeros = gm.ggcu_zeros(-6, 6, **params)
    np.testing.assert_allclose(gm.ggcu(zeros, **params), 0, atol=1e-9)
    # every sign change on a fine grid lies next to a reported zero
    grid = np.linspace(-6, 6, 200001)
    values = gm.ggcu(grid, **params)
    changes = grid[:-1][np.sign(values[:-1]) * np.sign(values[1:]) < 0]
    for c in changes:
        assert np.min(np.abs(zeros - c)) < 1e-3


def test_single_ggcu_neuron_learns_xor_and_relu_cannot():
    ggcu = gm.train_xor("ggcu", seed=0, steps=400)
    relu = gm.train_xor("relu", seed=0, steps=400)
    assert ggcu.accuracy == 1.0
    assert relu.accuracy <= 0.75
    assert ggcu.losses[-1] < ggcu.losses[0]
    # same seed, same result
    again = gm.train_xor("ggcu", seed=0, steps=400)
    np.testing.assert_allclose(again.losses, ggcu.losses, rtol=1e-6)
