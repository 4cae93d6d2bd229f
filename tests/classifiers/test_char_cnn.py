"""The character CNN finds a clause wherever it stands, pickles numpy weights only, loads as a model."""

from __future__ import annotations

import pickle
import random
from pathlib import Path

import joblib
import numpy as np
import pytest

from qa_pipeline.classifiers.char_cnn import CharCNN, MeanProba
from qa_pipeline.classifiers.features import PAIR_SEP
from qa_pipeline.classifiers.sklearn_model import ExportInfo, SklearnTextClassifier, export_model

FILLER = [
    "您好这边帮您查询一下订单",
    "物流显示明天上午送达",
    "退款会在三个工作日内原路返回",
    "请您稍等我这边核实",
    "套餐可以在下个月生效",
    "还有其他可以帮您的吗",
]
CLAUSE = "这是您自己没看清楚"


def _turn(rng: random.Random, banned: bool, where: int | None = None) -> str:
    parts = rng.sample(FILLER, 3)
    if banned:
        parts.insert(rng.randrange(4) if where is None else where, CLAUSE)
    return "，".join(parts)


@pytest.fixture(scope="module")
def fitted() -> CharCNN:
    rng = random.Random(1)
    texts = [_turn(rng, i % 2 == 0) for i in range(160)]
    labels = ["forbidden" if i % 2 == 0 else "ok" for i in range(160)]
    return CharCNN(epochs=12, filters=16, embed_dim=16, min_char_count=1).fit(texts, labels)


def test_a_banned_clause_is_found_at_the_start_middle_or_end_of_a_long_turn(fitted: CharCNN) -> None:
    rng = random.Random(7)
    banned = [_turn(rng, True, where) for where in (0, 1, 2, 3)]
    clean = [_turn(rng, False) for _ in range(4)]
    assert list(fitted.classes_) == ["forbidden", "ok"]
    assert list(fitted.predict(banned)) == ["forbidden"] * 4
    assert list(fitted.predict(clean)) == ["ok"] * 4
    probs = fitted.predict_proba(banned + clean)
    assert probs.shape == (8, 2) and np.allclose(probs.sum(axis=1), 1.0)


def test_the_pickle_holds_numpy_weights_only_and_predicts_the_same(fitted: CharCNN, tmp_path: Path) -> None:
    texts = [_turn(random.Random(3), True), "您好"]
    before = fitted.predict_proba(texts)
    state = fitted.__getstate__()
    assert "_net_cache" not in state and all(isinstance(v, np.ndarray) for v in state["weights_"].values())
    joblib.dump(fitted, tmp_path / "m.joblib")
    again = joblib.load(tmp_path / "m.joblib")
    assert np.allclose(again.predict_proba(texts), before)
    assert b"torch" not in pickle.dumps(state["weights_"])


def test_a_pair_keeps_its_own_turn_whole_and_cuts_the_context_from_its_start() -> None:
    cnn = CharCNN(max_length=20)
    chars = cnn._chars("前" * 50 + "后" + PAIR_SEP + "太贵了吧")
    assert "".join(chars[-4:]) == "太贵了吧" and chars[-5] == "\x00"
    assert len(chars) == 20 and chars[-6] == "后"  # the context's end survives, its start is cut
    assert cnn._chars("啊" * 50) == ["啊"] * 20
    assert cnn._chars("前文" + PAIR_SEP + "啊" * 30) == ["啊"] * 20  # the turn alone fills the window


def test_a_text_scores_the_same_alone_and_batched_with_longer_ones(fitted: CharCNN) -> None:
    text = "这是您自己没看清楚"
    alone = fitted.predict_proba([text])[0]
    batched = fitted.predict_proba([text, _turn(random.Random(9), False) * 3, "您好"])[0]
    assert np.allclose(alone, batched, atol=1e-6)


def test_an_unfitted_model_or_mismatched_input_is_a_clear_error() -> None:
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        CharCNN().predict_proba(["您好"])
    with pytest.raises(ValueError, match="one label per text"):
        CharCNN().fit(["您好", "再见"], ["ok"])
    with pytest.raises(ValueError, match="at least one member"):
        MeanProba([]).fit(["您好"], ["ok"])


def test_the_embedding_starts_from_the_given_vectors(tmp_path: Path) -> None:
    vectors = np.eye(4, dtype=np.float32)
    np.savez(tmp_path / "v.npz", chars=np.array("好差贵便"), vectors=vectors)
    cnn = CharCNN(embed_dim=4, filters=2, epochs=0, min_char_count=1, init_vectors=str(tmp_path / "v.npz"))
    cnn.fit(["好", "差", "贵了", "便宜"], ["pos", "neg", "neg", "pos"])
    embed = cnn.weights_["embed.weight"]
    assert np.allclose(embed[cnn.vocab_["贵"]], vectors[2] * 2.0)  # scaled by sqrt(embed_dim)
    wrong = CharCNN(embed_dim=8, epochs=0, min_char_count=1, init_vectors=str(tmp_path / "v.npz"))
    with pytest.raises(ValueError, match="vectors of 4, embed_dim is 8"):
        wrong.fit(["好", "差"], ["pos", "neg"])


class _Fixed:
    """A fitted-looking member with fixed probabilities (for the mean and its class check)."""

    def __init__(self, classes: list[str], row: list[float]) -> None:
        self.classes, self.row = classes, row

    def get_params(self, deep: bool = True) -> dict[str, object]:
        return {"classes": self.classes, "row": self.row}

    def fit(self, texts: list[str], labels: list[str]) -> _Fixed:
        self.classes_ = np.array(self.classes)
        return self

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        return np.tile(self.row, (len(texts), 1))


def test_the_mean_averages_members_and_refuses_members_that_disagree_on_classes() -> None:
    mean = MeanProba([_Fixed(["a", "b"], [0.9, 0.1]), _Fixed(["a", "b"], [0.3, 0.7])]).fit(["x"], ["a"])
    assert np.allclose(mean.predict_proba(["x", "y"]), [[0.6, 0.4], [0.6, 0.4]])
    assert list(mean.predict(["x"])) == ["a"]
    with pytest.raises(ValueError, match="disagree on the classes"):
        MeanProba([_Fixed(["a", "b"], [1, 0]), _Fixed(["b", "a"], [1, 0])]).fit(["x"], ["a"])


def test_an_exported_mean_loads_through_the_pipeline_loader(fitted: CharCNN, tmp_path: Path) -> None:
    rng = random.Random(5)
    texts = [_turn(rng, i % 2 == 0) for i in range(60)]
    labels = ["forbidden" if i % 2 == 0 else "ok" for i in range(60)]
    mean = MeanProba([CharCNN(epochs=8, filters=8, embed_dim=8, min_char_count=1)]).fit(texts, labels)
    export_model(mean, tmp_path / "m", ExportInfo(name="rubric-test"))
    model = SklearnTextClassifier.load(tmp_path / "m")
    probs = model.predict_probs([_turn(rng, True)])
    assert model.labels == ["forbidden", "ok"] and probs.shape == (1, 2)
