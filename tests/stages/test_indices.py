"""Indices stage: emotion index from customer sentiment, its None cases, and grade bands."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa_pipeline.errors import E, RubricError
from qa_pipeline.pipeline import BuildContext, registry
from qa_pipeline.scoring import ScoringConfig
from qa_pipeline.settings import PROJECT_DIR, Settings
from qa_pipeline.stages.indices import IndicesConfig, IndicesStage, emotion_index
from qa_pipeline.types import Conversation, Metrics, Prediction, SpeakerValue, Turn

NEG = {"neg": 0.9, "neu": 0.08, "pos": 0.02}
NEU = {"neg": 0.05, "neu": 0.9, "pos": 0.05}
POS = {"neg": 0.02, "neu": 0.18, "pos": 0.8}


def _conv(customer_probs: list[dict[str, float]], agent_ratio: float | None = None) -> Conversation:
    turns = []
    for probs in customer_probs:
        turns.append(Turn(speaker="agent", text="您好"))
        label = max(probs, key=lambda k: probs[k])
        turns.append(Turn(speaker="customer", text="嗯", sentiment=Prediction(label=label, probs=probs)))
    metrics = Metrics(negative_word_ratio=SpeakerValue(agent=agent_ratio, customer=0.0))
    return Conversation(id="e", channel="chat", turns=turns, metrics=metrics)


@pytest.fixture(scope="module")
def stage() -> IndicesStage:
    return IndicesStage(ScoringConfig())


def test_emotion_index_by_hand() -> None:
    # valences -0.5, 0.5; weights 1, 3: level = (-0.5 + 1.5) / 4 = 0.25; trend = 0.5 - (-0.5) = 1.0
    # 50 + 50 * (0.9 * 0.25 + 0.1 * 1.0) = 66.25; agent ratio 0.05 * 200 = 10 points off
    b = emotion_index([-0.5, 0.5], 0.05, IndicesConfig())
    assert b.value == pytest.approx(56.25)
    assert b.inputs["level"] == pytest.approx(0.25)
    assert b.inputs["trend"] == pytest.approx(1.0)
    assert b.inputs["agent_penalty"] == pytest.approx(10.0)
    assert b.inputs["customer_turns"] == 2


def test_trend_uses_thirds() -> None:
    # 6 turns: first third = turns 0-1 (mean -0.8), last third = turns 4-5 (mean 0.2)
    b = emotion_index([-0.8, -0.8, 0.0, 0.0, 0.2, 0.2], None, IndicesConfig())
    assert b.inputs["trend"] == pytest.approx(1.0)
    assert b.inputs["agent_penalty"] == 0.0


def test_clipped_to_0_100() -> None:
    strong = IndicesConfig(w_level=1.0, w_trend=1.0)
    assert emotion_index([-1.0, 1.0], None, strong).value == 100.0
    assert emotion_index([-1.0, -1.0], 0.5, IndicesConfig()).value == 0.0


def test_arrives_angry_leaves_calm_beats_staying_angry(stage: IndicesStage) -> None:
    recovers = stage(_conv([NEG, NEG, NEU, POS])).emotion_index
    calm = stage(_conv([NEU, NEU, NEU, NEU])).emotion_index
    stays = stage(_conv([NEG, NEG, NEG, NEG])).emotion_index
    assert recovers is not None and calm is not None and stays is not None
    assert recovers > calm > stays
    # calm at first and angry at the end: the end-weighted level and the trend both count against it
    worsens = stage(_conv([NEU, NEU, NEG, NEG])).emotion_index
    assert worsens is not None and stays < worsens < calm
    same_level = emotion_index([-0.5, 0.0, 0.5], None, IndicesConfig())
    reversed_ = emotion_index([0.5, 0.0, -0.5], None, IndicesConfig())
    assert same_level.value is not None and reversed_.value is not None and same_level.value > reversed_.value


def test_agent_negativity_lowers_the_index(stage: IndicesStage) -> None:
    clean = stage(_conv([NEU, POS], agent_ratio=0.0)).emotion_index
    rude = stage(_conv([NEU, POS], agent_ratio=0.04)).emotion_index
    assert clean is not None and rude == pytest.approx(clean - 8.0)


def test_breakdown_is_stored(stage: IndicesStage) -> None:
    conv = stage(_conv([NEG, POS], agent_ratio=0.01))
    assert conv.emotion_breakdown is not None
    assert conv.emotion_breakdown.value == conv.emotion_index
    assert conv.emotion_breakdown.inputs["agent_negative_ratio"] == 0.01
    assert conv.emotion_breakdown.inputs["start_valence"] == pytest.approx(-0.88)
    assert conv.emotion_breakdown.inputs["end_valence"] == pytest.approx(0.78)


def test_no_customer_speech(stage: IndicesStage) -> None:
    conv = Conversation(id="x", channel="call", turns=[Turn(speaker="agent", text="您好")])
    stage(conv)
    stage(conv)
    assert conv.emotion_index is None
    assert conv.flags == ["no_customer_speech"]
    unscored = Conversation(id="y", channel="chat", turns=[Turn(speaker="customer", text="你好")])
    assert stage(unscored).emotion_index is None
    assert unscored.flags == ["no_customer_speech"]


@pytest.mark.parametrize(
    ("quality", "grade"),
    [
        (100.0, "优秀"),
        (90.0, "优秀"),
        (89.99, "良好"),
        (80.0, "良好"),
        (70.0, "合格"),
        (69.9, "待改进"),
        (0.0, "待改进"),
    ],
)
def test_grade_bands_from_the_default_scoring_yaml(quality: float, grade: str) -> None:
    stage = registry.build("indices", {}, BuildContext(settings=Settings()))
    conv = _conv([NEU])
    conv.quality_index = quality
    assert stage(conv).grade == grade


def test_no_quality_index_no_grade(stage: IndicesStage) -> None:
    assert stage(_conv([NEU])).grade is None


def test_bands_come_from_the_scoring_config(tmp_path: Path) -> None:
    path = tmp_path / "scoring.yaml"
    path.write_text("bands:\n  - {min: 60, grade: 达标}\n  - {min: 0, grade: 不达标}\n", encoding="utf-8")
    stage = registry.build("indices", {"scoring_config": str(path)}, BuildContext(settings=Settings()))
    conv = _conv([NEU])
    conv.quality_index = 65.0
    assert stage(conv).grade == "达标"
    bad = tmp_path / "bad.yaml"
    bad.write_text("bands:\n  - {min: 60, grade: 达标}\n  - {min: 70, grade: 更好}\n", encoding="utf-8")
    with pytest.raises(RubricError) as info:
        registry.build("indices", {"scoring_config": str(bad)}, BuildContext(settings=Settings()))
    assert (info.value.code, info.value.field) == (E.RUBRIC_INVALID, "bands")


def test_default_settings_point_at_the_shipped_yaml() -> None:
    assert Settings().scoring_config == PROJECT_DIR / "rubrics" / "scoring.yaml"
    assert Settings().scoring_config.is_file()
