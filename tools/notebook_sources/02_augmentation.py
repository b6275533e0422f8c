# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · Augmentation, and how it goes wrong
#
# **What you will learn.** A 298-parameter model trained on a few thousand windows memorises them
# unless every epoch shows it slightly different audio. In this notebook you
#
# 1. see each augmentation before and after, with sliders for its parameters: time shift, white
#    noise, background mixing at a signal-to-noise ratio (SNR), SpecAugment and SpecCutout;
# 2. check that the pipeline (`atomicvad_lib.pipeline.make_dataset`) draws *fresh* augmentation
#    every epoch, reproducibly for a seed;
# 3. meet three pitfalls of the original training code, each demonstrated:
#    * `.map(augment).cache()` freezes the augmentation after the first epoch,
#    * background windows loaded but never mixed into speech,
#    * features that depend on the other windows of the batch (MelSpectrogram's batch-wide
#      `top_db` floor).

# %% tags=["parameters"]
quick = False                # smaller demonstrations (for tests)
interactive = None           # None: sliders in JupyterLab, static figures elsewhere
data_dir = "data_samples"    # folder with the six balanced manifests
seed = 43185                 # seed of the augmentation draws
epochs_shown = 3             # epochs drawn in the "fresh every epoch" demonstration
published_dir = "../shared/reference/atomicvad-published"  # a trained model, if available

# %%
import time
import warnings

import librosa
import numpy as np
import matplotlib.pyplot as plt
import pandas as pd
import tensorflow as tf
from IPython.display import display
from tqdm.auto import tqdm

import atomicvad_lib as av
from atomicvad_lib import augment, pipeline, plotting, widgets
from atomicvad_lib.paths import repo_path, repo_root

widgets.use_interactive(interactive)
# the published checkpoints name their input differently; Keras warns on every call
warnings.filterwarnings("ignore", message="The structure of `inputs`")
if quick:
    epochs_shown = min(epochs_shown, 2)
config = av.Config()
frontend = av.MFCC.from_settings(config)  # the model's own MFCC layer, for the figures
training = pipeline.load_split(repo_path(data_dir), "training", config)
speech_rows = np.flatnonzero(training.labels == 1)
background_rows = np.flatnonzero(training.labels == 0)
speech = training.waveforms[speech_rows[0]]
background = training.waveforms[background_rows[0]]
print(f"{len(training)} training windows: {len(speech_rows)} speech, "
      f"{len(background_rows)} background")
display(widgets.audio_table([speech, background], ["speech example", "background example"]))

# %% [markdown]
# ## 1. Waveform augmentations
#
# The pipeline applies three augmentations to every training batch (see `atomicvad_lib.augment`),
# each with its own probability:
#
# | augmentation | what it does | paper setting |
# |---|---|---|
# | background mixing | adds a background window to a *speech* window at an SNR | 0–20 dB, p = 0.5 |
# | time shift | moves the window by up to ±5 ms, zero-filling the gap | p = 0.8 |
# | white noise | adds Gaussian noise at −90 … −46 dB full scale | p = 0.8 |
#
# To look at one augmentation at a time we call the same library function,
# `augment.augment_batch`, with a `Config` in which only that augmentation is switched on and its
# random range collapsed to the slider's value.

# %%
def only(**changes):
    """A Config with every waveform augmentation off except the given settings."""
    return config.replace(**{"time_shift_prob": 0.0, "noise_prob": 0.0, "background_prob": 0.0,
                             **changes})


def augmented(wave, label, cfg, key=0):
    pool = tf.constant(background[None, :])
    out, details = augment.augment_batch(wave[None, :], [label], tf.constant([seed, key]), cfg,
                                         background=lambda i: tf.gather(pool, i),
                                         background_count=1)
    return np.asarray(out[0]), {k: np.asarray(v)[0].item() for k, v in details.items()}


def draw_time_shift(fig, shift_ms):
    cfg = only(time_shift_prob=1.0, time_shift_ms=abs(shift_ms) + 1e-9)
    after, d = augmented(speech, 1, cfg)
    axes = fig.subplots(1, 2)
    n = int(0.03 * config.sample_rate)  # the first 30 ms, where the gap appears
    for ax, wave, title in ((axes[0], speech, "before"), (axes[1], after,
                                                          f"after: shift {d['shift']} samples")):
        plotting.plot_waveform(ax, wave[:n], config.sample_rate, title)


widgets.slider_plot(draw_time_shift, {"shift_ms": (0.0, 20.0, 0.5, 5.0)},
                    [{"shift_ms": 5.0}, {"shift_ms": 20.0}], "02_augmentation/time_shift",
                    columns=1, panel_size=(10, 2.8));

# %% [markdown]
# The shift is drawn uniformly in ±`time_shift_ms` for each window, so the slider sets the *range*;
# the panels show one draw. Five milliseconds is small: the point is that the network must not
# rely on exactly where in the window a sound starts.

# %%
def draw_noise(fig, noise_db):
    cfg = only(noise_prob=1.0, noise_db_min=noise_db, noise_db_max=noise_db)
    after, _ = augmented(background, 0, cfg)
    mfcc = frontend.images(np.stack([background, after]))[..., 0]
    axes = fig.subplots(1, 2)
    plotting.plot_mfcc(axes[0], mfcc[0], config, "background, before")
    plotting.plot_mfcc(axes[1], mfcc[1], config, f"after: white noise at {noise_db:.0f} dBFS")


widgets.slider_plot(draw_noise, {"noise_db": (-90.0, -10.0, 2.0, -46.0)},
                    [{"noise_db": -90.0}, {"noise_db": -46.0}, {"noise_db": -20.0}],
                    "02_augmentation/white_noise", columns=1, panel_size=(10, 3.0),
                    after=lambda noise_db: widgets.audio_player(augmented(
                        background, 0, only(noise_prob=1.0, noise_db_min=noise_db,
                                            noise_db_max=noise_db))[0]));

# %% [markdown]
# Quiet noise fills the lowest MFCC values (the floor of the log-mel spectrum), which is exactly
# where a quiet recording differs from digital silence: the model learns not to treat that
# difference as a cue.
#
# ### Background mixing at an SNR
#
# `augment.mix_at_snr(speech, noise, snr_db)` scales the background so that the power ratio
# speech : background is `snr_db` decibels, then adds it. At 20 dB the speech dominates; at 0 dB
# both are equally loud. The label stays *speech*: the model must find speech inside noise.

# %%
def mixed(snr_db):
    return np.asarray(augment.mix_at_snr(speech, background, snr_db))


def draw_mix(fig, snr_db):
    out = mixed(snr_db)
    log_mel = np.asarray(frontend.log_mel(np.stack([speech, background, out])))
    axes = fig.subplots(1, 3)
    for ax, spec, title in zip(axes, log_mel, ("speech", "background",
                                               f"speech + background at {snr_db:.0f} dB")):
        plotting.plot_log_mel(ax, spec, config, title)


widgets.slider_plot(draw_mix, {"snr_db": (-10.0, 30.0, 1.0, 10.0)},
                    [{"snr_db": 20.0}, {"snr_db": 5.0}, {"snr_db": -5.0}],
                    "02_augmentation/background_mixing", columns=1, panel_size=(12, 3.0),
                    after=lambda snr_db: widgets.audio_player(mixed(snr_db)));

# %%
# check: the power ratio of the mix is the requested SNR
for snr in (0.0, 10.0, 20.0):
    added = mixed(snr) - speech
    print(f"requested {snr:4.1f} dB -> measured "
          f"{10 * np.log10(np.mean(speech ** 2) / np.mean(added ** 2)):.2f} dB")

# %% [markdown]
# ### Optional: pitch shift and time stretch with librosa
#
# Two augmentations a speech student may expect are not in the pipeline: shifting the pitch
# (another voice) and stretching time (another speaking rate). `librosa.effects` has both,
# built on the short-time Fourier transform: `pitch_shift` stretches time with a phase vocoder and
# resamples back to the original length, `time_stretch` changes the rate only (here cut or
# zero-padded back to one window). Listen, and look at the harmonics move (the figures use
# `librosa.display.specshow`, with the mel bands' frequencies in Hz and time in seconds):

# %%
def fit_window(wave):
    """Cut or zero-pad to one window."""
    return np.pad(wave, (0, max(0, config.window_samples - len(wave))))[:config.window_samples]


def pitch_shifted(wave, semitones):
    return librosa.effects.pitch_shift(wave, sr=config.sample_rate, n_steps=semitones)


def time_stretched(wave, rate):
    return fit_window(librosa.effects.time_stretch(wave, rate=rate))


def draw_librosa_effects(fig, semitones, rate):
    waves = (speech, pitch_shifted(speech, semitones), time_stretched(speech, rate))
    log_mel = np.asarray(frontend.log_mel(np.stack(waves)))
    axes = fig.subplots(1, 3)
    for ax, spec, title in zip(axes, log_mel, ("speech", f"pitch {semitones:+.0f} semitones",
                                               f"time stretched x{rate:.2f}")):
        plotting.plot_log_mel(ax, spec, config, title)


widgets.slider_plot(draw_librosa_effects, {"semitones": (-6.0, 6.0, 1.0, 3.0),
                                           "rate": (0.7, 1.4, 0.05, 1.2)},
                    [{"semitones": 3.0, "rate": 1.2}, {"semitones": -4.0, "rate": 0.8}],
                    "02_augmentation/pitch_and_tempo", columns=1, panel_size=(12, 3.0),
                    after=lambda semitones, rate: widgets.audio_table(
                        [pitch_shifted(speech, semitones), time_stretched(speech, rate)],
                        [f"pitch {semitones:+.0f}", f"tempo x{rate:.2f}"]));

# %% [markdown]
# They stay optional because of their cost. Measured here per window: librosa's effects run in
# NumPy, one window at a time, while the pipeline's three augmentations run on whole batches in
# one compiled TensorFlow function:

# %%
def per_window_ms(function, waves, repeats=1):
    function(waves[0])  # warm-up (caches, first-call set-up)
    started = time.perf_counter()
    for _ in range(repeats):
        for wave in waves:
            function(wave)
    return 1000 * (time.perf_counter() - started) / (repeats * len(waves))


sample = training.waveforms[speech_rows[:8 if quick else 32]]
batch = tf.constant(training.waveforms[:256])
batch_labels = tf.constant(training.labels[:256])
key = tf.constant([seed, 1], tf.int64)
pool = tf.constant(training.waveforms[background_rows])


def pipeline_augmentations():
    return augment.augment_batch(batch, batch_labels, key, config,
                                 background=lambda i: tf.gather(pool, i),
                                 background_count=len(background_rows))


pipeline_augmentations()  # warm-up: compiles the batch function
started = time.perf_counter()
for _ in range(5):
    pipeline_augmentations()
pipeline_ms = 1000 * (time.perf_counter() - started) / (5 * len(batch))
costs = pd.DataFrame({"ms per window": {
    "librosa pitch_shift (+2 semitones)": per_window_ms(lambda w: pitch_shifted(w, 2.0), sample),
    "librosa time_stretch (x1.1)": per_window_ms(lambda w: time_stretched(w, 1.1), sample),
    "the pipeline's shift + noise + mixing (a batch of 256)": pipeline_ms}})
costs["windows per second (one core)"] = 1000 / costs["ms per window"]
costs.round(3)

# %% [markdown]
# Each librosa effect costs one to two orders of magnitude more per window than all of the
# pipeline's augmentations together; drawn afresh every epoch they would make the input pipeline,
# not the model, the bottleneck of training (``benchmarks/pipeline_throughput.py`` measures the
# pipeline). To use them anyway, apply them once, offline, to make extra training windows, or
# call them from `tf.numpy_function` in the pipeline and pay the price.
#
# ## 2. SpecAugment and SpecCutout
#
# These two act on the MFCC image inside the model, and only while training (`training=True`):
#
# * **SpecAugment** (Park et al., 2019) blanks `freq_masks` horizontal bands of up to
#   `freq_mask_param` coefficients and `time_masks` vertical bands of up to `time_mask_param`
#   frames;
# * **SpecCutout** blanks `cutout_masks` rectangles of up to `cutout_time` x `cutout_freq`.
#
# Both force the model to use the whole image instead of one tell-tale region.

# %%
speech_mfcc = frontend.images(speech[None, :])


def draw_spec(fig, freq_mask_param, time_mask_param, cutout_masks, draw):
    spec = av.SpecAugment(freq_mask_param, time_mask_param, config.freq_masks, config.time_masks,
                          seed=seed + draw)
    cut = av.SpecCutout(cutout_masks, config.cutout_time, config.cutout_freq, seed=seed + draw)
    after_spec = np.asarray(spec(speech_mfcc, training=True))
    after_both = np.asarray(cut(after_spec, training=True))
    axes = fig.subplots(1, 3)
    for ax, image, title in zip(axes, (speech_mfcc, after_spec, after_both),
                                ("MFCC", "SpecAugment", "SpecAugment + SpecCutout")):
        plotting.plot_mfcc(ax, image[0, ..., 0], config, title)


widgets.slider_plot(draw_spec, {"freq_mask_param": (0, 40, 1, config.freq_mask_param),
                                "time_mask_param": (0, 60, 1, config.time_mask_param),
                                "cutout_masks": (0, 10, 1, config.cutout_masks),
                                "draw": (0, 20, 1, 0)},
                    [{}, {"draw": 1}, {"freq_mask_param": 30, "time_mask_param": 50, "draw": 2}],
                    "02_augmentation/spec_augment", columns=1, panel_size=(12, 3.0));

# %%
# at inference both layers pass the image through unchanged
spec = av.SpecAugment(config.freq_mask_param, config.time_mask_param, seed=seed)
print("unchanged at inference:", np.array_equal(np.asarray(spec(speech_mfcc, training=False)),
                                                speech_mfcc))

# %% [markdown]
# ## 3. Fresh augmentation every epoch
#
# `pipeline.make_dataset(windows, config, seed, training=True)` builds a `tf.data` pipeline that
# decodes nothing (the windows are decoded and cached once, *before* augmentation) and draws each
# batch's augmentation from a key derived from (seed, epoch, batch). Iterating it again is a new
# epoch: new order, new draws. `return_details=True` exposes each window's draws, so we can follow
# one window through a few epochs.

# %%
def epoch_draws(dataset, epochs):
    rows = []
    for epoch in tqdm(range(epochs), desc="epochs"):
        for waves, labels, details in dataset:
            index = details["index"].numpy()
            for k in np.flatnonzero(index == speech_rows[0]):
                rows.append({"epoch": epoch, "shift (samples)": int(details["shift"][k]),
                             "noise (dBFS)": float(details["noise_db"][k]),
                             "background SNR (dB)": float(details["snr_db"][k]),
                             "checksum": float(np.sum(np.abs(waves[k])))})
    return pd.DataFrame(rows).set_index("epoch")


small = config.replace(batch_size=16)
first = epoch_draws(pipeline.make_dataset(training, small, seed, training=True,
                                          return_details=True), epochs_shown)
again = epoch_draws(pipeline.make_dataset(training, small, seed, training=True,
                                          return_details=True), epochs_shown)
print("same seed, same draws:", first.equals(again))
first

# %% [markdown]
# Every epoch the same window gets a different shift, noise level and (speech only) background
# SNR; NaN means that augmentation was not applied that time. Rebuilding the dataset with the same
# seed repeats everything exactly, which makes runs reproducible.
#
# ## 4. Pitfall 1: `.map(augment).cache()` freezes augmentation
#
# `Dataset.cache()` stores whatever comes out of the steps *before* it the first time through,
# and replays it from then on. Placed after a random augmentation, it replays epoch one's random
# draws forever: from epoch two the model trains on a fixed, slightly noisy copy of the data.
# Here is the mistake with plain `tf.data`; the noise comes from a `tf.random.Generator`, whose
# state advances with every draw:

# %%
windows = tf.constant(training.waveforms[:8])
generator = tf.random.Generator.from_seed(seed)


def noisy(x):
    return x + 0.01 * generator.normal(tf.shape(x))


def seeded_noisy(x):  # an op-level random op under a global seed
    return x + 0.01 * tf.random.normal(tf.shape(x))


def epoch_sums(dataset, epochs=3):
    return [float(sum(tf.reduce_sum(tf.abs(x)).numpy() for x in dataset)) for _ in range(epochs)]


wrong = tf.data.Dataset.from_tensor_slices(windows).map(noisy).cache()
right = tf.data.Dataset.from_tensor_slices(windows).cache().map(noisy)
tf.random.set_seed(seed)
restarted = tf.data.Dataset.from_tensor_slices(windows).cache().map(seeded_noisy)
table = pd.DataFrame({".map(augment).cache()": epoch_sums(wrong),
                      ".cache().map(augment)": epoch_sums(right),
                      ".cache().map(tf.random.normal), global seed": epoch_sums(restarted)},
                     index=pd.Index([1, 2, 3], name="epoch"))
table

# %%
assert table.iloc[:, 0].nunique() == 1, "the cached pipeline repeats epoch one"
assert table.iloc[:, 1].nunique() == 3, "the correct order draws anew"
first_wrong = [x.numpy() for x in wrong]
second_wrong = [x.numpy() for x in wrong]
print("wrong order, epoch 1 == epoch 2, sample for sample:",
      all(np.array_equal(a, b) for a, b in zip(first_wrong, second_wrong)))

# %% [markdown]
# The third column is a subtler trap: a random op such as `tf.random.normal` inside `Dataset.map`,
# under `tf.random.set_seed`, restarts its sequence every time the dataset is iterated, so even
# the right order repeats the same noise each epoch. Stateful generators
# (`tf.random.Generator`) or stateless ops with a key that includes the epoch (what
# `make_dataset` does) avoid it.
#
# The fix is the order: cache the *decoded* audio, augment after the cache. This library goes one
# step further: `load_windows` caches decoded windows outside `tf.data` altogether, so no cache can
# sit after the augmentation.
#
# ## 5. Pitfall 2: background loaded but never mixed
#
# The original training script read the background manifests, but the noise-mixing step never
# received them: the model never heard speech over background noise, although the paper
# describes it. In `make_dataset`, `background=None` (the default) mixes the batch's own
# background windows into speech; `background=False` reproduces the bug. Count the speech windows
# that were mixed in one epoch:

# %%
def mixed_share(background_option):
    dataset = pipeline.make_dataset(training, small, seed, training=True,
                                    background=background_option, return_details=True)
    mixed_count = speech_count = 0
    for _, labels, details in dataset:
        is_speech = labels.numpy()[:, 1] == 1
        speech_count += int(is_speech.sum())
        mixed_count += int((details["background_index"].numpy()[is_speech] >= 0).sum())
    return mixed_count / max(speech_count, 1)


pd.DataFrame({"share of speech windows mixed with background":
              {"background never passed (the bug)": mixed_share(False),
               "background mixed (default)": mixed_share(None)}})

# %% [markdown]
# With the default, about `background_prob` = 50 % of speech windows are mixed each epoch.
#
# ## 6. Pitfall 3: features that depend on the batch
#
# Keras' `MelSpectrogram` converts power to decibels and floors everything `top_db` = 80 dB below
# the maximum, but the maximum is taken over the **whole batch**. A quiet window batched with a
# loud one is then floored 80 dB below the loud one, not below itself: its MFCCs, and the model's
# answer, change with its batch mates. Evaluation then depends on the batch size and the shuffle,
# and a device that classifies one window at a time sees features it was never trained on.
#
# `MFCC(floor="batch")` reproduces that behaviour; this library's default, `floor="window"`,
# takes the maximum per window. Below, a quiet background window is featurised alone and together
# with a loud speech window.

# %%
quiet = (background * 0.003).astype(np.float32)
loud = (speech / np.abs(speech).max() * 0.9).astype(np.float32)
rows, images = [], {}
for floor in ("batch", "window"):
    layer = av.MFCC.from_settings(config, floor=floor)
    alone = layer.images(quiet[None])[0, ..., 0]
    together = layer.images(np.stack([quiet, loud]))[0, ..., 0]
    images[floor] = (alone, together)
    rows.append({"floor": floor, "max |MFCC alone - MFCC with a loud batch mate|":
                 float(np.max(np.abs(alone - together)))})
pd.DataFrame(rows).set_index("floor")

# %%
fig, axes = plt.subplots(1, 4, figsize=(17, 3.4))
for ax, (title, image) in zip(axes, [("batch floor: alone", images["batch"][0]),
                                     ("batch floor: with a loud window", images["batch"][1]),
                                     ("window floor: alone", images["window"][0]),
                                     ("window floor: with a loud window", images["window"][1])]):
    plotting.plot_mfcc(ax, image, config, title)
fig.suptitle("The same quiet window, featurised alone and in a batch")
plotting.save_figure(fig, "02_augmentation/batch_dependent_features");

# %% [markdown]
# And the prediction: a published checkpoint when available (otherwise a freshly initialised
# model), with its MFCC layer switched between the two floors.

# %%
published = sorted((repo_root() / published_dir).resolve().glob("AtomicVADGGCU-chkpt*.keras"))
model = av.load_model(published[0]) if published else av.build_model(config, seed=seed)
print("model:", published[0].name if published else "untrained (no published checkpoint found)")
frontend = next(layer for layer in model.layers if isinstance(layer, av.MFCC))
rows = []
for floor in ("batch", "window"):
    frontend.floor = floor
    alone = float(model(quiet[None], training=False)[0, 1])
    together = float(model(np.stack([quiet, loud]), training=False)[0, 1])
    rows.append({"floor": floor, "P(speech) alone": alone, "P(speech) with a loud batch mate": together})
frontend.floor = "window"
pd.DataFrame(rows).set_index("floor").round(4)

# %% [markdown]
# With the batch floor the quiet window's answer moves when a loud window joins its batch; with the
# per-window floor it does not move at all. (With a batch of one the two floors are identical,
# which is how the published checkpoints are checked against the authors' numbers.)
#
# ## Exercises
#
# 1. Set the noise slider to −90 dBFS and to −46 dBFS. Why do you hardly see the quiet one on the
#    waveform but clearly on the MFCC image?
# 2. Build a training dataset with `config.replace(background_prob=1.0)` and measure the share of
#    mixed speech windows with `mixed_share`. Why is it not exactly 1 for background windows?
# 3. Move `.cache()` in the pitfall-1 demonstration before `.map(noisy)` but add `.shuffle(8)`
#    *after* the cache. Are the epochs still different? What if `shuffle` comes before `cache`?
# 4. Predict the quiet window in a batch with *another quiet* window, with both floors. Does the
#    batch floor still change the answer? Explain.
#
# Solutions: next cell (expand it in JupyterLab).

# %% jupyter={"source_hidden": true}
# Solutions
# 1. Amplitude 10^(-90/20) ~ 3e-5 is invisible on a +-1 scale, but the log-mel spectrum is in dB:
#    the noise lifts the floor of empty bands by tens of dB, which MFCCs show clearly.
# 2. Only speech windows are mixed (background + background is still background), so the share of
#    *speech* windows mixed is 1, and of all windows about the speech fraction.
config_all = config.replace(background_prob=1.0, batch_size=16)
ds = pipeline.make_dataset(training, config_all, seed, training=True, return_details=True)
speech_mixed = [bool(i >= 0) for _, y, d in ds for i, s in zip(d["background_index"].numpy(),
                                                                 y.numpy()[:, 1]) if s == 1]
print("2. share of speech windows mixed with background_prob=1:", np.mean(speech_mixed))
# 3. cache -> shuffle: the data are re-shuffled each epoch, noise drawn anew: epochs differ.
#    shuffle -> cache: the first epoch's order is frozen too, like the noise in pitfall 1.
order_frozen = tf.data.Dataset.range(8).shuffle(8, seed=1).cache()
print("3. shuffle before cache:", [[int(v) for v in order_frozen] for _ in range(2)])
# 4. Two quiet windows of similar level have similar maxima, so the batch floor hardly moves:
#    the effect needs a batch mate much louder than the window.
frontend.floor = "batch"
other = (background_rows[-1] if len(background_rows) > 1 else background_rows[0])
pair = np.stack([quiet, (training.waveforms[other] * 0.003).astype(np.float32)])
print("4.", float(model(quiet[None])[0, 1]), float(model(pair)[0, 1]))
frontend.floor = "window"
