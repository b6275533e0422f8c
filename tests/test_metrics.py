"""Metrics against scikit-learn, brute-force ROC points and a NumPy focal loss."""
from __future__ import annotations

import keras
import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, fbeta_score, roc_auc_score

from atomicvad_lib import Config
from atomicvad_lib.metrics import SpeechAUC, binary_metrics, focal_loss, fpr_key, \
    pooled_two_column_auroc, speech_auroc, tpr_at_fpr


def _scores(n=400, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    # a confident, imperfect detector: most windows near 0 or 1, some mistakes
    logits = 3.0 * (2 * labels - 1) + rng.normal(0, 2.5, n)
    return labels, 1 / (1 + np.exp(-logits))


def _brute_force_roc(labels, scores):
    """(fpr, tpr) at every threshold, counted directly, plus (0, 0)."""
    points = [(0.0, 0.0)]
    for t in np.unique(scores)[::-1]:
        called = scores >= t
        points.append((called[labels == 0].mean(), called[labels == 1].mean()))
    return np.array(points)


def _tpr_from_points(points, target):
    at = points[points[:, 0] == target]
    if len(at):
        return at[:, 1].max()
    left = points[points[:, 0] < target]
    right = points[points[:, 0] > target]
    x0, y0 = left[:, 0].max(), left[left[:, 0] == left[:, 0].max(), 1].max()
    x1, y1 = right[:, 0].min(), right[right[:, 0] == right[:, 0].min(), 1].min()
    return y0 + (y1 - y0) * (target - x0) / (x1 - x0)


def test_speech_auroc_is_sklearns_on_the_speech_column():
    labels, speech = _scores()
    assert speech_auroc(labels, speech) == pytest.approx(roc_auc_score(labels, speech), abs=1e-12)


def _one_sided_errors(seed=0):
    """Most background confidently near 0; a fifth of it scored like speech."""
    rng = np.random.default_rng(seed)
    hard = rng.random(300) < 0.2
    background = np.where(hard, rng.uniform(0.5, 1.0, 300), rng.uniform(0.0, 0.05, 300))
    speech = rng.uniform(0.5, 1.0, 300)
    return np.r_[np.zeros(300, int), np.ones(300, int)], np.r_[background, speech]


def _within_class_wins(scores, above_one: bool):
    """Fraction of ordered same-class pairs (a, b) with a + b on the right side of 1."""
    total = scores[:, None] + scores[None, :]
    wins = (total > 1) if above_one else (total < 1)
    return wins.mean() + 0.5 * (total == 1).mean()


def test_keras_two_column_auc_is_the_pooled_number_not_the_speech_auroc():
    labels, speech = _one_sided_errors()
    onehot = np.stack([1 - labels, labels], 1).astype("float32")
    probs = np.stack([1 - speech, speech], 1).astype("float32")
    keras_auc = keras.metrics.AUC(num_thresholds=20000)
    keras_auc.update_state(onehot, probs)
    pooled = pooled_two_column_auroc(labels, speech)
    assert float(keras_auc.result()) == pytest.approx(pooled, abs=2e-3)
    auroc = speech_auroc(labels, speech)
    assert pooled > auroc + 0.03  # inflated
    # the decomposition given in atomicvad_lib.metrics
    s, b = labels.sum(), (1 - labels).sum()
    w_speech = _within_class_wins(speech[labels == 1], above_one=True)
    w_background = _within_class_wins(speech[labels == 0], above_one=False)
    expected = (2 * s * b * auroc + s**2 * w_speech + b**2 * w_background) / (s + b) ** 2
    assert pooled == pytest.approx(expected, abs=1e-12)
    # SpeechAUC, the training-time metric, tracks the speech column only
    column = SpeechAUC(num_thresholds=20000)
    column.update_state(onehot, probs)
    assert float(column.result()) == pytest.approx(auroc, abs=2e-3)


def test_tpr_at_fpr_by_hand():
    # ROC points (0,0) (0,.25) (0,.5) (.25,.5) then a tie at 0.5 -> diagonal to (.5,.75) ...
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    scores = np.array([0.1, 0.2, 0.5, 0.8, 0.3, 0.5, 0.9, 0.95])
    assert tpr_at_fpr(labels, scores, 0.315) == pytest.approx(0.5 + 0.25 * 0.065 / 0.25)
    assert tpr_at_fpr(labels, scores, 0.25) == pytest.approx(0.5)  # on a point: its TPR
    assert tpr_at_fpr(labels, scores, 0.0) == pytest.approx(0.5)  # vertical step: the top
    assert tpr_at_fpr(labels, scores, 1.0) == pytest.approx(1.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("target", [0.315, 0.05, 0.5])
def test_tpr_at_fpr_against_brute_force_roc(seed, target):
    labels, speech = _scores(120, seed)
    speech = np.round(speech, 2)  # ties make vertical and diagonal steps
    expected = _tpr_from_points(_brute_force_roc(labels, speech), target)
    assert tpr_at_fpr(labels, speech, target) == pytest.approx(expected, abs=1e-12)


def test_binary_metrics_against_sklearn():
    labels, speech = _scores()
    speech[:3] = 0.5  # exactly at the threshold counts as speech
    predicted = (speech >= 0.5).astype(int)
    found = binary_metrics(labels, speech)
    assert found["auroc"] == pytest.approx(roc_auc_score(labels, speech))
    assert found["accuracy"] == pytest.approx(accuracy_score(labels, predicted))
    assert found["f1"] == pytest.approx(f1_score(labels, predicted))
    assert found["f2"] == pytest.approx(fbeta_score(labels, predicted, beta=2))
    assert found[fpr_key()] == pytest.approx(tpr_at_fpr(labels, speech, 0.315))
    assert found["n"] == 400 and found["n_speech"] == labels.sum()
    assert found["auroc_undefined"] is None


def test_single_class_reports_auroc_undefined_and_the_rest():
    speech = np.array([0.9, 0.2, 0.7])
    found = binary_metrics(np.ones(3, int), speech)
    assert found["auroc"] is None and found[fpr_key()] is None
    assert "only speech" in found["auroc_undefined"]
    assert found["accuracy"] == pytest.approx(2 / 3)
    assert found["f1"] == pytest.approx(f1_score([1, 1, 1], [1, 0, 1]))
    assert speech_auroc(np.zeros(3, int), speech) is None
    assert binary_metrics([], [])["auroc_undefined"] == "no windows"


def test_focal_loss_matches_numpy_formula():
    labels, speech = _scores(50)
    config = Config()
    y = np.stack([1 - labels, labels], 1).astype(np.float64)
    p = np.clip(np.stack([1 - speech, speech], 1), 1e-7, 1 - 1e-7)
    p_t = y * p + (1 - y) * (1 - p)
    alpha_t = y * config.focal_alpha + (1 - y) * (1 - config.focal_alpha)
    expected = np.mean(alpha_t * (1 - p_t) ** config.focal_gamma * -np.log(p_t))
    assert focal_loss(labels, speech, config) == pytest.approx(expected, rel=1e-4)


def _focal_gradient(loss, targets, logits):
    import tensorflow as tf

    logits = tf.Variable(logits)
    with tf.GradientTape() as tape:
        value = loss(tf.constant(targets), tf.nn.softmax(logits))
    return float(value), tape.gradient(value, logits).numpy()


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_focal_loss_gradient_stays_finite_when_the_softmax_saturates(gamma):
    """Keras' own focal loss gives NaN gradients at a saturated softmax when gamma < 1 (the
    ResNet baseline diverged so in its first epoch at gamma 0.5); the training loss clips, and
    agrees with Keras' wherever nothing saturates."""
    from atomicvad_lib.metrics import make_focal_loss

    config = Config(focal_gamma=gamma)
    ours = make_focal_loss(config)
    keras_own = keras.losses.BinaryFocalCrossentropy(apply_class_balancing=True,
                                                     alpha=config.focal_alpha, gamma=gamma)
    saturated = ([[0.0, 1.0], [1.0, 0.0]], [[-40.0, 40.0], [40.0, -40.0]])
    _, gradient = _focal_gradient(ours, *saturated)
    assert np.isfinite(gradient).all()
    _, gradient = _focal_gradient(keras_own, *saturated)
    assert np.isnan(gradient).any() == (gamma < 1)  # the failure the clipping guards against
    plain = ([[0.0, 1.0], [1.0, 0.0]], [[-0.3, 0.5], [1.2, 0.1]])
    value, gradient = _focal_gradient(ours, *plain)
    want_value, want_gradient = _focal_gradient(keras_own, *plain)
    assert value == pytest.approx(want_value, rel=1e-6)
    np.testing.assert_allclose(gradient, want_gradient, rtol=1e-5)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="labels but"):
        binary_metrics([0, 1], [0.5])
    with pytest.raises(ValueError, match="NaN"):
        binary_metrics([0, 1], [0.5, np.nan])
    with pytest.raises(ValueError, match="0 \\(background\\) or 1"):
        binary_metrics([0, 2], [0.5, 0.4])


def test_choose_threshold_maximises_f_beta_over_every_cut():
    from atomicvad_lib.metrics import choose_threshold

    labels, speech = _scores(400)
    speech = np.round(speech, 2)  # ties: a cut falls between distinct scores only
    for beta in (1.0, 2.0):
        t = choose_threshold(labels, speech, beta)
        assert t in set(speech.tolist())
        best = max(fbeta_score(labels, speech >= c, beta=beta) for c in np.unique(speech))
        assert fbeta_score(labels, speech >= t, beta=beta) == pytest.approx(best, abs=1e-12)
    # a detector whose scores all sit below 0.5 still gets a useful threshold
    low = speech * 0.3
    assert binary_metrics(labels, low, 0.5)["f1"] == 0.0
    assert binary_metrics(labels, low, choose_threshold(labels, low))["f1"] > 0.5
    with pytest.raises(ValueError, match="threshold"):
        choose_threshold([1, 1], [0.2, 0.3])
