"""Text features that live *inside* a pickled scikit-learn pipeline.

Everything here is importable from the installed package, so a model pickled by
``training/train_sentiment.py`` loads wherever ``qa_pipeline`` is installed. Word features are cut
with :func:`qa_pipeline.text.jieba_main.main_cutter` (jieba's main dictionary, never the global
``jieba.dt`` that other code may add words to).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion

from qa_pipeline.text.jieba_main import main_cutter
from qa_pipeline.text.width import nfkc

_SPACE = re.compile(r"\s+")
# Digit strings (order numbers, phone digits, amounts), spoken digit runs (三幺二八幺零) and numbers masked
# by the pii stage (198****3166, ************2483) carry no sentiment; one placeholder keeps them from
# borrowing polarity from the reviews they co-occur with (where "***" censors swearing).
_NUMBER = re.compile(
    r"[\d*]*(?:\d\*{2,}|\*{2,}\d)[\d*]*|\*{7,}|\d+(?:[.:,/-]\d+)*|[零〇幺一二三四五六七八九两]{3,}"
)
NUMBER_TOKEN = "0"
# what every match of _NUMBER holds: a digit or "*" (its first three forms), or three numerals in a row
_DIGIT_OR_STAR = re.compile(r"[\d*]")
_NUMERAL_RUN = re.compile(r"[零〇幺一二三四五六七八九两]{3}")


def normalise_text(text: str) -> str:
    """NFKC (full-width -> half-width), lower case, whitespace collapsed and stripped."""
    return _SPACE.sub(" ", nfkc(text)).strip().lower()


@functools.lru_cache(maxsize=16384)
def model_text(text: str) -> str:
    """What the features see: :func:`normalise_text` with every number replaced by one token.
    Cached: each turn is read by a dozen models, most of them through this function."""
    text = normalise_text(text)
    if _DIGIT_OR_STAR.search(text) is None and _NUMERAL_RUN.search(text) is None:
        return text  # no number (most turns): two quick scans instead of _NUMBER's slow one
    return _NUMBER.sub(NUMBER_TOKEN, text)


PAIR_SEP = " || "


NO_CONTEXT = "∅"


def pair_context_text(text: str) -> str:
    """The first half of a pair input (the turn answered), as the features see it; :data:`NO_CONTEXT`
    when it is empty (the customer spoke first) or the input is no pair."""
    before, _, _ = text.rpartition(PAIR_SEP)
    return model_text(before) or NO_CONTEXT


def pair_own_text(text: str) -> str:
    """The second half of a pair input (the turn judged), or the whole input when it is no pair."""
    return model_text(text.rpartition(PAIR_SEP)[2])


@functools.lru_cache(maxsize=4096)
def model_tokens(text: str) -> tuple[str, ...]:
    """jieba tokens of :func:`model_text` (whitespace dropped), cut with jieba's main dictionary only.
    Cached, so the sentiment and emotion models, which read the same turns one after the other,
    segment each turn once."""
    return tuple(w for w in main_cutter().lcut(model_text(text)) if not w.isspace())


class JiebaAnalyzer:
    """Callable analyzer: jieba word n-grams (unigrams and bigrams by default) of :func:`model_text`.

    Picklable: only the n-gram range is stored; every analyzer shares one model tokenizer.
    """

    def __init__(self, ngram_range: tuple[int, int] = (1, 2)) -> None:
        self.ngram_range = ngram_range

    def tokens(self, text: str) -> list[str]:
        return list(model_tokens(text))

    def __call__(self, text: str) -> list[str]:
        words = self.tokens(text)
        low, high = self.ngram_range
        grams: list[str] = []
        for n in range(low, high + 1):
            grams.extend(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))
        return grams

    def __getstate__(self) -> dict[str, Any]:
        return {"ngram_range": tuple(self.ngram_range)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(tuple(state["ngram_range"]))  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"JiebaAnalyzer(ngram_range={tuple(self.ngram_range)})"


@dataclass(frozen=True)
class FeatureOptions:
    """Options of the TF-IDF feature union (word n-grams from jieba + character n-grams)."""

    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (1, 3)
    min_df: int = 3
    max_df: float = 0.5
    word_max_features: int | None = 120_000
    char_max_features: int | None = 150_000


def build_features(opts: FeatureOptions) -> FeatureUnion:
    """TF-IDF (sublinear tf) over jieba word n-grams and character n-grams, side by side."""
    word = TfidfVectorizer(
        analyzer=JiebaAnalyzer(opts.word_ngrams),
        sublinear_tf=True,
        min_df=opts.min_df,
        max_df=opts.max_df,
        max_features=opts.word_max_features,
        dtype=np.float32,
    )
    char = TfidfVectorizer(
        analyzer="char",
        preprocessor=model_text,
        ngram_range=opts.char_ngrams,
        sublinear_tf=True,
        min_df=opts.min_df,
        max_df=opts.max_df,
        max_features=opts.char_max_features,
        dtype=np.float32,
    )
    return FeatureUnion([("word", word), ("char", char)])


def drop_fit_only_state(features: FeatureUnion) -> None:
    """Remove attributes only needed for introspection (``stop_words_`` can be large) before saving."""
    for _, vec in features.transformer_list:
        if hasattr(vec, "stop_words_"):
            vec.stop_words_ = None
