"""The ``rubric`` stage: scorecard items with evidence, the quality index and fatal flags."""

from __future__ import annotations

from pathlib import Path

from qa_pipeline.pipeline import BuildContext, Stage, StageConfig, registry
from qa_pipeline.rubric import load_rubric
from qa_pipeline.rubric.scorecard import Scorecard
from qa_pipeline.types import Conversation


class RubricConfig(StageConfig):
    path: Path | None = None  # default: Settings.rubric (QA_RUBRIC)


class RubricStage(Stage):
    name = "rubric"
    requires = ("turns.norm", "turns.sentiment", "metrics")
    assigns = ("items", "quality_index", "flags")

    def __init__(self, scorecard: Scorecard) -> None:
        self.scorecard = scorecard

    @property
    def version(self) -> str:
        return self.scorecard.version

    def __call__(self, conv: Conversation) -> Conversation:
        conv.items = self.scorecard.evaluate(conv)
        score = self.scorecard.score(conv.items)
        conv.quality_index = score.quality_index
        conv.flags = [f for f in conv.flags if not _owned(f)] + score.flags
        conv.versions.rubric = self.scorecard.version
        return conv


def _owned(flag: str) -> bool:
    return flag == "needs_review" or flag.startswith(("fatal:", "review:"))


@registry.register("rubric", config=RubricConfig)
def make_rubric(cfg: RubricConfig, ctx: BuildContext) -> Stage:
    path = cfg.path or ctx.settings.rubric
    key = "rubric" if cfg.path is None else f"rubric:{path}"  # "rubric" is shared with the segment stage
    rubric = ctx.shared(key, lambda: load_rubric(path))
    return RubricStage(Scorecard(rubric, word_review_below=ctx.settings.asr_review_below))
