from __future__ import annotations

import numpy as np
import pytest

from qa_pipeline.classifiers.base import Probs, TextClassifier
from qa_pipeline.classifiers.sklearn_model import SklearnTextClassifier
from qa_pipeline.errors import E, InputError


class LengthClassifier(TextClassifier):
    """A real (rule-based) implementation of the contract: short texts 'a', long texts 'b'."""

    max_chars = 10

    def __init__(self) -> None:
        self.labels = ["a", "b"]
        self.version = "length-1"
        self.batches: list[list[str]] = []

    def _forward(self, texts: list[str]) -> Probs:
        self.batches.append(texts)
        return np.array([[3.0, 1.0] if len(t) < 5 else [0.0, 0.0] for t in texts])


def test_empty_list_gives_empty_list(tiny: SklearnTextClassifier) -> None:
    assert tiny.predict([]) == []
    assert LengthClassifier().predict([]) == []


def test_one_prediction_per_text_in_order_with_all_labels(tiny: SklearnTextClassifier) -> None:
    texts = ["太失望了，再也不买了", "我想查一下订单", "谢谢，非常满意"]
    preds = tiny.predict(texts)
    assert [p.label for p in preds] == ["neg", "neu", "pos"]
    for pred in preds:
        assert set(pred.probs) == {"neg", "neu", "pos"}
        assert sum(pred.probs.values()) == pytest.approx(1.0)
        assert pred.label == max(pred.probs, key=pred.probs.__getitem__)


def test_batching_does_not_change_results(tiny: SklearnTextClassifier) -> None:
    texts = ["质量太差", "请问什么时候发货", "很喜欢", "帮我改地址", "气死了"] * 3
    assert tiny.predict(texts, batch_size=2) == tiny.predict(texts, batch_size=256)


def test_postprocess_renormalises_and_handles_all_zero_rows() -> None:
    clf = LengthClassifier()
    short, long_ = clf.predict(["hi", "a long text"])
    assert short.label == "a"
    assert short.probs == {"a": 0.75, "b": 0.25}
    assert long_.probs == {"a": 0.5, "b": 0.5}


def test_preprocess_truncates_and_batches() -> None:
    clf = LengthClassifier()
    clf.predict(["x" * 50, "y", "z"], batch_size=2)
    assert clf.batches == [["x" * 10, "y"], ["z"]]


@pytest.mark.parametrize("bad", ["one string", ["ok", 3], [None]])
def test_bad_input_is_a_typed_error(bad: object) -> None:
    with pytest.raises(InputError) as info:
        LengthClassifier().predict(bad)  # type: ignore[arg-type]
    assert info.value.code is E.BAD_FIELD


def test_batch_size_must_be_positive() -> None:
    with pytest.raises(InputError) as info:
        LengthClassifier().predict(["a"], batch_size=0)
    assert info.value.code is E.BAD_REQUEST
