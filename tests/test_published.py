"""Parity with the authors' published checkpoints (test data in ../shared, never committed)."""
from __future__ import annotations

import json

import numpy as np
import pytest

import atomicvad_lib as av


@pytest.fixture(scope="module")
def parity(published_dir):
    reference = json.loads((published_dir / "reference.json").read_text())
    inputs = np.load(published_dir / "inputs.npy")
    expected = np.load(published_dir / "expected_probabilities.npy")
    assert inputs.shape == tuple(reference["shapes"]["inputs"])
    assert reference["columns"] == list(av.CLASS_NAMES)
    return reference, inputs, expected


@pytest.mark.parametrize("index", range(10))
def test_checkpoint_matches_expected_probabilities(parity, published_dir, index):
    reference, inputs, expected = parity
    model = av.load_model(published_dir / reference["checkpoints"][index])
    assert model.count_params() == 298
    # one window per batch, as the expected probabilities were computed
    probs = np.concatenate([model(inputs[i:i + 1], training=False).numpy()
                            for i in range(len(inputs))])
    np.testing.assert_allclose(probs, expected[index], atol=1e-4, rtol=0)
    assert np.argmax(probs[-6:], axis=1).tolist() == np.argmax(expected[index][-6:], axis=1).tolist()


def test_published_weights_fit_build_model(parity, published_dir):
    """The published weights, copied layer by layer into build_model's graph, give the same output:
    the library's own architecture is the published one."""
    reference, inputs, expected = parity
    published = av.load_model(published_dir / reference["checkpoints"][0])
    ours = av.build_model(av.Config())
    weighted_ours = [layer for layer in ours.layers if layer.weights]
    weighted_theirs = [layer for layer in published.layers if layer.weights]
    assert [type(a).__name__ for a in weighted_ours] == [type(b).__name__ for b in weighted_theirs]
    for a, b in zip(weighted_ours, weighted_theirs):
        a.set_weights(b.get_weights())
    probs = np.concatenate([ours(inputs[i:i + 1], training=False).numpy() for i in range(4)])
    np.testing.assert_allclose(probs, expected[0][:4], atol=1e-4, rtol=0)


def test_published_model_is_batch_dependent_but_ours_is_not(parity, published_dir):
    """Published features floor the dB scale over the whole batch; ours floor per window."""
    reference, inputs, _ = parity
    ours = av.load_model(published_dir / reference["checkpoints"][0])
    silence_alone = ours(inputs[:1], training=False).numpy()
    silence_with_loud = ours(inputs[[0, 3]], training=False).numpy()[:1]
    np.testing.assert_allclose(silence_alone, silence_with_loud, atol=1e-6)

    batch_floor = av.MFCC(floor="batch")
    window_floor = av.MFCC()
    quiet = inputs[0:1]  # silence: its own floor is 80 dB below its (tiny) peak
    loud = inputs[3:4]   # white noise at -20 dB lifts a batch-wide floor far above that
    alone = batch_floor(quiet).numpy()
    mixed = batch_floor(np.concatenate([quiet, loud])).numpy()[:1]
    assert np.abs(alone - mixed).max() > 1.0
    np.testing.assert_allclose(window_floor(quiet).numpy(),
                               window_floor(np.concatenate([quiet, loud])).numpy()[:1], atol=1e-4)


def test_missing_checkpoint_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="no-such.keras"):
        av.load_model(tmp_path / "no-such.keras")
