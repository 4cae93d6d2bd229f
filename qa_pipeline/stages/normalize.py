"""The ``normalize`` stage: display text in Simplified Chinese, half-width, with tidy whitespace.

Only ``Turn.text`` changes; metadata and ASR words are left as they came.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from qa_pipeline.pipeline import BuildContext, Stage, StageConfig, registry
from qa_pipeline.text.width import collapse_whitespace, to_halfwidth
from qa_pipeline.types import Conversation

log = logging.getLogger(__name__)


class NormalizeConfig(StageConfig):
    t2s: bool = True
    """Convert Traditional Chinese to Simplified (OpenCC t2s)."""
    fullwidth: bool = True
    """Convert full-width letters, digits and symbols to ASCII (Chinese punctuation kept)."""


class T2S:
    """OpenCC's Traditional -> Simplified conversion, skipped for texts it cannot change.

    The pure-Python OpenCC walks every text through its phrase trees. A text without any character
    that some dictionary entry rewrites comes out unchanged, and most Simplified turns are such texts,
    so they are returned as they are. ``changing`` is read from the pinned OpenCC's dictionaries; when
    their layout is not the expected one, every text goes through OpenCC.
    """

    def __init__(self) -> None:
        from opencc import OpenCC

        self.opencc = OpenCC("t2s")
        self.changing = _changing_chars(self.opencc)

    def convert(self, text: str) -> str:
        if self.changing is not None and self.changing.isdisjoint(text):
            return text
        return str(self.opencc.convert(text))


def _changing_chars(opencc: Any) -> frozenset[str] | None:
    """Characters that some entry of the converter's dictionaries rewrites (None: layout unknown)."""
    out: set[str] = set()
    try:
        for group in opencc._dict_chain_data:
            for _, _, table in group:
                for key, value in table.items():
                    for target in value.split(" "):
                        same_length = len(target) == len(key)
                        out.update(a for a, b in zip(key, target, strict=False) if a != b or not same_length)
    except (AttributeError, TypeError, ValueError):
        out = set()
    if not out or opencc.convert("們") != "们" or "們" not in out:
        log.warning("opencc dictionaries have an unknown layout; converting every text")
        return None
    return frozenset(out)


def _load_t2s() -> T2S:
    return T2S()


class Normalize(Stage):
    name = "normalize"
    requires = ("turns.text",)
    assigns = ("turns.text",)

    def __init__(self, config: NormalizeConfig, t2s: Callable[[str], str] | None = None) -> None:
        self.config = config
        if config.t2s and t2s is None:
            t2s = _load_t2s().convert
        self._t2s = t2s if config.t2s else None

    def normalize(self, text: str) -> str:
        """The display form of one text."""
        if self._t2s is not None:
            text = self._t2s(text)
        if self.config.fullwidth:
            text = to_halfwidth(text)
        return collapse_whitespace(text)

    def __call__(self, conv: Conversation) -> Conversation:
        for turn in conv.turns:
            turn.text = self.normalize(turn.text)
        return conv


@registry.register("normalize", config=NormalizeConfig)
def make_normalize(config: NormalizeConfig, ctx: BuildContext) -> Normalize:
    converter = ctx.shared("opencc_t2s", _load_t2s) if config.t2s else None
    return Normalize(config, converter.convert if converter is not None else None)
