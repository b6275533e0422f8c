"""Where a training step's time goes: forward and backward time of every layer, batch 256.

Times each layer of the trained part of the model (``feature_model``: MFCC image in, softmax out,
augmentation and dropout in training mode) on its real input, alone in a ``tf.function``:
forward, and forward + backward (gradients of its weights, and of its input where earlier layers
have weights, as in a train step: the layers before block 1's first weights need no input
gradient). Then the whole model, forward and forward + backward. ``--variants stock fast`` times
the depthwise convolutions and max-pools on TensorFlow's native kernels (the stock Keras layers,
all there was before issue 11) and as the library's formulations (the matrix product of
:class:`atomicvad_lib.conv.FastDepthwiseConv2D`, the reductions of
:class:`atomicvad_lib.pooling.FastMaxPooling2D`) in the same run. The library uses its
formulations where oneDNN is off and the native kernels where it is on. Run it once with
``TF_ENABLE_ONEDNN_OPTS=0`` and once with ``=1`` to see both of TensorFlow's CPU kernel sets.

    .venv/bin/python benchmarks/layer_timing.py [--repeats 7] [--threads 1] [--variants stock fast]

Medians of ``--repeats`` calls in milliseconds. ``--threads`` defaults to what training uses on
this machine (``runinfo.set_training_threads``: half the cores).
"""
from __future__ import annotations

import argparse
import statistics
import time

import keras
import numpy as np
import tensorflow as tf

from atomicvad_lib import Config
from atomicvad_lib.conv import FastDepthwiseConv2D
from atomicvad_lib.model import build_model, feature_model
from atomicvad_lib.pooling import FastMaxPooling2D
from atomicvad_lib.runinfo import set_training_threads
from machine import describe  # the script folder is on sys.path
from pipeline_throughput import synthetic_windows


def median_ms(function, repeats: int) -> float:
    function()  # trace and warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def as_variant(model: keras.Model, variant: str) -> keras.Model:
    """``model`` (from build_model) with its depthwise convolutions and max-pools on TensorFlow's
    native kernels ("stock", as before issue 11) or on the library's formulations ("fast":
    FastDepthwiseConv2D's matrix product where it applies, block 1, and FastMaxPooling2D's
    reductions), whatever this CPU's kernel set."""
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, FastDepthwiseConv2D):
            layer.matmul = variant == "fast"
        elif isinstance(layer, FastMaxPooling2D):
            layer.reshape = variant == "fast"
    return model


def layer_table(model: keras.Model, waveforms: np.ndarray,
                repeats: int) -> list[tuple[str, float, float]]:
    """(layer, forward ms, forward + backward ms) per layer after the MFCCs, then the whole
    model after the MFCCs (``feature_model``)."""
    layers = [layer for layer in model.layers
              if not isinstance(layer, keras.layers.InputLayer) and layer.name != "mfcc"]
    inputs = keras.Model(model.input, [layer.input for layer in layers])(waveforms)
    head, features = feature_model(model), model.get_layer("mfcc")(waveforms)
    rows, weighted = [], set()  # names of layers whose output depends on weights
    for layer, x in zip(layers, inputs):
        sources = [layer.input] if not isinstance(layer.input, list) else layer.input
        grad_x = any(s._keras_history[0].name in weighted for s in sources)
        if layer.trainable_weights or grad_x:
            weighted.add(layer.name)
        x = [tf.constant(v) for v in x] if isinstance(x, list) else tf.constant(x)
        upstream = tf.random.stateless_normal(layer(x, training=True).shape, (0, 1))

        @tf.function
        def forward(x=x, layer=layer):
            return layer(x, training=True)

        @tf.function
        def backward(x=x, layer=layer, upstream=upstream, grad_x=grad_x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = layer(x, training=True)
                loss = tf.reduce_sum(y * upstream)
            targets = list(layer.trainable_variables) + ([x] if grad_x else [])
            return tape.gradient(loss, targets) if targets else y

        rows.append((layer.name, median_ms(lambda: forward(), repeats),
                     median_ms(lambda: backward(), repeats)))

    @tf.function
    def model_forward():
        return head(features, training=True)

    @tf.function
    def model_backward():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(head(features, training=True)[:, 1])
        return tape.gradient(loss, head.trainable_variables)

    rows.append(("whole model", median_ms(lambda: model_forward(), repeats),
                 median_ms(lambda: model_backward(), repeats)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=Config().batch_size)
    parser.add_argument("--threads", type=int, default=None,
                        help="TensorFlow op threads (default: as training, half the cores)")
    parser.add_argument("--variants", nargs="+", default=["stock", "fast"],
                        choices=["stock", "fast"])
    args = parser.parse_args()
    set_training_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    print(describe())
    config = Config(batch_size=args.batch_size)
    keras.utils.set_random_seed(0)
    model = build_model(config, seed=0)
    waveforms = synthetic_windows(args.batch_size, config).waveforms
    tables = {v: layer_table(as_variant(model, v), waveforms, args.repeats) for v in args.variants}
    print(f"\nbatch {args.batch_size}, median of {args.repeats} calls, ms "
          f"(fwd = forward, f+b = forward + backward)")
    names = [row[0] for row in tables[args.variants[0]]]
    header = f"{'layer':<18}" + "".join(f"{v + ' fwd':>12}{v + ' f+b':>12}" for v in args.variants)
    print(header)
    for i, name in enumerate(names):
        if name == "whole model":
            print("-" * len(header))
        print(f"{name:<18}" + "".join(f"{tables[v][i][1]:12.1f}{tables[v][i][2]:12.1f}"
                                     for v in args.variants))
    sums = {v: (sum(r[1] for r in tables[v][:-1]), sum(r[2] for r in tables[v][:-1]))
            for v in args.variants}
    print(f"{'sum of layers':<18}" + "".join(f"{sums[v][0]:12.1f}{sums[v][1]:12.1f}"
                                           for v in args.variants))


if __name__ == "__main__":
    main()
