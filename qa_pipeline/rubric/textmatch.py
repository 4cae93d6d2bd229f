"""Text-matching helpers for rules: clauses, pinyin views, character n-gram similarity.

Everything here works on one turn's text and is cached per turn by :class:`TurnViews`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache

from pypinyin import Style, lazy_pinyin

CLAUSE_SPLIT = re.compile(r"[，,。.!！?？；;：:\n…~～]+")

# initials/finals that Mandarin speakers and ASR confuse (南方口音 / homophones)
_FUZZY = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("ang", "an"), ("eng", "en"), ("ing", "in"))
_L_N = re.compile(r"^n(?=[aeiou])")


@dataclass(frozen=True)
class Clause:
    start: int
    end: int
    text: str


def clauses(text: str) -> list[Clause]:
    """Split a turn into clauses at punctuation, keeping character offsets."""
    out, pos = [], 0
    for m in CLAUSE_SPLIT.finditer(text):
        if m.start() > pos:
            out.append(Clause(pos, m.start(), text[pos : m.start()]))
        pos = m.end()
    if pos < len(text):
        out.append(Clause(pos, len(text), text[pos:]))
    return out


def clause_at(text: str, index: int) -> Clause:
    for c in clauses(text):
        if c.start <= index < c.end:
            return c
    return Clause(0, len(text), text)


@lru_cache(maxsize=20_000)
def syllable(ch: str, fuzzy: bool) -> str:
    """Toneless pinyin of one character (the character itself if it has none)."""
    found = lazy_pinyin(ch, style=Style.NORMAL, errors="default")
    py = found[0] if found else ch
    if not fuzzy or not py.isalpha():
        return py
    for a, b in _FUZZY:
        py = py.replace(a, b)
    return _L_N.sub("l", py)


def pinyin_seq(text: str, fuzzy: bool) -> tuple[str, ...]:
    """One syllable per character, so indices line up with ``text``."""
    return tuple(syllable(ch, fuzzy) for ch in text)


@lru_cache(maxsize=4096)
def phrase_pinyin(phrase: str, fuzzy: bool) -> tuple[str, ...]:
    """:func:`pinyin_seq` of a rule's phrase, computed once."""
    return pinyin_seq(phrase, fuzzy)


_SYL = "\x1f"  # between syllables in a joined view (a necessary-condition test before find_pinyin)


def joined_syllables(seq: tuple[str, ...]) -> str:
    """The syllables with a separator around each: ``needle`` can occur in ``haystack`` only if its
    joined view is a substring of the haystack's."""
    return f"{_SYL}{_SYL.join(seq)}{_SYL}"


@lru_cache(maxsize=4096)
def phrase_joined(phrase: str, fuzzy: bool) -> str:
    return joined_syllables(phrase_pinyin(phrase, fuzzy))


def find_pinyin(haystack: tuple[str, ...], needle: tuple[str, ...]) -> list[int]:
    """Start indices where ``needle`` occurs in ``haystack`` (both syllable sequences)."""
    n = len(needle)
    if n == 0 or n > len(haystack):
        return []
    out: list[int] = []
    i, last = 0, len(haystack) - n
    first = needle[0]
    while True:
        try:
            i = haystack.index(first, i, last + 1)
        except ValueError:
            return out
        if haystack[i : i + n] == needle:
            out.append(i)
        i += 1


_DROPPED = re.compile(r"\s|" + CLAUSE_SPLIT.pattern)


def ngrams(text: str) -> frozenset[str]:
    """Character unigrams and bigrams (punctuation and spaces dropped)."""
    chars = _DROPPED.sub("", text)
    grams = set(chars)
    grams.update(chars[i : i + 2] for i in range(len(chars) - 1))
    return frozenset(grams)


def cosine(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / math.sqrt(len(a) * len(b))


class GramIndex:
    """Example sentences' n-gram sets indexed by gram. :meth:`best_cosine` looks only at the examples
    that share one of the clause's rarest grams: an example reaching the floor shares at least ``need``
    grams with the clause, so it shares one among any ``size - need + 1`` of them (prefix filtering,
    as in similarity joins); the figure is :func:`cosine`'s."""

    def __init__(self, examples: list[frozenset[str]]) -> None:
        self.examples = list(examples)
        self.sizes = [len(e) for e in examples]
        self._smallest, self._largest = min(self.sizes, default=0), max(self.sizes, default=0)
        self.postings: dict[str, list[int]] = {}
        for j, example in enumerate(examples):
            for gram in example:
                self.postings.setdefault(gram, []).append(j)
        self._vocabulary = frozenset(self.postings)

    def best_cosine(self, grams: frozenset[str], floor: float = 0.0) -> float:
        """The highest cosine of ``grams`` with an example, or 0.0 when none reaches ``floor``."""
        size = len(grams)
        if not size or self._ceiling(size) < floor - 1e-9:  # a margin: sqrt(a/b) may round below a/sqrt(ab)
            return 0.0
        sizes, examples = self.sizes, self.examples
        best = max(
            (len(grams & examples[j]) / math.sqrt(size * sizes[j]) for j in self._candidates(grams, floor)),
            default=0.0,
        )
        return best if best >= floor else 0.0

    def _candidates(self, grams: frozenset[str], floor: float) -> set[int]:
        """The examples sharing one of the clause's ``known - need + 1`` rarest grams (a gram no example
        has is shared by none); none when the clause has fewer than ``need`` grams any example has."""
        known, need = grams & self._vocabulary, self._need(len(grams), floor)
        if len(known) < need:
            return set()  # most clauses: decided by one set intersection
        postings = self.postings
        rarest = sorted(known, key=lambda g: len(postings[g]))
        out: set[int] = set()
        for gram in rarest[: len(rarest) - need + 1]:
            out.update(postings[gram])
        return out

    def _need(self, size: int, floor: float) -> int:
        """The fewest shared grams with which an example could reach ``floor`` (rounded down by a
        margin, so never more than the true figure). A smaller example than ``floor² · size`` cannot
        reach it at all, and a larger one needs more."""
        lowest = max(self._smallest, floor * floor * size)
        return max(1, math.ceil(floor * math.sqrt(size * lowest) - 1e-6))

    def _ceiling(self, size: int) -> float:
        """The highest cosine any example could reach with ``size`` grams: sharing at most the smaller
        set, ``min(a, b) / sqrt(a * b) = sqrt(min / max)`` (a clause far longer or shorter than every
        example cannot be similar to one)."""
        if not self._largest:
            return 0.0
        if size > self._largest:
            return math.sqrt(self._largest / size)
        if size < self._smallest:
            return math.sqrt(size / self._smallest)
        return 1.0


@dataclass
class TurnViews:
    """Per-conversation cache of derived views of each turn's text."""

    pinyin: dict[tuple[int, bool], tuple[str, ...]] = field(default_factory=dict)
    grams: dict[tuple[int, int], frozenset[str]] = field(default_factory=dict)
    joined: dict[tuple[int, bool], str] = field(default_factory=dict)

    def pinyin_of(self, turn: int, text: str, fuzzy: bool) -> tuple[str, ...]:
        key = (turn, fuzzy)
        if key not in self.pinyin:
            self.pinyin[key] = pinyin_seq(text, fuzzy)
        return self.pinyin[key]

    def joined_of(self, turn: int, text: str, fuzzy: bool) -> str:
        """:func:`joined_syllables` of the turn's pinyin."""
        key = (turn, fuzzy)
        if key not in self.joined:
            self.joined[key] = joined_syllables(self.pinyin_of(turn, text, fuzzy))
        return self.joined[key]

    def grams_of(self, turn: int, clause: Clause) -> frozenset[str]:
        key = (turn, clause.start)
        if key not in self.grams:
            self.grams[key] = ngrams(clause.text)
        return self.grams[key]
