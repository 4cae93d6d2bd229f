"""Timing stage: hand-computed calls and chats, missing times, and agreement with the dev labels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa_pipeline.errors import E, InputError, PipelineError
from qa_pipeline.pipeline import BuildContext, registry
from qa_pipeline.settings import Settings
from qa_pipeline.stages.timing import TimingConfig, TimingStage, agent_holds
from qa_pipeline.types import Conversation, Metrics, Speaker, Turn


def _turn(speaker: Speaker, start: float | None, end: float | None, chars: int = 4) -> Turn:
    return Turn(speaker=speaker, text="好" * chars + "，。", start=start, end=end)


def _call() -> Conversation:
    """Ten turns: a 12 s agent-side hold, a 0.4 s and a 1.5 s agent overlap, a 2 s customer overlap."""
    a: Speaker = "agent"
    c: Speaker = "customer"
    spans: list[tuple[Speaker, float, float, int]] = [
        (a, 0.0, 4.0, 20),
        (c, 4.5, 10.0, 22),
        (a, 9.0, 9.4, 2),  # 0.4 s over the customer: too short to count
        (a, 10.5, 14.0, 17),
        (a, 26.0, 30.0, 20),  # after a 12 s agent-side silence
        (c, 31.0, 38.0, 28),
        (a, 36.5, 42.0, 28),  # 1.5 s over the customer: counts
        (c, 42.0, 45.0, 12),  # starts exactly when the agent stops: no overlap, no gap
        (a, 46.0, 50.0, 20),
        (c, 48.0, 51.0, 12),  # customer over agent for 2.0 s
    ]
    return Conversation(id="call", channel="call", turns=[_turn(s, b, e, n) for s, b, e, n in spans])


def _run(conv: Conversation, **cfg: object) -> Metrics:
    TimingStage(TimingConfig.model_validate(cfg))(conv)
    assert conv.metrics is not None
    return conv.metrics


def test_call_silences_pauses_and_dead_air() -> None:
    m = _run(_call())
    assert [(s.start, s.end, s.before_turn, s.speaker_after) for s in m.silences] == [
        (4.0, 4.5, 1, "customer"),
        (10.0, 10.5, 3, "agent"),  # measured from the end of the customer turn, not of the 0.4 s backchannel
        (14.0, 26.0, 4, "agent"),
        (30.0, 31.0, 5, "customer"),
        (45.0, 46.0, 8, "agent"),
    ]
    assert m.duration_s == pytest.approx(51.0)
    assert m.longest_silence_s == pytest.approx(12.0)
    assert m.dead_air_ratio == pytest.approx(15.0 / 51.0)
    assert m.pause_per_min == pytest.approx(1 / (51.0 / 60.0))  # only the 12 s agent-side silence is > 3 s


def test_call_overlaps_and_overtalk() -> None:
    m = _run(_call())
    assert [(o.turn, o.over_turn, o.speaker, o.start, o.end) for o in m.overlaps] == [
        (2, 1, "agent", 9.0, 9.4),
        (6, 5, "agent", 36.5, 38.0),
        (9, 8, "customer", 48.0, 50.0),
    ]
    assert m.overtalk_count == 1
    assert m.overtalk_s == pytest.approx(1.5)
    both = _run(_call(), overtalk_both_directions=True)
    assert both.overtalk_count == 2
    assert both.overtalk_s == pytest.approx(3.5)


def test_call_speech_rate_and_latency() -> None:
    m = _run(_call())
    # agent: 107 characters in 21.4 s of speech; customer: 74 characters in 18.5 s
    assert m.speech_rate.agent == pytest.approx(300.0)
    assert m.speech_rate.customer == pytest.approx(240.0)
    # customer→agent pairs: 9.0-10.0 (overlap, 0), 36.5-38.0 (overlap, 0), 46.0-45.0 = 1.0
    assert m.response_latency_s == pytest.approx(1.0 / 3.0)


def test_speech_rate_counts_digits_not_punctuation() -> None:
    conv = Conversation(
        id="d",
        channel="call",
        turns=[Turn(speaker="customer", text="订单号123456，好的！", start=0.0, end=6.0)],
    )
    assert _run(conv).speech_rate.customer == pytest.approx(11 * 10.0)


def test_agent_holds_use_the_channel_threshold() -> None:
    m = _run(_call())
    assert [(h.start, h.end) for h in agent_holds(m, "call")] == [(14.0, 26.0)]
    assert agent_holds(m, "call", TimingConfig(hold_threshold_s=15.0)) == []


def _chat(ends_missing: bool = False) -> Conversation:
    sends: list[tuple[Speaker, float]] = [
        ("customer", 0),
        ("agent", 20),
        ("customer", 50),
        ("agent", 65),
        ("agent", 140),  # 75 s after the previous message: a hold
        ("customer", 150),
        ("agent", 155),
    ]
    turns = [Turn(speaker=s, text="好的", start=t, end=None if ends_missing else t) for s, t in sends]
    return Conversation(id="chat", channel="chat", turns=turns)


@pytest.mark.parametrize("ends_missing", [False, True])
def test_chat_reply_gaps(ends_missing: bool) -> None:
    m = _run(_chat(ends_missing))
    assert [s.seconds for s in m.silences] == [20, 30, 15, 75, 10, 5]
    assert m.longest_silence_s == 75
    assert m.response_latency_s == pytest.approx((20 + 15 + 5) / 3)
    assert m.duration_s == 155
    assert [(h.start, h.end, h.before_turn) for h in agent_holds(m, "chat")] == [(65, 140, 4)]
    assert agent_holds(m, "chat", TimingConfig(chat_hold_threshold_s=80)) == []
    assert (m.pause_per_min, m.dead_air_ratio, m.overlaps, m.overtalk_count) == (None, None, [], 0)
    assert (m.speech_rate.agent, m.speech_rate.customer) == (None, None)


def test_missing_times_leave_metrics_empty() -> None:
    conv = _call()
    conv.turns[3].start = None
    m = _run(conv)
    assert (m.duration_s, m.longest_silence_s, m.response_latency_s, m.pause_per_min) == (
        None,
        None,
        None,
        None,
    )
    assert (m.silences, m.overlaps, m.overtalk_count, m.speech_rate.agent) == ([], [], 0, None)


def test_keeps_other_metrics() -> None:
    conv = _call()
    conv.metrics = Metrics()
    conv.metrics.negative_word_ratio.agent = 0.25
    _run(conv)
    assert conv.metrics.negative_word_ratio.agent == 0.25
    assert conv.metrics.longest_silence_s == pytest.approx(12.0)


def test_end_before_start_is_a_typed_error() -> None:
    conv = _call()
    conv.turns[1].end = 1.0
    with pytest.raises(InputError) as info:
        TimingStage()(conv)
    assert info.value.code is E.BAD_FIELD
    assert info.value.field == "turns[1].end"


def test_built_from_config() -> None:
    ctx = BuildContext(settings=Settings())
    stage = registry.build("timing", {"pause_threshold_s": 15.0}, ctx)
    conv = _call()
    stage(conv)
    assert conv.metrics is not None and conv.metrics.pause_per_min == 0.0
    with pytest.raises(PipelineError) as info:
        registry.build("timing", {"pause_threshold": 2}, ctx)
    assert info.value.code is E.STAGE_CONFIG


def _dev_dialogues(path: Path) -> list[tuple[Conversation, dict]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        labels = record.pop("labels")
        out.append((Conversation.model_validate(record), labels))
    return out


@pytest.mark.data
def test_agrees_with_dev_hold_and_interruption_labels(dialogues_path: Path) -> None:
    stage = TimingStage()
    dialogues = _dev_dialogues(dialogues_path)
    hold_miss, interruption_miss = [], []
    for conv, labels in dialogues:
        m = stage(conv).metrics
        assert m is not None
        has_hold = bool(agent_holds(m, conv.channel))
        if has_hold != (labels["hold_etiquette"] != "na"):
            hold_miss.append(conv.id)
        if m.overtalk_count != labels["interruption"]["count"]:
            interruption_miss.append(conv.id)
    assert len(dialogues) == 80
    assert hold_miss == []
    assert interruption_miss == []


def test_a_call_without_any_turn_gets_empty_metrics_not_a_crash() -> None:
    from qa_pipeline.stages.timing import TimingStage
    from qa_pipeline.types import Conversation

    conv = TimingStage()(Conversation(id="silent", channel="call", turns=[]))
    assert conv.metrics is not None and conv.metrics.duration_s is None and conv.metrics.overtalk_count == 0
