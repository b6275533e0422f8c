# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · The data: manifests, windows, features
#
# **What you will learn.** Before training anything, look at the data. In this notebook you
#
# 1. read the six *manifests* (one JSON object per line, NeMo style) that define the training,
#    validation and testing splits of speech and background windows;
# 2. count what is in them: windows per class and split, clips, durations, and the balance of
#    speakers, languages and background sources, including whether any speaker leaks across splits;
# 3. see where the recordings come from: which Debian packages, speakers, languages and kinds of
#    background, at which levels, SNRs and bandwidths, and listen to each kind;
# 4. look at and listen to examples: waveforms, log-mel spectrograms and the 64x64 MFCC images the
#    network actually sees, side by side;
# 5. compare the course's MFCCs with librosa's, number by number, and see why the model keeps its
#    own;
# 6. browse the examples interactively (in JupyterLab; a static grid elsewhere).
#
# `data_samples/` is made of **real recordings**: human voices (children's-game words and letters
# recorded by KDE volunteers in 29 languages, professional telephone prompts, game dialogue and
# unit voices, Mandarin syllables, an audiobook reading) and real sounds (music, ambience, city and
# machine noises, game effects, drums, a keyboard, and the room tone between words), all from
# Debian packages whose licences allow redistribution. `data_samples/README.md` tells how and why
# it was built that way; `data_samples/SOURCES.md` and `LICENSE-DATA` credit every author.
#
# The reading and decoding are `atomicvad_lib.manifest` and `atomicvad_lib.pipeline`; this
# notebook calls them.

# %% tags=["parameters"]
quick = False                # fewer examples and no clip-length scan (for tests)
interactive = None           # None: widgets in JupyterLab, static figures elsewhere
data_dir = "data_samples"    # folder with the six balanced manifests
seed = 0                     # which examples are drawn
examples_per_class = 3

# %%
import librosa
import librosa.display
import numpy as np
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display
from tqdm.auto import tqdm

import atomicvad_lib as av
from atomicvad_lib import audio, manifest, pipeline, plotting, widgets
from atomicvad_lib.paths import repo_path

widgets.use_interactive(interactive)
config = av.Config()
frontend = av.MFCC.from_settings(config)  # the model's own MFCC layer
data_path = repo_path(data_dir)
rng = np.random.default_rng(seed)
if quick:
    examples_per_class = min(examples_per_class, 2)

# %% [markdown]
# ## 1. The manifests
#
# Each split has two manifests, `balanced_speech_<split>_manifest.json` and
# `balanced_background_<split>_manifest.json`. Every line describes one 0.63 s window:
# `audio_filepath` (relative to the manifest's folder), `offset` and `duration` in seconds, and a
# `label`; extra keys are kept in `entry.extra`. Here they are `speaker` (the group of recordings
# that may be one person, kept inside one split), `language`, `source` (`clean`, or the background
# mixed under the speech) and `active` (the share of the window that is speech in the clean
# recording) for speech; `source` and `category` for backgrounds. Here are the first lines of one
# manifest, raw:

# %%
paths = {split: manifest.split_manifests(data_path, split) for split in manifest.SPLITS}
print("".join(paths["training"]["speech"].read_text().splitlines(keepends=True)[:3]))

# %%
rows = []
for split in manifest.SPLITS:
    for label, path in paths[split].items():
        for entry in manifest.read_manifest(path):
            rows.append({"split": split, "label": entry.label, "file": entry.audio_filepath,
                         "offset": entry.offset, "duration": entry.duration, **entry.extra})
windows = pd.DataFrame(rows)
windows.head()

# %% [markdown]
# ## 2. What is in them
#
# **Class balance.** The manifests are *balanced*: as many background as speech windows in every
# split, so accuracy is meaningful and a model cannot win by always answering the majority class.

# %%
counts = windows.pivot_table(index="split", columns="label", values="offset", aggfunc="size")
counts = counts.reindex(list(manifest.SPLITS))
counts["clips"] = windows.groupby("split")["file"].nunique()
counts["windows per clip"] = (counts["speech"] + counts["background"]) / counts["clips"]
counts["speech share"] = counts["speech"] / (counts["speech"] + counts["background"])
counts.round(2)

# %% [markdown]
# **Durations.** Each window is 0.63 s (10,080 samples); several windows are cut from one clip at
# different offsets. The clips' lengths come from their headers (`audio.audio_info`).

# %%
files = windows.drop_duplicates("file")
if quick:
    files = files.groupby(["split", "label"]).head(20)
lengths = pd.DataFrame([{"split": row.split, "label": row.label,
                         "clip seconds": audio.audio_info(row.file).duration}
                        for row in tqdm(files.itertuples(), total=len(files), desc="clip headers")])
fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
for label, group in lengths.groupby("label"):
    axes[0].hist(group["clip seconds"], bins=30, alpha=0.6, label=label)
axes[0].set(xlabel="clip length (s)", ylabel="clips", title="clip lengths")
axes[0].legend()
for label, group in windows.groupby("label"):
    axes[1].hist(group["offset"], bins=30, alpha=0.6, label=label)
axes[1].set(xlabel="window offset in its clip (s)", ylabel="windows", title="where windows start")
axes[1].legend()
plotting.save_figure(fig, "01_data_exploration/durations")
lengths.groupby(["split", "label"])["clip seconds"].agg(["count", "sum", "mean", "min", "max"]).round(2)

# %% [markdown]
# **Voice and source balance.** A detector must work for voices it has never heard. If the same
# voice appeared in training and testing, the test score would flatter the model. The table counts
# windows per voice attribute and split, and the last check lists values shared between splits.

# %%
attributes = [c for c in ("speaker", "voice", "language", "source", "category")
              if c in windows and windows[c].notna().any()]
print("attributes in the manifests:", attributes or "none beyond the standard keys")
for attribute in attributes:
    table = windows.pivot_table(index=attribute, columns="split", values="offset", aggfunc="size",
                                fill_value=0)
    print(f"\n{attribute}: {len(table)} distinct values; the ten most frequent:")
    display(table.reindex(columns=list(manifest.SPLITS), fill_value=0)
            .assign(total=lambda t: t.sum(axis=1)).sort_values("total", ascending=False).head(10))

# %%
leaks = {}
for attribute in [a for a in attributes if a in ("voice", "speaker")]:
    speech = windows[windows.label == "speech"]
    sets = {split: set(speech.loc[speech.split == split, attribute].dropna())
            for split in manifest.SPLITS}
    leaks[attribute] = {"training & validation": len(sets["training"] & sets["validation"]),
                        "training & testing": len(sets["training"] & sets["testing"])}
pd.DataFrame(leaks).rename_axis("shared between") if leaks else print("no voice attribute")

# %%
if attributes:
    attribute = next(a for a in ("speaker", "voice") + tuple(attributes) if a in attributes)
    top = windows[windows.label == "speech"].groupby(["split", attribute]).size()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for ax, split in zip(axes, manifest.SPLITS):
        if split in top.index.get_level_values(0):
            top[split].sort_values().tail(12).plot.barh(ax=ax, color="C0")
        ax.set(title=f"{split}: speech windows per {attribute}", xlabel="windows", ylabel="")
    fig.tight_layout()
    plotting.save_figure(fig, "01_data_exploration/voices")

# %% [markdown]
# ## 3. Where the recordings come from
#
# `clips.json` (written by `scripts/make_data_samples.py` beside the manifests) describes every
# FLAC clip: split, speaker group or background source, the Debian packages and licences of what
# is in it, the recordings it was cut from, its level, its bandwidth, and for held-out speech the
# background mixed under it and at which SNR. A data folder of your own needs no such file; the
# cells below then say so and move on.

# %%
clips_path = data_path / "clips.json"
clips = pd.read_json(clips_path) if clips_path.is_file() else None
if clips is None:
    print("no clips.json in", data_path, "- the source tables are skipped")
else:
    speech_clips = clips[clips.label == "speech"]
    summary = pd.DataFrame({
        "speech clips": speech_clips.groupby("split").size(),
        "speech seconds": speech_clips.groupby("split")["seconds"].sum(),
        "active speech seconds": speech_clips.groupby("split")["active_seconds"].sum(),
        "speaker groups": speech_clips.groupby("split")["group"].nunique(),
        "languages": speech_clips.groupby("split")["language"].nunique(),
        "background clips": clips[clips.label == "background"].groupby("split").size(),
        "background seconds": clips[clips.label == "background"].groupby("split")["seconds"].sum(),
        "background sources": clips[clips.label == "background"].groupby("split")["group"].nunique(),
    }).reindex(list(manifest.SPLITS))
    summary.loc["total"] = summary.sum()
    summary.loc["total", ["speaker groups", "languages", "background sources"]] = [
        speech_clips["group"].nunique(), speech_clips["language"].nunique(),
        clips.loc[clips.label == "background", "group"].nunique()]
    display(summary.round(0).astype(int))

# %% [markdown]
# **Speakers and languages per split.** Whole speakers are held out: every recording of a speaker
# group sits in one split. KDE's volunteers are grouped by language across KLettres and
# KTuberling (one person may have recorded both), the two Asterisk voices of Allison Smith
# (English and Spanish) are one group, and MegaGlest's unit voices (the developer's family and
# friends, not credited one by one) are one group.

# %%
if clips is not None:
    speakers = (speech_clips.groupby(["split", "group"])
                .agg(languages=("language", lambda v: ", ".join(sorted(set(v)))),
                     packages=("packages", lambda v: ", ".join(sorted({p for ps in v for p in ps}))),
                     clips=("file", "size"), active_seconds=("active_seconds", "sum"),
                     band_khz=("band_hz", lambda v: round(float(np.median(v)) / 1000, 1)))
                .round(1).reindex(list(manifest.SPLITS), level="split"))
    display(speakers)

# %%
if clips is not None:
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for ax, split in zip(axes, manifest.SPLITS):
        per_language = speech_clips[speech_clips.split == split].groupby("language")["active_seconds"].sum()
        per_language.sort_values().plot.barh(ax=ax, color="C0")
        ax.set(title=f"{split}: seconds of speech per language", xlabel="s", ylabel="")
    fig.tight_layout()
    plotting.save_figure(fig, "01_data_exploration/languages")

# %% [markdown]
# **Backgrounds per category.** Background sources (a music track, a tileset's rain, a drum, the
# keyboard) are assigned whole to one split, category by category, so every split has music,
# ambience, effects, machines and percussion, but never the same recording. Room tone (the quiet
# stretches between words, at least 50 ms from any speech) comes from the split's own speech
# recordings.

# %%
if clips is not None:
    background_windows = windows[windows.label == "background"]
    display(background_windows.pivot_table(index="category", columns="split", values="offset",
                                           aggfunc="size", fill_value=0)
            .reindex(columns=list(manifest.SPLITS), fill_value=0))

# %% [markdown]
# **Packages and licences.** Each clip keeps the licence of what it was made from; a mixed clip
# only combines compatible licences. Some authors ask to be credited visibly, so here they are
# (from `LICENSE-DATA`):

# %%
if clips is not None:
    packages = clips.explode("packages").groupby(["packages", "label"])["seconds"].sum().unstack(fill_value=0)
    packages["licences"] = clips.explode("packages").groupby("packages")["licences"].agg(
        lambda v: ", ".join(sorted({l for ls in v for l in ls})))
    display(packages.round(0))
    licence_text = (data_path / "LICENSE-DATA").read_text(encoding="utf-8")
    print(licence_text[licence_text.find("Attributions that must be shown"):])

# %% [markdown]
# **Levels, SNRs, bandwidth.** Every clip is scaled to a random level (speech: -38 to -14 dBFS over
# its active samples; backgrounds: -52 to -14 dBFS), so loudness does not give the class away.
# Part of the validation and test speech is mixed with a background of the same split at 0-20 dB
# SNR; training speech stays clean, since training mixes backgrounds in on the fly
# (`Config.background_prob`). A minority of voices are telephone-band (8 kHz recordings, nothing
# above 4 kHz).

# %%
if clips is not None:
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.5))
    for label, group in clips.groupby("label"):
        axes[0].hist(group["level_dbfs"], bins=30, alpha=0.6, label=label)
    axes[0].set(xlabel="clip level (dBFS)", ylabel="clips", title="levels")
    axes[0].legend()
    mixed = speech_clips[speech_clips.mixed_with.astype(bool)]
    for split, group in mixed.groupby("split"):
        axes[1].hist(group["snr_db"], bins=10, alpha=0.6, label=split)
    axes[1].set(xlabel="SNR (dB)", ylabel="clips", title="held-out speech mixed with background")
    axes[1].legend()
    for label, group in clips.groupby("label"):
        axes[2].hist(group["band_hz"] / 1000, bins=30, alpha=0.6, label=label)
    axes[2].set(xlabel="99.5 % of the power below (kHz)", ylabel="clips", title="bandwidth")
    axes[2].legend()
    fig.tight_layout()
    plotting.save_figure(fig, "01_data_exploration/sources")
    print(f"mixed: {len(mixed)} of {len(speech_clips[speech_clips.split != 'training'])} held-out "
          f"speech clips; telephone band (< 4.2 kHz): "
          f"{(speech_clips.band_hz < 4200).mean():.0%} of speech clips")

# %% [markdown]
# **Listening.** One window of each kind from the test split: clean speech, speech under a
# background, and backgrounds of several categories, room tone included.

# %%
testing_windows = windows[windows.split == "testing"]
kinds = []
if "source" in testing_windows:
    speech_rows = testing_windows[testing_windows.label == "speech"]
    kinds += [("clean speech", speech_rows[speech_rows.source == "clean"]),
              ("speech + background", speech_rows[speech_rows.source != "clean"])]
if "category" in testing_windows:
    bg_rows = testing_windows[testing_windows.label == "background"]
    for category in sorted(bg_rows.category.dropna().unique()):
        kinds.append((category, bg_rows[bg_rows.category == category]))
listen, names = [], []
for name, rows in kinds[: 4 if quick else None]:
    if len(rows):
        row = rows.iloc[int(rng.integers(len(rows)))]
        listen.append(audio.load_audio(row.file, row.offset, config.window_seconds, config.sample_rate))
        names.append(f"{name}: {row.get('speaker', '') if row.label == 'speech' else row.source}")
if listen:
    display(widgets.audio_table(np.stack(listen), names))
else:
    print("no source or category columns to pick examples by")

# %% [markdown]
# ## 4. Examples: waveform, spectrogram, MFCC
#
# `pipeline.load_split` decodes the first 0.63 s from each entry's offset (resampled to 16 kHz
# mono if needed) once, and caches the result. Below, a few random windows of each class. Read
# each column top to bottom:
#
# * the **waveform**: amplitude over time;
# * the **log-mel spectrogram**: energy per mel band over time, in dB; the axis is labelled with
#   each band's frequency in Hz, on the mel scale (`librosa.display.specshow` draws it);
# * the **MFCC image**: the cosine transform of each log-mel frame; low coefficients describe the
#   spectral envelope (vowel colour), high ones fine detail. These 64 x 64 numbers are the model's
#   input.

# %%
training = pipeline.load_split(data_path, "training", config)
picked = np.concatenate([rng.choice(np.flatnonzero(training.labels == value),
                                    size=min(examples_per_class, int((training.labels == value).sum())),
                                    replace=False) for value in (1, 0)])


def describe(i):
    entry = training.entries[i]
    detail = (entry.extra.get("speaker") or entry.extra.get("voice") if entry.label == "speech"
              else entry.extra.get("source")) or entry.audio_filepath.name
    return f"{entry.label}: {detail}"


fig = plotting.plot_examples(training.waveforms[picked], [describe(i) for i in picked], config)
plotting.save_figure(fig, "01_data_exploration/examples");

# %%
display(widgets.audio_table(training.waveforms[picked], [describe(i) for i in picked]))

# %% [markdown]
# Speech shows harmonics (parallel horizontal lines in the spectrogram) that move with the
# pitch, and energy that comes and goes at the rate of syllables. Backgrounds are steadier, or
# broadband, or percussive, or musical (harmonics too, but held notes rather than syllables).
# Loudness, on the other hand, is no clue:

# %%
level = 10 * np.log10(np.mean(np.square(training.waveforms, dtype=np.float64), axis=1) + 1e-12)
fig, ax = plt.subplots(figsize=(7, 3.5))
for value, name in ((1, "speech"), (0, "background")):
    ax.hist(level[training.labels == value], bins=40, alpha=0.6, label=name)
ax.set(xlabel="window level (dB RMS re full scale)", ylabel="windows",
       title="Levels overlap: loudness alone cannot tell speech")
ax.legend()
plotting.save_figure(fig, "01_data_exploration/levels");

# %% [markdown]
# ## 5. The course's MFCCs beside librosa's
#
# librosa is the usual Python library for audio features. Below, one speech window three ways,
# each drawn by `librosa.display.specshow` with real axes: the plain short-time Fourier transform
# (STFT) power in Hz, the course's log-mel spectrogram (mel bands, labelled in Hz), and
# `librosa.feature.mfcc`.

# %%
wave = training.waveforms[picked[0]]
frames = dict(n_fft=config.n_fft, hop_length=config.hop_length, win_length=config.win_length,
              window=config.window)
stft_db = librosa.amplitude_to_db(np.abs(librosa.stft(wave, **frames)), ref=np.max,
                                  top_db=config.top_db)
fig, axes = plt.subplots(1, 3, figsize=(16, 3.6))
image = librosa.display.specshow(stft_db, sr=config.sample_rate, hop_length=config.hop_length,
                                 x_axis="time", y_axis="hz", cmap="magma", ax=axes[0])
axes[0].set_title(f"STFT power (dB), {describe(picked[0])}")
fig.colorbar(image, ax=axes[0], format="%+.0f dB")
plotting.plot_log_mel(axes[1], np.asarray(frontend.log_mel(wave[None]))[0], config,
                      "the course's log-mel (dB)")
common = dict(sr=config.sample_rate, n_mels=config.n_mels, fmin=config.fmin, **frames)
librosa.display.specshow(librosa.feature.mfcc(y=wave, n_mfcc=config.n_mfcc, **common),
                         sr=config.sample_rate, hop_length=config.hop_length, x_axis="time",
                         cmap="coolwarm", ax=axes[2])
axes[2].set(title="librosa.feature.mfcc", ylabel="MFCC coefficient")
fig.tight_layout()
plotting.save_figure(fig, "01_data_exploration/librosa_views");

# %% [markdown]
# Same frames (512-point FFT, Hamming window of 400 samples, hop 160, 64 mel bands from 20 Hz),
# yet `librosa.feature.mfcc` does not give the course's numbers. Switching librosa's choices one at
# a time to the course's shows where they part:

# %%
ours = frontend.images(wave[None])[0, ..., 0]  # (coefficients, frames)


def librosa_mfcc(htk=False, mel_norm="slaney", pad_mode="constant", c0_scale=1.0):
    """librosa's MFCC chain, step by step: mel power, dB floored top_db below the window's peak,
    orthonormal DCT-II; c0 optionally rescaled."""
    mel = librosa.feature.melspectrogram(y=wave, power=2.0, htk=htk, norm=mel_norm,
                                         pad_mode=pad_mode, **common)
    db = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=config.top_db)
    coefficients = librosa.feature.mfcc(S=db, n_mfcc=config.n_mfcc, dct_type=2, norm="ortho")
    coefficients[0] *= c0_scale
    return coefficients


variants = {
    "librosa.feature.mfcc (its defaults otherwise)": librosa.feature.mfcc(
        y=wave, n_mfcc=config.n_mfcc, **common),
    "+ HTK mel scale, filters peaking at 1 (htk=True, norm=None)": librosa_mfcc(True, None),
    "+ edges padded by reflection (pad_mode='reflect')": librosa_mfcc(True, None, "reflect"),
    "+ c0 times sqrt(2) (the course's DCT scales every row by sqrt(2/64))":
        librosa_mfcc(True, None, "reflect", np.sqrt(2)),
}
spread = np.ptp(ours)
pd.DataFrame({name: {"max |difference| / range of the course's MFCC": np.abs(m - ours).max() / spread,
                     "mean |difference|": np.abs(m - ours).mean(),
                     "coefficient where largest": int(np.unravel_index(np.abs(m - ours).argmax(),
                                                                       ours.shape)[0])}
              for name, m in variants.items()}).T.round(4)

# %% [markdown]
# What the table shows:
#
# * **mel scale and filter heights**: librosa's default is Slaney's mel scale (linear below 1 kHz)
#   with filters normalised to equal area; Keras' `MelSpectrogram`, and so the published model,
#   uses the HTK scale, 1127 ln(1 + f/700), with triangles peaking at 1. This is most of the gap;
# * **the edges**: librosa pads the window with zeros before the first frame, Keras reflects it;
#   only the first and last frames change;
# * **the DCT**: librosa's orthonormal DCT scales c0 by sqrt(1/64) and the others by sqrt(2/64);
#   TensorFlow's `mfccs_from_log_mel_spectrograms` scales all of them by sqrt(2/64), so c0, the
#   loudness, is sqrt(2) larger;
# * **the dB floor** is the same here (80 dB below the window's own peak), because librosa is
#   given one window. Given a batch of windows at once, `power_to_db` floors every window below
#   the loudest of the batch, the batch dependence notebook 02 shows.
#
# What remains is small: librosa draws its triangles linear in Hz between mel-spaced edges, Keras
# linear in mel. The model keeps its own front-end because its weights (and the published
# checkpoints') were learned on exactly these numbers: features even a few percent off are inputs
# it never saw. The `MFCC` layer also runs inside TensorFlow, on the `tf.data` threads during
# training and in the graph at inference, which NumPy-based librosa cannot; and
# `atomicvad_lib.mfcc_numpy` spells the same computation out for a device port (notebook 07).
#
# ## 6. Browse
#
# Move the slider to go through the training windows (JupyterLab). Headless, a few fixed windows
# are drawn instead.

# %%
def draw_window(fig, index):
    wave = training.waveforms[index]
    log_mel, mfcc = np.asarray(frontend.log_mel(wave[None])), frontend.images(wave[None])[..., 0]
    axes = fig.subplots(1, 3)
    plotting.plot_waveform(axes[0], wave, config.sample_rate, f"#{index} {describe(index)}")
    plotting.plot_log_mel(axes[1], log_mel[0], config, "log-mel")
    plotting.plot_mfcc(axes[2], mfcc[0], config, "MFCC")


widgets.browse(len(training), draw_window, "01_data_exploration/browser",
               static_indices=picked[:2].tolist() + picked[-1:].tolist(),
               after=lambda index: widgets.audio_player(training.waveforms[index]),
               panel_size=(14, 3.2));

# %% [markdown]
# ## Exercises
#
# 1. How many distinct speaker groups does each split have, and how many windows does the
#    most frequent one contribute to training? Why does the data builder keep splits disjoint by
#    speaker and by recording?
# 2. Find the quietest speech window of the training split and listen to it. Would you label it
#    speech?
# 3. Plot the mean MFCC image of each class (average over all training windows). Which
#    coefficients differ most?
# 4. Change `config = av.Config(n_mfcc=32)` and plot the MFCCs again: what does the image lose?
#
# Solutions: next cell (expand it in JupyterLab).

# %% jupyter={"source_hidden": true}
# Solutions
# 1. Count distinct values per split; disjoint speakers and recordings make the test score a
#    measure of generalisation to new voices and new sounds rather than of memorised ones.
if attributes:
    speech_rows = windows[windows.label == "speech"]
    print(speech_rows.groupby("split")[attributes[0]].nunique())
    print("most frequent in training:", speech_rows[speech_rows.split == "training"][attributes[0]]
          .value_counts().head(1).to_dict())
# 2. The quietest speech window:
quietest = int(np.flatnonzero(training.labels == 1)[np.argmin(level[training.labels == 1])])
print("quietest speech window:", quietest, describe(quietest), f"{level[quietest]:.1f} dB")
display(widgets.audio_player(training.waveforms[quietest]))
# 3. Mean MFCC per class and their difference:
sample = np.concatenate([np.flatnonzero(training.labels == v)[:200] for v in (1, 0)])
mfccs = frontend.images(training.waveforms[sample])[..., 0]
mean_speech = mfccs[training.labels[sample] == 1].mean(axis=0)
mean_background = mfccs[training.labels[sample] == 0].mean(axis=0)
difference = np.abs(mean_speech - mean_background).mean(axis=1)
print("coefficients differing most:", np.argsort(difference)[::-1][:5].tolist())
# 4. With 32 coefficients the fine spectral detail (upper half of the image) is gone:
small = av.MFCC.from_settings(av.Config(n_mfcc=32)).images(training.waveforms[picked[:1]])[..., 0]
print("MFCC image with n_mfcc=32:", small.shape[1:])
