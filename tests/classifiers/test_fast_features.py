"""The compiled TF-IDF transform builds exactly scikit-learn's matrix, and models use it."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

from qa_pipeline.classifiers import load_classifier
from qa_pipeline.classifiers.fast_features import CharGrams, KeyIndex, compile_features
from qa_pipeline.classifiers.features import FeatureOptions, build_features, model_text
from qa_pipeline.settings import Settings

TEXTS = [
    "太失望了，再也不买了",
    "质量太差了  垃圾!!",
    "订单 123456 还没到，  气死了",
    "谢谢，问题解决了，非常满意",
    "OK 好的",
    "",
    "嗯",
    "我想查一下订单 || 您好，这边帮您查询",
]
LABELS = ["neg", "neg", "neg", "pos", "pos", "neg", "pos", "pos"]


def _dense(matrix: object) -> np.ndarray:
    return np.asarray(matrix.toarray())  # type: ignore[attr-defined]


def _assert_same(model: Pipeline, texts: list[str]) -> None:
    compiled = compile_features(model)
    assert compiled is not None
    features, estimator = compiled
    expected = model.steps[0][1].transform(texts)
    got = features(texts)
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(_dense(got), _dense(expected))
    np.testing.assert_array_equal(estimator.predict_proba(got), model.predict_proba(texts))


@pytest.mark.parametrize("ngrams", [(1, 1), (1, 3), (2, 4)])
def test_char_vectorizer_matches_sklearn(ngrams: tuple[int, int]) -> None:
    vec = TfidfVectorizer(analyzer="char", ngram_range=ngrams, preprocessor=model_text, sublinear_tf=True)
    model = Pipeline([("features", vec), ("clf", LogisticRegression())]).fit(TEXTS, LABELS)
    _assert_same(model, [*TEXTS, "没见过的字", "太 差"])


def test_word_and_char_union_matches_sklearn() -> None:
    opts = FeatureOptions(min_df=1, max_df=1.0, word_max_features=None, char_max_features=None)
    model = Pipeline([("features", build_features(opts)), ("clf", LogisticRegression())]).fit(TEXTS, LABELS)
    _assert_same(model, [*TEXTS, "完全没见过的句子"])


def test_weighted_union_matches_sklearn() -> None:
    union = FeatureUnion(
        [
            ("a", TfidfVectorizer(analyzer="char")),
            ("b", TfidfVectorizer(analyzer="char", ngram_range=(2, 3))),
        ],
        transformer_weights={"a": 1.0, "b": 0.5},
    )
    model = Pipeline([("features", union), ("clf", LogisticRegression())]).fit(TEXTS, LABELS)
    _assert_same(model, [*TEXTS, "完全没见过的句子"])


def test_plain_tf_and_l1_norm_match_sklearn() -> None:
    vec = TfidfVectorizer(analyzer="char", use_idf=False, norm="l1", dtype=np.float64)
    model = Pipeline([("features", vec), ("clf", LogisticRegression())]).fit(TEXTS, LABELS)
    _assert_same(model, TEXTS)


def test_char_grams_cross_no_text_boundary_and_survive_odd_characters() -> None:
    """Texts are joined with NUL for the vectorised count: no n-gram may span two texts, and NUL,
    astral characters, lone surrogates and characters beyond the vocabulary's must count as sklearn does."""
    vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 4), sublinear_tf=True)
    model = Pipeline([("features", vec), ("clf", LogisticRegression())]).fit(TEXTS, LABELS)
    assert CharGrams.from_vectorizer(vec) is not None
    odd = ["太失", "望了", "太失\x00望了", "😀太差😀", "\ud800太差", "\U0010ffff", "失望" * 2000, "太"]
    _assert_same(model, [*TEXTS, *odd])


def test_vocabulary_holding_the_boundary_character_keeps_the_counting_path() -> None:
    vec = TfidfVectorizer(analyzer="char").fit(["a\x00b", "ab"])
    assert CharGrams.from_vectorizer(vec) is None
    model = Pipeline([("features", vec), ("clf", LogisticRegression())]).fit(["a\x00b", "ab"], ["x", "y"])
    _assert_same(model, ["a\x00b", "ba", ""])


@pytest.mark.parametrize(
    "features",
    [
        CountVectorizer(analyzer="char"),
        TfidfVectorizer(analyzer="char", binary=True),
        TfidfVectorizer(analyzer="char_wb"),
        TfidfVectorizer(analyzer="char", dtype=np.int64),
    ],
)
def test_unfamiliar_shapes_keep_sklearns_path(features: object) -> None:
    model = Pipeline([("features", features), ("clf", LogisticRegression())]).fit(TEXTS, LABELS)
    assert compile_features(model) is None
    assert compile_features(LogisticRegression()) is None


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    ["sentiment", "emotion", "rubric-handling", "rubric-empathy", "rubric-mood-pair", "rubric-empathy-pair",
     "rubric-objection-pair", "rubric-forbidden-2", "rubric-confirmation-window"],
)  # fmt: skip
def test_shipped_models_predict_as_sklearn_does(name: str) -> None:
    models_dir = Settings().models_dir
    if not (models_dir / name).is_dir():
        pytest.skip(f"{name} is not in {models_dir}")
    clf = load_classifier(name, models_dir=models_dir)
    texts = [*TEXTS, "这都三天了还没发货，你们到底管不管？", "非常抱歉给您添麻烦了，我马上帮您加急处理"]
    texts += ["要三天才到 || 这么久？我明天就要用", " || 没了"]
    compiled = clf._compiled  # type: ignore[attr-defined]
    assert compiled is not None
    features, estimator = compiled
    fast = estimator.predict_proba(features(texts))
    np.testing.assert_array_equal(fast, clf.model.predict_proba(texts))  # type: ignore[attr-defined]
    assert [p.label for p in clf.predict(texts)] == [clf.labels[i] for i in fast.argmax(axis=1)]


@pytest.mark.parametrize("size", [0, 1, 7, 5000])
def test_key_index_finds_every_key_and_nothing_else(size: int) -> None:
    rng = np.random.default_rng(size)
    keys = np.unique(rng.integers(1, 2**62, size + 1))[:size]
    rng.shuffle(keys)
    values = rng.integers(0, 2**31 - 1, len(keys)).astype(np.int32)
    index = KeyIndex(keys, values)
    absent = np.setdiff1d(rng.integers(1, 2**62, 2000), keys)
    probe = np.concatenate([keys, absent, keys[:3]])
    expected = np.concatenate([values, np.full(len(absent), -1, np.int32), values[:3]])
    assert np.array_equal(index.get(probe), expected)
    assert index.get(np.zeros(0, dtype=np.int64)).shape == (0,)


def test_key_index_survives_keys_that_collide() -> None:
    keys = np.arange(1, 3000, dtype=np.int64) << np.int64(40)  # equal low bits: many shared slots
    values = np.arange(len(keys), dtype=np.int32)
    assert np.array_equal(KeyIndex(keys, values).get(keys), values)
