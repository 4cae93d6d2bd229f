"""A faster ``predict_proba`` for sigmoid-calibrated linear models: the same numbers, no input checks.

Every shipped text model ends in :class:`~sklearn.calibration.CalibratedClassifierCV` over a
:class:`~sklearn.linear_model.LogisticRegression` (one per inner fold, each with a sigmoid per class).
scikit-learn re-validates the input, re-derives the target type and probes for dataframes on every
call of every fold: for one conversation's few turns that was most of a model's time, more than the
arithmetic. :func:`compile_estimator` reads the fitted folds once and returns a function doing only the
arithmetic, in scikit-learn's order and dtypes (``tests/classifiers/test_fast_linear.py`` checks the
probabilities are equal on the shipped models). Anything else returns None and keeps scikit-learn's path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression

Proba = Callable[[sp.csr_matrix], np.ndarray]


@dataclass(frozen=True)
class _Fold:
    """One calibrated fold: the linear scores' weights, and per scored class its column and sigmoid."""

    coef_t: np.ndarray  # (n_features, n_scores)
    intercept: np.ndarray
    columns: list[int]
    # (a, b) kept numpy float64 scalars as fitted: expit(-(a * score + b)) is then float64 for float32 scores
    sigmoids: list[tuple[np.float64, np.float64]]


def compile_estimator(model: Any) -> Proba | None:
    """``predict_proba`` for a fitted (sigmoid-calibrated) logistic regression, or None."""
    if type(model) is LogisticRegression and hasattr(model, "coef_"):
        return _logistic(model)
    if not isinstance(model, CalibratedClassifierCV) or not hasattr(model, "calibrated_classifiers_"):
        return None
    n_classes = len(model.classes_)
    folds = [_fold(cc, model.classes_) for cc in model.calibrated_classifiers_]
    if n_classes < 2 or not folds or any(f is None for f in folds):
        return None
    ready = [f for f in folds if f is not None]

    def predict_proba(features: sp.csr_matrix) -> np.ndarray:
        mean = np.zeros((features.shape[0], n_classes))
        for fold in ready:
            mean += _fold_proba(fold, features, n_classes)
        mean /= len(ready)
        return mean

    return predict_proba


def _logistic(model: LogisticRegression) -> Proba:
    """``LogisticRegression.predict_proba``: softmax over classes, or the binary sigmoid pair."""
    coef_t, intercept = np.asarray(model.coef_).T, np.asarray(model.intercept_)

    def predict_proba(features: sp.csr_matrix) -> np.ndarray:
        scores = np.asarray(features @ coef_t) + intercept
        if scores.shape[1] == 1:  # binary: scikit-learn's _predict_proba_lr
            prob = expit(scores.ravel())
            return np.stack([1 - prob, prob], axis=1)
        scores -= scores.max(axis=1).reshape(-1, 1)  # scikit-learn's softmax, in place as it does
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=1).reshape(-1, 1)
        return scores

    return predict_proba


def _fold(cc: Any, classes: np.ndarray) -> _Fold | None:
    est = cc.estimator
    if (
        type(est) is not LogisticRegression
        or getattr(cc, "method", None) != "sigmoid"
        or not np.array_equal(cc.classes, classes)
    ):
        return None
    columns = [int(np.searchsorted(np.sort(classes), c)) for c in est.classes_]
    if len(classes) == 2:
        columns = [1]  # binary: one score, for classes[1]
    if len(columns) != len(cc.calibrators) or est.coef_.shape[0] != len(columns):
        return None
    sigmoids = [(np.float64(c.a_), np.float64(c.b_)) for c in cc.calibrators]
    return _Fold(np.asarray(est.coef_).T, np.asarray(est.intercept_), columns, sigmoids)


def _fold_proba(fold: _Fold, features: sp.csr_matrix, n_classes: int) -> np.ndarray:
    """scikit-learn's ``_CalibratedClassifier.predict_proba`` for one fold, step for step."""
    scores = np.asarray(features @ fold.coef_t) + fold.intercept
    proba = np.zeros((features.shape[0], n_classes))
    for column, this, (a, b) in zip(fold.columns, scores.T, fold.sigmoids, strict=True):
        proba[:, column] = expit(-(a * this + b))
    if n_classes == 2:
        proba[:, 0] = 1.0 - proba[:, 1]
    else:
        denominator = np.sum(proba, axis=1)[:, np.newaxis]
        uniform = np.full_like(proba, 1 / n_classes)
        proba = np.divide(proba, denominator, out=uniform, where=denominator != 0)
    proba[(proba > 1.0) & (proba <= 1.0 + 1e-5)] = 1.0
    return proba
