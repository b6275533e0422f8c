"""``build_model``: AtomicVAD as a Keras functional model, and input checks for prediction."""
from __future__ import annotations

import keras
import numpy as np

from .activations import make_activation
from .config import Config
from .conv import FastDepthwiseConv2D
from .features import MFCC, frontend_layer
from .pooling import FastMaxPooling2D
from .spec_augment import SpecAugment, SpecCutout


def _norm(kind: str, name: str):
    if kind == "layer":
        return keras.layers.LayerNormalization(epsilon=1e-3, name=name)
    if kind == "batch":
        return keras.layers.BatchNormalization(name=name)
    return keras.layers.Identity(name=name)


def _core_block(x, config: Config, index: int, depth_multiplier: int, kernel: int, pool: int,
                filters: tuple[int, int], seed: int | None):
    """depthwise conv -> max-pool -> norm -> 1x1 conv -> activation -> dropout -> 1x1 conv."""
    p = f"block{index}_"
    # DepthwiseConv2D, fast on CPUs without oneDNN too (see atomicvad_lib/conv.py)
    x = FastDepthwiseConv2D(kernel, depth_multiplier=depth_multiplier, padding="same",
                            name=p + "depthwise")(x)
    x = FastMaxPooling2D(pool, padding="same", name=p + "pool")(x)  # see pooling.py
    x = _norm(config.normalization, p + "norm")(x)
    x = keras.layers.Conv2D(filters[0], 1, name=p + "expand")(x)
    x = make_activation(config.activation, l1=config.ggcu_l1, l2=config.ggcu_l2,
                        seed=None if seed is None else seed + 10 * index,
                        layer_name=p + config.activation)(x)
    x = keras.layers.Dropout(config.dropout, seed=seed, name=p + "dropout")(x)
    return keras.layers.Conv2D(filters[1], 1, name=p + "project")(x)


def build_model(config: Config | None = None, seed: int | None = None,
                name: str | None = None) -> keras.Model:
    """AtomicVAD: (batch, 10080) waveform -> (batch, 2) softmax over ``[background, speech]``;
    with ``config.architecture == "resnet"`` the ResNet baseline instead (``build_resnet``).

    ``seed`` seeds the augmentation layers, dropout and GGCU initialisation; weight initialisers
    follow ``keras.utils.set_random_seed``, which a training run calls first.
    """
    config = config or Config()
    if config.architecture == "resnet":
        return build_resnet(config, seed, name or "ResNetVAD")
    name = name or "AtomicVAD"
    inputs = keras.Input(shape=(config.window_samples,), name="waveform")
    x = MFCC.from_settings(config, name="mfcc")(inputs)
    if config.feature_norm:  # statistics set by adapt_feature_norm before training
        x = keras.layers.Normalization(axis=1, name="feature_norm")(x)
    x = SpecAugment(config.freq_mask_param, config.time_mask_param, config.freq_masks,
                    config.time_masks, seed=seed, name="spec_augment")(x)
    x = SpecCutout(config.cutout_masks, config.cutout_time, config.cutout_freq,
                   seed=None if seed is None else seed + 1, name="spec_cutout")(x)
    block1 = _core_block(x, config, 1, config.block1_depth_multiplier, config.block1_kernel,
                         config.block1_pool, config.block1_filters, seed)
    block2 = _core_block(block1, config, 2, config.block2_depth_multiplier, config.block2_kernel,
                         config.block2_pool, config.block2_filters, seed)
    skip = FastMaxPooling2D(config.block2_pool, padding="same", name="skip_pool")(block1)
    x = keras.layers.Add(name="skip_add")([skip, block2])
    x = keras.layers.Flatten(name="flatten")(x)
    outputs = keras.layers.Dense(config.n_classes, activation="softmax", name="classifier")(x)
    return keras.Model(inputs, outputs, name=name)


def adapt_feature_norm(model: keras.Model, features) -> None:
    """Set the ``feature_norm`` layer's per-coefficient mean and variance from ``features``
    (MFCC images, e.g. a tf.data.Dataset of them); a model without the layer is left alone."""
    try:
        layer = model.get_layer("feature_norm")
    except ValueError:
        return
    layer.adapt(features)


# Widths of the ResNet baseline's three stages (one residual block of two 3x3 convolutions per
# stage; the second and third halve the image). 77,234 trainable parameters and 12.6 million
# MACs per window: 259 times AtomicVAD's parameters and 21 times its MACs, the size of the small
# CNNs that VAD papers compare against.
RESNET_WIDTHS = (16, 32, 64)


def _residual_block(x, filters: int, stride: int, name: str):
    """Two 3x3 convolutions with batch norm and ReLU, and the identity (or a strided 1x1
    convolution, when the shape changes) added before the last ReLU (He et al., 2016)."""
    shortcut = x
    y = keras.layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False,
                            name=name + "conv1")(x)
    y = keras.layers.BatchNormalization(name=name + "bn1")(y)
    y = keras.layers.ReLU(name=name + "relu1")(y)
    y = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=name + "conv2")(y)
    y = keras.layers.BatchNormalization(name=name + "bn2")(y)
    if stride != 1 or x.shape[-1] != filters:
        shortcut = keras.layers.Conv2D(filters, 1, strides=stride, use_bias=False,
                                       name=name + "shortcut")(x)
        shortcut = keras.layers.BatchNormalization(name=name + "shortcut_bn")(shortcut)
    y = keras.layers.Add(name=name + "add")([shortcut, y])
    return keras.layers.ReLU(name=name + "relu2")(y)


def build_resnet(config: Config | None = None, seed: int | None = None,
                 name: str = "ResNetVAD") -> keras.Model:
    """The baseline of issue 14: a small ResNet-style CNN on log-mel features, (batch, 10080)
    waveform -> (batch, 2) softmax, trained by the same ``train_fold``.

    Log-mel front-end (``features.LogMel``, the config's front-end settings), the config's
    SpecAugment and SpecCutout, a 3x3 stem convolution with batch norm and ReLU, 2x2 max-pooling
    (64x64 -> 32x32), three stages of ``RESNET_WIDTHS`` channels (one residual block each, the
    last two with stride 2), global average pooling, ``config.dropout`` and a dense softmax. The
    AtomicVAD block settings (kernels, pools, filters, activation, normalisation) do not apply.
    """
    config = config or Config(architecture="resnet")
    inputs = keras.Input(shape=(config.window_samples,), name="waveform")
    x = frontend_layer(config, name="log_mel")(inputs)
    x = SpecAugment(config.freq_mask_param, config.time_mask_param, config.freq_masks,
                    config.time_masks, seed=seed, name="spec_augment")(x)
    x = SpecCutout(config.cutout_masks, config.cutout_time, config.cutout_freq,
                   seed=None if seed is None else seed + 1, name="spec_cutout")(x)
    x = keras.layers.Conv2D(RESNET_WIDTHS[0], 3, padding="same", use_bias=False,
                            name="stem_conv")(x)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    x = FastMaxPooling2D(2, name="stem_pool")(x)
    for index, filters in enumerate(RESNET_WIDTHS):
        x = _residual_block(x, filters, 1 if index == 0 else 2, f"stage{index + 1}_")
    x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
    x = keras.layers.Dropout(config.dropout, seed=seed, name="dropout")(x)
    outputs = keras.layers.Dense(config.n_classes, activation="softmax", name="classifier")(x)
    return keras.Model(inputs, outputs, name=name)


# stock Keras layer -> this library's formulation of it (same weights and config, only ``call``
# differs; see conv.py and pooling.py)
FAST_LAYERS = {keras.layers.DepthwiseConv2D: FastDepthwiseConv2D,
               keras.layers.MaxPooling2D: FastMaxPooling2D}


def with_fast_kernels(model: keras.Model) -> keras.Model:
    """``model`` with each stock DepthwiseConv2D and MaxPooling2D on this library's formulation
    (``FAST_LAYERS``), for files saved with the stock classes (older models of this library, the
    published checkpoints). Keras looks built-in classes up by module and name, not through
    ``custom_objects``, so loaded layers get the class afterwards. Changed in place."""
    for layer in model._flatten_layers(include_self=False, recursive=True):
        fast = FAST_LAYERS.get(type(layer))
        if fast is not None:
            layer.__class__ = fast
    return model


def with_stock_kernels(model: keras.Model) -> keras.Model:
    """The inverse of :func:`with_fast_kernels`: every depthwise convolution and max-pool on
    TensorFlow's native kernels, as before issue 11 (benchmarks compare the two). In place."""
    for layer in model._flatten_layers(include_self=False, recursive=True):
        for stock, fast in FAST_LAYERS.items():
            if isinstance(layer, fast):
                layer.__class__ = stock
    return model


def frontend_of(model: keras.Model) -> MFCC:
    """The model's front-end layer (``MFCC``, or ``LogMel`` for the ResNet baseline)."""
    for layer in model.layers:
        if isinstance(layer, MFCC):
            return layer
    raise ValueError(f"model {model.name} has no MFCC or LogMel front-end layer")


def feature_model(model: keras.Model) -> keras.Model:
    """The part of ``model`` after its front-end (the ``mfcc`` layer, or the ResNet baseline's
    ``log_mel``): feature images in, probabilities out.

    It is made of the same layers, so it shares their weights: training it trains ``model``.
    Training uses it with features computed by the tf.data pipeline (``make_dataset(...,
    features=True)``), where the front-end, which has no weights, runs in parallel with the
    train step; the saved model is still the waveform model.
    """
    return keras.Model(frontend_of(model).output, model.output, name=f"{model.name}_head")


def check_waveforms(waveforms, window_samples: int = Config().window_samples) -> np.ndarray:
    """Return ``waveforms`` as a float32 (batch, window_samples) array, or raise a clear error."""
    x = np.asarray(waveforms)
    if x.dtype.kind not in "fiu":
        raise ValueError(f"waveforms must be numeric, got dtype {x.dtype}")
    x = x.astype(np.float32, copy=False)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise ValueError(f"waveforms must be shaped (batch, {window_samples}) or ({window_samples},),"
                         f" got rank {x.ndim} shape {x.shape}")
    if x.shape[1] != window_samples:
        raise ValueError(f"each window must hold {window_samples} samples "
                         f"({window_samples / 16000:.2f} s at 16 kHz), got {x.shape[1]}: "
                         f"cut long audio into windows (see atomicvad evaluate / stream)")
    bad = ~np.isfinite(x)
    if bad.any():
        rows = np.unique(np.nonzero(bad)[0])
        raise ValueError(f"waveforms hold NaN or infinite samples in window(s) "
                         f"{rows[:10].tolist()}{' ...' if len(rows) > 10 else ''}")
    return x


def predict_speech(model: keras.Model, waveforms, batch_size: int = 256) -> np.ndarray:
    """Speech probability per window, after checking the input (no windows: an empty array)."""
    x = check_waveforms(waveforms, model.input_shape[-1])
    if x.shape[0] == 0:  # Keras' predict fails on an empty batch (UnboundLocalError)
        return np.zeros(0, np.float32)
    return model.predict(x, batch_size=batch_size, verbose=0)[:, 1]
