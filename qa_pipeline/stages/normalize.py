"""The ``normalize`` stage: display text in Simplified Chinese, half-width, with tidy whitespace.

Only ``Turn.text`` changes; metadata and ASR words are left as they came.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qa_pipeline.pipeline import BuildContext, Stage, StageConfig, registry
from qa_pipeline.text.width import collapse_whitespace, to_halfwidth
from qa_pipeline.types import Conversation


class NormalizeConfig(StageConfig):
    t2s: bool = True
    """Convert Traditional Chinese to Simplified (OpenCC t2s)."""
    fullwidth: bool = True
    """Convert full-width letters, digits and symbols to ASCII (Chinese punctuation kept)."""


def _load_t2s() -> Any:
    from opencc import OpenCC

    return OpenCC("t2s")


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
