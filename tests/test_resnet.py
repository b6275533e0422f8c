"""The ResNet baseline of issue 14: its log-mel front-end against librosa and NumPy, its size, a
training step, and a fold trained by `atomicvad train` that saves, loads and is compared."""
from __future__ import annotations

import shlex

import keras
import librosa
import numpy as np
import pytest
from test_mfcc_numpy import _signals

from atomicvad_lib import Config, ConfigError, build_model, cli, compare, mfcc_numpy
from atomicvad_lib.features import MFCC, LogMel, frontend_layer
from atomicvad_lib.model import feature_model, frontend_of
from atomicvad_lib.model_stats import count_macs
from atomicvad_lib.runs import FoldPaths, load_model


def _librosa_log_mel(x: np.ndarray, config: Config) -> np.ndarray:
    """librosa's log-mel with the course's settings: HTK mel scale, filters peaking at 1
    (norm=None), centred frames padded by reflection, periodic Hamming window, power in dB
    floored top_db below the window's maximum."""
    power = librosa.feature.melspectrogram(
        y=x.astype(np.float64), sr=config.sample_rate, n_fft=config.n_fft,
        hop_length=config.hop_length, win_length=config.win_length, window=config.window,
        center=True, pad_mode="reflect", power=2.0, n_mels=config.n_mels, fmin=config.fmin,
        fmax=config.sample_rate / 2, htk=True, norm=None)
    return librosa.power_to_db(power, ref=1.0, amin=1e-10, top_db=config.top_db)


def test_log_mel_front_end_matches_librosa_and_the_numpy_port():
    """Tolerance against librosa: 0.15 dB at most, 0.03 dB median (of an 80 dB range).

    Both compute the same STFT, power and dB floor; they differ only in how a triangular mel
    filter is drawn between its three edge frequencies: linearly in mel (Keras, TensorFlow) or
    linearly in Hz (librosa). The weights of a bin inside a band then differ by a few per cent,
    and a relative power error e is 10 log10(1 + e) dB: measured, at most 0.077 dB (median
    0.003-0.011 dB) on synthetic signals and on real data_samples windows. A real mismatch
    (another mel scale, area-normalised filters, another window or padding) moves bands by
    whole dB, as the Slaney-scale check at the end shows."""
    config = Config(architecture="resnet")
    x = _signals()
    layer = frontend_layer(config)
    assert isinstance(layer, LogMel) and not isinstance(frontend_layer(Config()), LogMel)
    ours = np.asarray(layer(x))
    assert ours.shape == (len(x), config.n_mels, config.n_frames, 1)
    ours = ours[..., 0]
    reference = np.stack([_librosa_log_mel(w, config) for w in x])
    difference = np.abs(ours - reference)
    assert difference.max() < 0.15 and np.median(difference) < 0.03, difference.max()
    # the independent NumPy port (float64) to float32 rounding
    numpy_port = np.transpose(mfcc_numpy.log_mel(x), (0, 2, 1))
    assert np.abs(ours - numpy_port).max() < 0.01
    # the MFCCs are the DCT of this very image
    mfcc = np.asarray(MFCC.from_settings(config)(x))[..., 0]
    dct = mfcc_numpy.dct_matrix(config.n_mels, config.n_mfcc)
    np.testing.assert_allclose(mfcc, np.einsum("bmt,mk->bkt", ours, dct), atol=1e-3 * 80)
    # the tolerance can fail: librosa's Slaney mel scale is off by far more
    slaney = librosa.power_to_db(librosa.feature.melspectrogram(
        y=x[0].astype(np.float64), sr=16000, n_fft=512, hop_length=160, win_length=400,
        window="hamming", pad_mode="reflect", n_mels=64, fmin=20.0, htk=False, norm=None),
        ref=1.0, amin=1e-10, top_db=80.0)
    assert np.abs(ours[0] - slaney).max() > 1.0


def test_resnet_has_tens_of_thousands_of_parameters_and_its_own_front_end():
    atomicvad = build_model(Config(), seed=0)
    resnet = build_model(Config(architecture="resnet"), seed=0)
    cost = compare.model_cost(resnet)
    assert 20_000 < cost["parameters"] < 200_000  # tens of thousands
    assert cost["parameters"] > 200 * compare.model_cost(atomicvad)["parameters"]
    assert cost["MACs per window"] > 10 * count_macs(atomicvad)
    assert resnet.name == "ResNetVAD" and resnet.output_shape == (None, 2)
    assert isinstance(frontend_of(resnet), LogMel)
    assert feature_model(resnet).input_shape == (None, 64, 64, 1)
    from atomicvad_lib import export

    with pytest.raises(ValueError, match="log-mel front-end"):  # its NumPy front-end is MFCC's
        export.frontend_layer(resnet)
    assert isinstance(export.frontend_layer(atomicvad), MFCC)
    with pytest.raises(ConfigError, match="architecture"):
        Config(architecture="transformer")


def test_resnet_trains_a_step():
    from atomicvad_lib.training import compile_model

    config = compare.baseline_config(batch_size=8)
    keras.utils.set_random_seed(0)
    model = build_model(config, seed=0)
    trainer = compile_model(feature_model(model), config, total_steps=10, steps_per_execution=1)
    rng = np.random.default_rng(0)
    waves = rng.normal(scale=0.1, size=(8, config.window_samples)).astype(np.float32)
    features = np.asarray(frontend_of(model)(waves))
    labels = keras.utils.to_categorical(np.arange(8) % 2, 2)
    before = [w.numpy().copy() for w in trainer.trainable_weights]
    loss = trainer.train_on_batch(features, labels, return_dict=True)["loss"]
    assert np.isfinite(loss)
    changed = [not np.allclose(a, b.numpy()) for a, b in zip(before, trainer.trainable_weights)]
    assert all(changed), f"{changed.count(False)} weight tensors did not move"


def test_baseline_command_trains_a_fold_that_saves_loads_and_compares(tmp_path, tiny_corpus,
                                                                      capsys):
    """BASELINE_COMMAND itself (one epoch, on the tiny corpus): its -p settings reach the fold's
    config, and the saved model loads through runs.load_model with the same outputs."""
    out = tmp_path / "resnet"
    argv = shlex.split(compare.BASELINE_COMMAND)[1:]
    argv[argv.index("--out") + 1] = str(out)
    argv[argv.index("--epochs") + 1] = "1"
    argv[argv.index("--batch-size") + 1] = "8"
    assert cli.main([*argv, "--data", str(tiny_corpus), "--no-progress"]) == 0
    assert "test AUROC" in capsys.readouterr().out
    paths = FoldPaths(out, 0)
    recorded = Config.load(paths.config)
    assert recorded == compare.baseline_config(epochs=1, batch_size=8,
                                               data_dir=recorded.data_dir)
    assert compare.finished_folds(out) == [paths] and compare.finished_folds(tmp_path / "no") == []
    loaded = load_model(paths.best_model)
    assert isinstance(frontend_of(loaded), LogMel)
    assert compare.model_cost(loaded) == compare.model_cost(build_model(recorded))
    waves = np.random.default_rng(1).normal(scale=0.1, size=(4, recorded.window_samples))
    fresh = keras.models.load_model(paths.best_model)  # Keras' own loader agrees
    np.testing.assert_allclose(loaded.predict(waves, verbose=0), fresh.predict(waves, verbose=0),
                               atol=1e-6)
    record = compare.fold_record(paths)
    assert record["architecture"] == "resnet" and record["seed"] == recorded.seeds[0]
    assert record["epochs"] == 1 and record["training (s)"] > 0
    table = compare.side_by_side({"baseline": {**record, **compare.model_cost(loaded),
                                               "test AUROC": 0.5}})
    assert list(table.columns[:3]) == ["architecture", "seed", "test AUROC"]
