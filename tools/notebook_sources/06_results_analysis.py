# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 06 · Results of a run: every fold, side by side
#
# **What you will learn.** One training run is an anecdote; the paper reports the mean and
# standard deviation over ten seeds. In this notebook you
#
# 1. collect every fold of a run (`atomicvad_lib.aggregate.load_run`) and compute the
#    mean ± standard deviation of the test metrics;
# 2. compare the training curves of all folds;
# 3. draw each fold's ROC curve and confusion matrix on the test split;
# 4. compare two ways of scoring a recording: **SPI** (single prediction per item: the first
#    0.63 s window) and **SWI** (sliding windows over the whole item, reduced by median or mean);
# 5. look at the GGCU parameters each fold learned;
# 6. score the authors' published checkpoints on the same test data, when they are available;
# 7. see what 298 parameters give up: a ResNet-style baseline of about 77,000 parameters, trained
#    the same way, beside this run on the same test windows (when it has been trained).
#
# Run notebook 05 (or `atomicvad sweep --run NAME`) first: this notebook reads its outputs.

# %% tags=["parameters"]
run_dir = "experiments/notebook"     # a run folder: <run_dir>/checkpoints/fold_<i>/
data_dir = "data_samples"            # the test split to score the models on
published_dir = "../shared/reference/atomicvad-published"  # relative to the repository root
baseline_dir = "experiments/resnet"  # the ResNet baseline's run folder (section 7), if trained
overlap = 0.5                        # SWI: overlap of consecutive windows (atomicvad evaluate: 0.875)
quick = False                        # fewer published checkpoints (for tests)
interactive = None                   # None: widgets in JupyterLab, static figures elsewhere

# %%
import dataclasses
import warnings

import numpy as np
import matplotlib.pyplot as plt
import pandas as pd
import tensorflow as tf
from IPython.display import display
from sklearn.metrics import confusion_matrix
from tqdm.auto import tqdm

import atomicvad_lib as av
from atomicvad_lib import (aggregate, audio, compare, evaluation, manifest, metrics, model_stats,
                           plotting, widgets)
from atomicvad_lib.paths import repo_path, repo_root
from atomicvad_lib.runs import FoldPaths, load_model

widgets.use_interactive(interactive)
warnings.filterwarnings("ignore", message="The structure of `inputs`")
tf.get_logger().setLevel("ERROR")  # one predict function per loaded model: retracing is expected
run_path = repo_path(run_dir)
data_path = repo_path(data_dir)
summary = aggregate.load_run(run_path)
print("\n".join(aggregate.status_lines(summary)))
if summary.folds.empty:
    raise RuntimeError(f"{run_path} has no finished fold yet: train one with notebook 05 "
                       f"(run_dir={run_dir!r}) or `atomicvad sweep --run NAME`")
summary.folds.set_index("fold").round(4)

# %% [markdown]
# ## 1. Mean ± standard deviation over folds
#
# The standard deviation is the sample one (`ddof=1`): the spread of a seed's result around the
# mean of the seeds. With a single fold it is undefined.

# %%
table = aggregate.aggregate(summary).set_index("metric")
table["mean ± std"] = [aggregate.mean_std(m, s) for m, s in zip(table["mean"], table["std"])]
table

# %% [markdown]
# ## 2. Training curves of every fold
#
# Solid: training, dashed: validation. Folds that stopped early end sooner. The restarts of the
# learning-rate schedule show as bumps in the training loss.

# %%
histories = {f"fold {fold}": log.sort_values("epoch") for fold, log in summary.logs.groupby("fold")}
fig = plotting.plot_training_curves(histories, ("loss", "auroc"), title=f"run {run_path.name}")
plotting.save_figure(fig, "06_results_analysis/training_curves");

# %% [markdown]
# ## 3. Scoring every fold on the test split
#
# Each fold's `best.keras` scores (a) every test *window* (SPI, as in training) and (b) every test
# *clip* as a whole: SPI takes the clip's first window, SWI slides windows with `overlap` over the
# clip and takes the median (or mean) of their speech probabilities. Scoring is done by
# `atomicvad_lib.evaluation.score_entries`, whose windows never depend on their batch mates.

# %%
test_entries = [entry for path in manifest.split_manifests(data_path, "testing").values()
                for entry in manifest.read_manifest(path)]
validation_entries = [entry for path in manifest.split_manifests(data_path, "validation").values()
                      for entry in manifest.read_manifest(path)]
clips = {}
for entry in test_entries:  # one entry per clip, spanning the whole clip
    if entry.audio_filepath not in clips:
        clips[entry.audio_filepath] = dataclasses.replace(
            entry, offset=0.0, duration=audio.audio_info(entry.audio_filepath).duration)
clip_entries = list(clips.values())
print(f"{len(test_entries)} test windows from {len(clip_entries)} clips")
# decoded once here, scored by every model below (decoding costs more than predicting)
window_config = av.Config()  # every fold and checkpoint here uses the paper's 0.63 s windows
test_segments = evaluation.read_segments(test_entries, window_config, modes=("spi",),
                                         progress=False)
validation_segments = evaluation.read_segments(validation_entries, window_config,
                                               modes=("spi",), progress=False)
clip_segments = evaluation.read_segments(clip_entries, window_config, progress=False)

window_scores, validation_scores, clip_scores, ggcu_tables, costs = {}, {}, {}, [], {}
for fold in tqdm(summary.folds["fold"], desc="scoring folds"):
    model_path = FoldPaths(run_path, int(fold)).best_model
    config = evaluation.resolve_config(model_path)
    model = load_model(model_path)
    window_scores[fold] = evaluation.score_entries(model, test_segments, config, modes=("spi",),
                                                   progress=False)
    validation_scores[fold] = evaluation.score_entries(model, validation_segments, config,
                                                       modes=("spi",), progress=False)
    clip_scores[fold] = evaluation.score_entries(model, clip_segments, config, modes=("spi", "swi"),
                                                 overlap=overlap, progress=False)
    ggcu_tables.append(model_stats.ggcu_parameters(model).assign(source=f"fold {fold}"))
    costs[fold] = compare.model_cost(model)  # for section 7

# %% [markdown]
# ### The decision threshold, chosen on validation
#
# AUROC judges the ranking of windows; a detector in use also needs a threshold. 0.5 is the
# natural one for a softmax, but a short run's probabilities are often not calibrated: a model
# can rank well and still put most speech below 0.5 (F1 near 0 at 0.5). So each fold's threshold
# is chosen where its F1 is best **on the validation split** (`metrics.choose_threshold`), and the
# test split is scored at it, beside 0.5. Choosing it on the test split would flatter the score.

# %%
def threshold_metrics(test, validation):
    """Test AUROC, and F1/F2 at 0.5 and at the threshold chosen on validation."""
    threshold = metrics.choose_threshold(validation["is_speech"], validation["spi"])
    at_half = metrics.binary_metrics(test["is_speech"], test["spi"], 0.5)
    at_t = metrics.binary_metrics(test["is_speech"], test["spi"], threshold)
    return {"auroc": at_half["auroc"], "threshold": threshold, "f1 @ 0.5": at_half["f1"],
            "f2 @ 0.5": at_half["f2"], "f1 @ threshold": at_t["f1"], "f2 @ threshold": at_t["f2"]}


thresholds = pd.DataFrame({fold: threshold_metrics(window_scores[fold], validation_scores[fold])
                           for fold in window_scores}).T.rename_axis("fold")
display(thresholds.round(4))
thresholds.agg(["mean", "std", "min"]).round(4)

# %% [markdown]
# ### ROC curves and confusion matrices

# %%
fig, ax = plt.subplots(figsize=(6, 5))
for fold, scores in window_scores.items():
    plotting.plot_roc(ax, scores["is_speech"], scores["spi"], f"fold {fold}", lw=1)
ax.legend(fontsize=7, loc="lower right")
ax.set_title("Test windows: ROC of every fold")
plotting.save_figure(fig, "06_results_analysis/roc");

# %%
n = len(window_scores)
columns = min(n, 5)
fig, axes = plt.subplots(-(-n // columns), columns, figsize=(3.2 * columns, 3.0 * -(-n // columns)),
                         squeeze=False)
for ax in axes.ravel()[n:]:
    ax.axis("off")
for ax, (fold, scores) in zip(axes.ravel(), window_scores.items()):
    threshold = thresholds.loc[fold, "threshold"]
    plotting.plot_confusion(ax, confusion_matrix(scores["is_speech"], scores["spi"] >= threshold,
                                                 labels=[0, 1]),
                            title=f"fold {fold}, threshold {threshold:.2f}")
fig.tight_layout()
plotting.save_figure(fig, "06_results_analysis/confusion_matrices");

# %% [markdown]
# ## 4. SPI against SWI
#
# SPI looks at 0.63 s of each clip; SWI at all of it. On clips whose speech starts late or is
# short, SPI can miss what SWI finds, and a single noisy window can fool SPI but not a median.

# %%
rows = []
for fold in window_scores:
    clip = clip_scores[fold]
    rows.append({"fold": fold,
                 "windows: SPI": metrics.speech_auroc(window_scores[fold]["is_speech"],
                                                      window_scores[fold]["spi"]),
                 "clips: SPI (first window)": metrics.speech_auroc(clip["is_speech"], clip["spi"]),
                 "clips: SWI median": metrics.speech_auroc(clip["is_speech"], clip["swi_median"]),
                 "clips: SWI mean": metrics.speech_auroc(clip["is_speech"], clip["swi_mean"])})
spi_swi = pd.DataFrame(rows).set_index("fold")
display(spi_swi.round(4))
spi_swi.agg(["mean", "std"]).round(4)

# %%
first = next(iter(clip_scores))
clip = clip_scores[first]
fig, ax = plt.subplots(figsize=(5.5, 5))
for value, name, marker in ((1, "speech clips", "s"), (0, "background clips", "o")):
    chosen = clip[clip["is_speech"] == value]
    ax.scatter(chosen["spi"], chosen["swi_median"], label=name, marker=marker, alpha=0.7)
ax.plot([0, 1], [0, 1], color="0.7", lw=0.8, ls=":")
ax.set(xlabel="SPI: first window", ylabel="SWI: median over the clip", xlim=(0, 1), ylim=(0, 1),
       title=f"fold {first}: speech probability per clip")
ax.legend()
plotting.save_figure(fig, "06_results_analysis/spi_vs_swi");

# %% [markdown]
# ## 5. The GGCU parameters each fold learned
#
# All folds start near GCU ($w_1 = w_2 = 1$, $b_1 = b_2 = 0$). Where do they end, and do the
# published checkpoints (added below when available) end in the same region?

# %%
published = (repo_root() / published_dir).resolve()
checkpoints = sorted(published.glob("AtomicVADGGCU-chkpt*.keras")) if published.is_dir() else []
if quick:
    checkpoints = checkpoints[:2]
published_scores, published_validation = {}, {}
for path in tqdm(checkpoints, desc="published checkpoints"):
    model = load_model(path)
    published_scores[path.stem] = evaluation.score_entries(model, test_segments, av.Config(),
                                                           modes=("spi",), progress=False)
    published_validation[path.stem] = evaluation.score_entries(model, validation_segments,
                                                               av.Config(), modes=("spi",),
                                                               progress=False)
    ggcu_tables.append(model_stats.ggcu_parameters(model).assign(source="published"))
ggcu_table = pd.concat(ggcu_tables).reset_index()
display(ggcu_table[ggcu_table.source != "published"].set_index(["source", "block"])
        [["w1", "w2", "b1", "b2"]].round(3))

fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
for ax, layer in zip(axes, ("block1", "block2")):
    chosen = ggcu_table[ggcu_table.block == layer]
    ours = chosen[chosen.source != "published"]
    theirs = chosen[chosen.source == "published"]
    ax.scatter(ours["w1"], ours["w2"], label="this run's folds", color="C3")
    if len(theirs):
        ax.scatter(theirs["w1"], theirs["w2"], label="published", color="C0", marker="x")
    ax.scatter([1], [1], label="GCU (start)", color="k", marker="*", s=120)
    ax.set(xlabel="$w_1$ (envelope slope)", ylabel="$w_2$ (frequency)", title=f"{layer} GGCU")
    ax.legend(fontsize=8)
plotting.save_figure(fig, "06_results_analysis/ggcu_parameters");

# %% [markdown]
# ## 6. The published checkpoints on the same test windows
#
# The same metrics for the authors' ten checkpoints, trained for 150 epochs on their (much
# larger) real data; their thresholds too are chosen on this validation split. Their MFCC layer
# is loaded with this library's per-window floor, so the scores do not depend on the batch. The
# last table is the comparison a student should look at: where a few CPU minutes on
# `data_samples/` stand against the published models, on the same test windows.

# %%
if not published_scores:
    print(f"No published checkpoints at {published}: skipping the comparison.")
else:
    def test_metrics(scores, validation):
        found = metrics.binary_metrics(scores["is_speech"], scores["spi"])
        return {**{k: found[k] for k in ("auroc", "accuracy", metrics.fpr_key())},
                **threshold_metrics(scores, validation)}

    comparison = pd.DataFrame({name: test_metrics(s, published_validation[name])
                               for name, s in published_scores.items()}).T
    ours = pd.DataFrame({f"fold {f}": test_metrics(s, validation_scores[f])
                         for f, s in window_scores.items()}).T
    display(comparison.round(4))
    display(aggregate.mean_std_table({"this run": ours, "published checkpoints": comparison}))

# %% [markdown]
# ## 7. What do 298 parameters give up?
#
# AtomicVAD is built to be tiny. To see what that costs, the course has a **baseline**: a small
# ResNet-style CNN on log-mel features (`model.build_resnet`: a 3×3 stem, three residual stages
# of 16, 32 and 64 channels, global average pooling), about 77,000 parameters. The same
# `train_fold` trains it on the same pipeline, data and augmentation, for 12 epochs at batch 64
# (half the course's 24: it learns faster) and a linear warm-up followed by one cosine decay, a common schedule for
# networks with batch normalisation. `Config(architecture="resnet")` selects it; its front-end
# (`features.LogMel`) is AtomicVAD's mel spectrogram in dB without the DCT.
#
# Its training takes minutes rather than seconds, so `make course` does not train it. Train it
# once from the repository root (README: 7.6 minutes on two cores shared with other jobs), then
# run this notebook again:
#
# ```bash
# .venv/bin/atomicvad train --out experiments/resnet --recipe course --epochs 12 --batch-size 64 \
#     -p architecture resnet -p schedule warmup_cosine -p warmup_fraction 0.1
# ```
#
# The table puts both on the same test windows: test AUROC, F1 at the threshold chosen on
# validation, trainable parameters, multiply-accumulates per window (the network after its
# front-end, `model_stats.count_macs`) and the training time recorded in `metrics.json`. Training
# times are comparable only between runs made alike: `make course` trains two seeds at a time,
# sharing the cores, while `atomicvad train` has the machine to itself.

# %%
baseline_path = repo_path(baseline_dir)
baseline_folds = compare.finished_folds(baseline_path)
if not baseline_folds:
    print(f"No finished baseline in {baseline_path}. Train it with\n  {compare.BASELINE_COMMAND}\n"
          f"and run this notebook again.")
else:
    rows, baseline_scores = {}, {}
    for paths in baseline_folds:
        model = load_model(paths.best_model)
        config = evaluation.resolve_config(paths.best_model)
        label = f"ResNet baseline, fold {paths.fold}"
        baseline_scores[label] = evaluation.score_entries(model, test_entries, config,
                                                          modes=("spi",), progress=False)
        validation = evaluation.score_entries(model, validation_entries, config, modes=("spi",),
                                              progress=False)
        found = threshold_metrics(baseline_scores[label], validation)
        rows[label] = {**compare.fold_record(paths), **compare.model_cost(model),
                       "test AUROC": found["auroc"], "F1 @ threshold": found["f1 @ threshold"]}
    for fold in window_scores:
        paths = FoldPaths(run_path, int(fold))
        rows[f"AtomicVAD, fold {fold}"] = {**compare.fold_record(paths), **costs[fold],
                                           "test AUROC": thresholds.loc[fold, "auroc"],
                                           "F1 @ threshold": thresholds.loc[fold, "f1 @ threshold"]}
    side = compare.side_by_side(rows).drop(columns=["recorded test AUROC"])
    display(side)
    ours = side[side["architecture"] == "atomicvad"]
    theirs = side[side["architecture"] == "resnet"]
    same_seed = ours[ours["seed"].isin(theirs["seed"])]
    summary_rows = {"AtomicVAD, this run": ours, "ResNet baseline": theirs}
    if len(same_seed):
        summary_rows["AtomicVAD, the baseline's seed"] = same_seed
    numeric = ["test AUROC", "F1 @ threshold", "training (s)"]
    brief = aggregate.mean_std_table({k: v[numeric].astype(float)
                                      for k, v in summary_rows.items()})
    for column in ("parameters", "MACs per window"):  # the same for every fold of a model
        brief[column] = [f"{int(v[column].iloc[0]):,}" for v in summary_rows.values()]
    brief["folds"] = [len(v) for v in summary_rows.values()]
    display(brief)

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    for fold, scores in window_scores.items():
        plotting.plot_roc(axes[0], scores["is_speech"], scores["spi"],
                          "AtomicVAD, fold " + str(fold) if fold == next(iter(window_scores))
                          else "_",  # one legend entry for all folds
                          lw=0.8, color="C0", alpha=0.5)
    for label, scores in baseline_scores.items():
        plotting.plot_roc(axes[0], scores["is_speech"], scores["spi"], label, lw=2, color="C3")
    axes[0].legend(loc="lower right", fontsize=8)
    axes[0].set_title("Test windows: AtomicVAD's folds (blue) and the baseline (red)")
    for name, table, color in (("AtomicVAD", ours, "C0"), ("ResNet baseline", theirs, "C3")):
        axes[1].scatter(table["MACs per window"].astype(float), table["test AUROC"].astype(float),
                        label=f"{name} ({int(table['parameters'].iloc[0]):,} parameters)",
                        color=color, s=40)
    axes[1].set(xscale="log", xlabel="multiply-accumulates per window (log)",
                ylabel="test AUROC", title="What the extra computation buys")
    axes[1].legend(loc="lower right", fontsize=8)
    plotting.save_figure(fig, "06_results_analysis/baseline_comparison");

# %% [markdown]
# How to read it: the baseline spends about 260 times the trainable parameters (77,234 against
# 298) and about 21 times the multiply-accumulates per window (12.6 million against 0.61
# million), and each of its epochs takes about four times longer. On `data_samples/` it learns
# faster and further: with the course's budget and the same seed it reached a test AUROC of 0.938
# against AtomicVAD's 0.884 (README, "The ResNet baseline"). That gap is what the 298 parameters
# give up here. AtomicVAD's case is not that it matches a CNN, but that about 1 KB of weights and
# 0.6 million MACs per window fit a microcontroller that must decide every 80 ms, where the
# baseline's 300 KB of float32 weights and 21 times the arithmetic may not.

# %% [markdown]
# ## Exercises
#
# 1. Which fold is best and which worst on test AUROC? Is the best fold also the best on
#    validation AUROC? What does that say about choosing "the best seed"?
# 2. How many folds would you need for the standard error of the mean AUROC (std / sqrt(n)) to
#    fall below 0.005, given this run's spread?
# 3. Change `overlap` to 0.875 (`atomicvad evaluate`'s default) and rerun the SPI/SWI section.
#    What changes, and what does it cost?
# 4. Pick the clip where SPI and SWI disagree most for one fold, listen to it
#    (`widgets.audio_player(audio.load_audio(path))`) and explain the disagreement.
# 5. Choose each fold's threshold on the *test* split instead (`metrics.choose_threshold` on
#    `window_scores[fold]`). How much better does F1 look, and why is that number not honest?
# 6. (With the baseline trained.) How many of AtomicVAD's folds would fit in the baseline's
#    parameters, and in its MACs per window? Which of the two numbers matters more on a
#    microcontroller that must run the detector every 80 ms?
#
# Solutions: next cell (expand it in JupyterLab).

# %% jupyter={"source_hidden": true}
# Solutions
folds = summary.folds.set_index("fold")
# 1. Best/worst by test AUROC, and their validation AUROC: a seed that is best on test is often
#    not best on validation: picking seeds by test score is selection on the test set.
print("1. best test:", folds["auroc"].idxmax(), "worst test:", folds["auroc"].idxmin(),
      "best validation:", folds["val_auroc"].idxmax())
# 2. n >= (std / 0.005)^2
spread = folds["auroc"].std(ddof=1)
print("2. folds needed:", int(np.ceil((spread / 0.005) ** 2)) if np.isfinite(spread) else "n/a")
# 3. Four times the windows per clip (hop 0.079 s instead of 0.315 s): about 4x the scoring time
#    (2,410 -> 9,001 windows over the test clips); on three course folds the clip AUROCs moved by
#    less than 0.01 (SWI median 0.927 -> 0.930, 0.894 -> 0.901, 0.916 -> 0.922).
# 4. The clip with the largest |SPI - SWI median|:
gap = (clip["spi"] - clip["swi_median"]).abs()
worst = clip.loc[gap.idxmax()]
print("4.", worst["audio_filepath"], worst["label"], f"SPI {worst['spi']:.2f}",
      f"SWI {worst['swi_median']:.2f}")
display(widgets.audio_player(audio.load_audio(worst["audio_filepath"])))
# 5. Fitted on the test split the threshold is tuned to the very windows it is scored on, so F1
#    rises a little for free; that gain would not carry over to new audio.
for fold in window_scores:
    scores = window_scores[fold]
    cheat = metrics.choose_threshold(scores["is_speech"], scores["spi"])
    print(f"5. fold {fold}: F1 {thresholds.loc[fold, 'f1 @ threshold']:.4f} at the validation "
          f"threshold, {metrics.binary_metrics(scores['is_speech'], scores['spi'], cheat)['f1']:.4f} "
          f"at the test-fitted one")
# 6. Both, divided: parameters set the memory (flash for weights), MACs set the time per window;
#    at a window every 80 ms the MACs decide whether it keeps up, and how much energy it takes.
if baseline_folds:
    first = next(iter(costs.values()))
    resnet_cost = compare.model_cost(load_model(baseline_folds[0].best_model))
    print("6.", {k: round(resnet_cost[k] / first[k], 1) for k in first}, "AtomicVADs per baseline")
