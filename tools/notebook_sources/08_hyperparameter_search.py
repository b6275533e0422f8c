# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 08 · Hyperparameter search with Optuna
#
# **What you will learn.** The `course` recipe of notebook 05 was picked by hand from a few
# variants. Here a search picks instead. You will
#
# 1. see what is searched (learning rate, batch size, optimiser, schedule, label smoothing, focal
#    γ, dropout, spectrogram masks, background mixing) and why the search scores trials on the
#    **validation** split only;
# 2. understand **Hyperband** pruning, the bandit half of the BOHB search the AtomicVAD authors
#    used, in pictures: many trials start, the ones that trail at a checkpoint stop early;
# 3. run a small study headless with `atomicvad_lib.tuning` (the engine of `atomicvad tune`) and
#    read Optuna's plots: optimisation history, parameter importances, intermediate values with
#    the pruned trials, parallel coordinates;
# 4. turn the best trial into a config file that `atomicvad train --config` and notebook 05
#    (`-p config FILE`) accept;
# 5. point many machines at one study kept in PostgreSQL, or run the trials on a Dask cluster.

# %% [markdown]
# **Two sizes of study.** The defaults below are the full-size study of this notebook: 6 trials of
# up to 9 epochs on all of `data_samples/`, about 10 minutes on two cores. `make course` runs the
# notebook with a small study instead, so that the whole course fits in its 15 minutes: 3 trials
# of up to 2 epochs on 500 windows per manifest (`n_trials=3, epochs=2, per_manifest=500`), about
# a minute, in `experiments/course_notebook08/`. To run the full-size study headless:
#
# ```bash
# .venv/bin/papermill notebooks/08_hyperparameter_search.ipynb runs/08_full.ipynb
# ```
#
# (or open the notebook in JupyterLab and run it as it is). What the small study cannot show is
# said in section 3.

# %% tags=["parameters"]
run_dir: str = "experiments/notebook08"  # the study's folder: study.db, trials/, best_config.yaml
data_dir: str = "data_samples"       # folder with the six balanced manifests
n_trials: int = 6                    # the study holds at least this many trials afterwards
epochs: int = 9                      # per trial (Hyperband's largest budget; the course trains 12)
per_manifest: int = 0                # at most this many windows per manifest (0: all; course: 500)
storage: str = None                  # None: SQLite in run_dir; or a database URL (section 6)
study_dir: str = None                # plot a finished `atomicvad tune` study instead, e.g. "experiments/tune"
quick: bool = False                  # a smoke test: 3 trials of 2 epochs on 48 windows per manifest
interactive: bool = None             # None: a trial browser in JupyterLab, static figures elsewhere

# %%
import warnings

import numpy as np
import matplotlib.pyplot as plt
import optuna
import pandas as pd
from IPython.display import display

import atomicvad_lib as av
from atomicvad_lib import manifest, plotting, tuning, widgets
from atomicvad_lib.paths import repo_path
from atomicvad_lib.runinfo import set_training_threads

set_training_threads()  # before TensorFlow's first op, as in notebook 05
widgets.use_interactive(interactive)
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
optuna.logging.set_verbosity(optuna.logging.WARNING)
run_path = repo_path(run_dir)
data_path = repo_path(data_dir)
if quick:
    n_trials, epochs, per_manifest = min(n_trials, 3), min(epochs, 2), 48
    run_path = run_path.with_name(run_path.name + "_quick")  # its own study: other settings
if per_manifest:
    data_path = manifest.subset_manifests(data_path, run_path / "data_subset",
                                        per_manifest=per_manifest, seed=0)
settings = tuning.settings_from(run_path.name, out=run_path, storage=storage,
                                data_dir=str(data_path), epochs=epochs)
pd.Series({"study": settings.run, "storage": settings.storage, "data": data_path,
           "epochs per trial": settings.base.epochs, "batch size (base)": settings.base.batch_size,
           "training seed of every trial": settings.seed, "TPE seed": settings.sampler_seed},
          name="this study").to_frame()

# %% [markdown]
# ## 1. What is searched, and why
#
# Every trial starts from the `course` recipe (notebook 05) and changes the settings below: the
# whole space is declared once, in `tuning.SEARCH_SPACE` (`atomicvad tune --show-space` prints
# it). Some settings only matter when another has a certain value (SGD's momentum, the warm-up of
# `warmup_cosine`, a mask's width when there is a mask): they are sampled only then.
#
# Three rules keep the search honest:
#
# * **Score on the validation split, never the test split.** A trial's value is its best
#   validation AUROC, the same number `train_fold` uses to keep `best.keras`. Choosing settings by
#   the test split would make the test score a tuned, optimistic number (notebook 05 chooses the
#   decision threshold on the validation split for the same reason).
# * **One fixed training seed for all trials.** Seeds alone move the AUROC by several hundredths on
#   this data (notebook 06), so trials trained with different seeds would compare seeds as much as
#   settings. The price: the winner is the best for *this* seed; check it on the others with
#   `atomicvad sweep` before trusting it, or let every trial that survives pruning train a second
#   fixed seed too (`atomicvad tune --more-seeds 86648`): its value is then the mean of the two,
#   and one lucky run weighs half as much. `--search learning_rate focal_gamma ...` narrows the
#   space to the settings you suspect matter, so that few trials explore them well.
# * **Trial 0 is the base recipe itself**, so the study shows what the search adds to it.

# %%
rows = [{"setting": p.name, "values": p.describe().split(None, 1)[1].split("  [")[0],
         "only when": f"{p.when[0]} in {list(p.when[1])}" if p.when else "",
         "base (course)": getattr(settings.base, p.name), "why": p.why}
        for p in tuning.SEARCH_SPACE]
pd.DataFrame(rows).set_index("setting")

# %% [markdown]
# **The sampler: TPE** (tree-structured Parzen estimator). The first ten trials are drawn at
# random; after that TPE splits the finished trials into the best quarter and the rest, models
# each group's settings with a kernel density, and proposes the settings where the ratio of the
# two densities is largest. Its random state is fixed by the seed and the trial number, so a study
# reruns the same way, and workers on several machines do not propose the same trial.
#
# ## 2. Hyperband: stop the trials that trail
#
# Most settings are bad, and it shows early: a trial whose validation AUROC trails the others
# after one or two epochs rarely catches up. **Successive halving** starts many trials, and at each
# *rung* (1, 3, 9, ... epochs: a factor η = 3 apart) lets only the best third go on. Its one knob
# is how early the first rung comes: too early and slow starters are killed, too late and little
# is saved. **Hyperband** hedges by running several *brackets* of successive halving side by side,
# each with its first rung later, and assigns each trial to one bracket. The picture below plays
# this out on made-up learning curves (each line a trial; grey lines stopped at a rung):

# %%
def fake_curves(count, max_epochs, rng):
    """Made-up validation AUROC curves: each trial climbs towards its own ceiling."""
    ceiling = rng.uniform(0.6, 0.92, count)
    speed = rng.uniform(0.3, 1.5, count)
    t = np.arange(1, max_epochs + 1)
    noise = rng.normal(0, 0.01, (count, max_epochs))
    return 0.5 + (ceiling[:, None] - 0.5) * (1 - np.exp(-speed[:, None] * t)) + noise


def successive_halving(curves, first_rung, eta=3):
    """The epoch at which each trial stops: the best 1/eta at each rung go on."""
    max_epochs = curves.shape[1]
    stop = np.full(len(curves), max_epochs)
    alive = np.arange(len(curves))
    rung = first_rung
    while rung < max_epochs and len(alive) > 1:
        keep = max(1, len(alive) // eta)
        order = alive[np.argsort(-curves[alive, rung - 1])]
        stop[order[keep:]] = rung
        alive = order[:keep]
        rung *= eta
    return stop


rng = np.random.default_rng(0)
max_epochs, eta = 27, 3
brackets = [(first, curves) for first, curves in
            ((1, fake_curves(27, max_epochs, rng)), (3, fake_curves(9, max_epochs, rng)),
             (9, fake_curves(3, max_epochs, rng)))]
fig, axes = plt.subplots(1, len(brackets), figsize=(13, 3.6), sharey=True, layout="constrained")
for ax, (first, curves) in zip(axes, brackets):
    stop = successive_halving(curves, first, eta)
    for curve, end in zip(curves, stop):
        done = end == max_epochs
        ax.plot(np.arange(1, end + 1), curve[:end], color="C0" if done else "0.6",
                lw=1.8 if done else 0.8)
    for rung in first * eta ** np.arange(4):
        if rung < max_epochs:
            ax.axvline(rung, color="C3", ls=":", lw=1)
    spent = stop.sum()
    ax.set(title=f"bracket: first rung at epoch {first}\n{len(curves)} trials, "
                 f"{spent} epochs instead of {len(curves) * max_epochs}",
           xlabel="epoch", xscale="log")
axes[0].set_ylabel("validation AUROC (made up)")
plotting.save_figure(fig, "08_hyperparameter_search/hyperband_brackets");

# %% [markdown]
# In a study, Optuna's `HyperbandPruner` does this as trials arrive (it cannot pause a trial and
# resume it later, so the first trials at a rung go on when they are the best so far). Every
# trial reports its best validation AUROC so far after each epoch (`trial.report`), and stops when
# `trial.should_prune()` says so; its fold folder keeps the epochs it ran. The brackets of this
# study, with `epochs` as the largest budget:

# %%
n_brackets = int(np.floor(np.log(settings.base.epochs) / np.log(tuning.REDUCTION_FACTOR) + 1e-9)) + 1
pd.DataFrame([{"bracket": b, "first rung (epochs)": tuning.REDUCTION_FACTOR ** b,
               "rungs": [r for r in tuning.REDUCTION_FACTOR ** (b + np.arange(4))
                         if r < settings.base.epochs]} for b in range(n_brackets)]
             ).set_index("bracket")

# %% [markdown]
# ## 3. A small study, headless
#
# `tuning.tune` runs trials in this process until the study holds `n_trials` (running this cell
# again adds none; raise `n_trials` to add more). Each trial trains one fold with `train_fold`
# into `<run_dir>/trials/trial_<n>/`. From a shell, the same is
# `atomicvad tune --run NAME --n-trials 20` (section 6).
#
# **What the course's small study cannot show.** It runs the machinery end to end (trial 0 is the
# base recipe, TPE proposes, Hyperband prunes at epoch 1, Optuna draws its plots), but its numbers
# mean little:
#
# * after two epochs on 1,000 training windows every trial is still close to chance (validation
#   AUROC about 0.55-0.61; notebook 05's models need 12-24 epochs on 6,000 windows to reach
#   0.85-0.90), so which trial wins, the optimisation history and the parameter importances
#   reflect noise, not the settings;
# * with a largest budget of 2 epochs, Hyperband has a single bracket (successive halving with
#   one rung, at epoch 1): the staggered brackets of section 2 need 9 epochs or more;
# * its 3 trials are all drawn at random: TPE models the finished trials only after its first
#   ten.
#
# The full-size study (the defaults, see the top) trains long enough for the values to separate;
# `atomicvad tune --run tune --n-trials 20` (README: about half an hour) is the study whose
# results the README discusses.

# %%
if study_dir:
    study_path = repo_path(study_dir)
    study = optuna.load_study(study_name=study_path.name,
                              storage=storage or tuning.default_storage(study_path))
    print(f"plotting the finished study {study_path.name} ({len(study.trials)} trials)")
else:
    study = tuning.open_study(settings)  # a new study holds trial 0 (the base recipe), waiting
    started = [t for t in study.trials if t.state != optuna.trial.TrialState.WAITING]
    missing = max(0, n_trials - len(started))
    study = tuning.tune(settings, n_trials=missing)
print(tuning.summary(study))
frame = study.trials_dataframe(attrs=("number", "state", "value", "params", "user_attrs"))
columns = ["number", "state", "value", "user_attrs_epochs_run", "params_learning_rate",
           "params_batch_size", "params_optimizer", "params_schedule"]
frame[[c for c in columns if c in frame]].set_index("number").round(4)

# %% [markdown]
# ## 4. Optuna's plots
#
# **Optimisation history**: each finished trial's value and the best so far. Pruned trials have
# no value and do not appear here.

# %%
from optuna.visualization import matplotlib as optuna_plots

ax = optuna_plots.plot_optimization_history(study)
ax.figure.set_size_inches(8, 3.5)
plotting.save_figure(ax.figure, "08_hyperparameter_search/optimization_history");

# %% [markdown]
# **Intermediate values**: the value each trial reported after every epoch. The pruned trials are
# the lines that end early: at a rung, they trailed the trials of their bracket.

# %%
ax = optuna_plots.plot_intermediate_values(study)
ax.figure.set_size_inches(8, 3.5)
ax.set(xlabel="epoch", ylabel="best validation AUROC so far")
if ax.get_legend() is not None:
    ax.get_legend().remove()
plotting.save_figure(ax.figure, "08_hyperparameter_search/intermediate_values");

# %% [markdown]
# **Parameter importances** (fANOVA: how much of the variance of the value each setting explains,
# over the finished trials) and **parallel coordinates** (one line per finished trial across the
# settings, coloured by its value). With a handful of trials both are rough sketches; they become
# informative with dozens.

# %%
complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
if len(complete) >= 2:
    ax = optuna_plots.plot_param_importances(study)
    ax.figure.set_size_inches(7, 4)
    plotting.save_figure(ax.figure, "08_hyperparameter_search/param_importances")
    shown = ["learning_rate", "batch_size", "focal_gamma", "dropout", "label_smoothing",
             "background_prob"]
    ax = optuna_plots.plot_parallel_coordinate(study, params=shown)
    ax.figure.set_size_inches(11, 4)
    plotting.save_figure(ax.figure, "08_hyperparameter_search/parallel_coordinates")
else:
    print(f"{len(complete)} finished trial(s): importances need at least two")

# %% [markdown]
# In JupyterLab a slider browses the trials' training curves (from each trial's
# `training_log.csv`); headless, three trials are drawn.

# %%
logs = {}
for t in study.trials:
    log_file = tuning.trial_dir(settings.run_dir if not study_dir else repo_path(study_dir),
                                t.number) / "checkpoints" / "fold_0" / "training_log.csv"
    if log_file.is_file():
        logs[t.number] = (t, pd.read_csv(log_file))


def draw_trial(fig, index=0):
    number = sorted(logs)[index]
    trial, log = logs[number]
    ax = fig.subplots()
    ax.plot(log["epoch"] + 1, log["auroc"], label="training")
    ax.plot(log["epoch"] + 1, log["val_auroc"], "--", label="validation")
    value = f"{trial.value:.3f}" if trial.value is not None else trial.state.name.lower()
    ax.set(title=f"trial {number}: {value}", xlabel="epoch", ylabel="AUROC", ylim=(0.4, 1.0))
    ax.legend(loc="lower right")


if logs:
    widgets.browse(len(logs), draw_trial, "08_hyperparameter_search/trials",
                   static_indices=sorted({0, len(logs) // 2, len(logs) - 1}), columns=3,
                   panel_size=(4.2, 3.2))

# %% [markdown]
# ## 5. The best trial as a config file
#
# `tuning.tune` writes the best trial's settings on top of the base recipe to
# `<run_dir>/best_config.yaml` (and `best_trial.json` beside it). Train it like any other config:
#
# ```bash
# atomicvad train --config experiments/tune/best_config.yaml --out experiments/tuned --fold 0
# papermill notebooks/05_training.ipynb runs/tuned/05.ipynb -p config experiments/tune/best_config.yaml
# atomicvad sweep --run tuned -p config experiments/tune/best_config.yaml   # all ten seeds
# ```
#
# and compare it with the `course` recipe over several seeds before adopting it: the study chose
# it for one seed, on the validation split.

# %%
best_file = (repo_path(study_dir) if study_dir else settings.run_dir) / tuning.BEST_CONFIG
if best_file.is_file():
    base, best = settings.base.to_dict(), av.Config.load(best_file).to_dict()
    changed = {k: (base[k], best[k]) for k in base if base[k] != best[k] and k != "data_dir"}
    display(pd.DataFrame(changed, index=["base recipe", "best trial"]).T.rename_axis(best_file.name))
else:
    print("no trial has finished yet")

# %% [markdown]
# ## 6. Many machines, one study
#
# A study lives in a database; every process that opens it by name and storage adds trials to
# it. On one machine the default SQLite file is enough (`--jobs 2` runs two trials at once). For
# several machines, keep the study in **PostgreSQL** (SQLite over a network file system locks
# unreliably) and start the same command on each machine:
#
# ```bash
# # once, on the database server
# createdb atomicvad
# # on every machine (same checkout and data_samples/ on each)
# pip install -e ".[postgres]"
# atomicvad tune --run big --storage postgresql+psycopg://USER:PASSWORD@DBHOST/atomicvad \
#     --n-trials 10 --out experiments/big
# ```
#
# Trial numbers come from the database, so they never collide; each machine writes its trials'
# fold folders into its own `experiments/big/trials/`. A machine that dies leaves its trial
# RUNNING only until Optuna's heartbeat notices (5 minutes), then it is marked FAIL.
#
# Or let **Dask** place the trials: start a scheduler and workers (the README shows the three
# commands), then `atomicvad tune --run big --storage postgresql+psycopg://... --scheduler
# tcp://SCHEDULER:8786`. The same flag runs a seed sweep on the cluster: `atomicvad sweep --run
# x --scheduler tcp://SCHEDULER:8786`.
#
# ## Exercises
#
# 1. Run this notebook again without changing anything. How many trials does it train, and why?
#    Then raise `n_trials` by 4.
# 2. Which trials were pruned, and at which epoch? Check with the brackets table of section 2 that
#    they stopped at a rung.
# 3. Train the best config and the `course` recipe for the seeds 86648 and 92813 (notebook 05,
#    `-p config ...`). Does the winner stay ahead on seeds it was not chosen with?
# 4. Why would choosing the settings by *test* AUROC, and then reporting that same test AUROC,
#    overstate how well the model does on new recordings?
#
# Solutions: next cell (expand it in JupyterLab).

# %% jupyter={"source_hidden": true}
# Solutions
# 1. None: the study already holds n_trials trials, and the cell only tops it up (tune with
#    n_trials minus the trials started). A larger n_trials adds the difference, continuing the study.
print("1. trials in the study:", len(study.trials))
# 2. A pruned trial's intermediate values end at a rung of its bracket (1, 3, ... epochs).
print("2.", {t.number: max(t.intermediate_values) for t in study.trials
             if t.state == optuna.trial.TrialState.PRUNED} or "no trial was pruned")
# 3. A sketch: papermill notebooks/05_training.ipynb out.ipynb -p seed 86648 -p config FILE
#    -p run_dir experiments/best_86648, and the same with the course recipe; compare the
#    validation and test AUROC of the two. A setting chosen on one seed often wins by less (or
#    loses) on others: part of its lead was that seed's luck.
# 4. The maximum over many trials of a noisy score is biased upwards: the chosen settings are
#    partly those that happened to suit these particular test windows. The test split must stay
#    unseen until the end to estimate performance on new recordings.
