"""View models for the HTML report: what the template shows, already formatted.

The template only loops and prints; every decision (labels, order, flags, highlighting) is here,
typed, so it can be tested without parsing HTML.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from markupsafe import Markup

from qa_pipeline.report.highlight import Mark, highlight, locate
from qa_pipeline.types import (
    ConversationResult,
    Evidence,
    ItemResult,
    Metrics,
    Overlap,
    PublicTurn,
    TurnSentiment,
)

ITEM_NAMES_ZH: dict[str, str] = {
    "greeting": "开场问候",
    "self_intro": "自报工号/姓名/公司",
    "identity_check": "身份核实",
    "forbidden_phrase": "服务禁语",
    "empathy": "情绪安抚",
    "objection_handling": "异议处理",
    "hold_etiquette": "等待规范",
    "interruption": "抢话",
    "confirmation": "结果确认",
    "closing": "结束语",
    "satisfaction_invite": "邀请评价",
}
VERDICT_ZH = {"pass": "通过", "fail": "不通过", "na": "不适用", "review": "待复核"}
SPEAKER_ZH = {"agent": "坐席", "customer": "客户"}
CHANNEL_ZH = {"call": "通话", "chat": "在线会话"}
SENTIMENT_ZH = {"neg": "负面", "neu": "中性", "pos": "正面"}
PII_ZH = {"phone": "手机号", "id_card": "身份证号", "bank_card": "银行卡号", "email": "邮箱"}
GRADE_ORDER = ("优秀", "良好", "合格", "待改进")
INTERRUPTION_S = 1.0
SILENCE_SHOWN_S = {"call": 3.0, "chat": 60.0}
"""Silences shown between turns: pauses over 3 s in calls, replies slower than 60 s in chats."""


# --------------------------------------------------------------------------- formatting


def fmt_num(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def fmt_clock(seconds: float | None) -> str:
    """``83.57`` -> ``1:23.6``; hours when needed."""
    if seconds is None:
        return "—"
    minutes, secs = divmod(max(0.0, seconds), 60)
    hours, minutes = divmod(int(minutes), 60)
    head = f"{hours}:{minutes:02d}" if hours else f"{minutes}"
    return f"{head}:{secs:04.1f}"


def fmt_span(start: float | None, end: float | None) -> str:
    if start is None:
        return ""
    if end is None or end == start:
        return fmt_clock(start)
    return f"{fmt_clock(start)}–{fmt_clock(end)}"


def item_name(item_id: str) -> str:
    return ITEM_NAMES_ZH.get(item_id, item_id)


# --------------------------------------------------------------------------- conversation views


@dataclass
class EvidenceView:
    turn: int | None
    anchor: str | None
    span: str
    text: str
    rule: str
    note: str
    located: bool


@dataclass
class ItemView:
    id: str
    name: str
    verdict: str
    verdict_zh: str
    points: str
    fatal: bool
    evidence: list[EvidenceView]
    machine_verdict: str | None = None
    machine_verdict_zh: str = ""
    review_by: str = ""
    review_comment: str = ""
    review_source: str = ""
    disagrees: bool = False
    turns: list[int] = field(default_factory=list)
    """The turns the evidence points at (the page lights them up when the item is clicked)."""


@dataclass
class TurnView:
    index: int
    anchor: str
    start: float | None
    speaker: str
    speaker_zh: str
    span: str
    html: Markup
    sentiment: str | None = None
    sentiment_zh: str = ""
    sentiment_prob: str = ""
    silence_before: str = ""
    overtalk: str = ""
    interrupts: bool = False
    """An agent turn that started over the customer by more than :data:`INTERRUPTION_S` (抢话)."""


@dataclass
class FlagView:
    text: str
    kind: str


@dataclass
class MetricView:
    name: str
    key: str
    value: str


@dataclass
class ConversationView:
    anchor: str
    id: str
    agent_id: str
    team: str
    channel: str
    channel_zh: str
    started_at: str
    quality_index: str
    emotion_index: str
    grade: str
    fatal: bool
    review: bool
    flags: list[FlagView]
    items: list[ItemView]
    metrics: list[MetricView]
    turns: list[TurnView]


def is_fatal(result: ConversationResult) -> bool:
    """A fatal item failed (or the pipeline flagged the conversation as fatal)."""
    failed = any(i.fatal and i.verdict == "fail" for i in result.items.values())
    return failed or any("fatal" in f.lower() for f in result.flags)


def needs_review(result: ConversationResult) -> bool:
    flagged = any("review" in f.lower() for f in result.flags)
    return flagged or any(i.verdict == "review" for i in result.items.values())


def _flag_kind(flag: str) -> str:
    low = flag.lower()
    return "fatal" if "fatal" in low else "review" if "review" in low else "other"


def ordered_items(items: Mapping[str, ItemResult]) -> list[tuple[str, ItemResult]]:
    known = [(k, items[k]) for k in ITEM_NAMES_ZH if k in items]
    return known + [(k, v) for k, v in items.items() if k not in ITEM_NAMES_ZH]


def _turn_text(turns: Sequence[PublicTurn], index: int | None) -> str | None:
    if index is None or not 0 <= index < len(turns):
        return None
    return turns[index].text


def _evidence_view(ev: Evidence, turns: Sequence[PublicTurn], anchor: str) -> EvidenceView:
    text = _turn_text(turns, ev.turn)
    located = text is not None and locate(text, ev.text) is not None
    turn = turns[ev.turn] if text is not None and ev.turn is not None else None
    start = ev.start if ev.start is not None else (turn.start if turn else None)
    end = ev.end if ev.end is not None else (turn.end if turn else None)
    return EvidenceView(
        turn=ev.turn,
        anchor=f"{anchor}-t{ev.turn}" if text is not None else None,
        span=fmt_span(start, end),
        text=ev.text,
        rule=ev.rule,
        note=ev.note,
        located=located,
    )


def _item_view(item_id: str, item: ItemResult, turns: Sequence[PublicTurn], anchor: str) -> ItemView:
    points = "—" if item.verdict == "na" else f"{item.points:g}"
    review = item.review
    return ItemView(
        id=item_id,
        name=item_name(item_id),
        verdict=item.verdict,
        verdict_zh=VERDICT_ZH.get(item.verdict, item.verdict),
        points=f"{points} / {item.max_points:g}",
        fatal=item.fatal,
        evidence=[_evidence_view(ev, turns, anchor) for ev in item.evidence],
        machine_verdict=item.machine_verdict,
        machine_verdict_zh=VERDICT_ZH.get(item.machine_verdict or "", ""),
        review_by=review.by if review else "",
        review_comment=review.comment if review else "",
        review_source="申诉" if review and review.source == "appeal" else ("复核" if review else ""),
        disagrees=bool(review and review.disagrees),
        turns=sorted({ev.turn for ev in item.evidence if ev.turn is not None and 0 <= ev.turn < len(turns)}),
    )


def _evidence_sources(result: ConversationResult) -> list[tuple[Evidence, str, str]]:
    """(evidence, mark kind, tooltip label) for item evidence (kind = verdict) and negative words."""
    sources = [
        (ev, item.verdict, f"{item_id} {item_name(item_id)} · {VERDICT_ZH.get(item.verdict, item.verdict)}")
        for item_id, item in ordered_items(result.items)
        for ev in item.evidence
    ]
    return sources + [(ev, "neg", "负面词") for ev in result.metrics.negative_words]


def _marks_by_turn(result: ConversationResult) -> dict[int, list[Mark]]:
    """Every highlight in the transcript: item evidence, negative words and masked PII."""
    marks: dict[int, list[Mark]] = defaultdict(list)
    for ev, kind, label in _evidence_sources(result):
        text = _turn_text(result.turns, ev.turn)
        span = locate(text, ev.text) if text is not None else None
        if span is not None and ev.turn is not None:
            title = " · ".join(p for p in (label, ev.note, f"规则 {ev.rule}" if ev.rule else "") if p)
            marks[ev.turn].append(Mark(span[0], span[1], kind, title))
    for p in result.pii:
        marks[p.turn].append(Mark(p.start_char, p.end_char, "pii", f"已脱敏 · {PII_ZH.get(p.type, p.type)}"))
    return marks


def _is_interruption(overlap: Overlap) -> bool:
    return overlap.speaker == "agent" and overlap.seconds > INTERRUPTION_S


@dataclass
class _TurnNotes:
    """Per-turn annotations of one conversation, indexed by turn."""

    marks: dict[int, list[Mark]]
    sentiment: dict[int, TurnSentiment]
    silences: dict[int, float]
    overlaps: dict[int, Overlap]

    @classmethod
    def of(cls, result: ConversationResult) -> _TurnNotes:
        shown = SILENCE_SHOWN_S.get(result.channel, 3.0)
        return cls(
            marks=_marks_by_turn(result),
            sentiment={s.turn: s for s in result.customer_sentiment},
            silences={s.before_turn: s.seconds for s in result.metrics.silences if s.seconds > shown},
            overlaps={o.turn: o for o in result.metrics.overlaps},
        )


def _turn_view(i: int, turn: PublicTurn, notes: _TurnNotes, anchor: str) -> TurnView:
    overlap, sentiment = notes.overlaps.get(i), notes.sentiment.get(i)
    return TurnView(
        index=i,
        anchor=f"{anchor}-t{i}",
        start=turn.start,
        speaker=turn.speaker,
        speaker_zh=SPEAKER_ZH.get(turn.speaker, turn.speaker),
        span=fmt_span(turn.start, turn.end),
        html=highlight(turn.text, notes.marks.get(i, [])),
        sentiment=sentiment.label if sentiment else None,
        sentiment_zh=SENTIMENT_ZH.get(sentiment.label, sentiment.label) if sentiment else "",
        sentiment_prob=fmt_num(sentiment.probs.get(sentiment.label), 2)
        if sentiment and sentiment.probs
        else "",
        silence_before=fmt_num(notes.silences[i]) if i in notes.silences else "",
        overtalk=fmt_num(overlap.seconds) if overlap else "",
        interrupts=overlap is not None and _is_interruption(overlap),
    )


def _turn_views(result: ConversationResult, anchor: str) -> list[TurnView]:
    notes = _TurnNotes.of(result)
    return [_turn_view(i, turn, notes, anchor) for i, turn in enumerate(result.turns)]


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def metric_views(m: Metrics) -> list[MetricView]:
    nwr, rate = m.negative_word_ratio, m.speech_rate
    rows = [
        ("时长 (秒)", "duration_s", fmt_num(m.duration_s)),
        ("负面词占比 坐席 / 客户", "negative_word_ratio", f"{_pct(nwr.agent)} / {_pct(nwr.customer)}"),
        ("停顿频率 (次/分钟)", "pause_per_min", fmt_num(m.pause_per_min, 2)),
        ("最长静默 (秒)", "longest_silence_s", fmt_num(m.longest_silence_s)),
        ("静默占比", "dead_air_ratio", _pct(m.dead_air_ratio)),
        ("抢话 次数 / 秒", "overtalk", f"{m.overtalk_count} / {m.overtalk_s:.1f}"),
        (
            "语速 坐席 / 客户 (字/分钟)",
            "speech_rate",
            f"{fmt_num(rate.agent, 0)} / {fmt_num(rate.customer, 0)}",
        ),
        ("平均响应 (秒)", "response_latency_s", fmt_num(m.response_latency_s)),
    ]
    return [MetricView(name, key, value) for name, key, value in rows]


def conversation_view(result: ConversationResult, anchor: str) -> ConversationView:
    return ConversationView(
        anchor=anchor,
        id=result.id,
        agent_id=result.agent_id or "—",
        team=result.team or "—",
        channel=result.channel,
        channel_zh=CHANNEL_ZH.get(result.channel, result.channel),
        started_at=result.started_at.strftime("%Y-%m-%d %H:%M") if result.started_at else "—",
        quality_index=fmt_num(result.quality_index),
        emotion_index=fmt_num(result.emotion_index),
        grade=result.grade or "—",
        fatal=is_fatal(result),
        review=needs_review(result),
        flags=[FlagView(f, _flag_kind(f)) for f in result.flags],
        items=[_item_view(k, v, result.turns, anchor) for k, v in ordered_items(result.items)],
        metrics=metric_views(result.metrics),
        turns=_turn_views(result, anchor),
    )


# --------------------------------------------------------------------------- agent summary


@dataclass
class AgentSummary:
    agent_id: str
    team: str
    conversations: int
    mean_quality: str
    mean_emotion: str
    grades: dict[str, int]
    fatal: int
    review: int
    anchors: list[str] = field(default_factory=list)


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def grade_columns(results: Sequence[ConversationResult]) -> list[str]:
    seen = {r.grade or "—" for r in results}
    return [g for g in GRADE_ORDER if g in seen] + sorted(seen - set(GRADE_ORDER))


def agent_summaries(results: Sequence[ConversationResult], columns: Sequence[str]) -> list[AgentSummary]:
    groups: dict[str, list[int]] = defaultdict(list)
    for k, r in enumerate(results):
        groups[r.agent_id or "—"].append(k)
    rows = []
    for agent, indexes in sorted(groups.items()):
        mine = [results[k] for k in indexes]
        grades = Counter(r.grade or "—" for r in mine)
        teams = sorted({r.team for r in mine if r.team})
        rows.append(
            AgentSummary(
                agent_id=agent,
                team=" / ".join(teams) or "—",
                conversations=len(mine),
                mean_quality=fmt_num(_mean(r.quality_index for r in mine)),
                mean_emotion=fmt_num(_mean(r.emotion_index for r in mine)),
                grades={g: grades.get(g, 0) for g in columns},
                fatal=sum(is_fatal(r) for r in mine),
                review=sum(needs_review(r) for r in mine),
                anchors=[f"conv-{k}" for k in indexes],
            )
        )
    return rows


# --------------------------------------------------------------------------- agent scores (any shape)


@dataclass
class ScoreTable:
    columns: list[str]
    rows: list[list[str]]


SCORE_COLUMNS_ZH = {
    "agent_id": "坐席工号",
    "team": "班组",
    "period_from": "起",
    "period_to": "止",
    "conversations": "会话数",
    "quality_index": "质检分",
    "quality_index_ci": "质检分置信区间",
    "emotion_index": "情绪指数",
    "agent_score": "综合评分",
    "grade": "等级",
    "components": "分项得分",
    "weights_used": "权重",
    "details": "明细",
}


def _as_mapping(obj: Any) -> Mapping[str, Any]:
    if hasattr(obj, "model_dump"):
        return dict(obj.model_dump())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, Mapping):
        return obj
    return dict(vars(obj))


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        return f"{value:.2f}" if 0 < abs(value) < 1 else f"{value:.1f}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, Mapping) and {"low", "high"} <= value.keys():
        return f"{_cell(value['low'])}–{_cell(value['high'])}"  # an interval
    if isinstance(value, Mapping):
        return "\n".join(f"{k} {_cell(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return "、".join(_cell(v) for v in value)
    return str(value)


def score_table(agent_scores: Sequence[Any]) -> ScoreTable:
    """Agent scores of any shape (pydantic model, dataclass, mapping) as a table of their fields.

    Columns that are empty for every agent are left out; known fields get Chinese headers.
    """
    mappings = [_as_mapping(s) for s in agent_scores]
    keys = list(dict.fromkeys(k for m in mappings for k in m))
    keys = [k for k in keys if any(m.get(k) not in (None, {}, []) for m in mappings)]
    columns = [SCORE_COLUMNS_ZH.get(k, k) for k in keys]
    return ScoreTable(columns, [[_cell(m.get(k)) for k in keys] for m in mappings])
