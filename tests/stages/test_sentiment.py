from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from qa_pipeline.classifiers.sklearn_model import SklearnTextClassifier
from qa_pipeline.errors import E, ModelError, PipelineError
from qa_pipeline.pipeline import BuildContext, Pipeline, registry
from qa_pipeline.settings import Settings
from qa_pipeline.stages.sentiment import SentimentConfig, SentimentStage
from qa_pipeline.types import Conversation, Prediction, Turn
from tests.classifiers.tiny_model import train_tiny_model


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    train_tiny_model(root / "sentiment")
    return root


@pytest.fixture
def ctx(models_dir: Path) -> BuildContext:
    return BuildContext(settings=Settings(models_dir=models_dir))


def _conv(cid: str, *turns: tuple[str, str]) -> Conversation:
    return Conversation(
        id=cid,
        channel="chat",
        turns=[Turn(speaker=s, text=t) for s, t in turns],  # type: ignore[arg-type]
    )


def test_sets_sentiment_on_every_turn_by_default(ctx: BuildContext) -> None:
    stage = registry.build("sentiment", {}, ctx)
    conv = stage(
        _conv(
            "c1",
            ("agent", "您好，请问有什么可以帮您"),
            ("customer", "太失望了，再也不买了"),
            ("customer", "谢谢，非常满意"),
        )
    )
    assert all(t.sentiment is not None for t in conv.turns)
    assert [t.sentiment.label for t in conv.turns[1:]] == ["neg", "pos"]  # type: ignore[union-attr]
    assert [s.label for s in conv.customer_sentiment] == ["neg", "pos"]
    assert sum(conv.turns[0].sentiment.probs.values()) == pytest.approx(1.0)  # type: ignore[union-attr]


def test_speakers_option_limits_the_turns(ctx: BuildContext) -> None:
    stage = registry.build("sentiment", {"speakers": ["customer"], "batch_size": 1}, ctx)
    conv = stage(_conv("c1", ("agent", "请稍等"), ("customer", "我想查一下订单")))
    assert conv.turns[0].sentiment is None
    assert conv.turns[1].sentiment is not None and conv.turns[1].sentiment.label == "neu"


class CountingClassifier(SklearnTextClassifier):
    """The real tiny model, counting predict calls."""

    calls: list[int]

    def predict(self, texts: Sequence[str], batch_size: int = 256) -> list[Prediction]:
        self.calls.append(len(texts))
        return super().predict(texts, batch_size)


def test_pipe_classifies_a_whole_batch_in_one_call(models_dir: Path) -> None:
    base = SklearnTextClassifier.load(models_dir / "sentiment")
    counting = CountingClassifier(base.model, base.metadata)
    counting.calls = []
    stage = SentimentStage(counting, SentimentConfig())
    convs = [_conv(f"c{i}", ("agent", "您好"), ("customer", "质量太差了")) for i in range(5)]
    out = stage.pipe(convs)
    assert out == convs
    assert counting.calls == [10]
    assert all(t.sentiment is not None for c in out for t in c.turns)


def test_model_is_loaded_once_per_pipeline(ctx: BuildContext) -> None:
    first = registry.build("sentiment", {}, ctx)
    second = registry.build("sentiment", {"speakers": ["agent"]}, ctx)
    assert isinstance(first, SentimentStage) and isinstance(second, SentimentStage)
    assert first.classifier is second.classifier
    assert [k for k in ctx.cache if k.startswith("classifier:")] == [
        f"classifier:{ctx.settings.models_dir / 'sentiment'}"
    ]


def test_version_is_the_model_version_and_is_stamped(ctx: BuildContext, models_dir: Path) -> None:
    stage = registry.build("sentiment", {"model": str(models_dir / "sentiment")}, ctx)
    assert stage.version.startswith("tiny-sklearn-")
    conv = Pipeline([stage])(_conv("c1", ("customer", "好")))
    assert conv.versions.models["sentiment"] == stage.version


def test_missing_model_is_a_model_error(tmp_path: Path) -> None:
    ctx = BuildContext(settings=Settings(models_dir=tmp_path))
    with pytest.raises(ModelError) as info:
        registry.build("sentiment", {}, ctx)
    assert info.value.code is E.MODEL_NOT_FOUND
    assert str(tmp_path / "sentiment") in info.value.message


@pytest.mark.parametrize("raw", [{"speakers": ["boss"]}, {"batch_size": 0}, {"speakers": []}, {"modle": "x"}])
def test_bad_config_is_a_stage_config_error(ctx: BuildContext, raw: dict[str, object]) -> None:
    with pytest.raises(PipelineError) as info:
        registry.build("sentiment", raw, ctx)
    assert info.value.code is E.STAGE_CONFIG


def test_empty_batch(ctx: BuildContext) -> None:
    assert registry.build("sentiment", {}, ctx).pipe([]) == []
