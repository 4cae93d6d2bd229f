"""A faster ``transform`` for fitted TF-IDF features: the same matrix, less Python per text.

scikit-learn's :class:`~sklearn.feature_extraction.text.TfidfVectorizer` counts n-grams in a
Python loop with a ``try``/``except`` per n-gram and re-validates its input on every call. At
inference that loop is most of a text model's time. :func:`compile_features` reads a fitted
pipeline's feature step (one vectorizer, or a :class:`~sklearn.pipeline.FeatureUnion` of them) and
returns a function that builds the bit-identical matrix with C-level counting (``Counter`` over
vocabulary ids) and vectorised tf-idf weighting. Character n-grams are not built as strings at all:
:class:`CharGrams` codes each character of the vocabulary as a small integer and finds every n-gram
of a batch with numpy (one integer key per n-gram, looked up in a hash table of the vocabulary's keys).
Anything it does not recognise returns None, and
the caller keeps scikit-learn's own path. ``tests/classifiers/test_fast_features.py`` checks the
matrices are equal on the shipped models.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.utils.sparsefuncs_fast import inplace_csr_row_normalize_l1, inplace_csr_row_normalize_l2

Transform = Callable[[list[str]], sp.csr_matrix]
_WHITE = re.compile(r"\s\s+")


def compile_features(model: Any) -> tuple[Transform, Any] | None:
    """``(features, estimator)`` for a two-step text pipeline, or None when the shape is unfamiliar."""
    if not isinstance(model, Pipeline) or len(model.steps) != 2:
        return None
    (_, features), (_, estimator) = model.steps
    if isinstance(features, TfidfVectorizer):
        one = _compile_vectorizer(features)
        return (one, estimator) if one is not None else None
    if isinstance(features, FeatureUnion):
        parts = [_compile_vectorizer(vec) for _, vec in features.transformer_list]
        weights = features.transformer_weights or {}
        if parts and all(p is not None for p in parts):
            scale = [float(weights.get(name, 1.0)) for name, _ in features.transformer_list]
            return _union([p for p in parts if p is not None], scale), estimator
    return None


def _union(parts: list[Transform], scale: list[float]) -> Transform:
    """The parts side by side, each multiplied by its ``transformer_weights`` entry (as sklearn does)."""

    def transform(texts: list[str]) -> sp.csr_matrix:
        blocks = [part(texts) * w if w != 1.0 else part(texts) for part, w in zip(parts, scale, strict=True)]
        return sp.hstack(blocks, format="csr")

    return transform


def _supported(vec: TfidfVectorizer) -> bool:
    return (
        hasattr(vec, "vocabulary_")
        and not vec.binary
        and vec.norm in ("l2", "l1", None)
        and vec.input == "content"
        and vec.analyzer != "char_wb"
        and np.dtype(vec.dtype) in (np.dtype(np.float32), np.dtype(np.float64))
    )


def _compile_vectorizer(vec: Any) -> Transform | None:
    if not isinstance(vec, TfidfVectorizer) or not _supported(vec):
        return None
    grams = CharGrams.from_vectorizer(vec) if vec.analyzer == "char" else None
    if grams is not None:
        return _char_transform(vec, grams)
    analyze = _char_analyzer(vec) if vec.analyzer == "char" else vec.build_analyzer()
    vocab = {term: int(index) for term, index in vec.vocabulary_.items()}  # numpy ints -> int
    vocab_get: Callable[[str], Any] = vocab.get
    width = len(vec.vocabulary_)
    idf = np.asarray(vec.idf_, dtype=vec.dtype) if vec.use_idf else None

    def transform(texts: list[str]) -> sp.csr_matrix:
        indices: list[int] = []
        counts: list[int] = []
        indptr = [0]
        for text in texts:
            found = Counter(map(vocab_get, analyze(text)))
            found.pop(None, None)
            indices.extend(found)
            counts.extend(found.values())
            indptr.append(len(indices))
        return _weigh(vec, counts, indices, indptr, (len(texts), width), idf)

    return transform


def _weigh(
    vec: TfidfVectorizer,
    counts: list[int],
    indices: list[int],
    indptr: list[int],
    shape: tuple[int, int],
    idf: np.ndarray | None,
) -> sp.csr_matrix:
    """Counts -> the vectorizer's tf-idf rows, with scikit-learn's operations in its order and dtype
    (sorted columns, then sublinear tf, idf, row norm), so the result is bit-identical."""
    data = np.asarray(counts, dtype=vec.dtype)
    cols = np.asarray(indices, dtype=np.int32)
    matrix = sp.csr_matrix((data, cols, np.asarray(indptr, dtype=np.int32)), shape=shape)
    matrix.sort_indices()
    return _weigh_matrix(vec, matrix, idf)


def _weigh_matrix(vec: TfidfVectorizer, matrix: sp.csr_matrix, idf: np.ndarray | None) -> sp.csr_matrix:
    if vec.sublinear_tf:
        np.log(matrix.data, matrix.data)
        matrix.data += 1.0
    if idf is not None:
        matrix.data *= idf[matrix.indices]
    # what sklearn.preprocessing.normalize runs on a CSR matrix, without its per-call parameter checks
    if vec.norm == "l2":
        inplace_csr_row_normalize_l2(matrix)
    elif vec.norm == "l1":
        inplace_csr_row_normalize_l1(matrix)
    return matrix


def _char_analyzer(vec: TfidfVectorizer) -> Callable[[str], list[str]]:
    """scikit-learn's ``analyzer="char"``: preprocess, collapse white space, n-grams (list comprehensions)."""
    preprocess = vec.build_preprocessor()
    low, high = vec.ngram_range

    def analyze(text: str) -> list[str]:
        text = _WHITE.sub(" ", preprocess(text))
        size = len(text)
        grams = list(text) if low == 1 else []
        for n in range(max(low, 2), min(high, size) + 1):
            grams += [text[i : i + n] for i in range(size - n + 1)]
        return grams

    return analyze


_MAX_KEY = 2**62  # n-gram keys are int64; the largest is below size ** high


@dataclass(frozen=True)
class CharGrams:
    """A char vectorizer's vocabulary as integer keys: each vocabulary character gets a code 1..K-1
    (0: a character the vocabulary never uses, or a text boundary), an n-gram the key
    ``sum(code[i] * K ** (n - 1 - i))``. Keys of different lengths never collide (an n-gram's key lies
    in ``[K ** (n - 1), K ** n)``), and a gram with a 0 code cannot be in the vocabulary."""

    table: np.ndarray  # code point -> character code (0: not in the vocabulary)
    base: int  # K: the number of codes
    index: KeyIndex  # the vocabulary's n-gram keys -> their columns in the matrix
    ngrams: tuple[int, int]

    @classmethod
    def from_vectorizer(cls, vec: TfidfVectorizer) -> CharGrams | None:
        """None when the vocabulary holds the boundary character or keys would overflow int64."""
        chars = sorted({ch for term in vec.vocabulary_ for ch in term})
        base = len(chars) + 1
        if not chars or chars[0] == "\x00" or base ** vec.ngram_range[1] >= _MAX_KEY:
            return None
        table = np.zeros(ord(chars[-1]) + 1, dtype=np.int64)
        table[[ord(ch) for ch in chars]] = np.arange(1, base)
        code = {ch: i for i, ch in enumerate(chars, start=1)}
        keys = np.fromiter(
            (_key(term, code, base) for term in vec.vocabulary_), np.int64, len(vec.vocabulary_)
        )
        columns = np.fromiter(vec.vocabulary_.values(), np.int32, len(vec.vocabulary_))
        return cls(table, base, KeyIndex(keys, columns), vec.ngram_range)

    def codes(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The texts' character codes joined with a 0 between texts, and each position's text index."""
        joined = "\x00".join(texts)
        points = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.int64)
        known = points < len(self.table)
        codes = np.where(known, self.table[np.where(known, points, 0)], 0)
        rows = np.repeat(np.arange(len(texts), dtype=np.int32), [len(t) + 1 for t in texts])[: len(codes)]
        return codes, rows

    def find(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, columns)``: one entry per occurrence of a vocabulary n-gram in the texts."""
        codes, rows = self.codes(texts)
        low, high = self.ngrams
        keys, valid = codes, codes > 0
        found_rows, found_cols = [], []
        for n in range(1, high + 1):
            if n > 1:
                keys = keys[:-1] * self.base + codes[n - 1 :]
                valid = valid[:-1] & (codes[n - 1 :] > 0)
            if n >= low and len(keys):
                r, c = self._look_up(keys, valid, rows[: len(keys)])
                found_rows.append(r)
                found_cols.append(c)
        if not found_rows:
            return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32)
        return np.concatenate(found_rows), np.concatenate(found_cols)

    def _look_up(
        self, keys: np.ndarray, valid: np.ndarray, rows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        keys, rows = keys[valid], rows[valid]
        columns = self.index.get(keys)
        hit = columns >= 0
        return rows[hit], columns[hit]


class KeyIndex:
    """An open-addressing hash table of positive int64 keys -> int32 values, probed for a whole array
    of keys at once (linear probing, at most half full): one or two random reads a key, where a binary
    search over the sorted keys took about eighteen."""

    _MULT = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing

    def __init__(self, keys: np.ndarray, values: np.ndarray) -> None:
        if len(keys) and int(np.min(keys)) <= 0:
            raise ValueError("KeyIndex keys must be positive (-1 marks an empty slot)")
        self.bits = max(int(np.ceil(np.log2(max(2 * len(keys), 2)))), 1)
        self.mask = np.int64((1 << self.bits) - 1)
        self.slots = np.full(1 << self.bits, -1, dtype=np.int64)  # the key in each slot, -1: empty
        self.values = np.full(1 << self.bits, -1, dtype=np.int32)
        self._insert(np.asarray(keys, dtype=np.int64), np.asarray(values, dtype=np.int32))

    def _hash(self, keys: np.ndarray) -> np.ndarray:
        mixed = keys.astype(np.uint64) * self._MULT
        return (mixed >> np.uint64(64 - self.bits)).astype(np.int64)

    def _insert(self, keys: np.ndarray, values: np.ndarray) -> None:
        pending, at = np.arange(len(keys)), self._hash(keys)
        while len(pending):
            free = self.slots[at] == -1
            # of the keys probing the same free slot, the first takes it; the others probe on
            _, first = np.unique(at[free], return_index=True)
            won = np.flatnonzero(free)[first]
            self.slots[at[won]], self.values[at[won]] = keys[pending[won]], values[pending[won]]
            lost = np.ones(len(pending), dtype=bool)
            lost[won] = False
            pending, at = pending[lost], (at[lost] + 1) & self.mask

    def get(self, keys: np.ndarray) -> np.ndarray:
        """Each key's value, -1 for a key not in the table."""
        out = np.full(len(keys), -1, dtype=np.int32)
        active, at = np.arange(len(keys)), self._hash(keys)
        while len(active):
            seen = self.slots[at]
            found = seen == keys[active]
            out[active[found]] = self.values[at[found]]
            more = ~found & (seen != -1)
            active, at = active[more], (at[more] + 1) & self.mask
        return out


def _key(term: str, code: dict[str, int], base: int) -> int:
    key = 0
    for ch in term:
        key = key * base + code[ch]
    return key


def _char_transform(vec: TfidfVectorizer, grams: CharGrams) -> Transform:
    preprocess = vec.build_preprocessor()
    width = len(vec.vocabulary_)
    idf = np.asarray(vec.idf_, dtype=vec.dtype) if vec.use_idf else None

    def transform(texts: list[str]) -> sp.csr_matrix:
        rows, cols = grams.find([_WHITE.sub(" ", preprocess(t)) for t in texts])
        counts = sp.csr_matrix((np.ones(len(rows), dtype=vec.dtype), (rows, cols)), shape=(len(texts), width))
        counts.sum_duplicates()
        return _weigh_matrix(vec, counts, idf)

    return transform
