"""Stage ``sentiment``: per-turn sentiment (neg/neu/pos) with calibrated probabilities.

The classifier is loaded once per pipeline (``BuildContext.shared``) from ``config.model``: a folder
name under ``Settings.models_dir`` (default ``sentiment``, the bundled model) or a path. ``pipe``
classifies every selected turn of every conversation of a batch in one ``predict`` call.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from qa_pipeline.classifiers import TextClassifier, load_classifier, resolve_model_path
from qa_pipeline.pipeline import BuildContext, Stage, StageConfig, registry
from qa_pipeline.types import SPEAKERS, Conversation, Prediction, Speaker, Turn


class SentimentConfig(StageConfig):
    model: str = "sentiment"
    speakers: list[Speaker] = Field(default_factory=lambda: list(SPEAKERS), min_length=1)
    batch_size: int = Field(default=256, gt=0, le=65_536)


class SentimentStage(Stage):
    name = "sentiment"
    requires = ("turns.text",)
    assigns = ("turns.sentiment",)

    def __init__(self, classifier: TextClassifier, config: SentimentConfig) -> None:
        self.classifier = classifier
        self.config = config
        self._speakers = frozenset(config.speakers)

    @property
    def version(self) -> str:
        return self.classifier.version

    def __call__(self, conv: Conversation) -> Conversation:
        return self.pipe([conv])[0]

    def pipe(self, convs: Sequence[Conversation]) -> list[Conversation]:
        turns = [t for conv in convs for t in conv.turns if self._selected(t)]
        preds = self.classifier.predict([t.text for t in turns], batch_size=self.config.batch_size)
        for turn, pred in zip(turns, preds, strict=True):
            self._assign(turn, pred)
        return list(convs)

    def _assign(self, turn: Turn, pred: Prediction) -> None:
        turn.sentiment = pred

    def _selected(self, turn: Turn) -> bool:
        return turn.speaker in self._speakers


@registry.register("sentiment", config=SentimentConfig)
def make_sentiment(config: SentimentConfig, ctx: BuildContext) -> Stage:
    models_dir = ctx.settings.models_dir
    path = resolve_model_path(config.model, models_dir)
    classifier = ctx.shared(f"classifier:{path}", lambda: load_classifier(path, models_dir=models_dir))
    return SentimentStage(classifier, config)
