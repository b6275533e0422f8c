# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 · Building AtomicVAD, layer by layer
#
# **What you will learn.** How 298 parameters turn 0.63 s of audio into a speech probability:
#
# 1. the layers of `atomicvad_lib.build_model`, their output shapes and parameter counts;
# 2. what one window looks like as it flows through the network;
# 3. why the convolutions are *depthwise* (parameters and multiply-accumulates compared with a
#    standard convolution);
# 4. the receptive field: how much of the MFCC image one unit sees;
# 5. the skip connection;
# 6. what one window costs in multiply-accumulates (MACs);
# 7. how the activation is swapped by name (`Config(activation=...)`);
# 8. a checkpoint published by the authors, loaded into the same architecture (when available).

# %% tags=["parameters"]
quick = False          # (kept for the course runner; this notebook is fast either way)
interactive = None     # None: widgets in JupyterLab, static figures elsewhere
seed = 43185           # seeds the random initial weights shown here
published_dir = "../shared/reference/atomicvad-published"  # relative to the repository root

# %%
import numpy as np
import matplotlib.pyplot as plt
import pandas as pd
import keras
from IPython.display import display

import atomicvad_lib as av
from atomicvad_lib import model_stats, plotting, widgets
from atomicvad_lib.paths import repo_root

widgets.use_interactive(interactive)
config = av.Config()
keras.utils.set_random_seed(seed)
model = av.build_model(config, seed=seed)

# %% [markdown]
# ## 1. The layers
#
# ```
# waveform (10,080 samples = 0.63 s at 16 kHz)
#   -> MFCC front-end: 64 coefficients x 64 frames (10 ms hop)       no parameters
#   -> SpecAugment, SpecCutout (active only while training)           no parameters
#   -> block 1: depthwise 7x7 (x3) -> max-pool 5 -> LayerNorm -> 1x1 conv to 8 -> GGCU -> dropout -> 1x1 conv to 2
#   -> block 2: depthwise 3x3      -> max-pool 7 -> LayerNorm -> 1x1 conv to 8 -> GGCU -> dropout -> 1x1 conv to 2
#   -> + skip connection (block 1's output, max-pooled 7)
#   -> flatten (8 values) -> dense softmax over [background, speech]
# ```
#
# The table lists every layer with the shape of its output (without the batch axis) and its
# parameters; the running total ends at 298.

# %%
table = model_stats.layer_table(model)
assert table["parameters"].sum() == 298 == model.count_params()
table

# %%
with_params = table[table["parameters"] > 0]
fig, ax = plt.subplots(figsize=(8, 3.8))
ax.barh(with_params.index[::-1], with_params["parameters"][::-1], color="C2")
for i, value in enumerate(with_params["parameters"][::-1]):
    ax.text(value + 1, i, str(value), va="center", fontsize=8)
ax.set(xlabel="parameters", title=f"Where the {model.count_params()} parameters are")
plotting.save_figure(fig, "04_model_building/parameters_per_layer");

# %% [markdown]
# Half of the parameters (150) are block 1's depthwise kernels: three 7x7 filters with a bias each.
# Each GGCU layer has four, each LayerNorm a scale and offset per channel.
#
# ## 2. One window through the network
#
# We feed a synthetic voiced sound (a harmonic tone whose loudness pulses at a syllable rate) and
# look at the intermediate outputs. The model is untrained, so the patterns are not yet
# meaningful, but the shapes are exactly what a trained model works with.

# %%
t = np.arange(config.window_samples) / config.sample_rate
voiced = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 8)) * (1 + np.sin(2 * np.pi * 4 * t))
window = (0.3 * voiced / np.abs(voiced).max()).astype(np.float32)[None, :]

names = ["mfcc", "block1_depthwise", "block1_project", "block2_project", "skip_pool", "skip_add"]
probe = keras.Model(model.input, [model.get_layer(n).output for n in names])
outputs = dict(zip(names, probe(window, training=False)))
fig, axes = plt.subplots(2, 6, figsize=(17, 5.5))
for ax, (name, value) in zip(axes.T, outputs.items()):
    value = np.asarray(value)[0]
    for row in range(2):
        channel = min(row, value.shape[-1] - 1)
        ax[row].imshow(value[..., channel], origin="lower", cmap="coolwarm", aspect="auto")
        ax[row].set_title(f"{name} ch{channel}\n{value.shape}", fontsize=9)
        ax[row].set(xticks=[], yticks=[])
fig.suptitle("Feature maps of one window (rows: first two channels)")
plotting.save_figure(fig, "04_model_building/feature_maps");
print("speech probability of the untrained model:", float(model(window, training=False)[0, 1]))

# %% [markdown]
# ## 3. Why depthwise convolutions
#
# A standard $k\times k$ convolution mixes every input channel into every output channel:
# $k^2 C_{in} C_{out}$ weights and as many MACs per pixel. A *depthwise* convolution filters each
# channel on its own ($k^2 C_{in}$), and a cheap 1x1 *pointwise* convolution then mixes channels
# ($C_{in} C_{out}$). Together they are a *depthwise separable* convolution (MobileNet).
#
# In AtomicVAD the input has a single channel, so block 1's depthwise layer is in fact a standard
# convolution with three filters. The saving appears as soon as there are several channels:

# %%
comparisons = {
    "block 2 (13x13, 2 -> 2, 3x3)": model_stats.conv_comparison(13, 13, 2, 2, 3),
    "wider (13x13, 8 -> 8, 3x3)": model_stats.conv_comparison(13, 13, 8, 8, 3),
    "block 1 (64x64, 1 -> 3, 7x7)": model_stats.conv_comparison(64, 64, 1, 3, 7, depth_multiplier=3),
}
pd.concat(comparisons, names=["case"])

# %% [markdown]
# The standard 3x3 convolution on 8 channels needs 584 weights, the separable one 152; the
# saving factor approaches $1/C_{out} + 1/k^2$. In block 1 there is nothing to save: with one input
# channel, a depthwise convolution *is* a standard one (and adding a pointwise layer costs more).
#
# The table in section 1 calls these layers `FastDepthwiseConv2D` and `FastMaxPooling2D`. They
# are Keras' `DepthwiseConv2D` and `MaxPooling2D` with the same weights and the same outputs,
# computed another way where TensorFlow's own CPU kernels are slow for these shapes: on AMD and
# older Intel CPUs TensorFlow runs Eigen's kernels, whose depthwise convolution vectorises over
# channels (block 1 has one) and whose max-pool gradient walks each window element by element.
# There block 1's convolution becomes one matrix product and the pools two `reduce_max` calls,
# which made a training step about 6x faster; on recent Intel Xeons (oneDNN) the stock kernels
# are faster and are kept. `atomicvad_lib/conv.py` and `atomicvad_lib/pooling.py` explain how;
# `benchmarks/layer_timing.py` times every layer both ways on your CPU.
#
# ## 4. Receptive field
#
# How many MFCC coefficients and frames can one unit depend on? A stride-1 $k\times k$
# convolution widens the field by $(k-1)\,j$, a pool of size $p$ by $(p-1)\,j$, where the jump $j$
# is the distance, in input bins, between neighbouring units (multiplied by each pool's stride).

# %%
fields = model_stats.receptive_field(model, config)
fields

# %%
fig, ax = plt.subplots(figsize=(5, 4.5))
plotting.plot_mfcc(ax, np.asarray(outputs["mfcc"])[0, ..., 0], config,
                   title="What one block-2 unit sees")
hop_s = config.hop_length / config.sample_rate
r_block1 = fields.loc["block1_pool", "frames"]
r_block2 = fields.loc["block2_pool", "frames"]
for r, color, label in ((r_block1, "yellow", f"after block 1: {r_block1}x{r_block1}"),
                        (r_block2, "black", f"after block 2: {r_block2}x{r_block2}")):
    ax.add_patch(plt.Rectangle((0, 0), r * hop_s, r, fill=False, color=color, lw=2, label=label))
ax.legend(loc="upper right", fontsize=8)
plotting.save_figure(fig, "04_model_building/receptive_field");

# %% [markdown]
# Each of the 2x2 units at the end of block 2 sees 51 of the 64 frames (about half a second of
# audio) and 51 of the 64 coefficients; the dense layer sees all four, i.e. the whole window.
#
# ## 5. The skip connection
#
# Block 1's output (13x13x2) is max-pooled by 7 to 2x2x2 and *added* to block 2's output. The sum
# gives the classifier both the local patterns of block 1 and the wider context of block 2, and
# it gives the gradient a short path back to block 1 that skips block 2's GGCU. It costs no
# parameters; the two branches must have the same number of channels (`Config` checks that
# `block1_filters[1] == block2_filters[1]`).

# %%
skip = np.asarray(outputs["skip_pool"])[0]
main = np.asarray(outputs["block2_project"])[0]
pd.DataFrame({"skip branch": skip.ravel(), "block-2 branch": main.ravel(),
              "sum (skip_add)": np.asarray(outputs["skip_add"])[0].ravel()}).round(3).T

# %% [markdown]
# ## 6. Cost per window
#
# Multiply-accumulates (MACs) are the usual unit of work for small devices. The network's MACs
# per window are counted layer by layer (`model_stats.count_macs`); the MFCC front-end, estimated
# separately, costs more than the network itself.

# %%
macs = model_stats.macs_table(model)
front = model_stats.frontend_macs(config)
print(f"network: {model_stats.count_macs(model):,} MACs per window "
      f"({model_stats.count_macs(model) / 0.63 / 1e6:.2f} M MACs per second of audio, "
      f"one window every 0.63 s)")
print(f"MFCC front-end (estimate): {int(front['MACs'].sum()):,} MACs per window")
macs

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 3.6))
axes[0].barh(macs.index[::-1], macs["MACs"][::-1], color="C1")
axes[0].set(xscale="log", xlabel="MACs per window (log scale)", title="network")
axes[1].barh(front.index[::-1], front["MACs"][::-1], color="C4")
axes[1].set(xscale="log", xlabel="MACs per window (log scale)", title="MFCC front-end (estimate)")
fig.tight_layout()
plotting.save_figure(fig, "04_model_building/macs");

# %% [markdown]
# Nearly all of the network's work is block 1's depthwise convolution on the full 64x64 image:
# the first max-pool shrinks everything after it 25-fold.
#
# ## 7. Swapping the activation
#
# The activation is a setting: `Config(activation="relu")` builds the same network with ReLU in
# both blocks. GGCU is the only one with parameters (4 per layer), so every other choice gives 290.

# %%
rows = []
for name in av.ACTIVATIONS:
    other = av.build_model(config.replace(activation=name), seed=seed)
    rows.append({"activation": name, "parameters": other.count_params(),
                 "layer type": type(other.get_layer(f"block1_{name}")).__name__})
pd.DataFrame(rows).set_index("activation")

# %%
def draw_activation(fig, activation):
    layer = av.make_activation(activation, l1=0.0, l2=0.0, seed=seed)
    xs = np.linspace(-6, 6, 400).astype(np.float32)
    ax = fig.subplots()
    ax.plot(xs, np.asarray(layer(xs[:, None]))[:, 0], color="C3")
    ax.axhline(0, color="0.85", lw=0.8)
    ax.set(title=activation, xlabel="x", ylim=(-6.5, 6.5))


widgets.slider_plot(draw_activation, {"activation": list(av.ACTIVATIONS)},
                    [{"activation": a} for a in av.ACTIVATIONS], "04_model_building/activations",
                    columns=5, panel_size=(3.2, 2.6));

# %% [markdown]
# ## 8. A published checkpoint
#
# The authors published ten trained checkpoints (one per seed). `av.load_model` maps their
# custom layers onto this library's, so the same architecture loads their weights. The folder is
# not part of this repository; the cell below skips itself when it is absent. Their parity windows
# (`inputs.npy`, sixteen synthetic sounds) are scored one window per batch, as recorded in
# `expected_probabilities.npy`.

# %%
published = (repo_root() / published_dir).resolve()  # an absolute published_dir is kept as is
checkpoints = sorted(published.glob("AtomicVADGGCU-chkpt*.keras")) if published.is_dir() else []
if not checkpoints:
    print(f"No published checkpoints at {published}: skipping this section. Put the authors'"
          " AtomicVADGGCU-chkpt*.keras files there (or pass -p published_dir ...) to run it.")
else:
    published_model = av.load_model(checkpoints[0])
    print(f"loaded {checkpoints[0].name}: {published_model.count_params()} parameters")
    ours = model_stats.layer_table(model)["parameters"].sum()
    theirs = model_stats.layer_table(published_model)
    display(theirs[theirs["parameters"] > 0])
    print(f"parameters: ours {ours}, published {theirs['parameters'].sum()}")
    if (published / "inputs.npy").is_file():
        import json

        inputs = np.load(published / "inputs.npy")
        names = json.loads((published / "reference.json").read_text())["input_names"]
        expected = np.load(published / "expected_probabilities.npy")[0, :, 1]
        got = np.array([av.predict_speech(published_model, w[None], batch_size=1)[0] for w in inputs])
        display(pd.DataFrame({"speech probability": got, "expected": expected},
                             index=pd.Index(names, name="input")).round(4))
        assert np.allclose(got, expected, atol=1e-3)
    display(model_stats.ggcu_parameters(published_model)[["layer", "w1", "w2", "b1", "b2"]])

# %% [markdown]
# ## Exercises
#
# 1. Build the model with `config.replace(block1_depth_multiplier=1)`. How many parameters and MACs
#    does it save, and why exactly that many?
# 2. Change `block2_pool` to 5. What happens to the output shape of block 2, the receptive field
#    and the classifier's parameter count?
# 3. Compute by hand the parameters of `block1_expand` (3 -> 8 channels, 1x1) and `block1_norm`
#    (LayerNorm over 3 channels) and check them against the table.
# 4. Which layer would you shrink first to halve the MACs per window, and what would it cost?
#
# Solutions: next cell (expand it in JupyterLab).

# %% jupyter={"source_hidden": true}
# Solutions
# 1. Depth multiplier 1: block 1 has one 7x7 filter (49 + 1) instead of three (150), LayerNorm
#    2 instead of 6, block1_expand 1*8+8 = 16 instead of 32: 298 - 100 - 4 - 16 = 178 parameters.
small = av.build_model(config.replace(block1_depth_multiplier=1), seed=seed)
print("1.", small.count_params(), "parameters,", model_stats.count_macs(small), "MACs",
      f"(was {model.count_params()} and {model_stats.count_macs(model)})")
# 2. A pool of 5 on 13x13 gives 3x3 (ceil(13/5)); flatten then holds 18 values and the classifier
#    18*2 + 2 = 38 parameters; the field after block 2 is 21 + 4*5 = 41 frames.
wider = av.build_model(config.replace(block2_pool=5), seed=seed)
print("2.", wider.get_layer("skip_add").output.shape, wider.count_params(),
      model_stats.receptive_field(wider).loc["block2_pool", "frames"])
# 3. 1x1 conv: 3*8 weights + 8 biases = 32; LayerNorm: a scale and an offset per channel = 6.
print("3.", table.loc["block1_expand", "parameters"], table.loc["block1_norm", "parameters"])
# 4. block1_depthwise (98 % of the MACs): a 5x5 kernel cuts its MACs by 1 - 25/49 = 49 %, or a
#    stride of 2 by 75 %, at the price of a smaller receptive field / coarser time resolution.
