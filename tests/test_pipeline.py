"""Decoded windows, caching and the tf.data pipeline: determinism and augmentation numbers."""
import json

import numpy as np
import pytest
import soundfile as sf
import tensorflow as tf

from atomicvad_lib import Config
from atomicvad_lib import pipeline
from atomicvad_lib.audio import AudioError
from atomicvad_lib.augment import (augment_batch, mix_at_snr, noise_bank, rotated_noise,
                                   time_shift)
from atomicvad_lib.manifest import ManifestEntry
from atomicvad_lib.pipeline import WindowSet, load_split, load_windows, make_dataset

L = 10080


def _synthetic_windows(n_speech=24, n_background=16, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(L) / 16000
    speech = np.stack([0.3 * np.sin(2 * np.pi * rng.uniform(100, 400) * t)
                       for _ in range(n_speech)])
    background = 0.1 * rng.normal(size=(n_background, L))
    waveforms = np.concatenate([speech, background]).astype(np.float32)
    labels = np.array([1] * n_speech + [0] * n_background, np.int32)
    entries = [ManifestEntry(f"w{i}.wav", 0.63, 0.0, "speech" if y else "background")
               for i, y in enumerate(labels)]
    return WindowSet(waveforms, labels, entries)


def _batches(dataset):
    return [tuple(np.asarray(part) for part in batch[:2]) for batch in dataset]


def _same(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for pa, pb in zip(a, b)
                                    for x, y in zip(pa, pb))


# loading ------------------------------------------------------------------------------------------
def test_load_split_decodes_every_window_of_both_manifests(tiny_corpus):
    windows = load_split(tiny_corpus, "validation", Config(cache="none"), progress=False)
    assert windows.waveforms.shape == (12, L) and windows.waveforms.dtype == np.float32
    assert windows.labels.dtype == np.int32 and windows.labels.tolist() == [1] * 6 + [0] * 6
    for row, entry in enumerate(windows.entries):
        expected, rate = sf.read(entry.audio_filepath, dtype="float32")
        assert rate == 16000
        np.testing.assert_array_equal(windows.waveforms[row], expected)
    assert len(windows.speech) == 6 and set(windows.background.labels) == {0}


def _manifest(path, objects):
    path.write_text("".join(json.dumps(o) + "\n" for o in objects))
    return path


def test_long_entries_give_their_first_window_short_ones_are_errors(tmp_path):
    ramp = (np.arange(32000) / 32000).astype(np.float32)
    sf.write(tmp_path / "long.wav", ramp, 16000, subtype="FLOAT")
    manifest = _manifest(tmp_path / "m.json", [
        {"audio_filepath": "long.wav", "duration": 1.5, "label": "speech", "offset": 0.25},
        {"audio_filepath": "long.wav", "duration": 0.6, "label": "speech", "offset": 0.0}])
    windows = load_windows(manifest, Config(cache="none"), progress=False)
    np.testing.assert_array_equal(windows.waveforms[0], ramp[4000:4000 + L])
    # 0.6 s falls short of a window by under 10 %: the rest is zeros, not the audio after it
    np.testing.assert_array_equal(windows.waveforms[1][:9600], ramp[:9600])
    np.testing.assert_array_equal(windows.waveforms[1][9600:], 0.0)
    _manifest(manifest, [{"audio_filepath": "long.wav", "duration": 0.3, "label": "speech"}])
    with pytest.raises(AudioError, match=r"m.json line 1.*shorter than one 0.63 s window"):
        load_windows(manifest, Config(cache="none"), progress=False)


def test_missing_audio_names_manifest_and_line(tiny_corpus):
    manifest = tiny_corpus / "balanced_speech_testing_manifest.json"
    lines = manifest.read_text().splitlines()
    lines[3] = json.dumps({"audio_filepath": "audio/gone.wav", "duration": 0.63,
                           "label": "speech", "offset": 0})
    manifest.write_text("\n".join(lines) + "\n")
    with pytest.raises(AudioError, match=r"gone.wav.*does not exist") as info:
        load_windows(manifest, Config(cache="none"), progress=False)
    assert f"{manifest} line 4" in str(info.value)


def test_memory_cache_decodes_once_and_notices_changes(tiny_corpus, monkeypatch):
    config = Config()
    first = load_split(tiny_corpus, "training", config, progress=False)
    calls = []
    original = pipeline.decode_window
    monkeypatch.setattr(pipeline, "decode_window", lambda *a: calls.append(1) or original(*a))
    again = load_split(tiny_corpus, "training", config, progress=False)
    assert calls == [] and again.waveforms is first.waveforms
    assert not again.waveforms.flags.writeable
    path = first.entries[0].audio_filepath
    sf.write(path, np.zeros(L, np.float32), 16000)  # a changed file invalidates the cache
    changed = load_split(tiny_corpus, "training", config, progress=False)
    assert len(calls) == 12 and not np.any(changed.waveforms[0])


def test_disk_cache_is_memory_mapped_and_reused(tiny_corpus, tmp_path, monkeypatch):
    config = Config(cache=f"disk:{tmp_path / 'cache'}", batch_size=5)
    reference = load_split(tiny_corpus, "testing", Config(cache="none"), progress=False)
    windows = load_split(tiny_corpus, "testing", config, progress=False)
    assert isinstance(windows.waveforms, np.memmap)
    np.testing.assert_array_equal(windows.waveforms, reference.waveforms)
    pipeline.clear_cache()
    monkeypatch.setattr(pipeline, "decode_window", lambda *a: pytest.fail("decoded again"))
    reread = load_split(tiny_corpus, "testing", config, progress=False)
    np.testing.assert_array_equal(reread.waveforms, reference.waveforms)
    # memory-mapped windows feed both kinds of dataset
    evaluation = _batches(make_dataset(reread, config, 0, training=False))
    np.testing.assert_array_equal(np.concatenate([x for x, _ in evaluation]), reference.waveforms)
    training = _batches(make_dataset(reread, config, 0, training=True))
    in_memory = _batches(make_dataset(reference, config, 0, training=True))
    assert _same(training, in_memory)


# datasets -----------------------------------------------------------------------------------------
def test_evaluation_dataset_is_in_order_and_unaugmented():
    windows = _synthetic_windows()
    batches = _batches(make_dataset(windows, Config(batch_size=16), 0, training=False))
    assert [x.shape[0] for x, _ in batches] == [16, 16, 8]  # drop_remainder=False
    np.testing.assert_array_equal(np.concatenate([x for x, _ in batches]), windows.waveforms)
    onehot = np.concatenate([y for _, y in batches])
    assert onehot.dtype == np.float32
    np.testing.assert_array_equal(onehot, np.eye(2, dtype=np.float32)[windows.labels])


def test_training_is_deterministic_per_seed_and_differs_per_epoch():
    windows = _synthetic_windows()
    config = Config(batch_size=16)
    dataset = make_dataset(windows, config, seed=7, training=True)
    assert int(dataset.cardinality()) == 3
    epoch1, epoch2 = _batches(dataset), _batches(dataset)
    rebuilt = make_dataset(windows, config, seed=7, training=True)
    assert _same(_batches(rebuilt), epoch1) and _same(_batches(rebuilt), epoch2)
    assert not np.array_equal(epoch1[0][0], epoch2[0][0])
    other_seed = _batches(make_dataset(windows, config, seed=8, training=True))
    assert not np.array_equal(epoch1[0][0], other_seed[0][0])
    resumed = make_dataset(windows, config, seed=7, training=True, first_epoch=1)
    assert _same(_batches(resumed), epoch2)


def test_repeat_streams_the_epochs_that_iterating_again_gives():
    windows = _synthetic_windows()
    config = Config(batch_size=16)  # 40 windows: 3 batches per epoch
    once = make_dataset(windows, config, 5, training=True, first_epoch=2)
    epochs = [_batches(once) for _ in range(3)]
    stream = make_dataset(windows, config, 5, training=True, first_epoch=2, repeat=True)
    streamed = _batches(stream.take(9))
    assert _same(streamed, [b for epoch in epochs for b in epoch])
    assert not np.array_equal(streamed[0][0], streamed[3][0])  # epoch 3 is augmented anew


def test_feature_batches_are_the_mfccs_of_the_waveform_batches():
    from atomicvad_lib.features import MFCC

    windows = _synthetic_windows()
    config = Config(batch_size=16)
    mfcc = MFCC.from_settings(config)
    for training in (False, True):
        waves = _batches(make_dataset(windows, config, 3, training=training))
        feats = _batches(make_dataset(windows, config, 3, training=training, features=True))
        assert len(waves) == len(feats) == 3
        for (x, y), (f, g) in zip(waves, feats):
            assert f.shape == (x.shape[0], 64, 64, 1)
            np.testing.assert_array_equal(g, y)
            np.testing.assert_allclose(f, np.asarray(mfcc(x)), rtol=0, atol=1e-3)


def test_every_epoch_is_a_fresh_permutation_with_matching_labels():
    windows = _synthetic_windows()
    dataset = make_dataset(windows, Config(batch_size=16), 3, training=True, return_details=True)
    orders = []
    for _ in range(2):
        parts = list(dataset)
        index = np.concatenate([d["index"].numpy() for _, _, d in parts])
        labels = np.concatenate([y.numpy() for _, y, _ in parts])
        assert sorted(index) == list(range(len(windows)))
        np.testing.assert_array_equal(labels.argmax(1), windows.labels[index])
        orders.append(index)
    assert not np.array_equal(*orders)


def test_background_mixing_hits_the_drawn_snr_in_the_pipeline():
    windows = _synthetic_windows(n_speech=40, n_background=10)
    config = Config(batch_size=16, time_shift_prob=0.0, noise_prob=0.0, background_prob=1.0,
                    background_snr_min=0.0, background_snr_max=20.0)
    dataset = make_dataset(windows, config, 11, training=True, return_details=True)
    background = windows.waveforms[windows.labels == 0]
    drawn, measured = [], []
    for x, y, details in dataset:
        x, details = x.numpy(), {k: v.numpy() for k, v in details.items()}
        for row, index in enumerate(details["index"]):
            clean = windows.waveforms[index]
            if windows.labels[index] == 0:  # background windows are not mixed
                np.testing.assert_array_equal(x[row], clean)
                assert np.isnan(details["snr_db"][row])
                continue
            added = x[row].astype(np.float64) - clean
            noise = background[details["background_index"][row]]
            gain = np.dot(added, noise) / np.dot(noise, noise)  # the added part is scaled noise
            np.testing.assert_allclose(added, gain * noise, atol=1e-5)
            drawn.append(details["snr_db"][row])
            measured.append(10 * np.log10(np.mean(clean.astype(np.float64) ** 2)
                                          / np.mean(added ** 2)))
    assert len(drawn) == 40
    np.testing.assert_array_less(np.abs(np.array(measured) - drawn), 0.5)
    assert min(drawn) >= 0 and max(drawn) <= 20 and np.std(drawn) > 3  # really drawn, not fixed


def test_mix_at_snr_matches_numpy():
    rng = np.random.default_rng(5)
    signal, noise = rng.normal(size=(2, 3, 1000)) * [[[0.5]], [[0.02]]]
    snr = np.array([-5.0, 0.0, 17.5])
    mixed = mix_at_snr(signal, noise, snr).numpy()
    added = mixed - signal
    measured = 10 * np.log10(np.mean(signal ** 2, 1) / np.mean(added ** 2, 1))
    np.testing.assert_allclose(measured, snr, atol=1e-3)
    gain = np.sqrt(np.mean(signal ** 2, 1) / (np.mean(noise ** 2, 1) * 10 ** (snr / 10)))
    np.testing.assert_allclose(mixed, signal + gain[:, None] * noise, rtol=1e-5, atol=1e-6)
    single = mix_at_snr(signal[0], noise[0], 3.0).numpy()
    assert 10 * np.log10(np.mean(signal[0] ** 2) / np.mean((single - signal[0]) ** 2)) == \
        pytest.approx(3.0, abs=1e-3)
    np.testing.assert_array_equal(mix_at_snr(signal[0], np.zeros(1000), 3.0),
                                  signal[0].astype(np.float32))


def test_time_shift_fills_with_zeros():
    x = np.arange(1, 11, dtype=np.float32)[None].repeat(3, 0)
    shifted = time_shift(x, tf.constant([2, 0, -3])).numpy()
    np.testing.assert_array_equal(shifted[0], [0, 0, 1, 2, 3, 4, 5, 6, 7, 8])
    np.testing.assert_array_equal(shifted[1], x[1])
    np.testing.assert_array_equal(shifted[2], [4, 5, 6, 7, 8, 9, 10, 0, 0, 0])


def test_augment_batch_shift_noise_level_and_probabilities():
    config = Config(time_shift_ms=5.0, time_shift_prob=0.6, noise_prob=0.3, background_prob=0.5,
                    noise_db_min=-60.0, noise_db_max=-20.0)
    n = 3000
    clean = np.zeros((n, 400), np.float32)
    clean[:, 200] = 1.0  # an impulse shows the shift
    labels = np.array([1, 0] * (n // 2))
    pool = tf.constant(np.random.default_rng(0).normal(size=(5, 400)).astype(np.float32))
    out, d = augment_batch(clean, labels, tf.constant([1, 2], tf.int64), config,
                           lambda i: tf.gather(pool, i), 5)
    out, d = out.numpy(), {k: v.numpy() for k, v in d.items()}
    quiet = np.isnan(d["noise_db"]) & (d["background_index"] < 0)
    assert np.all(np.argmax(out[quiet], 1) == 200 + d["shift"][quiet])
    assert np.abs(d["shift"]).max() == 80 and np.mean(d["shift"] != 0) == pytest.approx(
        0.6 * 160 / 161, abs=0.04)
    assert np.mean(~np.isnan(d["noise_db"])) == pytest.approx(0.3, abs=0.04)
    mixed = d["background_index"] >= 0
    assert not mixed[labels == 0].any() and np.mean(mixed[labels == 1]) == pytest.approx(0.5, abs=0.05)
    # white noise: RMS (away from the impulse) is the drawn level in dB re full scale
    noisy = ~np.isnan(d["noise_db"]) & ~mixed
    residual = np.delete(out[noisy], np.s_[100:300], axis=1)
    rms_db = 20 * np.log10(np.sqrt(np.mean(residual ** 2, 1)))
    error = rms_db - d["noise_db"][noisy]  # 200-sample RMS estimates: ~0.43 dB spread each
    assert np.abs(error).max() < 2.5 and abs(error.mean()) < 0.1
    assert d["noise_db"][noisy].min() >= -60 and d["noise_db"][noisy].max() <= -20


def test_white_noise_level_in_the_pipeline():
    windows = WindowSet(np.zeros((32, L), np.float32), np.zeros(32, np.int32), [None] * 32)
    config = Config(batch_size=32, noise_prob=1.0, time_shift_prob=0.0, background_prob=0.0)
    x, _, d = next(iter(make_dataset(windows, config, 0, training=True, return_details=True)))
    rms_db = 20 * np.log10(np.sqrt(np.mean(x.numpy().astype(np.float64) ** 2, 1)))
    np.testing.assert_allclose(rms_db, d["noise_db"].numpy(), atol=0.01)


def test_make_dataset_rejects_wrong_shapes_and_empty_sets():
    config = Config()
    with pytest.raises(ValueError, match="empty"):
        make_dataset(WindowSet(np.zeros((0, L), np.float32), np.zeros(0, np.int32), []),
                     config, 0, True)
    with pytest.raises(ValueError, match="10080"):
        make_dataset(WindowSet(np.zeros((2, 100), np.float32), np.zeros(2, np.int32), [None] * 2),
                     config, 0, True)


def test_noise_bank_is_unit_rms_white_gaussian_and_rotates_like_numpy():
    bank = noise_bank(4000, seed=2, rows=8).numpy()
    assert bank.shape == (8, 8000)
    np.testing.assert_array_equal(bank[:, :4000], bank[:, 4000:])
    rows = bank[:, :4000].astype(np.float64)
    np.testing.assert_allclose(np.sqrt(np.mean(rows ** 2, 1)), 1.0, rtol=1e-5)
    flat = rows.ravel()
    kurtosis = np.mean(flat ** 4) / np.mean(flat ** 2) ** 2
    assert abs(flat.mean()) < 0.03 and abs(kurtosis - 3.0) < 0.2  # Gaussian, not uniform (1.8)
    autocorrelation = [np.mean(rows[:, :-lag] * rows[:, lag:]) for lag in (1, 2, 5)]
    np.testing.assert_array_less(np.abs(autocorrelation), 0.05)  # white
    assert not np.array_equal(noise_bank(4000, seed=3, rows=8).numpy(), bank)
    got = rotated_noise(bank, tf.constant([3, 0]), tf.constant([5, 3999]),
                        tf.constant([1.0, -1.0])).numpy()
    np.testing.assert_array_equal(got[0], np.roll(bank[3, :4000], -5))
    np.testing.assert_array_equal(got[1], -np.roll(bank[0, :4000], -3999))


def test_compiled_augmentation_equals_the_op_by_op_one():
    windows = _synthetic_windows(n_speech=20, n_background=12)
    config = Config(background_prob=0.7, noise_prob=0.9, time_shift_prob=0.9)
    pool = tf.constant(windows.waveforms[windows.labels == 0])
    args = (windows.waveforms, windows.labels, tf.constant([4, 9], tf.int64), config,
            lambda i: tf.gather(pool, i), 12)
    fast, d1 = augment_batch(*args, jit_compile=True)
    slow, d2 = augment_batch(*args, jit_compile=False)
    np.testing.assert_allclose(fast.numpy(), slow.numpy(), atol=1e-6)
    assert np.array_equal(d1["shift"].numpy(), d2["shift"].numpy())
    assert (d1["background_index"].numpy() >= 0).sum() > 0
