# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 07 · Deployment: int8 LiteRT, streaming over long audio, and baselines
#
# **What you will learn.**
#
# 1. why a microcontroller computes the MFCCs itself, and how `atomicvad_lib.mfcc_numpy` pins the
#    front-end down as a NumPy specification that matches the Keras layer;
# 2. how a trained model becomes LiteRT (TFLite) files: float32, and full-integer int8 calibrated
#    on training windows;
# 3. why a 3-channel layer norm breaks a plain int8 conversion, and how an exact rewrite of the
#    graph (same function in float) keeps full int8 within 0.01 AUROC;
# 4. how to run a 0.63 s model over a recording of any length: sliding windows, smoothing,
#    hangover, minimum durations, segments as CSV/RTTM, and the real-time factor;
# 5. how AtomicVAD compares with WebRTC VAD and Silero VAD on the same windows: AUROC, F1, F2,
#    parameters, file size and latency.

# %% tags=["parameters"]
quick = False            # True: fewer windows and a shorter long clip (a smoke test)
interactive = None       # kept for the course runner (this notebook has no widgets)
data_dir = "data_samples"  # folder with the six balanced manifests
model_path = None        # a .keras file; None: the newest run's best fold by validation AUROC
experiments_dir = "experiments"  # where notebook 05 and `atomicvad train` write their runs
export_dir = "exports/notebook07"
work_dir = "runs/07_deployment"  # the long clip, its segments, and a stand-in model if needed
long_clip_seconds = 180  # length of the generated long recording
seed = 0

# %%
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import soundfile as sf
from IPython.display import display

import atomicvad_lib as av
from atomicvad_lib import (baselines, export, mfcc_numpy, pipeline, plotting, runs, streaming,
                           training)
from atomicvad_lib.paths import repo_path

config = av.Config()
rng = np.random.default_rng(seed)
work = repo_path(work_dir)
work.mkdir(parents=True, exist_ok=True)
if quick:
    long_clip_seconds = min(long_clip_seconds, 30)
train_windows = pipeline.load_split(repo_path(data_dir), "training", config, progress=False)
testing = pipeline.load_split(repo_path(data_dir), "testing", config, progress=False)
if quick and len(testing) > 200:
    testing = testing.subset(np.sort(rng.choice(len(testing), 200, replace=False)))
print(f"training: {len(train_windows)} windows, testing: {len(testing)} "
      f"({int(testing.labels.sum())} speech)")

# %% [markdown]
# ## 0. A trained model
#
# The numbers below mean something only for a trained model: by default, of the newest run that
# notebook 05 wrote, the fold with the best validation AUROC
# (`experiments/<run>/checkpoints/fold_<i>/best.keras`). Without one, a stand-in
# is trained here with `train_fold` for a few epochs: enough to show every step, not to judge accuracy.

# %%
chosen = Path(model_path) if model_path else runs.best_checkpoint(repo_path(experiments_dir))
if chosen is not None:
    model_file = repo_path(chosen)
    model = runs.load_model(model_file)
    print(f"model: {model_file}")
else:
    epochs = 2 if quick else 10
    stand_in = training.train_fold(
        av.Config.for_recipe("course", epochs=epochs, batch_size=64, patience=epochs), seed=seed,
        fold=0,
        out_dir=work / "stand_in" / f"{repo_path(data_dir).name}_{epochs}_epochs",
        data_dir=repo_path(data_dir), progress=False)
    model, model_file = stand_in.model, stand_in.paths.best_model
    print(f"no trained checkpoint found: trained a stand-in with train_fold for {epochs} epochs "
          f"({model_file}); run notebook 05 or pass -p model_path ... for real numbers")
print(f"{model.count_params()} parameters")

# %% [markdown]
# ## 1. The front-end, outside the graph
#
# A microcontroller gets samples from its microphone and must produce the 64×64 MFCC image itself;
# the int8 graph starts there. `mfcc_numpy.mfcc` is that computation in plain NumPy, step by step
# (reflect-padded centred frames, periodic Hamming window of 400 in a 512 FFT, hop 160, power
# spectrum, HTK mel filters 20 Hz–8 kHz, 10·log10 with an 80 dB floor below the window's own
# maximum, DCT-II scaled by √(2/64)). It is the specification of a port: it matches the Keras layer
# to about a millionth of the feature range.

# %%
frontend = export.frontend_layer(model)
spec = mfcc_numpy.FrontendSpec.from_layer(frontend)
sample = testing.waveforms[:32]
keras_mfcc = frontend.images(sample)
numpy_mfcc = mfcc_numpy.mfcc(sample, spec)
relative = np.abs(keras_mfcc - numpy_mfcc).max(axis=(1, 2, 3)) / np.ptp(keras_mfcc, axis=(1, 2, 3))
print(f"largest difference, relative to each window's range: {relative.max():.2e}")
assert relative.max() < 1e-4

fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
for ax, image, title in zip(axes, (keras_mfcc[0, ..., 0], numpy_mfcc[0, ..., 0],
                                   keras_mfcc[0, ..., 0] - numpy_mfcc[0, ..., 0]),
                            ("Keras MFCC layer", "mfcc_numpy", "difference")):
    im = ax.imshow(image, origin="lower", aspect="auto", cmap="magma" if ax is not axes[2] else "RdBu")
    ax.set(title=title, xlabel="frame", ylabel="coefficient")
    fig.colorbar(im, ax=ax)
fig.tight_layout()
plotting.save_figure(fig, "07_deployment_and_streaming/frontend_parity");

# %% [markdown]
# ## 2. Export: float32 and int8
#
# `export.export_model` cuts the model at the MFCC image, drops SpecAugment, SpecCutout and dropout
# (identities at inference), writes out layer normalisation as mean/subtract/rsqrt, and converts:
#
# - **float32**: the same arithmetic as Keras;
# - **int8**: weights *and* activations int8, input and output int8, ranges calibrated on a seeded
#   draw of training windows, from a graph rewritten for int8 (`export.int8_head`, section 3).
#   TFLite has no int8 cosine: GGCU's `cos` runs in float between a DEQUANTIZE and a QUANTIZE.
#
# The same command from a terminal: `atomicvad export MODEL.keras --out exports/NAME --test-data data_samples`.

# %%
started = time.perf_counter()
result = export.export_model(model, repo_path(export_dir), train_windows.waveforms, testing.waveforms,
                             testing.labels, calibration_count=100 if quick else 300, seed=seed,
                             source=str(model_file), progress=False)
print(f"exported in {time.perf_counter() - started:.1f} s to {result.out_dir}")
print(export.format_report(result.report))
test = result.report["test"]
keras_size = Path(model_file).stat().st_size
display(pd.DataFrame({
    "file (bytes)": [keras_size] + [result.report["files"][k]["bytes"] for k in
                                    ("float32", "int8")],
    "AUROC": [test["auroc_keras"], test["auroc_float32"], test["auroc_int8"]],
    "mean |ΔP(speech)| vs Keras": [0.0, test["mean_abs_diff_float32_vs_keras"],
                                   test["mean_abs_diff_int8_vs_keras"]],
}, index=["Keras .keras", "LiteRT float32", "LiteRT int8"]).round(4))

# %% [markdown]
# ## 3. What int8 costs, and why
#
# Each point is one test window: its speech probability from Keras (x) against a LiteRT file (y).
# float32 sits on the diagonal. AtomicVAD normalises every pixel over only 3 channels (block 1) or
# 2 (block 2), and layer normalisation turns even small differences between those channels into
# values of size one. int8 gives each tensor one scale, so a plain conversion loses them (AUROC
# drops of up to 0.10 on the published checkpoints): the variance and its rsqrt span several
# decades in 256 levels; the depthwise outputs share one scale with the rows of the first MFCC
# coefficient (the loudness, hundreds in size; the right panel shows how unevenly the coefficients
# use the input's 256 levels); and the three channels share one scale too.
#
# `export.int8_head` rewrites the graph, for the int8 file only, into the same function in float:
# layer norm from the pairwise differences of the channels and an L2 normalisation (TFLite computes
# it in 32-bit integers, with an output fixed to [-1, 1]); each depthwise channel as its own
# convolution; and each pooled row from its own slice of the MFCC image, so the loudness sets the
# scale of the first band of coefficients only. Every op keeps an int8 kernel. The export report
# warns when a drop exceeds 0.01 (it can, for a model barely better than chance, whose ranking is
# so flat that rounding the input alone reorders it).

# %%
features = frontend.images(testing.waveforms)
head = export.inference_head(model)
keras_prob = head.predict(features, verbose=0)[:, 1]
runners = {"float32": export.LiteRTModel(result.float_path, spec),
           "int8": export.LiteRTModel(result.int8_path, spec)}
litert_prob = {name: r.predict_features(features)[:, 1] for name, r in runners.items()}

fig, axes = plt.subplots(1, 2, figsize=(11, 4))
for name, prob in litert_prob.items():
    axes[0].scatter(keras_prob, prob, s=8, alpha=0.6, label=name)
axes[0].plot([0, 1], [0, 1], color="0.5", lw=0.8)
axes[0].set(xlabel="Keras P(speech)", ylabel="LiteRT P(speech)", title="one point per test window")
axes[0].legend()
scale = runners["int8"].input["quantization"][0]
spread = np.ptp(features[..., 0], axis=(0, 2))
axes[1].bar(np.arange(64), spread / scale, color="tab:purple")
axes[1].set(xlabel="MFCC coefficient", ylabel="int8 steps spanned", yscale="log",
            title=f"input scale {scale:.2f} per step: c0 takes most of the 256 levels")
fig.tight_layout()
plotting.save_figure(fig, "07_deployment_and_streaming/int8_vs_float");
print(f"int8 AUROC drop {test['int8_auroc_drop']:+.4f}")

# %% [markdown]
# ## 4. Streaming over a long recording
#
# A long clip is stitched together from test windows: runs of one to four speech windows between
# runs of background windows, so the truth is known for every sample. `streaming` reads it from disk
# block by block (never whole), scores a 0.63 s window centred on every 80 ms frame, smooths the
# probabilities (median over 240 ms), applies a threshold, holds speech on for 160 ms after it
# drops (hangover), bridges silences shorter than 240 ms and removes speech shorter than 240 ms.
# In a terminal: `atomicvad stream FILE.wav --model MODEL.keras --out DIR`.

# %%
clip = streaming.demo_clip(testing.waveforms, testing.labels, long_clip_seconds, rng)
clip_path = work / "long_clip.wav"
sf.write(clip_path, clip.audio, clip.sample_rate, subtype="FLOAT")
print(f"{clip_path.name}: {clip.duration:.0f} s, {clip.truth.mean():.0%} speech")

# %%
settings = streaming.DecisionSettings()
stream = streaming.stream_probabilities(clip_path, streaming.keras_predictor(model), hop=0.08,
                                        block_seconds=10, progress=False)
segments = streaming.detect_segments(stream, settings)
speech_frames = streaming.decide(stream.probabilities, stream.hop, settings)
frame_truth = clip.frame_truth(stream.hop)
print(f"{len(stream.probabilities)} frames in {stream.blocks} blocks, {len(segments)} segments; "
      f"frame accuracy {np.mean(speech_frames == frame_truth):.3f}; "
      f"real-time factor {stream.real_time_factor:.4f} "
      f"({1 / stream.real_time_factor:.0f}x faster than real time)")
shown = min(60.0, stream.duration)
fig = streaming.plot_timeline(stream, segments, settings, title="long clip (green: detected speech)")
for ax in fig.axes:
    ax.set_xlim(0, shown)
true_runs = streaming.segments_from_mask(frame_truth, stream.hop)
for s in true_runs:
    fig.axes[0].axvspan(s.start, s.end, ymin=0.94, ymax=1.0, color="black", lw=0)
fig.axes[0].set_title(f"first {shown:.0f} s: waveform, detected speech (green), truth (black bar)")
plotting.save_figure(fig, "07_deployment_and_streaming/stream_timeline");

# %%
segments_table = pd.DataFrame([(s.start, s.end, s.duration) for s in segments],
                              columns=["start", "end", "duration"])
display(segments_table.head(8))
streaming.write_segments_csv(segments, work / "segments.csv")
streaming.write_rttm(segments, work / "long_clip.rttm", "long_clip")
rttm = (work / "long_clip.rttm").read_text().splitlines()
print(f"long_clip.rttm: {len(rttm)} lines" + (f", the first: {rttm[0]}" if rttm else
                                               " (no speech detected)"))

# %% [markdown]
# ## 5. Baselines on the same test windows
#
# WebRTC VAD (a Gaussian mixture over six sub-bands; score: the fraction of 30 ms frames it calls
# speech) and Silero VAD (a ~310k-parameter network on 32 ms chunks; score: the largest chunk
# probability) are optional extras, `pip install -e ".[baselines]"`; a missing one keeps its row
# with a note. Latency is the median time for one window on one CPU thread of this machine.

# %%
detectors = baselines.default_detectors() + [
    baselines.keras_detector(model, file=model_file),
    baselines.litert_detector(result.float_path, model.count_params()),
    baselines.litert_detector(result.int8_path, model.count_params()),
]
table = baselines.compare(detectors, testing.waveforms, testing.labels,
                          latency_repeats=10 if quick else 50, progress=False)
display(table.round(4))

# %% [markdown]
# ## Exercises
#
# 1. Stream the long clip with `hop=0.25` and with `hop=0.04`. How do the real-time factor and the
#    frame accuracy change, and why does the cost scale the way it does?
# 2. Set `DecisionSettings(hangover_ms=0, min_speech_ms=0, min_silence_ms=0, smoothing="none")`.
#    How many segments do you get now, and what does each post-processing step remove?
# 3. The int8 input uses one scale for all 64 coefficients. Compute how many int8 steps the
#    coefficients 1–63 span with that scale, and how many they would span without c0.
# 4. Change the threshold of the comparison table to 0.3. Which detector's F2 gains most, and why
#    does AUROC not change?
#
# Solutions: next cell (expand it in JupyterLab).

# %% jupyter={"source_hidden": true}
# Solutions
# 1. Every frame costs one window, so the model time scales as 1/hop; on a short clip fixed costs
#    (reading, tracing) blur that. Coarser frames also blur the segment edges.
for hop in (0.25, 0.04):
    s = streaming.stream_probabilities(clip_path, streaming.keras_predictor(model), hop=hop,
                                       progress=False)
    decided = streaming.decide(s.probabilities, s.hop, settings)
    print(f"1. hop {hop}: RTF {s.real_time_factor:.4f}, "
          f"accuracy {np.mean(decided == clip.frame_truth(s.hop)):.3f}")
# 2. Without smoothing/hangover/minimum durations every flicker is a segment.
raw = streaming.DecisionSettings(smoothing="none", hangover_ms=0, min_speech_ms=0, min_silence_ms=0)
print("2.", len(streaming.detect_segments(stream, raw)), "raw segments vs", len(segments))
# 3. Steps spanned by coefficients 1-63 with the calibrated scale, and with a scale fitted to them.
rest = features[:, 1:]
print(f"3. c1..c63 span {np.ptp(rest) / scale:.0f} of 256 steps; alone they would use all 256 "
      f"(a {scale / (np.ptp(rest) / 255):.1f}x finer step)")
# 4. AUROC ranks scores and ignores the threshold; F2 weighs recall 4x, so detectors whose
#    scores sit low (WebRTC's frame fractions) gain most from a lower threshold.
print(baselines.compare(detectors[:1] + detectors[2:3], testing.waveforms, testing.labels,
                        threshold=0.3, latency_repeats=3, progress=False)[["AUROC", "F1", "F2"]])
