"""LiteRT (TFLite) export: float32 and full-integer int8; inference with the exported files.

The exported graphs start at the MFCC image (batch, 64, 64, 1) and end at the softmax, as on a
microcontroller, which computes the MFCCs itself (``atomicvad_lib.mfcc_numpy`` is the reference for
that). SpecAugment, SpecCutout and dropout are identities at inference and are dropped. The int8
graph is calibrated on a seeded sample of training windows; its input and output are int8.

TFLite has no int8 kernel for ``COS``: the converter runs the cosines of the two GGCU layers in
float32 between a DEQUANTIZE and a QUANTIZE (1,384 values per window; TFLite Micro runs float COS
too). :func:`float_ops` lists such float islands, and the export report names them.

Why the int8 graph is rewritten (:func:`int8_head`; the float32 file keeps :func:`inference_head`):
AtomicVAD normalises each pixel over only 3 (block 1) or 2 (block 2) channels, which blows the
small differences between those channels up to unit size. Converted as written, int8 loses them
(AUROC drops of up to 0.10 on the published checkpoints) in three places: (1) the variance and its
rsqrt each get one int8 scale for values spanning several decades, so most pixels' rsqrt rounds to
0 or 1 step; (2) one scale per tensor must cover the depthwise output of the loudness coefficient
c0 (hundreds), so the rows of the other coefficients keep few levels; (3) the three depthwise
channels share one scale. The rewrite, equal to the model in float (to float rounding):

- layer norm from pairwise channel differences and an L2 normalisation (:class:`_PairwiseNorm`),
  which TFLite computes in 32-bit integers with an output fixed to [-1, 1];
- each depthwise output channel as its own convolution, and each pooled row (in block 1 a band of
  MFCC coefficients) from its own slice of the input (:class:`_Int8ConvPoolNorm`), so every one
  gets its own int8 scale and c0 sets the scale of the first band only.

Every op has an int8 kernel (also in TFLite Micro): the graph stays full-integer except the cosines.
It has more ops (~270 instead of 47) but the same multiply-adds. (An earlier workaround, the plain
graph with the two layer normalisations kept in float32, is gone: the README keeps its numbers.)
"""
from __future__ import annotations

import argparse
import functools
import itertools
import json
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import ops
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
from threadpoolctl import ThreadpoolController
from tqdm.auto import tqdm

from .config import Config
from .conv import FastDepthwiseConv2D
from .features import MFCC, LogMel
from .files import check_output_dir
from .manifest import split_manifests
from .metrics import speech_auroc
from .mfcc_numpy import FrontendSpec, mfcc
from .model import check_waveforms
from .pipeline import load_split, load_windows
from .pooling import FastMaxPooling2D
from .runs import load_model
from .spec_augment import SpecAugment, SpecCutout

FLOAT_FILE = "atomicvad_float32.tflite"
INT8_FILE = "atomicvad_int8.tflite"
FRONTEND_FILE = "frontend.json"
REPORT_FILE = "export_report.json"
MAX_AUROC_DROP = 0.01  # the course's budget for quantisation


def _interpreter_class():
    """LiteRT's interpreter (``ai-edge-litert``), or TensorFlow's copy of it when that is absent.
    (Imported here: ai-edge-litert is an optional extra.)"""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover - depends on the environment
        Interpreter = tf.lite.Interpreter
    return Interpreter


# ---------------------------------------------------------------------------- models


def frontend_layer(model: keras.Model) -> MFCC:
    """The model's MFCC layer (raises when the model has none, or several)."""
    found = [layer for layer in model.layers if isinstance(layer, MFCC)]
    if len(found) != 1:
        raise ValueError(f"expected one MFCC layer in model {model.name!r}, found {len(found)}")
    if isinstance(found[0], LogMel):  # a subclass: the NumPy front-end would compute MFCCs
        raise ValueError(f"model {model.name!r} has a log-mel front-end (the ResNet baseline, "
                         f"architecture 'resnet'): the export covers AtomicVAD's MFCC models only")
    return found[0]


class _ExplicitLayerNorm(keras.layers.Layer):
    """Layer normalisation as mean, subtract, mean of squares, rsqrt: ops with int8 kernels.

    (Keras' fused form computes ``offset - mean * scale``, which converts to a float ``NEG``.)
    """

    def __init__(self, source: keras.layers.LayerNormalization, **kwargs):
        super().__init__(name=source.name, **kwargs)
        if source.rms_scaling:
            raise ValueError(f"layer {source.name}: RMS layer normalisation is not supported")
        self.axes = [source.axis] if isinstance(source.axis, int) else list(source.axis)
        self.epsilon = float(source.epsilon)
        self.gamma = None if source.gamma is None else np.asarray(source.gamma)
        self.beta = None if source.beta is None else np.asarray(source.beta)

    def _broadcast(self, values, rank):
        shape = [1] * rank
        for axis in self.axes:
            shape[axis % rank] = -1
        return np.reshape(values, shape).astype(np.float32)

    def call(self, inputs):
        rank = len(inputs.shape)
        mean = ops.mean(inputs, axis=self.axes, keepdims=True)
        centred = ops.subtract(inputs, mean)
        variance = ops.mean(ops.square(centred), axis=self.axes, keepdims=True)
        out = centred * ops.rsqrt(variance + self.epsilon)
        if self.gamma is not None:
            out = out * self._broadcast(self.gamma, rank)
        if self.beta is not None:
            out = out + self._broadcast(self.beta, rank)
        return out


def inference_head(model: keras.Model) -> keras.Model:
    """The model from the MFCC image to the softmax, as it runs at inference.

    Augmentation and dropout layers become identities and layer normalisation is written out
    (:class:`_ExplicitLayerNorm`), depthwise convolutions and max-pools are stock Keras copies
    (LiteRT's ``DEPTHWISE_CONV_2D`` and ``MAX_POOL_2D``); every other layer is shared with
    ``model`` (same weights).
    """
    return _clone_head(model, lambda layer: _ExplicitLayerNorm(layer))


def _clone_head(model: keras.Model, norm, fused: dict | None = None) -> keras.Model:
    """``model`` from the MFCC image on, augmentation and dropout as identities, each layer norm
    replaced by ``norm(layer)``, depthwise convolutions and max-pools as the stock Keras layers
    (copies); layers in ``fused`` are replaced by the layer they map to."""
    mfcc_layer = frontend_layer(model)
    head = keras.Model(mfcc_layer.output, model.output, name=f"{model.name}_head")
    fused = fused or {}

    def replace(layer):
        if id(layer) in fused:
            return fused[id(layer)]
        if isinstance(layer, (SpecAugment, SpecCutout, keras.layers.Dropout)):
            return keras.layers.Identity(name=layer.name)
        if isinstance(layer, keras.layers.LayerNormalization):
            return norm(layer)
        if isinstance(layer, (FastDepthwiseConv2D, FastMaxPooling2D)):  # LiteRT's native ops
            return layer.as_stock()
        return layer

    return keras.models.clone_model(head, clone_function=replace)


# ---------------------------------------------------------------------------- int8 graph


def _pairs(channels: int) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Channel pairs (i < j) and the (pairs, channels) matrix M with +1 at i and -1 at j."""
    pairs = list(itertools.combinations(range(channels), 2))
    matrix = np.zeros((len(pairs), channels), np.float32)
    for row, (i, j) in enumerate(pairs):
        matrix[row, i], matrix[row, j] = 1.0, -1.0
    return pairs, matrix


class _PairwiseNorm:
    """Layer normalisation over the channels from pairwise differences, with ops int8 does well.

    With p the C(C-1)/2 differences x_i - x_j (i < j) and M their (pairs, C) matrix, the
    deviations from the mean are d = M^T p / C and |d|^2 = |p|^2 / C, so
    ``LN(x) = d / sqrt(|d|^2/C + eps) = M^T p / sqrt(|p|^2 + C^2 eps)``. That is the first
    ``pairs`` entries of ``l2_normalize([p, C*sqrt(eps)])``, multiplied by M^T and gamma (one
    1x1 convolution) plus beta: the same function in float. TFLite runs each SUB on its own
    inputs' scales, L2_NORMALIZATION in 32-bit integers, and its output has the fixed range [-1, 1].
    """

    def __init__(self, norm: keras.layers.LayerNormalization, channels: int):
        if norm.rms_scaling or not norm.center or not norm.scale:
            raise ValueError(f"layer {norm.name}: only centred and scaled layer norm is supported")
        axes = [norm.axis] if isinstance(norm.axis, int) else list(norm.axis)
        if axes not in ([-1], [3]):
            raise ValueError(f"layer {norm.name}: only normalisation over the channels is supported")
        self.channels = channels
        self.pairs, matrix = _pairs(channels)
        self.offset = float(channels * np.sqrt(float(norm.epsilon)))
        gamma, beta = np.asarray(norm.gamma, np.float32), np.asarray(norm.beta, np.float32)
        self.kernel = (matrix * gamma[None, :])[None, None]  # 1x1 conv: pairs -> channels
        self.bias = beta

    def __call__(self, channels: list) -> tf.Tensor:
        """``channels``: C tensors (batch, h, w, 1), possibly of different int8 scales."""
        diffs = [channels[i] - channels[j] for i, j in self.pairs]
        p = tf.concat(diffs, axis=-1) if len(diffs) > 1 else diffs[0]
        v = tf.pad(p, [[0, 0], [0, 0], [0, 0], [0, 1]], constant_values=self.offset)
        # this exact pattern (x * rsqrt(sum(x^2)) over the last axis) converts to L2_NORMALIZATION
        n = v * tf.math.rsqrt(tf.reduce_sum(tf.square(v), axis=-1, keepdims=True))
        return tf.nn.conv2d(n[..., :len(self.pairs)], self.kernel, 1, "VALID") + self.bias


class _Int8LayerNorm(keras.layers.Layer):
    """A layer norm on its own (not after depthwise conv + pool), as :class:`_PairwiseNorm`."""

    def __init__(self, source: keras.layers.LayerNormalization, **kwargs):
        super().__init__(name=source.name, **kwargs)
        self.norm = _PairwiseNorm(source, int(source.gamma.shape[-1]))

    def call(self, inputs):
        return self.norm([inputs[..., c:c + 1] for c in range(self.norm.channels)])


class _Int8ConvPoolNorm(keras.layers.Layer):
    """Depthwise conv -> max-pool -> layer norm, computed so that int8 keeps what the norm needs.

    - each depthwise output channel is its own convolution, so it gets its own int8 scale;
    - each row of the pooled output (a band of MFCC coefficients in block 1) is computed from its
      own slice of the input, so the loudness coefficient c0 sets the scale of the first band only;
    - the norm is :class:`_PairwiseNorm`. In float the result equals the three layers.
    """

    def __init__(self, conv: keras.layers.DepthwiseConv2D, pool: keras.layers.MaxPooling2D,
                 norm: keras.layers.LayerNormalization, **kwargs):
        super().__init__(name=conv.name + "_pool_norm", **kwargs)
        linear = conv.activation in (None, keras.activations.linear)
        if (tuple(conv.strides) != (1, 1) or tuple(conv.dilation_rate) != (1, 1)
                or conv.padding != "same" or not conv.use_bias or not linear):
            raise ValueError(f"layer {conv.name}: only stride 1, 'same' padding, bias, no activation")
        if tuple(pool.strides) != tuple(pool.pool_size) or pool.padding != "same":
            raise ValueError(f"layer {pool.name}: only 'same' pooling with stride = pool size")
        self.kernel, self.conv_bias = [np.asarray(w, np.float32) for w in conv.get_weights()]
        self.pool = tuple(pool.pool_size)
        self.norm = _PairwiseNorm(norm, self.kernel.shape[2] * self.kernel.shape[3])

    def _band(self, x, first: int, stop: int):
        """Pooled rows [first, stop): their depthwise outputs, from the input rows they need."""
        kh, kw, cin, mult = self.kernel.shape
        height, pool = x.shape[1], self.pool[0]
        top, bottom = first * pool - kh // 2, min(stop * pool, height) + (kh - 1 - kh // 2)
        rows = x[:, max(top, 0):min(bottom, height)]
        rows = tf.pad(rows, [[0, 0], [max(0, -top), max(0, bottom - height)],
                             [kw // 2, kw - 1 - kw // 2], [0, 0]])
        out = []
        for c in range(cin * mult):  # Keras' depthwise order: input channel c // mult
            k = self.kernel[:, :, c // mult:c // mult + 1, c % mult:c % mult + 1]
            y = tf.nn.depthwise_conv2d(rows[..., c // mult:c // mult + 1], k, [1, 1, 1, 1], "VALID")
            out.append(tf.nn.max_pool2d(y + self.conv_bias[c], self.pool, self.pool, "SAME"))
        return self.norm(out)

    def call(self, inputs):
        pooled_rows = -(-inputs.shape[1] // self.pool[0])
        return tf.concat([self._band(inputs, r, r + 1) for r in range(pooled_rows)], axis=1)


def _conv_pool_norm_chains(head: keras.Model) -> list:
    """(depthwise conv, max-pool, layer norm) triples of ``head`` where each feeds only the next."""
    def producer(tensor):
        return tensor._keras_history[0]

    consumers: dict[int, int] = {}
    for layer in head.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        for tensor in keras.tree.flatten(layer.input):
            consumers[id(producer(tensor))] = consumers.get(id(producer(tensor)), 0) + 1
    chains = []
    for norm in head.layers:
        if not isinstance(norm, keras.layers.LayerNormalization):
            continue
        pool = producer(norm.input)
        conv = producer(pool.input) if isinstance(pool, keras.layers.MaxPooling2D) else None
        if (isinstance(conv, keras.layers.DepthwiseConv2D)
                and consumers.get(id(pool)) == consumers.get(id(conv)) == 1):
            chains.append((conv, pool, norm))
    return chains


def int8_head(model: keras.Model) -> keras.Model:
    """:func:`inference_head` rewritten for full-integer int8; in float it computes the same.

    Each depthwise conv -> max-pool -> layer norm becomes :class:`_Int8ConvPoolNorm`, any other
    layer norm :class:`_Int8LayerNorm`. The float32 export keeps :func:`inference_head`.
    """
    fused = {}
    for conv, pool, norm in _conv_pool_norm_chains(frontend_free_head(model)):
        fused[id(conv)] = _Int8ConvPoolNorm(conv, pool, norm)
        fused[id(pool)] = keras.layers.Identity(name=pool.name)
        fused[id(norm)] = keras.layers.Identity(name=norm.name)
    return _clone_head(model, lambda layer: _Int8LayerNorm(layer), fused)


def frontend_free_head(model: keras.Model) -> keras.Model:
    """``model`` from its MFCC output to its softmax (shares the layers; nothing replaced)."""
    mfcc_layer = frontend_layer(model)
    return keras.Model(mfcc_layer.output, model.output)


# ---------------------------------------------------------------------------- conversion


def _frozen_function(head: keras.Model, batch_size: int = 1):
    spec = tf.TensorSpec((batch_size, *head.input_shape[1:]), tf.float32, name="mfcc")
    function = tf.function(lambda x: head(x, training=False), input_signature=[spec])
    # Freezing turns variable reads into constants; otherwise the calibrator meets READ_VARIABLE.
    return convert_variables_to_constants_v2(function.get_concrete_function())


def convert_float(head: keras.Model) -> bytes:
    """float32 LiteRT flatbuffer of ``head`` (batch of one)."""
    return tf.lite.TFLiteConverter.from_concrete_functions([_frozen_function(head)]).convert()


def convert_int8(head: keras.Model, calibration: np.ndarray) -> bytes:
    """Full-integer int8 flatbuffer, int8 input and output, calibrated on MFCC images."""
    calibration = np.asarray(calibration, dtype=np.float32)
    if calibration.ndim != 4 or calibration.shape[1:] != tuple(head.input_shape[1:]):
        raise ValueError(f"calibration features must be shaped (n, {head.input_shape[1:]}), "
                         f"got {calibration.shape}")
    if len(calibration) < 10:
        raise ValueError(f"calibrating int8 needs at least 10 windows, got {len(calibration)}")

    converter = _int8_converter(head, calibration)
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()


def _int8_converter(head: keras.Model, calibration: np.ndarray):
    """A converter for full-integer int8, calibrated one window at a time on ``calibration``."""
    def representative():
        for row in calibration:
            yield [row[None]]

    converter = tf.lite.TFLiteConverter.from_concrete_functions([_frozen_function(head)])
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return converter


def representative_features(waveforms: np.ndarray, frontend: MFCC, count: int = 300,
                            seed: int = 0, batch_size: int = 256) -> np.ndarray:
    """MFCC images of ``count`` windows drawn (without replacement, seeded) from ``waveforms``."""
    waveforms = np.asarray(waveforms, dtype=np.float32)
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(waveforms), size=min(count, len(waveforms)), replace=False))
    return frontend.images(waveforms[pick], batch_size)


# ---------------------------------------------------------------------------- inference


@functools.lru_cache(maxsize=1)
def _blas_controller():
    """threadpoolctl's view of the loaded BLAS libraries, built once (it scans them: ~8 ms)."""
    return ThreadpoolController()


class LiteRTModel:
    """One exported ``.tflite`` file, ready to score MFCC images or waveforms.

    Quantised inputs are ``round(x / scale + zero_point)`` clipped to int8; quantised outputs are
    ``(q - zero_point) * scale``. The graph takes one window per invoke, as a device does.
    """

    def __init__(self, path_or_bytes, frontend: FrontendSpec | None = None, num_threads: int = 1):
        if isinstance(path_or_bytes, (bytes, bytearray)):
            self.path, content = None, bytes(path_or_bytes)
        else:
            self.path = Path(path_or_bytes)
            if not self.path.is_file():
                raise FileNotFoundError(f"no LiteRT model at {self.path}: run `atomicvad export`")
            content = self.path.read_bytes()
        self.size_bytes = len(content)
        self.interpreter = _interpreter_class()(model_content=content, num_threads=num_threads)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self.frontend = frontend or FrontendSpec()

    @property
    def is_quantized(self) -> bool:
        return self.input["dtype"] == np.int8

    def quantize_input(self, features: np.ndarray) -> np.ndarray:
        if not self.is_quantized:
            return np.asarray(features, dtype=np.float32)
        scale, zero_point = self.input["quantization"]
        q = np.round(np.asarray(features, dtype=np.float32) / scale + zero_point)
        return np.clip(q, -128, 127).astype(np.int8)

    def dequantize_output(self, raw: np.ndarray) -> np.ndarray:
        if self.output["dtype"] != np.int8:
            return np.asarray(raw, dtype=np.float32)
        scale, zero_point = self.output["quantization"]
        return (raw.astype(np.float32) - zero_point) * scale

    def invoke_raw(self, tensor: np.ndarray) -> np.ndarray:
        """Run one already-typed input tensor (1, 64, 64, 1); the raw output tensor."""
        self.interpreter.set_tensor(self.input["index"], tensor)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output["index"]).copy()

    def predict_features(self, features: np.ndarray) -> np.ndarray:
        """(n, 2) [background, speech] probabilities for (n, 64, 64, 1) MFCC images."""
        features = np.asarray(features, dtype=np.float32)
        if features.ndim == 3:
            features = features[None]
        expected = tuple(self.input["shape"][1:])
        if features.shape[1:] != expected:
            raise ValueError(f"MFCC images must be shaped (n, {expected}), got {features.shape}")
        quantized = self.quantize_input(features)
        out = [self.dequantize_output(self.invoke_raw(quantized[i:i + 1]))[0]
               for i in range(len(quantized))]
        return np.asarray(out, dtype=np.float32).reshape(len(quantized), -1)

    def predict_waveforms(self, waveforms: np.ndarray) -> np.ndarray:
        """(n, 2) probabilities for (n, samples) windows, MFCCs computed with NumPy."""
        samples = (self.input["shape"][2] - 1) * self.frontend.hop_length
        x = check_waveforms(waveforms, samples)
        # In slices (the float64 STFT of one window takes ~260 kB), and with a single-threaded
        # BLAS: for these small products a busy machine's spinning BLAS threads cost 500x.
        with _blas_controller().limit(limits=1, user_api="blas"):
            parts = [self.predict_features(mfcc(x[i:i + 32], self.frontend))
                     for i in range(0, len(x), 32)]
        return np.concatenate(parts) if parts else np.zeros((0, 2), np.float32)

    def __call__(self, waveforms: np.ndarray) -> np.ndarray:
        """Speech probability per window, the predictor interface of ``atomicvad_lib.streaming``."""
        return self.predict_waveforms(waveforms)[:, 1]


def float_ops(tflite: bytes | str | Path) -> list[str]:
    """Ops of an int8 graph that compute in float32 (inputs dequantised before them)."""
    content = tflite if isinstance(tflite, (bytes, bytearray)) else Path(tflite).read_bytes()
    interpreter = _interpreter_class()(model_content=bytes(content))
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    found = []
    for op in interpreter._get_ops_details():
        if op["op_name"] in ("DEQUANTIZE", "QUANTIZE"):
            continue
        dtypes = {tensors[i]["dtype"] for i in op["inputs"] if i >= 0}
        if np.float32 in dtypes:
            found.append(op["op_name"])
    return found


def op_names(tflite: bytes | str | Path) -> list[str]:
    """Every op of a LiteRT graph, in execution order."""
    content = tflite if isinstance(tflite, (bytes, bytearray)) else Path(tflite).read_bytes()
    interpreter = _interpreter_class()(model_content=bytes(content))
    return [op["op_name"] for op in interpreter._get_ops_details()]


# ---------------------------------------------------------------------------- export


@dataclass
class ExportResult:
    out_dir: Path
    float_path: Path
    int8_path: Path
    report: dict


def export_model(model: keras.Model, out_dir: str | Path, calibration_waveforms: np.ndarray,
                 test_waveforms: np.ndarray | None = None, test_labels: np.ndarray | None = None,
                 calibration_count: int = 300, seed: int = 0, source: str | None = None,
                 progress: bool = True) -> ExportResult:
    """Write float32 and int8 ``.tflite`` files, ``frontend.json`` and ``export_report.json``.

    ``calibration_waveforms``: training windows; ``calibration_count`` of them (seeded) calibrate
    the int8 ranges. With ``test_waveforms`` and ``test_labels`` (1 = speech) the report holds the
    AUROC of Keras, LiteRT float32 and LiteRT int8 on them.
    """
    out_dir = check_output_dir(out_dir)
    frontend = frontend_layer(model)
    spec = FrontendSpec.from_layer(frontend)
    head = inference_head(model)
    out_dir.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    calibration = representative_features(calibration_waveforms, frontend, calibration_count, seed)
    float_path, int8_path = out_dir / FLOAT_FILE, out_dir / INT8_FILE
    float_path.write_bytes(convert_float(head))
    int8_path.write_bytes(convert_int8(int8_head(model), calibration))
    int8 = LiteRTModel(int8_path, spec)
    report = {
        "source": source or model.name,
        "parameters": int(model.count_params()),
        "files": {"float32": {"file": FLOAT_FILE, "bytes": float_path.stat().st_size},
                  "int8": {"file": INT8_FILE, "bytes": int8_path.stat().st_size}},
        "calibration": {"windows": int(len(calibration)), "seed": int(seed),
                        "mfcc_min": float(calibration.min()), "mfcc_max": float(calibration.max())},
        "int8_input_quantization": {"scale": float(int8.input["quantization"][0]),
                                    "zero_point": int(int8.input["quantization"][1])},
        "int8_output_quantization": {"scale": float(int8.output["quantization"][0]),
                                     "zero_point": int(int8.output["quantization"][1])},
        "int8_float_ops": float_ops(int8_path),
        "int8_ops": len(op_names(int8_path)),
        "convert_seconds": round(time.perf_counter() - started, 2),
    }
    if test_waveforms is not None:
        report["test"] = compare_on(head, {"float32": float_path, "int8": int8_path}, frontend,
                                    spec, test_waveforms, test_labels, progress=progress)
    (out_dir / FRONTEND_FILE).write_text(json.dumps(
        {**spec.to_dict(), "input": "float32 mono waveform at sample_rate, one window",
         "output": "(n_mfcc, frames, 1) float32 MFCC image, the input of the .tflite graphs",
         "reference": "atomicvad_lib/mfcc_numpy.py"}, indent=2) + "\n")
    (out_dir / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")
    return ExportResult(out_dir, float_path, int8_path, report)


def compare_on(head, files: dict, frontend, spec, waveforms, labels, progress: bool = True) -> dict:
    """AUROC of the Keras head and of each LiteRT file on labelled windows, and their agreement."""
    labels = np.asarray(labels).astype(int)
    features = frontend.images(waveforms)
    keras_prob = np.asarray(head.predict(features, batch_size=256, verbose=0))[:, 1]
    out = {"windows": int(len(labels)), "speech": int(labels.sum()),
           "auroc_keras": _auroc(labels, keras_prob)}
    for name, path in files.items():
        runner = LiteRTModel(path, spec)
        prob = np.concatenate([runner.predict_features(features[i:i + 64])[:, 1]
                               for i in tqdm(range(0, len(features), 64), desc=f"LiteRT {name}",
                                             disable=not progress, leave=False)])
        out[f"auroc_{name}"] = _auroc(labels, prob)
        out[f"max_abs_diff_{name}_vs_keras"] = float(np.abs(prob - keras_prob).max())
        out[f"mean_abs_diff_{name}_vs_keras"] = float(np.abs(prob - keras_prob).mean())
        if name != "float32":
            out[f"{name}_auroc_drop"] = out["auroc_keras"] - out[f"auroc_{name}"]
    return out


def _auroc(labels, prob) -> float:
    auroc = speech_auroc(labels, prob)
    return float("nan") if auroc is None else auroc  # one class only


# ---------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="trained .keras file (or a published checkpoint)")
    parser.add_argument("--out", required=True, help="output folder, e.g. exports/<name>")
    parser.add_argument("--train-manifest", nargs="+", default=None,
                        help="manifest(s) to draw calibration windows from "
                             "(default: the training split of --data-dir)")
    parser.add_argument("--data-dir", default=None,
                        help="data folder for the default training manifests (default: config)")
    parser.add_argument("--test-data", default=None,
                        help="data folder whose testing manifests measure float/int8 AUROC")
    parser.add_argument("--calibration-windows", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_output_dir(args.out)  # before the model and the data are loaded
    config = Config()
    model = load_model(args.model)
    if args.train_manifest:
        calibration = load_windows([Path(p) for p in args.train_manifest], config).waveforms
    else:
        data_dir = Path(args.data_dir or config.data_dir)
        calibration = load_windows(list(split_manifests(data_dir, "training").values()),
                                   config).waveforms
    test_x = test_y = None
    if args.test_data:
        test = load_split(Path(args.test_data), "testing", config)
        test_x, test_y = test.waveforms, test.labels
    result = export_model(model, args.out, calibration, test_x, test_y,
                          calibration_count=args.calibration_windows, seed=args.seed,
                          source=str(args.model))
    print(format_report(result.report))
    print(f"files in {result.out_dir}")
    return 0


def format_report(report: dict) -> str:
    files = report["files"]
    lines = [f"model: {report['source']} ({report['parameters']} parameters)",
             f"float32: {files['float32']['bytes']:,} bytes   int8: {files['int8']['bytes']:,} bytes",
             f"int8 input scale {report['int8_input_quantization']['scale']:.4g}, "
             f"zero point {report['int8_input_quantization']['zero_point']}; "
             f"ops in float inside the int8 graph: {', '.join(report['int8_float_ops']) or 'none'}"]
    test = report.get("test")
    if test:
        lines.append(f"AUROC on {test['windows']} test windows: Keras {test['auroc_keras']:.4f}, "
                     f"float32 {test['auroc_float32']:.4f}, int8 {test['auroc_int8']:.4f} "
                     f"(drop {test['int8_auroc_drop']:+.4f})")
        if test["int8_auroc_drop"] > MAX_AUROC_DROP:
            lines.append(f"warning: AUROC drop above {MAX_AUROC_DROP} for int8: deploy float32, "
                         f"or calibrate on more windows")
    return "\n".join(lines)
