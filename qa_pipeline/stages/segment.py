"""The ``segment`` stage: the matching view of each turn and its jieba tokens.

``Turn.norm`` is the display text with words a recogniser wrote apart joined (查 到 了 → 查到了;
spaces between clauses stay), numerals normalised (一百二十 → 120, 幺三八 → 138) and ASCII
lower-cased; ``Turn.tokens`` are the jieba tokens of ``norm`` without whitespace tokens.
Each pipeline gets its own ``jieba.Tokenizer`` (the global ``jieba.dt`` is never touched), loaded
once with the user dictionary, the configured words and the rubric's ``dictionary`` words; it cuts
through a :class:`~qa_pipeline.text.fast_cut.Cutter` (jieba-rs, the same tokens).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import jieba
from pydantic import Field

from qa_pipeline.errors import E, PipelineError
from qa_pipeline.pipeline import BuildContext, Stage, StageConfig, registry
from qa_pipeline.text.fast_cut import Cutter
from qa_pipeline.text.jieba_main import main_tokenizer
from qa_pipeline.text.numerals import matching_view
from qa_pipeline.types import Conversation

__all__ = ["Segment", "SegmentConfig", "build_tokenizer", "matching_view"]

log = logging.getLogger(__name__)


class SegmentConfig(StageConfig):
    user_dict: Path | None = None
    """A jieba user dictionary (one ``word [freq] [tag]`` a line)."""
    words: list[str] = Field(default_factory=list)
    """Extra words to keep in one token."""
    rubric_words: bool = True
    """Also add the words of the rubric's ``dictionary`` (Settings.rubric)."""


def build_tokenizer(words: Iterable[str], user_dict: Path | None = None) -> jieba.Tokenizer:
    """A fresh jieba tokenizer with a user dictionary and extra words (in their matching view)."""
    tokenizer = _fresh_tokenizer()
    if user_dict is not None:
        _load_user_dict(tokenizer, user_dict)
    for word in words:
        _add_word(tokenizer, word)
    return tokenizer


def _fresh_tokenizer() -> jieba.Tokenizer:
    """A tokenizer of its own (own word table) without re-reading the main dictionary."""
    base = main_tokenizer()
    tokenizer = jieba.Tokenizer()
    tokenizer.FREQ, tokenizer.total = dict(base.FREQ), base.total
    tokenizer.initialized = True
    return tokenizer


def _load_user_dict(tokenizer: jieba.Tokenizer, path: Path) -> None:
    if not path.is_file():
        raise PipelineError(E.STAGE_CONFIG, f"stage 'segment': user_dict {path} not found", file=str(path))
    try:
        tokenizer.load_userdict(str(path))
    except (ValueError, UnicodeDecodeError) as exc:
        raise PipelineError(E.STAGE_CONFIG, f"stage 'segment': bad user_dict: {exc}", file=str(path)) from exc


def _add_word(tokenizer: jieba.Tokenizer, word: str) -> None:
    norm = matching_view(word.strip())
    if not norm or any(ch.isspace() for ch in norm):
        log.debug("segment: skipping dictionary entry %r (empty or has spaces)", word)
        return
    tokenizer.add_word(norm)


class Segment(Stage):
    name = "segment"
    requires = ("turns.text",)
    assigns = ("turns.norm", "turns.tokens")

    def __init__(self, cutter: Cutter) -> None:
        self.cutter = cutter

    def tokens(self, norm: str) -> list[str]:
        return [t for t in self.cutter.lcut(norm) if not t.isspace()]

    def __call__(self, conv: Conversation) -> Conversation:
        for turn in conv.turns:
            turn.norm = matching_view(turn.text)
            turn.tokens = self.tokens(turn.norm)
        return conv


def _rubric_words(ctx: BuildContext) -> list[str]:
    try:
        from qa_pipeline.rubric import load_rubric
    except ImportError as exc:
        log.warning("segment: rubric module unavailable (%s); rubric words not added", exc)
        return []
    rubric = ctx.shared("rubric", lambda: load_rubric(ctx.settings.rubric))
    return list(rubric.dictionary)


@registry.register("segment", config=SegmentConfig)
def make_segment(config: SegmentConfig, ctx: BuildContext) -> Segment:
    words = list(config.words) + (_rubric_words(ctx) if config.rubric_words else [])
    key = f"jieba:{config.user_dict}:{sorted(set(words))}"

    def load() -> Cutter:
        return Cutter(build_tokenizer(words, config.user_dict), base=main_tokenizer())

    return Segment(ctx.shared(key, load))
