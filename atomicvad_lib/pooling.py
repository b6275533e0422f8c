"""``FastMaxPooling2D``: Keras' MaxPooling2D with a backward pass that is fast on CPUs without
oneDNN.

Why it exists. Block 1 max-pools the 64x64x3 depthwise output in 5x5 tiles. On CPUs where
TensorFlow runs Eigen's kernels (AMD Zen, older Intel, ``TF_ENABLE_ONEDNN_OPTS=0``; see
:mod:`atomicvad_lib.conv`) the gradient op, ``MaxPoolGrad``, recomputes the forward pass and
walks every window element by element: about 24 of a training step's ~95 ms on one Sapphire
Rapids core at batch 256, against ~8 ms for oneDNN's kernel (``benchmarks/layer_timing.py``).

When the pool's stride equals its size the tiles do not overlap, and the pool is two reductions over
a reshaped tensor: the maximum over each tile's rows, then over its columns. TensorFlow
differentiates ``reduce_max`` with a handful of vectorised element-wise ops, about half the time of
Eigen's ``MaxPoolGrad`` here. Outputs are identical. Gradients are identical except where a tile
holds its maximum more than once: ``MaxPoolGrad`` gives the whole gradient to one of the tied
elements, ``reduce_max`` shares it equally among them. Both are gradients of the same function (a
valid subgradient of max); the weight gradients of a convolution before the pool agree whenever the
tied outputs come from identical inputs, such as the zeros SpecAugment and SpecCutout write.

Where oneDNN is on its kernel is faster than the reductions, and the layer keeps it. Models saved
with the stock class get this class on loading (:func:`atomicvad_lib.model.with_fast_kernels`); the
LiteRT export converts it back (:meth:`FastMaxPooling2D.as_stock`) so the exported graph keeps its
``MAX_POOL_2D``.
"""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from .conv import PACKAGE, native_kernel_is_fast


def _same_padding(size: int, pool: int) -> tuple[int, int]:
    """TensorFlow's SAME padding (before, after) of one axis for stride == pool."""
    total = max(-(-size // pool) * pool - size, 0)
    return total // 2, total - total // 2


@keras.saving.register_keras_serializable(package=PACKAGE)
class FastMaxPooling2D(keras.layers.MaxPooling2D):
    """``keras.layers.MaxPooling2D`` as two reductions over non-overlapping tiles where the native
    gradient kernel is slow (see the module docstring)."""

    #: None: the reductions where oneDNN is off; True / False force them on / off (benchmarks and
    #: tests; not saved)
    reshape: bool | None = None

    def _use_reshape(self, inputs) -> bool:
        wanted = not native_kernel_is_fast() if self.reshape is None else self.reshape
        return (wanted and self.data_format == "channels_last"
                and tuple(self.strides) == tuple(self.pool_size)
                and None not in inputs.shape[1:])

    def call(self, inputs):
        if not self._use_reshape(inputs):
            return super().call(inputs)
        (ph, pw), (height, width, channels) = self.pool_size, inputs.shape[1:]
        if self.padding == "same":
            top, bottom = _same_padding(height, ph)
            left, right = _same_padding(width, pw)
            inputs = ops.pad(inputs, [[0, 0], [top, bottom], [left, right], [0, 0]],
                             constant_values=-np.inf)
            height, width = height + top + bottom, width + left + right
        else:  # VALID drops the last partial tile
            height, width = height - height % ph, width - width % pw
            inputs = inputs[:, :height, :width]
        rows = ops.max(ops.reshape(inputs, (-1, height // ph, ph, width, channels)), axis=2)
        return ops.max(ops.reshape(rows, (-1, height // ph, width // pw, pw, channels)), axis=3)

    def as_stock(self) -> keras.layers.MaxPooling2D:
        """A stock ``keras.layers.MaxPooling2D`` with this layer's config."""
        return keras.layers.MaxPooling2D.from_config(self.get_config())
