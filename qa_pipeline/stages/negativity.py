"""Negation-aware negative-word ratio per speaker (负面词占比).

Lexicon entries (in both their written and their ``Turn.norm`` matching form, so 白跑一趟 also
matches 白跑1趟) are matched on jieba token boundaries, longest first, and an entry may span
several tokens (jieba splits 不满意 into 不/满意). Negation is then judged on the tokens *before*
the entry, inside its clause (stop at punctuation or at an earlier negative word) and within
``negation_window`` tokens: an odd number of negators cancels the word (不是不满意, 没有生气),
an even number keeps it. Prohibitive negators (别, 不要) cancel feelings (别担心) but not insults
or accusations (别骗我). A rhetorical 不是…吗 does not negate (这不是骗人吗).

In agent turns, a negative word inside an empathy frame (换谁都受不了, 理解您的不满) names the
customer's feeling and is not counted as agent negativity.
"""

from __future__ import annotations

import hashlib
import logging
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

from pydantic import Field

from qa_pipeline.errors import E, PipelineError
from qa_pipeline.pipeline import BuildContext, Stage, StageConfig, registry
from qa_pipeline.text.numerals import matching_view
from qa_pipeline.types import SPEAKERS, Conversation, Evidence, Metrics, SpeakerValue, Turn

log = logging.getLogger(__name__)

LEXICON_DIR = Path(__file__).resolve().parent.parent / "lexicons"
CATEGORIES = frozenset(
    {"anger", "insult", "accuse", "complaint", "dissatisfaction", "dismissive", "worry", "distress"}
)
PROHIBITION_PROOF = frozenset({"insult", "accuse"})
RHETORICAL_NEGATORS = frozenset({"不是", "不就是"})
QUESTION_ENDINGS = frozenset({"吗", "嘛", "么"})
RULE = "negativity/lexicon"


class NegativityConfig(StageConfig):
    """Lexicon files and the negation window. ``extra_lexicons`` add entries to the bundled list."""

    lexicon: Path = LEXICON_DIR / "negative.txt"
    extra_lexicons: list[Path] = Field(default_factory=list)
    negation_lexicon: Path = LEXICON_DIR / "negation.txt"
    empathy_frames: Path = LEXICON_DIR / "empathy_frames.txt"
    negation_window: int = Field(default=3, ge=0, le=10)


@dataclass(frozen=True)
class Lexicon:
    """Negative entries (word → category), negators (word → is prohibitive) and empathy frames."""

    entries: dict[str, str]
    negators: dict[str, bool]
    frames: tuple[str, ...]
    digest: str

    @cached_property
    def max_chars(self) -> int:
        """Length of the longest entry (computed once: it bounds every lookup)."""
        return max((len(w) for w in self.entries), default=0)

    @cached_property
    def prefixes(self) -> frozenset[str]:
        """Every proper prefix of an entry: a lookup stops as soon as its text is none of these."""
        return frozenset(w[:n] for w in self.entries for n in range(1, len(w)))


@dataclass(frozen=True)
class Hit:
    """A counted negative word: tokens ``[start, end)`` of one turn."""

    start: int
    end: int
    text: str
    category: str


def _read_table(path: Path) -> list[tuple[int, str, str]]:
    """``(line, word, tag)`` rows of a lexicon file; ``tag`` is '' when absent."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PipelineError(E.STAGE_CONFIG, f"cannot read lexicon: {exc}", file=str(path)) from exc
    rows = []
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) > 2:
            raise PipelineError(E.STAGE_CONFIG, f"expected 'word [tag]', got {raw!r}", file=str(path), line=n)
        rows.append((n, parts[0].lower(), parts[1] if len(parts) == 2 else ""))
    return rows


def _entries(path: Path) -> dict[str, str]:
    entries: dict[str, str] = {}
    for n, word, tag in _read_table(path):
        category = tag or "dissatisfaction"
        if category not in CATEGORIES:
            raise PipelineError(
                E.STAGE_CONFIG,
                f"unknown category {category!r}; use one of {sorted(CATEGORIES)}",
                file=str(path),
                line=n,
            )
        entries[word] = category
        entries.setdefault(matching_view(word), category)  # as it appears in Turn.norm: 白跑一趟 → 白跑1趟
    return entries


def _negators(path: Path) -> dict[str, bool]:
    negators: dict[str, bool] = {}
    for n, word, tag in _read_table(path):
        if tag not in ("", "prohibitive"):
            raise PipelineError(E.STAGE_CONFIG, f"unknown negator tag {tag!r}", file=str(path), line=n)
        negators[word] = tag == "prohibitive"
    return negators


def load_lexicon(config: NegativityConfig) -> Lexicon:
    """Read the negative lexicon (plus extras) and the negator list named by ``config``."""
    entries: dict[str, str] = {}
    for path in (config.lexicon, *config.extra_lexicons):
        entries.update(_entries(path))
    negators = _negators(config.negation_lexicon)
    frames = tuple(sorted({word for _, word, _ in _read_table(config.empathy_frames)}))
    parts = [f"{w}\t{c}" for w, c in sorted(entries.items())] + sorted(negators) + list(frames)
    digest = hashlib.sha1("\n".join(parts).encode("utf-8")).hexdigest()[:10]
    return Lexicon(entries, negators, frames, digest)


@lru_cache(maxsize=1 << 16)
def is_punct(token: str) -> bool:
    """True for tokens with no letter or digit (punctuation, symbols, whitespace); memoised."""
    return not any(ch.isalnum() for ch in token)


class NegationMatcher:
    """Finds counted negative words in a token list."""

    def __init__(self, lexicon: Lexicon, window: int = 3) -> None:
        self.lexicon = lexicon
        self.window = window

    def _longest(self, tokens: Sequence[str], i: int) -> int | None:
        """End (exclusive) of the longest lexicon entry starting at token ``i``, if any."""
        best, text, limit = None, "", self.lexicon.max_chars
        entries, prefixes = self.lexicon.entries, self.lexicon.prefixes
        for j in range(i, len(tokens)):
            if is_punct(tokens[j]):
                break
            text += tokens[j]
            if len(text) > limit:
                break
            if text in entries:
                best = j + 1
            if text not in prefixes:
                break
        return best

    def matches(self, tokens: Sequence[str]) -> list[Hit]:
        """Every lexicon entry in ``tokens`` (longest match, left to right), negated or not."""
        hits, i = [], 0
        entries, prefixes = self.lexicon.entries, self.lexicon.prefixes
        while i < len(tokens):
            token = tokens[i]
            # most tokens start no entry: decided here, without a call
            starts = token in entries or token in prefixes
            end = self._longest(tokens, i) if starts and not is_punct(token) else None
            if end is None:
                i += 1
                continue
            text = "".join(tokens[i:end])
            hits.append(Hit(i, end, text, self.lexicon.entries[text]))
            i = end
        return hits

    def negated(self, tokens: Sequence[str], hit: Hit, floor: int, clauses: Clauses | None = None) -> bool:
        """Whether an odd number of applicable negators precede ``hit`` in its clause (from ``floor``)."""
        count = 0
        for k in range(hit.start - 1, max(floor, hit.start - self.window) - 1, -1):
            token = tokens[k]
            if is_punct(token):
                break
            prohibitive = self.lexicon.negators.get(token)
            if prohibitive is None:
                continue
            if prohibitive and hit.category in PROHIBITION_PROOF:
                continue
            if token in RHETORICAL_NEGATORS and (clauses or Clauses(tokens)).ends_in_question(hit.end):
                continue
            count += 1
        return count % 2 == 1

    def mirrored(self, tokens: Sequence[str], hit: Hit, clauses: Clauses | None = None) -> bool:
        """Whether ``hit``'s clause holds an empathy frame (the agent naming the customer's feeling)."""
        return (clauses or Clauses(tokens)).has_frame(hit, self.lexicon.frames)

    def counted(self, tokens: Sequence[str], *, agent: bool = False) -> list[Hit]:
        """The negative words that count: matched, not negated and (for the agent) not mirrored.

        Clause bounds are computed once per token list, so this is linear in the turn's length
        even when unpunctuated (ASR) text makes one clause of the whole turn.
        """
        out, floor, clauses = [], 0, Clauses(tokens)
        for hit in self.matches(tokens):
            negated = self.negated(tokens, hit, floor, clauses)
            if not negated and not (agent and self.mirrored(tokens, hit, clauses)):
                out.append(hit)
            floor = hit.end
        return out


class Clauses:
    """Punctuation-delimited clauses of one token list, found once; lookups by bisection."""

    def __init__(self, tokens: Sequence[str]) -> None:
        self.tokens = tokens
        self.stops = [i for i, token in enumerate(tokens) if is_punct(token)]
        self._framed: dict[tuple[int, tuple[str, ...]], bool] = {}

    def _right(self, start: int) -> int:
        """Index of the first punctuation token at or after ``start`` (or the end)."""
        k = bisect_left(self.stops, start)
        return self.stops[k] if k < len(self.stops) else len(self.tokens)

    def bounds(self, hit: Hit) -> tuple[int, int]:
        """``[left, right)`` token range of the clause around ``hit``."""
        k = bisect_left(self.stops, hit.start)
        left = self.stops[k - 1] + 1 if k else 0
        return left, self._right(hit.end)

    def text(self, hit: Hit) -> str:
        """The text of the clause around ``hit``."""
        left, right = self.bounds(hit)
        return "".join(self.tokens[left:right])

    def has_frame(self, hit: Hit, frames: tuple[str, ...]) -> bool:
        """Whether ``hit``'s clause contains one of ``frames`` (searched once per clause)."""
        key = (self.bounds(hit)[0], frames)
        if key not in self._framed:
            clause = self.text(hit)
            self._framed[key] = any(frame in clause for frame in frames)
        return self._framed[key]

    def ends_in_question(self, start: int) -> bool:
        """Whether the clause from ``start`` ends with a question particle (吗/嘛/么)."""
        right = self._right(start)
        return right > start and self.tokens[right - 1] in QUESTION_ENDINGS


def word_count(tokens: Sequence[str]) -> int:
    return sum(1 for t in tokens if not is_punct(t))


def _evidence(i: int, turn: Turn, hit: Hit) -> Evidence:
    return Evidence(turn=i, start=turn.start, end=turn.end, text=hit.text, rule=RULE)


def fill_negativity(conv: Conversation, metrics: Metrics, matcher: NegationMatcher) -> Metrics:
    """Set ``negative_word_ratio`` per speaker and ``negative_words`` evidence on ``metrics``."""
    words = dict.fromkeys(SPEAKERS, 0)
    negatives = dict.fromkeys(SPEAKERS, 0)
    evidence: list[Evidence] = []
    for i, turn in enumerate(conv.turns):
        tokens = [t.lower() for t in turn.tokens]
        hits = matcher.counted(tokens, agent=turn.speaker == "agent")
        words[turn.speaker] += word_count(tokens)
        negatives[turn.speaker] += len(hits)
        evidence.extend(_evidence(i, turn, h) for h in hits)
    ratio = {s: (negatives[s] / words[s] if words[s] else None) for s in SPEAKERS}
    metrics.negative_word_ratio = SpeakerValue(agent=ratio["agent"], customer=ratio["customer"])
    metrics.negative_words = evidence
    return metrics


class NegativityStage(Stage):
    """Fills ``metrics.negative_word_ratio`` and ``metrics.negative_words``."""

    name = "negativity"
    requires = ("turns.tokens",)
    assigns = ("metrics.negative_word_ratio",)

    def __init__(self, lexicon: Lexicon, config: NegativityConfig | None = None) -> None:
        self.config = config or NegativityConfig()
        self.matcher = NegationMatcher(lexicon, self.config.negation_window)

    @property
    def version(self) -> str:
        return f"lexicon-{self.matcher.lexicon.digest}"

    def __call__(self, conv: Conversation) -> Conversation:
        if conv.metrics is None:
            conv.metrics = Metrics()
        fill_negativity(conv, conv.metrics, self.matcher)
        return conv


@registry.register("negativity", config=NegativityConfig)
def make_negativity(config: NegativityConfig, ctx: BuildContext) -> Stage:
    key = f"negativity.lexicon:{config.lexicon}:{config.extra_lexicons}:{config.negation_lexicon}"
    lexicon = ctx.shared(key, lambda: load_lexicon(config))
    return NegativityStage(lexicon, config)
