"""GGCU, the activation AtomicVAD is built around, and the activations a course compares it with."""
from __future__ import annotations

import keras
from keras import ops

from .config import ACTIVATIONS

PACKAGE = "atomicvad"


@keras.saving.register_keras_serializable(package=PACKAGE)
class GGCU(keras.layers.Layer):
    """Generalised Growing Cosine Unit: ``(w1*x + b1) * cos(w2*x + b2)``.

    Four learnable scalars shared by every unit of the layer. With w1 = w2 = 1 and b1 = b2 = 0 it is
    the GCU, x*cos(x). The scalars carry a small L1/L2 penalty: w2 sets the oscillation frequency,
    and without a penalty it can grow until the unit turns into high-frequency noise.
    The weights are created in the order w1, w2, b1, b2, the order of the published checkpoints.
    """

    def __init__(self, l1: float = 1e-5, l2: float = 1e-4, init_stddev: float = 0.05,
                 seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.l1 = float(l1)
        self.l2 = float(l2)
        self.init_stddev = float(init_stddev)
        self.seed = seed

    def build(self, input_shape):
        reg = keras.regularizers.L1L2(l1=self.l1, l2=self.l2) if (self.l1 or self.l2) else None
        seed = None if self.seed is None else int(self.seed)

        def scalar(name: str, mean: float, offset: int):
            init = keras.initializers.RandomNormal(
                mean=mean, stddev=self.init_stddev, seed=None if seed is None else seed + offset)
            return self.add_weight(name=name, shape=(1,), initializer=init, regularizer=reg)

        self.w1 = scalar("w1", 1.0, 0)
        self.w2 = scalar("w2", 1.0, 1)
        self.b1 = scalar("b1", 0.0, 2)
        self.b2 = scalar("b2", 0.0, 3)

    def call(self, inputs):
        return (self.w1 * inputs + self.b1) * ops.cos(self.w2 * inputs + self.b2)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "l1": self.l1, "l2": self.l2,
                "init_stddev": self.init_stddev, "seed": self.seed}


@keras.saving.register_keras_serializable(package=PACKAGE)
class GCU(keras.layers.Layer):
    """Growing Cosine Unit, ``x * cos(x)`` (Noel et al., 2021): GGCU with its scalars fixed."""

    def call(self, inputs):
        return inputs * ops.cos(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape


_KERAS_NAMES = {"relu": "relu", "gelu": "gelu", "silu": "silu", "swish": "silu", "mish": "mish",
                "elu": "elu", "selu": "selu"}


def make_activation(name: str, *, l1: float = 1e-5, l2: float = 1e-4, seed: int | None = None,
                    layer_name: str | None = None) -> keras.layers.Layer:
    """The activation layer called ``name`` (one of ``config.ACTIVATIONS``)."""
    key = name.lower().replace("-", "_")
    if key not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}: choose one of {', '.join(ACTIVATIONS)}")
    if key == "ggcu":
        return GGCU(l1=l1, l2=l2, seed=seed, name=layer_name)
    if key == "gcu":
        return GCU(name=layer_name)
    if key == "leaky_relu":
        return keras.layers.LeakyReLU(negative_slope=0.3, name=layer_name)
    return keras.layers.Activation(_KERAS_NAMES[key], name=layer_name)
