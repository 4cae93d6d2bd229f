"""Text features that live *inside* a pickled scikit-learn pipeline.

Everything here is importable from the installed package, so a model pickled by
``training/train_sentiment.py`` loads wherever ``qa_pipeline`` is installed. Word features are cut
with :func:`qa_pipeline.text.jieba_main.main_cutter` (jieba's main dictionary, never the global
``jieba.dt`` that other code may add words to).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion

from qa_pipeline.text.jieba_main import main_cutter
from qa_pipeline.text.numerals import unspaced
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
# a match of _NUMBER is made only of these characters and has no look-around, so _NUMBER finds the
# same matches in each maximal run of them (holding one that can start a match) as in the whole text;
# _NUMBER itself tries four forms at every position of a text, slow on a long turn
_NUMBER_CHAR = r"\d*零〇幺一二三四五六七八九两"
_NUMBER_STRETCH = re.compile(rf"[.:,/\-]*[{_NUMBER_CHAR}][{_NUMBER_CHAR}.:,/\-]*")


def normalise_text(text: str) -> str:
    """NFKC (full-width -> half-width), lower case, whitespace collapsed and stripped."""
    return _SPACE.sub(" ", nfkc(text)).strip().lower()


_T = TypeVar("_T")
#: longer texts are not cached: a 5,000-character turn read in windows of three and in pairs would
#: otherwise keep tens of kilobytes per entry (16,384 of them: a server hundreds of MB larger for good)
CACHED_CHARS = 600


def _short_texts_cached(maxsize: int, long: int = 0) -> Callable[[Callable[[str], _T]], Callable[[str], _T]]:
    """An LRU cache of ``maxsize`` entries for texts of at most :data:`CACHED_CHARS` characters, and
    one of ``long`` entries for longer ones (0: computed each time); ``cache_info`` is the first
    cache's, ``cache_clear`` empties both."""

    def decorate(fn: Callable[[str], _T]) -> Callable[[str], _T]:
        cached = functools.lru_cache(maxsize=maxsize)(fn)
        cached_long = functools.lru_cache(maxsize=long)(fn) if long else fn

        @functools.wraps(fn)
        def wrapper(text: str) -> _T:
            return cached(text) if len(text) <= CACHED_CHARS else cached_long(text)

        def cache_clear() -> None:
            cached.cache_clear()
            if long:
                cached_long.cache_clear()  # type: ignore[attr-defined]

        wrapper.cache_info = cached.cache_info  # type: ignore[attr-defined]
        wrapper.cache_clear = cache_clear  # type: ignore[attr-defined]
        return wrapper

    return decorate


@_short_texts_cached(maxsize=16384, long=256)  # long: a batch's long turns, read by model after model
def model_text(text: str) -> str:
    """What the features see: :func:`normalise_text`, words a recogniser wrote apart joined
    (:func:`~qa_pipeline.text.numerals.unspaced`), every number replaced by one token.
    Cached: each turn is read by a dozen models, most of them through this function."""
    text = unspaced(normalise_text(text))
    if _DIGIT_OR_STAR.search(text) is None and _NUMERAL_RUN.search(text) is None:
        return text  # no number (most turns): two quick scans instead of _NUMBER's slow one
    return _NUMBER_STRETCH.sub(_numbers_masked, text)


def _numbers_masked(stretch: re.Match[str]) -> str:
    return _NUMBER.sub(NUMBER_TOKEN, stretch.group())


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


@_short_texts_cached(maxsize=4096)
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
