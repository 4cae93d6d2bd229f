"""Timing metrics: silences, pauses, dead air, overlaps/overtalk, speech rate, response latency.

Calls carry speech spans (seconds from the start of the call); chats carry send times
(``end == start``, or ``end`` missing). A silence is a gap with no speech from anybody, measured
from the end of *all* earlier speech to the start of the next turn, so a turn that overlaps
another never opens a false gap. Metrics that need times are ``None`` when any turn lacks them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from pydantic import Field

from qa_pipeline.errors import E, InputError
from qa_pipeline.pipeline import BuildContext, Stage, StageConfig, registry
from qa_pipeline.types import Channel, Conversation, Metrics, Overlap, Silence, Speaker, SpeakerValue

log = logging.getLogger(__name__)

_SPOKEN_CHAR = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff0-9]")


class TimingConfig(StageConfig):
    """Thresholds of the timing stage (seconds)."""

    pause_threshold_s: float = Field(default=3.0, ge=0)
    overtalk_min_s: float = Field(default=1.0, ge=0)
    overtalk_both_directions: bool = False
    hold_threshold_s: float = Field(default=10.0, gt=0)
    chat_hold_threshold_s: float = Field(default=60.0, gt=0)

    def hold_threshold(self, channel: Channel) -> float:
        """The agent-side silence that counts as a hold: 10 s in calls, 60 s in chats by default."""
        return self.chat_hold_threshold_s if channel == "chat" else self.hold_threshold_s


@dataclass(frozen=True)
class Span:
    """A turn's index, speaker and times, with ``end`` filled in for chats."""

    index: int
    speaker: Speaker
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


def timed_spans(conv: Conversation) -> list[Span] | None:
    """Turns sorted by start time; ``None`` when any turn lacks a time. Chats may omit ``end``."""
    spans: list[Span] = []
    for i, turn in enumerate(conv.turns):
        end = turn.start if conv.channel == "chat" and turn.end is None else turn.end
        if turn.start is None or end is None:
            return None
        if end < turn.start:
            raise InputError(
                E.BAD_FIELD,
                f"end {end} is before start {turn.start}",
                record=conv.id,
                field=f"turns[{i}].end",
            )
        spans.append(Span(i, turn.speaker, turn.start, end))
    return sorted(spans, key=lambda s: (s.start, s.index))


def find_silences(spans: Sequence[Span]) -> list[Silence]:
    """Gaps between the end of all earlier speech and the next turn's start (none before the first turn)."""
    silences: list[Silence] = []
    if not spans:
        return silences
    last_end = spans[0].end
    for span in spans[1:]:
        if span.start > last_end:
            silences.append(
                Silence(start=last_end, end=span.start, before_turn=span.index, speaker_after=span.speaker)
            )
        last_end = max(last_end, span.end)
    return silences


def find_overlaps(spans: Sequence[Span]) -> list[Overlap]:
    """Each turn that starts while a turn of the other speaker is still running, with the shared span."""
    overlaps: list[Overlap] = []
    running: list[Span] = []
    for span in spans:
        running = [r for r in running if r.end > span.start]
        for other in running:
            if other.speaker != span.speaker:
                end = min(other.end, span.end)
                overlaps.append(
                    Overlap(
                        turn=span.index,
                        over_turn=other.index,
                        speaker=span.speaker,
                        start=span.start,
                        end=end,
                    )
                )
        running.append(span)
    return overlaps


def counted_overtalk(overlaps: Sequence[Overlap], config: TimingConfig) -> list[Overlap]:
    """Overlaps longer than ``overtalk_min_s``; agent over customer only unless both directions are asked."""
    return [
        o
        for o in overlaps
        if o.seconds > config.overtalk_min_s and (config.overtalk_both_directions or o.speaker == "agent")
    ]


def agent_holds(metrics: Metrics, channel: Channel, config: TimingConfig | None = None) -> list[Silence]:
    """Agent-side silences longer than the channel's hold threshold (the hold_etiquette trigger)."""
    threshold = (config or TimingConfig()).hold_threshold(channel)
    return [s for s in metrics.silences if s.speaker_after == "agent" and s.seconds > threshold]


def speech_rate(conv: Conversation, spans: Sequence[Span], speaker: Speaker) -> float | None:
    """Chinese characters and digits per minute of the speaker's own speaking time."""
    mine = [s for s in spans if s.speaker == speaker]
    seconds = sum(s.seconds for s in mine)
    if seconds <= 0:
        return None
    chars = sum(len(_SPOKEN_CHAR.findall(conv.turns[s.index].text)) for s in mine)
    return chars * 60.0 / seconds


def response_latency(spans: Sequence[Span]) -> float | None:
    """Mean gap from the end of a customer turn to the start of the agent turn right after it (≥ 0)."""
    gaps = [
        max(0.0, cur.start - prev.end)
        for prev, cur in pairwise(spans)
        if prev.speaker == "customer" and cur.speaker == "agent"
    ]
    return sum(gaps) / len(gaps) if gaps else None


def fill_timing(conv: Conversation, metrics: Metrics, config: TimingConfig) -> Metrics:
    """Compute every timing metric of ``conv`` into ``metrics`` (in place) and return it."""
    spans = timed_spans(conv)
    if not spans:  # no times (None) or no turns at all (a call without speech)
        log.debug("conversation %s has no timed turns; timing metrics left empty", conv.id)
        _clear(metrics)
        return metrics
    duration = max(s.end for s in spans) - spans[0].start
    metrics.duration_s = duration
    metrics.silences = find_silences(spans)
    metrics.longest_silence_s = max((s.seconds for s in metrics.silences), default=0.0)
    metrics.response_latency_s = response_latency(spans)
    if conv.channel == "call":
        _fill_call(conv, spans, metrics, config, duration)
    else:
        _fill_chat(metrics)
    return metrics


def _fill_call(
    conv: Conversation, spans: list[Span], metrics: Metrics, config: TimingConfig, duration: float
) -> None:
    pauses = [
        s for s in metrics.silences if s.speaker_after == "agent" and s.seconds > config.pause_threshold_s
    ]
    minutes = duration / 60.0
    metrics.pause_per_min = len(pauses) / minutes if minutes > 0 else None
    metrics.dead_air_ratio = sum(s.seconds for s in metrics.silences) / duration if duration > 0 else None
    metrics.overlaps = find_overlaps(spans)
    overtalk = counted_overtalk(metrics.overlaps, config)
    metrics.overtalk_count = len(overtalk)
    metrics.overtalk_s = sum(o.seconds for o in overtalk)
    metrics.speech_rate = SpeakerValue(
        agent=speech_rate(conv, spans, "agent"), customer=speech_rate(conv, spans, "customer")
    )


def _fill_chat(metrics: Metrics) -> None:
    """Chats have no audio: no pauses, dead air, overlaps or speech rate."""
    metrics.pause_per_min = None
    metrics.dead_air_ratio = None
    metrics.overlaps = []
    metrics.overtalk_count = 0
    metrics.overtalk_s = 0.0
    metrics.speech_rate = SpeakerValue()


def _clear(metrics: Metrics) -> None:
    _fill_chat(metrics)
    metrics.duration_s = None
    metrics.silences = []
    metrics.longest_silence_s = None
    metrics.response_latency_s = None


class TimingStage(Stage):
    """Fills the timing part of ``conv.metrics`` (creating it when absent)."""

    name = "timing"
    requires = ("turns.start", "turns.end")
    assigns = ("metrics",)

    def __init__(self, config: TimingConfig | None = None) -> None:
        self.config = config or TimingConfig()

    def __call__(self, conv: Conversation) -> Conversation:
        if conv.metrics is None:
            conv.metrics = Metrics()
        fill_timing(conv, conv.metrics, self.config)
        return conv


@registry.register("timing", config=TimingConfig)
def make_timing(config: TimingConfig, ctx: BuildContext) -> Stage:
    return TimingStage(config)
