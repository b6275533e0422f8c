"""What a model costs and sees: parameter table, multiply-accumulates (MACs) per window,
depthwise versus standard convolution, receptive fields (notebook 04), and the GGCU parameters a
model holds (notebooks 03-06)."""
from __future__ import annotations

import math

import keras
import numpy as np
import pandas as pd

from .activations import GGCU
from .config import Config


def _shape(tensor) -> tuple:
    return tuple(tensor.shape[1:])


def layer_table(model: keras.Model) -> pd.DataFrame:
    """One row per layer: type, output shape (without the batch axis), parameters and running total."""
    rows = []
    for layer in model.layers:
        rows.append({"layer": layer.name, "type": type(layer).__name__,
                     "output shape": _shape(layer.output), "parameters": layer.count_params()})
    table = pd.DataFrame(rows).set_index("layer")
    table["cumulative"] = table["parameters"].cumsum()
    return table


def layer_macs(layer: keras.layers.Layer) -> int:
    """Multiply-accumulates one window costs in ``layer`` (convolutions and dense layers only;
    normalisation, activations and pooling are counted as other operations, not MACs)."""
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        kh, kw = layer.kernel_size
        h, w, c_out = _shape(layer.output)
        return int(h * w * c_out * kh * kw)
    if isinstance(layer, keras.layers.Conv2D):
        kh, kw = layer.kernel_size
        h, w, c_out = _shape(layer.output)
        c_in = _shape(layer.input)[-1]
        return int(h * w * c_out * kh * kw * c_in // layer.groups)
    if isinstance(layer, keras.layers.Dense):
        return int(_shape(layer.input)[-1] * layer.units)
    return 0


def macs_table(model: keras.Model) -> pd.DataFrame:
    """MACs per window of every layer that has any, with their share of the total."""
    rows = [{"layer": layer.name, "type": type(layer).__name__, "MACs": layer_macs(layer)}
            for layer in model.layers]
    table = pd.DataFrame(rows).set_index("layer")
    table = table[table["MACs"] > 0].copy()
    table["share"] = table["MACs"] / table["MACs"].sum()
    return table


def count_macs(model: keras.Model) -> int:
    """Total multiply-accumulates of the network (after the MFCC front-end) for one window."""
    return int(sum(layer_macs(layer) for layer in model.layers))


def frontend_macs(config: Config | None = None) -> pd.DataFrame:
    """Estimated multiply-accumulates of the MFCC front-end for one window, step by step.

    Windowing: one multiply per sample of every frame; FFT: the textbook estimate of
    2*n_fft*log2(n_fft) real MACs per frame (radix-2, complex input); power: 2 per bin; the mel
    filterbank and the DCT as the dense matrix products Keras and TensorFlow compute.
    """
    config = config or Config()
    frames, bins = config.n_frames, config.n_fft // 2 + 1
    steps = {
        "window": frames * config.win_length,
        "FFT (estimate)": frames * 2 * config.n_fft * int(math.log2(config.n_fft)),
        "power spectrum": frames * bins * 2,
        "mel filterbank": frames * bins * config.n_mels,
        "DCT": frames * config.n_mels * config.n_mels,
    }
    table = pd.DataFrame({"MACs": steps}).rename_axis("step")
    table["share"] = table["MACs"] / table["MACs"].sum()
    return table


def conv_comparison(height: int, width: int, in_channels: int, out_channels: int, kernel: int,
                    depth_multiplier: int = 1) -> pd.DataFrame:
    """Weights and MACs of a standard k x k convolution against a depthwise k x k convolution
    followed by a 1 x 1 (pointwise) one, both 'same'-padded, stride 1, with biases."""
    mid = in_channels * depth_multiplier
    standard_params = kernel * kernel * in_channels * out_channels + out_channels
    standard_macs = height * width * kernel * kernel * in_channels * out_channels
    depthwise_params = kernel * kernel * mid + mid
    pointwise_params = mid * out_channels + out_channels
    depthwise_macs = height * width * kernel * kernel * mid
    pointwise_macs = height * width * mid * out_channels
    return pd.DataFrame(
        {"parameters": [standard_params, depthwise_params, pointwise_params,
                        depthwise_params + pointwise_params],
         "MACs": [standard_macs, depthwise_macs, pointwise_macs, depthwise_macs + pointwise_macs]},
        index=pd.Index(["standard conv", "depthwise", "pointwise 1x1", "depthwise separable"],
                       name="layer"))


def _inputs_of(layer) -> list:
    tensors = layer.input if isinstance(layer.input, (list, tuple)) else [layer.input]
    return [t._keras_history.operation.name for t in tensors]


def receptive_field(model: keras.Model, config: Config | None = None) -> pd.DataFrame:
    """Receptive field of each layer's units on the MFCC image (coefficients x frames), following
    the graph (an Add takes the wider of its inputs), with the span of audio it covers in time.

    For stride-1 convolutions r grows by (k-1)*j, for a pool of size p and stride s by (p-1)*j,
    and the jump j (input bins between neighbouring units) is multiplied by s.
    """
    config = config or Config()
    field: dict[str, np.ndarray] = {}
    jump: dict[str, np.ndarray] = {}
    rows = []
    started = False
    for layer in model.layers:
        if not started:
            started = layer.name == "mfcc" or isinstance(layer.output.shape, tuple) and len(
                layer.output.shape) == 4
            if not started:
                continue
            field[layer.name], jump[layer.name] = np.ones(2, int), np.ones(2, int)
        else:
            parents = [p for p in _inputs_of(layer) if p in field]
            if not parents:
                continue
            r = np.max([field[p] for p in parents], axis=0)
            j = np.max([jump[p] for p in parents], axis=0)
            if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
                r = r + (np.array(layer.kernel_size) - 1) * j
                j = j * np.array(layer.strides)
            elif isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)):
                r = r + (np.array(layer.pool_size) - 1) * j
                j = j * np.array(layer.strides)
            elif isinstance(layer, (keras.layers.Flatten, keras.layers.GlobalAveragePooling2D,
                                    keras.layers.GlobalMaxPooling2D)):
                r = np.array([config.n_mfcc, config.n_frames])  # every unit sees the whole image
            field[layer.name], jump[layer.name] = r, j
        r, j = field[layer.name], jump[layer.name]
        span = (r[1] - 1) * config.hop_length + config.win_length
        rows.append({"layer": layer.name, "coefficients": int(r[0]), "frames": int(r[1]),
                     "jump (frames)": int(j[1]),
                     "audio span (ms)": 1000.0 * min(span, config.window_samples)
                     / config.sample_rate})
    return pd.DataFrame(rows).set_index("layer")


def ggcu_parameters(model: keras.Model) -> pd.DataFrame:
    """One row per GGCU layer, in model order and named by block (``block1``, ``block2``, ...):
    the layer's name, its four scalars ``w1``, ``w2``, ``b1``, ``b2``, the ``l1`` and ``l2``
    weights of their penalty, and the ``penalty`` they add to the loss now."""
    rows = []
    for index, layer in enumerate(l for l in model.layers if isinstance(l, GGCU)):
        rows.append({"block": f"block{index + 1}", "layer": layer.name,
                     **{name: float(np.asarray(getattr(layer, name))[0])
                        for name in ("w1", "w2", "b1", "b2")},
                     "l1": layer.l1, "l2": layer.l2,
                     "penalty": float(sum(np.asarray(loss) for loss in layer.losses))})
    columns = ["block", "layer", "w1", "w2", "b1", "b2", "l1", "l2", "penalty"]
    return pd.DataFrame(rows, columns=columns).set_index("block")
