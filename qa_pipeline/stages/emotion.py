"""Stage ``emotion``: per-turn emotion (angry, happy, neutral, sad, surprise, fear), calibrated.

Same contract as :mod:`qa_pipeline.stages.sentiment` (one classifier loaded once per pipeline, a
batch's selected turns classified in one call), on customer turns by default; the ``indices``
stage folds the probabilities into the emotion index.
"""

from __future__ import annotations

from pydantic import Field

from qa_pipeline.classifiers import load_classifier, resolve_model_path
from qa_pipeline.pipeline import BuildContext, Stage, StageConfig, registry
from qa_pipeline.stages.sentiment import SentimentConfig, SentimentStage
from qa_pipeline.types import Prediction, Speaker, Turn

EMOTIONS = ("angry", "happy", "neutral", "sad", "surprise", "fear")


def _customers() -> list[Speaker]:
    return ["customer"]


class EmotionConfig(StageConfig):
    model: str = "emotion"
    speakers: list[Speaker] = Field(default_factory=_customers, min_length=1)
    batch_size: int = Field(default=256, gt=0, le=65_536)


class EmotionStage(SentimentStage):
    name = "emotion"
    requires = ("turns.text",)
    assigns = ("turns.emotion",)

    def _assign(self, turn: Turn, pred: Prediction) -> None:
        turn.emotion = pred


@registry.register("emotion", config=EmotionConfig)
def make_emotion(config: EmotionConfig, ctx: BuildContext) -> Stage:
    models_dir = ctx.settings.models_dir
    path = resolve_model_path(config.model, models_dir)
    classifier = ctx.shared(f"classifier:{path}", lambda: load_classifier(path, models_dir=models_dir))
    inner = SentimentConfig(model=config.model, speakers=config.speakers, batch_size=config.batch_size)
    return EmotionStage(classifier, inner)
