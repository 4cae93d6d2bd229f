"""The ``rubric`` stage: scorecard items with evidence, the quality index and fatal flags."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path

from qa_pipeline.classifiers import TextClassifier, load_classifier, resolve_model_path
from qa_pipeline.pipeline import BuildContext, Stage, StageConfig, registry
from qa_pipeline.rubric import load_rubric
from qa_pipeline.rubric.models import Preds, RubricModels, classifier_rules
from qa_pipeline.rubric.schema import Rubric
from qa_pipeline.rubric.scorecard import Scorecard
from qa_pipeline.types import Conversation


class RubricConfig(StageConfig):
    path: Path | None = None  # default: Settings.rubric (QA_RUBRIC)


class RubricStage(Stage):
    name = "rubric"
    requires = ("turns.norm", "turns.sentiment", "metrics")
    assigns = ("items", "quality_index", "flags")

    def __init__(self, scorecard: Scorecard, models: RubricModels | None = None) -> None:
        self.scorecard = scorecard
        self.models = models or RubricModels({}, [])

    @property
    def version(self) -> str:
        """The scorecard's version and, after ``|``, each rubric model's: retraining a model the
        rubric reads changes the verdicts, so it changes this version (and the store's result key)."""
        models = ",".join(f"{name}={version}" for name, version in self.models.versions.items())
        return f"{self.scorecard.version}|{models}" if models else self.scorecard.version

    def __call__(self, conv: Conversation) -> Conversation:
        return self.pipe([conv])[0]

    def pipe(self, convs: Sequence[Conversation]) -> list[Conversation]:
        """The batch's classifier predictions first (one call per model), then each scorecard."""
        preds = self.models.predict(convs) if self.models.rules else [{} for _ in convs]
        return [self._score(conv, p) for conv, p in zip(convs, preds, strict=True)]

    def _score(self, conv: Conversation, preds: Preds) -> Conversation:
        conv.items = self.scorecard.evaluate(conv, preds)
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
    return RubricStage(
        Scorecard(rubric, word_review_below=ctx.settings.asr_review_below), _models(rubric, ctx)
    )


def _models(rubric: Rubric, ctx: BuildContext) -> RubricModels:
    """The rubric's classifiers, each loaded once per pipeline (shared with other stages)."""
    rules = classifier_rules(rubric)
    models_dir = ctx.settings.models_dir
    loaded: dict[str, TextClassifier] = {}
    for name in sorted({r.model for r in rules}):
        path = resolve_model_path(name, models_dir)
        loaded[name] = ctx.shared(f"classifier:{path}", partial(load_classifier, path, models_dir=models_dir))
    return RubricModels(loaded, rules, rubric.rules)
