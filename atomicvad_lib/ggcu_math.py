"""GGCU on paper: its formula and derivatives in sympy, checks against finite differences and
TensorFlow's autodiff, its zeros, and the single-neuron XOR experiment of notebook 03.

GGCU(x) = (w1*x + b1) * cos(w2*x + b2); GCU is w1 = w2 = 1, b1 = b2 = 0.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import keras
import numpy as np
import pandas as pd
import sympy as sp
import tensorflow as tf

from .activations import GGCU, make_activation

x, w1, b1, w2, b2 = sp.symbols("x w1 b1 w2 b2", real=True)
VARIABLES = ("x", "w1", "b1", "w2", "b2")
PARAMETERS = ("w1", "b1", "w2", "b2")
GCU_PARAMETERS = {"w1": 1.0, "b1": 0.0, "w2": 1.0, "b2": 0.0}
_SYMBOLS = {"x": x, "w1": w1, "b1": b1, "w2": w2, "b2": b2}


def ggcu_expression() -> sp.Expr:
    """The symbolic GGCU."""
    return (w1 * x + b1) * sp.cos(w2 * x + b2)


def ggcu_derivatives() -> dict[str, sp.Expr]:
    """d GGCU / d v for v in x, w1, b1, w2, b2, simplified."""
    f = ggcu_expression()
    return {name: sp.simplify(sp.diff(f, _SYMBOLS[name])) for name in VARIABLES}


def _lambdify(expr: sp.Expr) -> Callable:
    fn = sp.lambdify((x, w1, b1, w2, b2), expr, modules="numpy")
    return lambda xs, p1, q1, p2, q2: np.broadcast_to(fn(xs, p1, q1, p2, q2), np.shape(xs))


_FUNCTION = _lambdify(ggcu_expression())
_GRADIENTS = {name: _lambdify(expr) for name, expr in ggcu_derivatives().items()}


def ggcu(xs, w1=1.0, b1=0.0, w2=1.0, b2=0.0) -> np.ndarray:
    """GGCU evaluated with numpy (float64)."""
    return np.asarray(_FUNCTION(np.asarray(xs, dtype=float), w1, b1, w2, b2), dtype=float)


def ggcu_gradient(xs, wrt: str = "x", w1=1.0, b1=0.0, w2=1.0, b2=0.0) -> np.ndarray:
    """d GGCU / d ``wrt`` at each x, from the sympy derivative."""
    if wrt not in _GRADIENTS:
        raise ValueError(f"wrt must be one of {', '.join(VARIABLES)}, not {wrt!r}")
    return np.asarray(_GRADIENTS[wrt](np.asarray(xs, dtype=float), w1, b1, w2, b2), dtype=float)


def finite_difference(xs, wrt: str = "x", w1=1.0, b1=0.0, w2=1.0, b2=0.0,
                      step: float = 1e-6) -> np.ndarray:
    """Central finite difference of GGCU with respect to ``wrt`` (float64)."""
    if wrt not in VARIABLES:
        raise ValueError(f"wrt must be one of {', '.join(VARIABLES)}, not {wrt!r}")
    values = {"x": np.asarray(xs, dtype=float), "w1": w1, "b1": b1, "w2": w2, "b2": b2}
    up, down = dict(values), dict(values)
    up[wrt] = values[wrt] + step
    down[wrt] = values[wrt] - step
    return (ggcu(up["x"], up["w1"], up["b1"], up["w2"], up["b2"]) -
            ggcu(down["x"], down["w1"], down["b1"], down["w2"], down["b2"])) / (2 * step)


def autodiff_gradients(xs, w1=1.0, b1=0.0, w2=1.0, b2=0.0) -> dict[str, np.ndarray]:
    """d GGCU(x_i) / d v for every x_i, by ``tf.GradientTape`` through ``atomicvad_lib.GGCU``."""
    layer = GGCU(l1=0.0, l2=0.0, dtype="float64")
    inputs = tf.Variable(np.asarray(xs, dtype=np.float64).ravel())
    layer.build(inputs.shape)
    for name, value in (("w1", w1), ("b1", b1), ("w2", w2), ("b2", b2)):
        getattr(layer, name).assign([value])
    weights = {name: getattr(layer, name).value for name in PARAMETERS}
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(list(weights.values()))
        outputs = layer(inputs)
    shape = np.shape(xs)
    # a while-loop Jacobian: pfor would retrace a tf.function per call and warn about it
    grads = {"x": tape.jacobian(outputs, inputs, experimental_use_pfor=False)}
    for name in PARAMETERS:
        grads[name] = tape.jacobian(outputs, getattr(layer, name).value,
                                    experimental_use_pfor=False)
    del tape
    result = {}
    for name, grad in grads.items():
        grad = np.asarray(grad)
        # x: y_i depends on x_i only, so the Jacobian is diagonal; a parameter's is (n, 1)
        result[name] = (np.diagonal(grad) if name == "x" else grad[:, 0]).reshape(shape)
    return result


def gradient_check(xs, w1=1.0, b1=0.0, w2=1.0, b2=0.0):
    """A table: per variable, the largest disagreement of sympy with finite differences and with
    TensorFlow's autodiff over ``xs``."""
    tf_grads = autodiff_gradients(xs, w1, b1, w2, b2)
    rows = []
    for name in VARIABLES:
        exact = ggcu_gradient(xs, name, w1, b1, w2, b2)
        rows.append({"variable": name, "sympy derivative": str(ggcu_derivatives()[name]),
                     "max |sympy - finite diff|": float(np.max(np.abs(
                         exact - finite_difference(xs, name, w1, b1, w2, b2)))),
                     "max |sympy - TF autodiff|": float(np.max(np.abs(exact - tf_grads[name])))})
    return pd.DataFrame(rows).set_index("variable")


def ggcu_zeros(low: float, high: float, w1=1.0, b1=0.0, w2=1.0, b2=0.0) -> np.ndarray:
    """Every zero of GGCU in [low, high]: x = -b1/w1 (the linear factor) and
    x = (pi/2 + k*pi - b2)/w2 (the cosine), sorted."""
    zeros = []
    if w1 != 0 and low <= -b1 / w1 <= high:
        zeros.append(-b1 / w1)
    if w2 != 0:
        ends = sorted(((w2 * low + b2 - np.pi / 2) / np.pi, (w2 * high + b2 - np.pi / 2) / np.pi))
        for k in range(int(np.ceil(ends[0])), int(np.floor(ends[1])) + 1):
            zeros.append((np.pi / 2 + k * np.pi - b2) / w2)
    return np.unique(np.round(np.asarray(zeros, dtype=float), 12))


# --- a single neuron learning XOR ----------------------------------------------------------------
XOR_POINTS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
XOR_LABELS = np.array([0, 1, 1, 0], dtype=np.float32)


@dataclass
class XORResult:
    activation: str
    accuracy: float
    losses: list[float] = field(repr=False)
    model: object = field(repr=False)
    neuron: dict[str, float] = field(default_factory=dict)

    def predict(self, points) -> np.ndarray:
        """Probability of class 1 for (n, 2) points."""
        return np.asarray(self.model(np.asarray(points, dtype=np.float32), training=False))[:, 0]


def single_neuron(activation: str = "ggcu", seed: int = 0):
    """z = w.x + b, a = act(z), p = sigmoid(v*a + c): one neuron and a monotone read-out, so the
    class boundary is a level set of act(w.x + b)."""
    inputs = keras.Input(shape=(2,), name="points")
    z = keras.layers.Dense(1, name="neuron",
                           kernel_initializer=keras.initializers.GlorotUniform(seed))(inputs)
    a = make_activation(activation, l1=0.0, l2=0.0, seed=seed, layer_name=activation)(z)
    out = keras.layers.Dense(1, activation="sigmoid", name="readout",
                             kernel_initializer=keras.initializers.GlorotUniform(seed + 1))(a)
    return keras.Model(inputs, out, name=f"single_{activation}_neuron")


def train_xor(activation: str = "ggcu", seed: int = 0, steps: int = 400,
              learning_rate: float = 0.05) -> XORResult:
    """Fit one neuron to the four XOR points (full batch, Adam) and report its accuracy.

    The loop is one compiled ``tf.function``: ``model.fit`` would spend far longer on per-epoch
    bookkeeping than on four points.
    """
    keras.utils.set_random_seed(seed)
    model = single_neuron(activation, seed)
    optimizer = keras.optimizers.Adam(learning_rate)
    loss_fn = keras.losses.BinaryCrossentropy()
    points, labels = tf.constant(XOR_POINTS), tf.constant(XOR_LABELS[:, None])
    optimizer.build(model.trainable_variables)

    @tf.function
    def fit():
        losses = tf.TensorArray(tf.float32, size=steps)
        for step in tf.range(steps):
            with tf.GradientTape() as tape:
                loss = loss_fn(labels, model(points, training=True))
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            losses = losses.write(step, loss)
        return losses.stack()

    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")  # one fresh tf.function per run: retracing here is expected
    try:
        losses = fit().numpy().tolist()
    finally:
        logger.setLevel(level)
    result = XORResult(activation, 0.0, losses, model)
    result.accuracy = float(np.mean((result.predict(XOR_POINTS) > 0.5) == XOR_LABELS))
    for layer in model.layers:
        for weight in layer.weights:
            values = np.asarray(weight).ravel()
            names = [weight.name] if values.size == 1 else [
                f"{weight.name}[{i}]" for i in range(values.size)]
            for name, value in zip(names, values):
                result.neuron[f"{layer.name}.{name}"] = float(value)
    return result
