"""The compiled calibrated-LR ``predict_proba`` gives scikit-learn's numbers exactly."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from qa_pipeline.classifiers import load_classifier
from qa_pipeline.classifiers.fast_linear import compile_estimator
from qa_pipeline.settings import Settings

TEXTS = [
    "太失望了",
    "质量太差",
    "谢谢你们",
    "非常满意",
    "一般般吧",
    "还行",
    "气死了",
    "挺好的",
    "没意见",
    "再说吧",
] * 3


def _fit(labels: list[str], method: str = "sigmoid", base: object | None = None) -> tuple[object, object]:
    vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 2)).fit(TEXTS)
    est = base or LogisticRegression(C=4.0, class_weight="balanced", max_iter=1000)
    clf = CalibratedClassifierCV(est, method=method, cv=3).fit(vec.transform(TEXTS), labels)
    return vec, clf


@pytest.mark.parametrize("n_labels", [2, 3])
def test_compiled_proba_equals_sklearns(n_labels: int) -> None:
    names = ["neg", "pos", "neu"][:n_labels]
    labels = [names[i % n_labels] for i in range(len(TEXTS))]
    vec, clf = _fit(labels)
    proba = compile_estimator(clf)
    assert proba is not None
    features = vec.transform([*TEXTS, "没见过", ""])
    np.testing.assert_array_equal(proba(features), clf.predict_proba(features))  # type: ignore[attr-defined]


def test_other_calibrations_and_estimators_keep_sklearns_path() -> None:
    labels = ["a", "b"] * (len(TEXTS) // 2)
    assert compile_estimator(_fit(labels, method="isotonic")[1]) is None
    assert compile_estimator(_fit(labels, base=LinearSVC())[1]) is None
    assert compile_estimator(LogisticRegression()) is None
    assert compile_estimator(CalibratedClassifierCV(LogisticRegression())) is None  # not fitted


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["sentiment", "emotion", "rubric-mood-pair", "rubric-objection-pair", "rubric-handling-2"]
)
def test_shipped_models_use_it_and_agree(name: str) -> None:
    models_dir = Settings().models_dir
    clf = load_classifier(name, models_dir=models_dir)
    assert clf._proba is not None  # type: ignore[attr-defined]
    texts = ["这都三天了还没发货，你们到底管不管？", "好的谢谢", "要三天才到 || 这么久？我明天就要用", ""]
    slow = clf.model.predict_proba(texts)  # type: ignore[attr-defined]
    np.testing.assert_array_equal(clf._forward(texts), slow)  # type: ignore[attr-defined]
    fast = [p.probs for p in clf.predict(texts)]  # renormalised in float64 to sum to 1 (float32 models)
    np.testing.assert_allclose([[p[lab] for lab in clf.labels] for p in fast], slow, rtol=1e-6)
