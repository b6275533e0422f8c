"""build_model: parameter count, every layer's output shape, saving/loading, input checks."""
from __future__ import annotations

import keras
import numpy as np
import pytest

import atomicvad_lib as av

EXPECTED_SHAPES = {
    "waveform": (None, 10080), "mfcc": (None, 64, 64, 1), "spec_augment": (None, 64, 64, 1),
    "spec_cutout": (None, 64, 64, 1),
    "block1_depthwise": (None, 64, 64, 3), "block1_pool": (None, 13, 13, 3),
    "block1_norm": (None, 13, 13, 3), "block1_expand": (None, 13, 13, 8),
    "block1_ggcu": (None, 13, 13, 8), "block1_dropout": (None, 13, 13, 8),
    "block1_project": (None, 13, 13, 2),
    "block2_depthwise": (None, 13, 13, 2), "block2_pool": (None, 2, 2, 2),
    "block2_norm": (None, 2, 2, 2), "block2_expand": (None, 2, 2, 8),
    "block2_ggcu": (None, 2, 2, 8), "block2_dropout": (None, 2, 2, 8),
    "block2_project": (None, 2, 2, 2), "skip_pool": (None, 2, 2, 2), "skip_add": (None, 2, 2, 2),
    "flatten": (None, 8), "classifier": (None, 2),
}
# 7*7*3+3, 2*3, 3*8+8, 4, 8*2+2 | 3*3*2+2, 2*2, 2*8+8, 4, 8*2+2 | 8*2+2
EXPECTED_PARAMS = {"block1_depthwise": 150, "block1_norm": 6, "block1_expand": 32, "block1_ggcu": 4,
                   "block1_project": 18, "block2_depthwise": 20, "block2_norm": 4,
                   "block2_expand": 24, "block2_ggcu": 4, "block2_project": 18, "classifier": 18}


@pytest.fixture(scope="module")
def model():
    return av.build_model(av.Config(), seed=43185)


def test_parameter_count_is_298(model):
    assert model.count_params() == 298
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 298
    counts = {layer.name: layer.count_params() for layer in model.layers if layer.count_params()}
    assert counts == EXPECTED_PARAMS


def test_every_layer_output_shape(model):
    shapes = {layer.name: tuple(layer.output.shape) for layer in model.layers}
    assert shapes == EXPECTED_SHAPES


def test_softmax_output(model):
    x = np.random.default_rng(0).normal(0, 0.05, (5, 10080)).astype(np.float32)
    probs = model.predict(x, verbose=0)
    assert probs.shape == (5, 2)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)


def test_keras_file_round_trip(model, tmp_path):
    x = np.random.default_rng(1).normal(0, 0.05, (6, 10080)).astype(np.float32)
    path = tmp_path / "atomicvad.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.count_params() == 298
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert isinstance(loaded.get_layer("block1_ggcu"), av.GGCU)
    assert isinstance(loaded.get_layer("mfcc"), av.MFCC)


def test_config_changes_architecture():
    wider = av.build_model(av.Config(block1_filters=(16, 2)))
    assert wider.get_layer("block1_expand").output.shape[-1] == 16
    assert wider.count_params() == 298 + 8 * 3 + 8 + 8 * 2  # more expand and project weights


def test_predictions_do_not_depend_on_batch_mates(model):
    rng = np.random.default_rng(2)
    quiet = rng.normal(0, 1e-4, (1, 10080)).astype(np.float32)
    loud = rng.normal(0, 0.5, (3, 10080)).astype(np.float32)
    alone = model.predict(quiet, verbose=0)
    together = model.predict(np.concatenate([quiet, loud]), verbose=0)[:1]
    np.testing.assert_allclose(alone, together, atol=1e-5)


@pytest.mark.parametrize("bad, message", [
    (np.zeros((2, 9000)), "10080 samples"),
    (np.zeros((2, 10080, 1)), "rank 3"),
    (np.full((1, 10080), np.nan), "NaN or infinite samples in window"),
    (np.array([["a"] * 10080]), "numeric"),
])
def test_bad_waveforms_give_clear_errors(model, bad, message):
    with pytest.raises(ValueError, match=message):
        av.predict_speech(model, bad)


def test_infinite_sample_names_the_window(model):
    x = np.zeros((4, 10080), np.float32)
    x[2, 5] = np.inf
    with pytest.raises(ValueError, match=r"window\(s\) \[2\]"):
        av.check_waveforms(x)


def test_single_window_is_accepted(model):
    assert av.predict_speech(model, np.zeros(10080, np.float32)).shape == (1,)


def test_mfcc_rejects_wrong_rank():
    with pytest.raises(ValueError, match=r"\(batch, samples\)"):
        av.MFCC()(np.zeros((1, 10080, 1), np.float32))


def test_feature_model_shares_weights_and_outputs_with_the_waveform_model():
    model = av.build_model(av.Config(), seed=7)
    head = av.model.feature_model(model)
    assert "mfcc" not in [layer.name for layer in head.layers]
    assert head.count_params() == model.count_params() == 298
    # same variables in the same order: weights saved from one load into the other
    assert [id(v) for v in head.weights] == [id(v) for v in model.weights]
    waveforms = np.random.default_rng(1).normal(0, 0.1, (5, 10080)).astype(np.float32)
    features = model.get_layer("mfcc")(waveforms)
    np.testing.assert_allclose(head.predict(features, verbose=0),
                               model.predict(waveforms, verbose=0), rtol=0, atol=2e-5)
    kernel = model.get_layer("block1_depthwise").kernel
    kernel.assign(kernel * 2.0)  # a change through one model shows in the other
    np.testing.assert_allclose(head.predict(features, verbose=0),
                               model.predict(waveforms, verbose=0), rtol=0, atol=2e-5)
