"""Agent score: components, weight rescaling, CSAT/AHT, bands, confidence interval, config errors."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from qa_pipeline.errors import E, InputError, RubricError
from qa_pipeline.scoring import (
    ScoringConfig,
    SuppliedKpis,
    agent_score,
    load_scoring_config,
    supplied_kpis,
    target_score,
)
from qa_pipeline.settings import PROJECT_DIR
from qa_pipeline.types import Channel, Conversation, ConversationResult, ItemResult, Metrics, Turn, Verdict

JAN = (datetime(2025, 1, 1), datetime(2025, 2, 1))
T_975_DF2 = 4.302652729911275  # Student t, 97.5th percentile, 2 degrees of freedom


def _result(
    cid: str,
    *,
    agent: str = "A01",
    team: str = "T1",
    channel: Channel = "call",
    quality: float | None = 80.0,
    emotion: float | None = 60.0,
    hold: Verdict | None = "na",
    latency: float | None = 5.0,
    day: int = 10,
    month: int = 1,
) -> ConversationResult:
    conv = Conversation(
        id=cid,
        channel=channel,
        agent_id=agent,
        team=team,
        started_at=datetime(2025, month, day, 9, 30),
        turns=[Turn(speaker="agent", text="您好")],
        metrics=Metrics(response_latency_s=latency),
        quality_index=quality,
        emotion_index=emotion,
    )
    if hold is not None:
        conv.items["hold_etiquette"] = ItemResult(verdict=hold, points=10.0, max_points=10.0)
    return conv.to_result()


def _three() -> list[ConversationResult]:
    return [
        _result("r1", quality=90, emotion=60, hold="pass", latency=5),  # latency score 100
        _result("r2", quality=80, emotion=70, hold="fail", latency=20, team="T2"),  # 10 s over: 50
        _result("r3", quality=70, emotion=80, hold="na", latency=60, channel="chat"),  # chat target 60: 100
        _result("other-agent", agent="A02", quality=10, emotion=10),
        _result("february", quality=10, emotion=10, month=2),
    ]


@pytest.fixture(scope="module")
def config() -> ScoringConfig:
    return load_scoring_config(PROJECT_DIR / "rubrics" / "scoring.yaml")


def test_components_and_rescaled_weights_without_teamwork(config: ScoringConfig) -> None:
    s = agent_score(_three(), config=config, agent_id="A01", period=JAN)
    assert s.conversations == 3
    assert s.team == "T1"
    assert s.quality_index == pytest.approx(80.0)
    assert s.emotion_index == pytest.approx(70.0)
    assert s.components["customer_experience"] == pytest.approx(70.0)
    # hold: 2 of 3 not failed = 66.67; latency: (100 + 50 + 100) / 3 = 83.33; no AHT
    assert s.components["efficiency"] == pytest.approx(75.0)
    assert s.components["professional_skill"] == pytest.approx(80.0)
    assert s.components["teamwork"] is None
    assert s.weights_used == pytest.approx(
        {"customer_experience": 4 / 9, "efficiency": 3 / 9, "professional_skill": 2 / 9}
    )
    assert s.agent_score == pytest.approx((0.4 * 70 + 0.3 * 75 + 0.2 * 80) / 0.9)
    assert s.grade == "合格"
    assert s.details["hold"] == pytest.approx(200 / 3)
    assert s.details["aht"] is None


def test_teamwork_uses_all_four_weights(config: ScoringConfig) -> None:
    s = agent_score(_three(), config=config, agent_id="A01", period=JAN, teamwork=100.0)
    assert s.weights_used == pytest.approx(
        {"customer_experience": 0.4, "efficiency": 0.3, "professional_skill": 0.2, "teamwork": 0.1}
    )
    assert s.agent_score == pytest.approx(0.4 * 70 + 0.3 * 75 + 0.2 * 80 + 0.1 * 100)


def test_csat_and_aht_when_supplied(config: ScoringConfig) -> None:
    supplied = {"r1": SuppliedKpis(csat=5.0, aht_s=720.0)}  # CSAT 5 → 100; AHT twice the 360 s target → 50
    s = agent_score(_three(), config=config, agent_id="A01", period=JAN, supplied=supplied)
    assert s.components["customer_experience"] == pytest.approx((80 + 70 + 80) / 3)  # r1: (60 + 100) / 2
    assert s.components["efficiency"] == pytest.approx((200 / 3 + 250 / 3 + 50) / 3)
    assert s.details["csat_mean"] == 5.0


def test_supplied_kpis_from_metadata(config: ScoringConfig) -> None:
    convs = [
        Conversation(id="a", channel="call", turns=[], metadata={"csat": "4", "aht_s": 300}),
        Conversation(id="b", channel="call", turns=[], metadata={}),
    ]
    assert supplied_kpis(convs, config) == {"a": SuppliedKpis(csat=4.0, aht_s=300.0)}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"csat": 6}, "metadata.csat"),
        ({"csat": "good"}, "metadata.csat"),
        ({"aht_s": -1}, "metadata.aht_s"),
    ]
    for bad, field in cases:
        with pytest.raises(InputError) as info:
            supplied_kpis([Conversation(id="c", channel="chat", turns=[], metadata=bad)], config)
        assert (info.value.code, info.value.field, info.value.record) == (E.BAD_FIELD, field, "c")


def test_confidence_interval(config: ScoringConfig) -> None:
    s = agent_score(_three(), config=config, agent_id="A01", period=JAN)
    assert s.quality_index_ci is not None
    half = T_975_DF2 * 10.0 / 3**0.5  # mean 80, sd 10, n 3
    assert s.quality_index_ci.low == pytest.approx(80.0 - half)
    assert s.quality_index_ci.high == 100.0  # clipped
    assert (s.quality_index_ci.n, s.quality_index_ci.level) == (3, 0.95)
    one = agent_score(_three()[:1], config=config, agent_id="A01", period=JAN)
    assert one.quality_index_ci is None


def test_period_bounds_and_timezones(config: ScoringConfig) -> None:
    results = _three()
    all_time = agent_score(results, config=config, agent_id="A01", period=(None, None))
    assert all_time.conversations == 4
    aware = (datetime(2025, 1, 10, 9, 30, tzinfo=UTC), None)  # inclusive start, naive results taken as UTC
    assert agent_score(results, config=config, agent_id="A01", period=aware).conversations == 4
    assert (
        agent_score(
            results, config=config, agent_id="A01", period=(None, datetime(2025, 1, 10, 9, 30))
        ).conversations
        == 0
    )


def test_nothing_to_score(config: ScoringConfig) -> None:
    s = agent_score(_three(), config=config, agent_id="A99", period=JAN)
    assert (s.conversations, s.agent_score, s.grade, s.quality_index_ci, s.team) == (
        0,
        None,
        None,
        None,
        None,
    )
    assert s.weights_used == {}


def test_teamwork_out_of_range(config: ScoringConfig) -> None:
    with pytest.raises(InputError) as info:
        agent_score(_three(), config=config, agent_id="A01", period=JAN, teamwork=120.0)
    assert info.value.field == "teamwork"


def test_target_score() -> None:
    assert target_score(8, 10, 3) == 100.0
    assert target_score(20, 10, 3) == 50.0
    assert target_score(40, 10, 3) == 0.0


def test_bands(config: ScoringConfig) -> None:
    assert [config.grade(v) for v in (95, 90, 89.99, 80, 79.5, 70, 69.99, 0, None)] == [
        "优秀", "优秀", "良好", "良好", "合格", "合格", "待改进", "待改进", None,
    ]  # fmt: skip


def test_shipped_yaml_matches_code_defaults(config: ScoringConfig) -> None:
    assert config == ScoringConfig()


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scoring.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "field", "line"),
    [
        ("weights:\n  customer_experience: 0.4\n  teamwork: -0.1\n", "weights.teamwork", 3),
        (
            "weights:\n  customer_experience: 0\n  efficiency: 0\n  professional_skill: 0\n  teamwork: 0\n",
            "weights",
            2,
        ),
        (
            "bands:\n  - {min: 70, grade: 合格}\n  - {min: 90, grade: 优秀}\n  - {min: 0, grade: 待改进}\n",
            "bands",
            2,
        ),
        ("bands:\n  - {min: 90, grade: 优秀}\n  - {min: 10, grade: 其他}\n", "bands", 2),
        ("bands:\n  - {min: 90, grade: 优秀}\n  - {min: 0, grade: ''}\n", "bands.1.grade", 3),
        ("wieghts: {}\n", "wieghts", 1),
        ("efficiency:\n  target_latency_s: {call: 0, chat: 60}\n", "efficiency.target_latency_s.call", 2),
        ("customer_experience: {csat_min: 5, csat_max: 1}\n", "customer_experience", 1),
    ],
)
def test_invalid_config_names_the_field(tmp_path: Path, text: str, field: str, line: int) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(RubricError) as info:
        load_scoring_config(path)
    assert (info.value.code, info.value.field, info.value.line, info.value.file) == (
        E.RUBRIC_INVALID,
        field,
        line,
        str(path),
    )


def test_unreadable_configs(tmp_path: Path) -> None:
    with pytest.raises(RubricError) as missing:
        load_scoring_config(tmp_path / "nope.yaml")
    assert missing.value.code is E.RUBRIC_NOT_FOUND
    with pytest.raises(RubricError) as broken:
        load_scoring_config(_write(tmp_path, "weights:\n  teamwork: [0.1\n"))
    assert broken.value.code is E.RUBRIC_YAML and broken.value.line is not None
    with pytest.raises(RubricError) as scalar:
        load_scoring_config(_write(tmp_path, "just a string\n"))
    assert scalar.value.code is E.RUBRIC_INVALID


def test_supplied_csat_flows_from_metadata_through_the_pipeline_to_the_agent_score() -> None:
    from qa_pipeline.pipeline import Pipeline
    from qa_pipeline.scoring import agent_score, load_scoring_config
    from qa_pipeline.settings import Settings
    from qa_pipeline.types import Conversation, Turn

    def conv(cid: str, csat: float | None) -> Conversation:
        turns = [
            Turn(speaker="agent", text="您好，请问有什么可以帮您", start=0, end=2),
            Turn(speaker="customer", text="我想查一下话费", start=3, end=5),
        ]
        meta = {"csat": csat} if csat is not None else {}
        return Conversation(id=cid, channel="call", agent_id="A9", turns=turns, metadata=meta)

    settings = Settings()
    pipeline = Pipeline.from_config(settings=settings)
    config = load_scoring_config(settings.scoring_config)
    low = [pipeline(conv("x1", 1)).to_result()]
    high = [pipeline(conv("x2", 5)).to_result()]
    assert high[0].kpis is not None and high[0].kpis.csat == 5
    s_low = agent_score(low, config=config, agent_id="A9", period=(None, None))
    s_high = agent_score(high, config=config, agent_id="A9", period=(None, None))
    assert s_high.components["customer_experience"] > s_low.components["customer_experience"]
