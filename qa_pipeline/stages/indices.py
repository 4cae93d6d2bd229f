"""Emotion index (0–100) and the grade of the quality index.

Emotion index, from the customer turns' sentiment and emotion probabilities:

- per-turn valence ``v = (1 − w)·(p_pos − p_neg) + w·(p_happy − p_angry − p_sad − p_fear)`` (−1..1),
  ``w = emotion_weight`` when the turn has an emotion prediction, else ``v = p_pos − p_neg``;
- level ``m`` = mean valence weighted linearly from 1 (first customer turn) to ``end_weight`` (last);
- trend = mean valence of the last third of customer turns − that of the first third (−2..2),
  so a customer who arrives angry and leaves calm scores above one who stays angry;
- penalty = ``agent_negativity_penalty`` × the agent's negative-word ratio, capped;
- index = clip(50 + 50·(w_level·m + w_trend·trend) − penalty, 0, 100).

The grade is the band of ``quality_index`` in the scoring configuration (``rubrics/scoring.yaml``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

from pydantic import Field

from qa_pipeline.pipeline import BuildContext, Stage, StageConfig, registry
from qa_pipeline.scoring import ScoringConfig, load_scoring_config, supplied_kpis
from qa_pipeline.types import Conversation, IndexBreakdown, Prediction, Turn

log = logging.getLogger(__name__)

NO_CUSTOMER_SPEECH = "no_customer_speech"


class IndicesConfig(StageConfig):
    """Weights of the emotion index; ``scoring_config`` defaults to ``Settings.scoring_config``."""

    end_weight: float = Field(default=3.0, ge=1.0)
    # level vs trend: on STC-3 dev (700 real helpdesk dialogues) Spearman with satisfaction was 0.615 at
    # 0.7/0.3, 0.648 at 0.9/0.1 and 0.652 with no trend; the trend stays in (the spec asks for it), small
    w_level: float = Field(default=0.9, ge=0)
    w_trend: float = Field(default=0.1, ge=0)
    agent_negativity_penalty: float = Field(default=200.0, ge=0)
    max_agent_penalty: float = Field(default=20.0, ge=0)
    scoring_config: Path | None = None
    # share of the emotion model in a turn's valence (chosen on STC-3 dev satisfaction, see
    # `python -m training.eval_satisfaction`)
    emotion_weight: float = Field(default=0.5, ge=0, le=1)


def valence(pred: Prediction) -> float:
    """``p_pos − p_neg`` of a sentiment prediction (missing classes count as 0)."""
    return pred.probs.get("pos", 0.0) - pred.probs.get("neg", 0.0)


def emotion_valence(pred: Prediction) -> float:
    """``p_happy − p_angry − p_sad − p_fear`` of an emotion prediction (surprise, neutral: 0)."""
    p = pred.probs
    return p.get("happy", 0.0) - p.get("angry", 0.0) - p.get("sad", 0.0) - p.get("fear", 0.0)


def turn_valence(turn: Turn, emotion_weight: float) -> float | None:
    """The turn's valence from sentiment and (if present) emotion; ``None`` without either."""
    if turn.sentiment is None and turn.emotion is None:
        return None
    if turn.emotion is None:
        return valence(turn.sentiment)  # type: ignore[arg-type]
    if turn.sentiment is None:
        return emotion_valence(turn.emotion)
    return (1 - emotion_weight) * valence(turn.sentiment) + emotion_weight * emotion_valence(turn.emotion)


def end_weighted_mean(values: Sequence[float], end_weight: float) -> float:
    """Mean with weights rising linearly from 1 (first) to ``end_weight`` (last)."""
    n = len(values)
    if n == 1:
        return values[0]
    weights = [1.0 + (end_weight - 1.0) * i / (n - 1) for i in range(n)]
    return sum(w * v for w, v in zip(weights, values, strict=True)) / sum(weights)


def trend(values: Sequence[float]) -> float:
    """Mean of the last third minus mean of the first third (thirds rounded up; 0 for one value)."""
    k = math.ceil(len(values) / 3)
    return sum(values[-k:]) / k - sum(values[:k]) / k


def emotion_index(
    valences: Sequence[float], agent_ratio: float | None, config: IndicesConfig
) -> IndexBreakdown:
    """The emotion index of customer valences (in turn order) and its inputs; ``None`` value when empty."""
    if not valences:
        return IndexBreakdown(value=None, inputs={"customer_turns": 0.0, "agent_negative_ratio": agent_ratio})
    level = end_weighted_mean(valences, config.end_weight)
    slope = trend(valences)
    penalty = min(config.max_agent_penalty, config.agent_negativity_penalty * (agent_ratio or 0.0))
    raw = 50.0 + 50.0 * (config.w_level * level + config.w_trend * slope) - penalty
    inputs: dict[str, float | None] = {
        "customer_turns": float(len(valences)),
        "level": level,
        "trend": slope,
        "start_valence": valences[0],
        "end_valence": valences[-1],
        "agent_negative_ratio": agent_ratio,
        "agent_penalty": penalty,
        "w_level": config.w_level,
        "w_trend": config.w_trend,
        "end_weight": config.end_weight,
        "emotion_weight": config.emotion_weight,
    }
    return IndexBreakdown(value=min(100.0, max(0.0, raw)), inputs=inputs)


def customer_valences(conv: Conversation, emotion_weight: float = 0.0) -> list[float]:
    """Valences of the customer turns that carry a sentiment or emotion prediction, in turn order."""
    values = (turn_valence(t, emotion_weight) for _, t in conv.turns_of("customer"))
    return [v for v in values if v is not None]


class IndicesStage(Stage):
    """Sets ``emotion_index`` (+ ``emotion_breakdown``) and ``grade``."""

    name = "indices"
    requires = ("turns.sentiment", "quality_index", "metrics.negative_word_ratio")
    assigns = ("emotion_index", "grade", "kpis")

    def __init__(self, scoring: ScoringConfig, config: IndicesConfig | None = None) -> None:
        self.scoring = scoring
        self.config = config or IndicesConfig()

    def __call__(self, conv: Conversation) -> Conversation:
        agent_ratio = conv.metrics.negative_word_ratio.agent if conv.metrics is not None else None
        breakdown = emotion_index(
            customer_valences(conv, self.config.emotion_weight), agent_ratio, self.config
        )
        conv.emotion_breakdown = breakdown
        conv.emotion_index = breakdown.value
        if breakdown.value is None and NO_CUSTOMER_SPEECH not in conv.flags:
            conv.flags.append(NO_CUSTOMER_SPEECH)
        conv.grade = self.scoring.grade(conv.quality_index)
        conv.kpis = supplied_kpis([conv], self.scoring).get(conv.id)
        return conv


@registry.register("indices", config=IndicesConfig)
def make_indices(config: IndicesConfig, ctx: BuildContext) -> Stage:
    path = config.scoring_config or ctx.settings.scoring_config
    scoring = ctx.shared(f"scoring_config:{path}", lambda: load_scoring_config(path))
    return IndicesStage(scoring, config)
