"""Detection metrics computed from the speech probability (column 1 of the softmax).

Why not Keras' ``AUC`` on the two one-hot columns: ``keras.metrics.AUC`` given ``y_true`` (N, 2)
and ``y_pred`` (N, 2) without ``multi_label=True`` *flattens* both, so every window contributes
two (score, label) pairs, ``(p_speech, is_speech)`` and ``(1 - p_speech, is_background)``. With
S speech and B background windows, the pairs of that pooled ranking are (i) speech against
background twice over, once per column, each won as often as the speech AUROC, and (ii)
same-class pairs, a speech window's ``p_speech`` against another speech window's
``1 - p_speech`` (won when ``p_a + p_b > 1``) and likewise for background. So::

    pooled = (2 S B AUROC + S**2 W_speech + B**2 W_background) / (S + B)**2

where W is the fraction of same-class pairs on the right side of 1. The W terms rank a class
against its own mirror image instead of against the other class: when background and speech
scores mirror each other they equal the AUROC, but when the errors are one-sided (most background
confidently near 0, a minority of it scored like speech) they stay high while the AUROC drops,
and the pooled number lies above it. That pooled number is how the AtomicVAD authors' AUROC came
out inflated. Here AUROC is always scikit-learn's
``roc_auc_score`` on the speech column (``speech_auroc``); ``pooled_two_column_auroc``
reproduces the pooled number for comparison.
"""
from __future__ import annotations

import math

import keras
import numpy as np
from sklearn.metrics import accuracy_score, f1_score, fbeta_score, precision_score, \
    recall_score, roc_auc_score, roc_curve

from .activations import PACKAGE

# The false-positive rate at which the paper reads off its true-positive rate.
FPR_TARGET = 0.315
THRESHOLD = 0.5


def _check(labels, speech_prob) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels).reshape(-1)
    p = np.asarray(speech_prob, dtype=np.float64).reshape(-1)
    if y.shape != p.shape:
        raise ValueError(f"{y.size} labels but {p.size} speech probabilities")
    if y.size and not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 (background) or 1 (speech)")
    if not np.isfinite(p).all():
        raise ValueError("speech probabilities hold NaN or infinite values")
    return y.astype(np.int64), p


def single_class_reason(labels) -> str | None:
    """Why AUROC is undefined for these labels (empty or one class), or None if it is defined."""
    y = np.asarray(labels).reshape(-1)
    if y.size == 0:
        return "no windows"
    if (y == 1).all():
        return "only speech windows: AUROC needs both classes"
    if (y == 0).all():
        return "only background windows: AUROC needs both classes"
    return None


def speech_auroc(labels, speech_prob) -> float | None:
    """Area under the ROC curve of the speech probability (None when only one class is present)."""
    y, p = _check(labels, speech_prob)
    if single_class_reason(y):
        return None
    return float(roc_auc_score(y, p))


def pooled_two_column_auroc(labels, speech_prob) -> float | None:
    """The flattened AUC over both one-hot columns, as ``keras.metrics.AUC`` reports it on
    two-column outputs (exact, not thresholded): for comparison only, see the module docstring."""
    y, p = _check(labels, speech_prob)
    if single_class_reason(y):
        return None
    flat_y = np.concatenate([1 - y, y])
    flat_p = np.concatenate([1 - p, p])
    return float(roc_auc_score(flat_y, flat_p))


def tpr_at_fpr(labels, speech_prob, fpr: float = FPR_TARGET) -> float | None:
    """True-positive rate of the ROC curve at false-positive rate ``fpr``.

    The ROC curve is the polyline through scikit-learn's ``roc_curve`` points (all thresholds).
    Between points it is interpolated linearly; where ``fpr`` falls on a vertical step (several
    points share that false-positive rate) the highest TPR is taken, i.e. the best threshold
    that does not exceed ``fpr``.
    """
    y, p = _check(labels, speech_prob)
    if single_class_reason(y):
        return None
    fprs, tprs, _ = roc_curve(y, p, drop_intermediate=False)
    on = fprs == fpr
    if on.any():
        return float(tprs[on].max())
    right = int(np.searchsorted(fprs, fpr, side="right"))  # first point beyond fpr
    x0, y0, x1, y1 = fprs[right - 1], tprs[right - 1], fprs[right], tprs[right]
    return float(y0 + (y1 - y0) * (fpr - x0) / (x1 - x0))


def binary_metrics(labels, speech_prob, threshold: float = THRESHOLD,
                   fpr: float = FPR_TARGET) -> dict:
    """AUROC, accuracy, precision, recall, F1, F2 and TPR@FPR for speech-vs-background.

    Threshold metrics call a window speech when ``speech_prob >= threshold``. With a single class
    ``auroc`` and ``tpr_at_fpr`` are None and ``auroc_undefined`` says why; the rest still come out.
    """
    y, p = _check(labels, speech_prob)
    predicted = (p >= threshold).astype(np.int64)
    reason = single_class_reason(y)
    out = {"n": int(y.size), "n_speech": int((y == 1).sum()), "n_background": int((y == 0).sum()),
           "auroc": None if reason else float(roc_auc_score(y, p)),
           "auroc_undefined": reason}
    if y.size:
        out.update(
            accuracy=float(accuracy_score(y, predicted)),
            precision=float(precision_score(y, predicted, zero_division=0)),
            recall=float(recall_score(y, predicted, zero_division=0)),
            f1=float(f1_score(y, predicted, zero_division=0)),
            f2=float(fbeta_score(y, predicted, beta=2.0, zero_division=0)))
    else:
        out.update(accuracy=None, precision=None, recall=None, f1=None, f2=None)
    out[fpr_key(fpr)] = None if reason else tpr_at_fpr(y, p, fpr)
    out["threshold"] = float(threshold)
    return out


def choose_threshold(labels, speech_prob, beta: float = 1.0) -> float:
    """The decision threshold that maximises F-beta on these (validation) windows.

    Candidates are the distinct scores (a window is speech when ``speech_prob >= threshold``);
    among equal F-beta the threshold nearest 0.5 wins. Choose it on the validation split and
    report the test split's metrics at it (``binary_metrics(test_labels, test_prob, t)``); a
    threshold fitted on the test split would flatter the test score. ValueError without both
    classes.
    """
    y, p = _check(labels, speech_prob)
    reason = single_class_reason(y)
    if reason:
        raise ValueError(f"cannot choose a threshold: {reason}")
    order = np.argsort(-p, kind="stable")
    p_sorted, y_sorted = p[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(p_sorted) != 0), p_sorted.size - 1]  # end of each tie
    true_pos = np.cumsum(y_sorted)[last]
    predicted = last + 1
    positives = y.sum()
    b2 = beta ** 2
    fbeta = (1 + b2) * true_pos / np.maximum(b2 * positives + predicted, 1e-12)
    thresholds = p_sorted[last]
    best = np.flatnonzero(np.isclose(fbeta, fbeta.max(), rtol=0, atol=1e-12))
    return float(thresholds[best[np.argmin(np.abs(thresholds[best] - 0.5))]])


def fpr_key(fpr: float = FPR_TARGET) -> str:
    """Name of the TPR@FPR entry, e.g. ``tpr_at_fpr_0.315``."""
    return f"tpr_at_fpr_{fpr:g}"


def focal_loss(labels, speech_prob, config) -> float:
    """Mean binary focal cross-entropy of the two one-hot columns, as in training (without the
    GGCU weight penalty, which is not a property of the predictions)."""
    y, p = _check(labels, speech_prob)
    if y.size == 0:
        return math.nan
    onehot = np.stack([1 - y, y], axis=1).astype(np.float32)
    probs = np.stack([1 - p, p], axis=1).astype(np.float32)
    return float(make_focal_loss(config)(onehot, probs))


@keras.saving.register_keras_serializable(package=PACKAGE)
class FocalLoss(keras.losses.BinaryFocalCrossentropy):
    """Keras' binary focal cross-entropy on probabilities clipped to [eps, 1 - eps].

    Keras computes the focal factor as ``(1 - p_t) ** gamma`` from the probabilities as they come.
    When a softmax saturates (p_t exactly 1 in float32) and ``gamma`` is below 1, the factor's
    derivative ``gamma * (1 - p_t) ** (gamma - 1)`` is infinite, and the gradient becomes NaN:
    the ResNet baseline, confident within an epoch, diverged that way at ``focal_gamma`` 0.5.
    Clipped probabilities keep it finite; the loss values change by less than float32 rounding
    elsewhere (Keras' cross-entropy clips the same way already).
    """

    def call(self, y_true, y_pred):
        eps = keras.config.epsilon()
        return super().call(y_true, keras.ops.clip(y_pred, eps, 1.0 - eps))


def make_focal_loss(config) -> keras.losses.Loss:
    """The paper's loss: binary focal cross-entropy, alpha-balanced, on both one-hot columns
    (with ``label_smoothing``, when the config sets it); see ``FocalLoss``."""
    return FocalLoss(
        apply_class_balancing=config.class_balancing, alpha=config.focal_alpha,
        gamma=config.focal_gamma, label_smoothing=getattr(config, "label_smoothing", 0.0),
        name="focal_loss")


@keras.saving.register_keras_serializable(package=PACKAGE)
class SpeechAUC(keras.metrics.AUC):
    """Keras' running (thresholded) AUC on the speech column only, for progress during training.

    An approximation with ``num_thresholds`` bins; validation and test AUROC come from
    ``speech_auroc`` (exact, scikit-learn).
    """

    def __init__(self, name: str = "auroc", num_thresholds: int = 500, **kwargs):
        super().__init__(name=name, num_thresholds=num_thresholds, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        return super().update_state(y_true[:, 1], y_pred[:, 1], sample_weight)

    def get_config(self):
        config = super().get_config()
        return {"name": config["name"], "num_thresholds": config["num_thresholds"]}
