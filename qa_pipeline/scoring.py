"""Agent score per agent and period: a weighted KPI blend, grade bands and a confidence interval.

Components (each 0–100, default weights from ``rubrics/scoring.yaml``):

- customer_experience: per conversation the emotion index, blended with CSAT (1–5 mapped to
  0–100) where the KPI system supplies it; then the mean;
- efficiency: share of conversations whose ``hold_etiquette`` item is not ``fail``, response
  latency against a per-channel target and, where supplied, AHT against a target;
- professional_skill: mean quality index;
- teamwork: supplied by the KPI system, otherwise dropped.

A component without data drops out and the remaining weights are rescaled to sum to 1.
"""

from __future__ import annotations

import logging
import math
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from scipy import stats

from qa_pipeline.calendar_cn import Peak
from qa_pipeline.errors import E, InputError, RubricError
from qa_pipeline.figures import Figures, figures_of
from qa_pipeline.types import Channel, Conversation, ConversationResult, SuppliedKpis

log = logging.getLogger(__name__)

COMPONENTS = ("customer_experience", "efficiency", "professional_skill", "teamwork")
Period = tuple[datetime | None, datetime | None]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Band(_Strict):
    """A grade given to values ≥ ``min`` (and below the previous band's ``min``)."""

    min: float
    grade: str = Field(min_length=1)


class ComponentWeights(_Strict):
    customer_experience: float = Field(default=0.40, ge=0)
    efficiency: float = Field(default=0.30, ge=0)
    professional_skill: float = Field(default=0.20, ge=0)
    teamwork: float = Field(default=0.10, ge=0)

    @model_validator(mode="after")
    def _some_weight(self) -> ComponentWeights:
        if sum(self.as_dict().values()) <= 0:
            raise ValueError("at least one weight must be > 0")
        return self

    def as_dict(self) -> dict[str, float]:
        return {name: float(getattr(self, name)) for name in COMPONENTS}


class ChannelTargets(_Strict):
    call: float = Field(gt=0)
    chat: float = Field(gt=0)

    def of(self, channel: Channel) -> float:
        return self.chat if channel == "chat" else self.call


class CustomerExperienceConfig(_Strict):
    csat_min: float = 1.0
    csat_max: float = 5.0
    csat_blend: float = Field(default=0.5, ge=0, le=1)

    @model_validator(mode="after")
    def _scale(self) -> CustomerExperienceConfig:
        if self.csat_max <= self.csat_min:
            raise ValueError("csat_max must be greater than csat_min")
        return self


class EfficiencyWeights(_Strict):
    hold: float = Field(default=1.0, ge=0)
    latency: float = Field(default=1.0, ge=0)
    aht: float = Field(default=1.0, ge=0)


class EfficiencyConfig(_Strict):
    target_latency_s: ChannelTargets = Field(default_factory=lambda: ChannelTargets(call=10.0, chat=60.0))
    target_aht_s: ChannelTargets = Field(default_factory=lambda: ChannelTargets(call=360.0, chat=900.0))
    zero_at_multiple: float = Field(default=3.0, gt=1)
    weights: EfficiencyWeights = Field(default_factory=EfficiencyWeights)


class ConfidenceConfig(_Strict):
    level: float = Field(default=0.95, gt=0, lt=1)


def _default_peaks() -> list[Peak]:
    return [
        Peak(name="春运", start="01-15", end="02-25"),
        Peak(name="618大促", start="06-01", end="06-18"),
        Peak(name="双十一", start="11-01", end="11-12"),
    ]


class KpiConfig(_Strict):
    """The KPI pull: what counts as a negative-emotion conversation, and peak seasons to mark."""

    negative_emotion_below: float = Field(default=40.0, ge=0, le=100)
    negative_emotion_target: float = Field(default=0.08, ge=0, le=1)
    peaks: list[Peak] = Field(default_factory=_default_peaks)


def _default_bands() -> list[Band]:
    return [
        Band(min=90, grade="优秀"),
        Band(min=80, grade="良好"),
        Band(min=70, grade="合格"),
        Band(min=0, grade="待改进"),
    ]


class ScoringConfig(_Strict):
    """The agent-score configuration (``rubrics/scoring.yaml``)."""

    version: str = "1"
    weights: ComponentWeights = Field(default_factory=ComponentWeights)
    bands: list[Band] = Field(default_factory=_default_bands, min_length=1)
    customer_experience: CustomerExperienceConfig = Field(default_factory=CustomerExperienceConfig)
    efficiency: EfficiencyConfig = Field(default_factory=EfficiencyConfig)
    confidence: ConfidenceConfig = Field(default_factory=ConfidenceConfig)
    kpi: KpiConfig = Field(default_factory=KpiConfig)

    @field_validator("bands")
    @classmethod
    def _sorted(cls, bands: list[Band]) -> list[Band]:
        mins = [b.min for b in bands]
        if any(a <= b for a, b in pairwise(mins)):
            raise ValueError(f"bands must be sorted by min, highest first, without ties; got {mins}")
        if mins[-1] > 0:
            raise ValueError(
                f"the lowest band must start at 0 or below so every score gets a grade; got {mins[-1]}"
            )
        return bands

    def grade(self, value: float | None) -> str | None:
        """The band of ``value``; ``None`` for ``None``."""
        if value is None:
            return None
        for band in self.bands:
            if value >= band.min:
                return band.grade
        return self.bands[-1].grade


def load_scoring_config(path: Path | str) -> ScoringConfig:
    """Read and validate a scoring YAML; errors name the file, the line and the field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise RubricError(E.RUBRIC_NOT_FOUND, "scoring config not found", file=str(path)) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise RubricError(E.RUBRIC_YAML, f"cannot read: {exc}", file=str(path)) from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise RubricError(E.RUBRIC_YAML, str(exc).splitlines()[0], file=str(path), line=line) from exc
    if not isinstance(raw, dict):
        raise RubricError(E.RUBRIC_INVALID, "the top level must be a mapping", file=str(path))
    try:
        return ScoringConfig.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        field = ".".join(str(p) for p in loc) or None
        raise RubricError(
            E.RUBRIC_INVALID, err["msg"], file=str(path), line=_line_of(text, loc), field=field
        ) from exc


def _line_of(text: str, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the YAML node at ``loc`` (or of its deepest existing parent)."""
    node: Any = yaml.compose(text)
    for key in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if k.value == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            child = node.value[key]
        if child is None:
            break
        node = child
    return node.start_mark.line + 1 if node is not None else None


def supplied_kpis(conversations: Iterable[Conversation], config: ScoringConfig) -> dict[str, SuppliedKpis]:
    """Read ``metadata["csat"]`` and ``metadata["aht_s"]`` of each conversation (validated)."""
    out: dict[str, SuppliedKpis] = {}
    for conv in conversations:
        csat = _number(conv, "csat")
        aht = _number(conv, "aht_s")
        cx = config.customer_experience
        if csat is not None and not cx.csat_min <= csat <= cx.csat_max:
            raise InputError(
                E.BAD_FIELD,
                f"{csat} outside {cx.csat_min}–{cx.csat_max}",
                record=conv.id,
                field="metadata.csat",
            )
        if aht is not None and aht < 0:
            raise InputError(E.BAD_FIELD, f"{aht} is negative", record=conv.id, field="metadata.aht_s")
        if csat is not None or aht is not None:
            out[conv.id] = SuppliedKpis(csat=csat, aht_s=aht)
    return out


def _number(conv: Conversation, key: str) -> float | None:
    value = conv.metadata.get(key)
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise InputError(
            E.BAD_FIELD, f"{value!r} is not a number", record=conv.id, field=f"metadata.{key}"
        ) from exc
    if not math.isfinite(number):
        raise InputError(E.BAD_FIELD, f"{value!r} is not finite", record=conv.id, field=f"metadata.{key}")
    return number


class ConfidenceInterval(BaseModel):
    low: float
    high: float
    level: float
    n: int
    method: str = "t"


class AgentScore(BaseModel):
    """One agent's score over a period, with the components and weights that produced it."""

    agent_id: str
    team: str | None
    period_from: datetime | None
    period_to: datetime | None
    conversations: int
    quality_index: float | None
    quality_index_ci: ConfidenceInterval | None
    emotion_index: float | None
    agent_score: float | None
    grade: str | None
    components: dict[str, float | None]
    weights_used: dict[str, float]
    details: dict[str, float | None] = Field(default_factory=dict)


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.fmean(present) if present else None


def target_score(value: float, target: float, zero_at_multiple: float) -> float:
    """100 at or under ``target``, falling linearly to 0 at ``zero_at_multiple × target``."""
    if value <= target:
        return 100.0
    span = (zero_at_multiple - 1.0) * target
    return max(0.0, 100.0 * (1.0 - (value - target) / span))


def csat_score(csat: float, config: CustomerExperienceConfig) -> float:
    return 100.0 * (csat - config.csat_min) / (config.csat_max - config.csat_min)


def _experience(f: Figures, config: CustomerExperienceConfig) -> float | None:
    csat = csat_score(f.csat, config) if f.csat is not None else None
    if csat is None or f.emotion_index is None:
        return csat if csat is not None else f.emotion_index
    return (1.0 - config.csat_blend) * f.emotion_index + config.csat_blend * csat


def efficiency_parts(figures: Sequence[Figures], config: EfficiencyConfig) -> dict[str, float | None]:
    """Sub-scores 0–100: hold (share not failing hold etiquette), latency and AHT against targets."""
    holds = [f.hold != "fail" for f in figures if f.hold is not None]
    latency = [
        target_score(f.latency_s, config.target_latency_s.of(f.channel), config.zero_at_multiple)  # type: ignore[arg-type]
        for f in figures
        if f.latency_s is not None
    ]
    aht = [
        target_score(f.aht_s, config.target_aht_s.of(f.channel), config.zero_at_multiple)  # type: ignore[arg-type]
        for f in figures
        if f.aht_s is not None
    ]
    return {
        "hold": 100.0 * sum(holds) / len(holds) if holds else None,
        "latency": _mean(latency),
        "aht": _mean(aht),
    }


def _weighted(
    values: Mapping[str, float | None], weights: Mapping[str, float]
) -> tuple[float | None, dict[str, float]]:
    """Weighted mean over the present values; returns it and the rescaled weights used."""
    present = {k: (w, v) for k, w in weights.items() if (v := values.get(k)) is not None and w > 0}
    total = sum(w for w, _ in present.values())
    if total <= 0:
        return None, {}
    used = {k: w / total for k, (w, _) in present.items()}
    return sum(used[k] * v for k, (_, v) in present.items()), used


def quality_ci(values: Sequence[float], level: float) -> ConfidenceInterval | None:
    """Student-t interval for the mean of ``values``, clipped to 0–100; ``None`` when n < 2."""
    n = len(values)
    if n < 2:
        return None
    mean = statistics.fmean(values)
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * statistics.stdev(values) / math.sqrt(n)
    return ConfidenceInterval(low=max(0.0, mean - half), high=min(100.0, mean + half), level=level, n=n)


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def in_period(started_at: datetime | None, period: Period) -> bool:
    """``[from, to)``; open ends are ``None``. Naive datetimes are taken as UTC."""
    start, end = period
    if start is None and end is None:
        return True
    if started_at is None:
        return False
    t = _aware(started_at)
    return (start is None or t >= _aware(start)) and (end is None or t < _aware(end))


def most_common_team(figures: Sequence[Figures]) -> str | None:
    teams = Counter(f.team for f in figures if f.team)
    return teams.most_common(1)[0][0] if teams else None


def _components(
    figures: Sequence[Figures], config: ScoringConfig, teamwork: float | None
) -> tuple[dict[str, float | None], dict[str, float | None]]:
    """The four components (0–100, None without data) and the efficiency sub-scores."""
    eff = efficiency_parts(figures, config.efficiency)
    components: dict[str, float | None] = {
        "customer_experience": _mean(_experience(f, config.customer_experience) for f in figures),
        "efficiency": _weighted(eff, config.efficiency.weights.model_dump())[0],
        "professional_skill": _mean(f.quality_index for f in figures),
        "teamwork": teamwork,
    }
    return components, eff


def composite_score(figures: Sequence[Figures], config: ScoringConfig) -> float | None:
    """The agent score of ``figures`` alone (what :func:`agent_score` reports), without the report:
    cheap enough to compute per conversation (the KPI pull's interval)."""
    return _weighted(_components(figures, config, None)[0], config.weights.as_dict())[0]


def agent_score(
    results: Sequence[ConversationResult],
    *,
    config: ScoringConfig,
    agent_id: str,
    period: Period,
    teamwork: float | None = None,
    supplied: Mapping[str, SuppliedKpis] | None = None,
) -> AgentScore:
    """Score ``agent_id`` over ``period`` from scored conversations (other agents' are ignored).

    ``teamwork`` (0–100) comes from the KPI system; ``supplied`` maps conversation id to CSAT/AHT
    (see :func:`supplied_kpis`; default: what the pipeline read from each conversation's metadata).
    Missing components drop out and the weights are rescaled.
    """
    mine = [r for r in results if r.agent_id == agent_id and in_period(r.started_at, period)]
    if supplied is None:
        figures = [figures_of(r) for r in mine]
    else:  # an explicit map replaces the conversations' own figures (absent: none supplied)
        figures = [figures_of(r, supplied.get(r.id) or SuppliedKpis()) for r in mine]
    return score_figures(figures, config=config, agent_id=agent_id, period=period, teamwork=teamwork)


def score_figures(
    figures: Sequence[Figures],
    *,
    config: ScoringConfig,
    agent_id: str,
    period: Period = (None, None),
    teamwork: float | None = None,
) -> AgentScore:
    """:func:`agent_score` of one agent's conversations, already reduced to their figures."""
    if teamwork is not None and not 0 <= teamwork <= 100:
        raise InputError(E.BAD_REQUEST, f"teamwork {teamwork} is outside 0–100", field="teamwork")
    qualities = [f.quality_index for f in figures if f.quality_index is not None]
    components, eff = _components(figures, config, teamwork)
    score, used = _weighted(components, config.weights.as_dict())
    return AgentScore(
        agent_id=agent_id,
        team=most_common_team(figures),
        period_from=period[0],
        period_to=period[1],
        conversations=len(figures),
        quality_index=_mean(qualities),
        quality_index_ci=quality_ci(qualities, config.confidence.level),
        emotion_index=_mean(f.emotion_index for f in figures),
        agent_score=score,
        grade=config.grade(score),
        components=components,
        weights_used=used,
        details={**eff, "csat_mean": _mean(f.csat for f in figures)},
    )
