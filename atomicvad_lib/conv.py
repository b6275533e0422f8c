"""``FastDepthwiseConv2D``: Keras' DepthwiseConv2D, fast on every x86 CPU when the input has one
channel.

Why it exists. AtomicVAD's first layer is a 7x7 depthwise convolution of the one-channel 64x64
MFCC image with depth multiplier 3. TensorFlow runs ``DepthwiseConv2dNative`` with one of two CPU
kernel sets: oneDNN's, on by default only on x86 CPUs with AVX512_VNNI, AVX512_BF16 or AMX (recent
Intel Xeons), or Eigen's on every other CPU (AMD Zen with AVX2, older Intel, or any machine with
``TF_ENABLE_ONEDNN_OPTS=0``). Eigen's depthwise kernel and its filter gradient vectorise over the
*channels* of a pixel; with one input channel and three outputs they run nearly scalar: this one
layer took ~3/4 of a training step on such CPUs (issue 11; ``benchmarks/layer_timing.py``).

With one input channel the layer is a plain convolution, and we write it as one matrix product,
which both kernel sets run at full vector speed: for each kernel row ``i`` the horizontal 1-D
convolution of an image row is a product with a banded (Toeplitz) matrix ``T_i`` built from the
kernel's row ``i``, so with ``R`` the padded image's ``K`` row-shifted copies side by side,
``(batch * H, K * (W + K - 1))``, the output is ``R @ [T_0; ...; T_{K-1}]`` (``K*(W+K-1)`` by
``W * multiplier``). The band wastes ~W/K of the multiply-adds, but a GEMM does them ~50x faster
than Eigen's depthwise kernel does the useful ones. Gradients follow through the product and the
(einsum) construction of T. Measured on one Sapphire Rapids core, batch 256, forward + kernel
gradient: Eigen's kernel ~600 ms, this ~70 ms; oneDNN's native kernel is faster still (~35 ms), so
where oneDNN is on the layer keeps it (:func:`native_kernel_is_fast`).

The layer is the stock one in every other respect: same constructor, weights (``kernel`` of shape
``(K, K, 1, multiplier)`` and ``bias``), config and, to float rounding, outputs and gradients;
inputs with several channels, strides, dilation, channels-first data or an unknown width use the
stock kernel. Models saved with the stock class get this class on loading
(:func:`atomicvad_lib.model.with_fast_kernels`), and the LiteRT export converts it back to the stock layer
(:meth:`FastDepthwiseConv2D.as_stock`) so the exported graphs keep their ``DEPTHWISE_CONV_2D``.
"""
from __future__ import annotations

import functools

import keras
import numpy as np
from keras import ops

PACKAGE = "atomicvad"


@functools.cache
def native_kernel_is_fast() -> bool:
    """Whether TensorFlow runs oneDNN's CPU kernels here, whose depthwise convolution is fast."""
    try:
        from tensorflow.python.util import _pywrap_util_port
        return bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):  # pragma: no cover - depends on the build
        return False


def _band(kernel_width: int, padded_width: int) -> np.ndarray:
    """(kw, padded_width, out_width) 0/1 tensor: S[j, w + j, w] = 1."""
    out_width = padded_width - kernel_width + 1
    band = np.zeros((kernel_width, padded_width, out_width), np.float32)
    for j in range(kernel_width):
        band[j, np.arange(out_width) + j, np.arange(out_width)] = 1.0
    return band


@keras.saving.register_keras_serializable(package=PACKAGE)
class FastDepthwiseConv2D(keras.layers.DepthwiseConv2D):
    """``keras.layers.DepthwiseConv2D`` computed as one matrix product for a one-channel input
    (see the module docstring for why and how)."""

    #: None: the matrix product where the native kernel is slow (no oneDNN); True / False force
    #: it on / off (benchmarks and tests; not saved)
    matmul: bool | None = None

    def _use_matmul(self, inputs) -> bool:
        wanted = not native_kernel_is_fast() if self.matmul is None else self.matmul
        return (wanted and self.data_format == "channels_last"
                and inputs.shape[-1] == 1 and inputs.shape[2] is not None
                and tuple(self.strides) == (1, 1) and tuple(self.dilation_rate) == (1, 1))

    def call(self, inputs):
        if not self._use_matmul(inputs):
            return super().call(inputs)
        kh, kw = self.kernel_size
        width, mult = int(inputs.shape[2]), self.depth_multiplier
        if self.padding == "same":  # TensorFlow's SAME for stride 1: the odd pixel after
            top, left = (kh - 1) // 2, (kw - 1) // 2
            inputs = ops.pad(inputs, [[0, 0], [top, kh - 1 - top], [left, kw - 1 - left], [0, 0]])
            width += kw - 1
        out_width = width - kw + 1
        height = ops.shape(inputs)[1] - kh + 1
        image = inputs[..., 0]
        # rows[b, h, i * width + w'] = padded[b, h + i, w']
        rows = ops.concatenate([image[:, i:i + height] for i in range(kh)], axis=-1)
        # toeplitz[i, w', w, m] = kernel[i, w' - w, 0, m] inside the band, else 0
        toeplitz = ops.einsum("ijm,jpw->ipwm", self.kernel[:, :, 0, :], _band(kw, width))
        outputs = ops.matmul(ops.reshape(rows, (-1, kh * width)),
                             ops.reshape(toeplitz, (kh * width, out_width * mult)))
        outputs = ops.reshape(outputs, (-1, height, out_width, mult))
        if self.use_bias:
            outputs = ops.add(outputs, self.bias)
        if self.activation is not None:
            return self.activation(outputs)
        return outputs

    def as_stock(self) -> keras.layers.DepthwiseConv2D:
        """A stock ``keras.layers.DepthwiseConv2D`` with this layer's config and a copy of its
        weights (for converters that should see the native depthwise op)."""
        stock = keras.layers.DepthwiseConv2D.from_config(self.get_config())
        stock.build((None, None, None, int(self.kernel.shape[2])))
        stock.set_weights(self.get_weights())
        return stock
