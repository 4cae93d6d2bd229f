"""Why a scored conversation goes to a human: reasons with codes and Chinese text, a deadline for
severe negative emotion, and how unsure the machine was (for uncertainty sampling).

Reasons (``code``):

- ``fatal``: a fatal item failed; ``needs_review``: an item is ``review`` (low ASR or model confidence);
- ``low_quality``: quality index under ``quality_below``;
- ``severe_negative_emotion`` (with ``due_at`` = flag time + ``due_hours``), ``negative_emotion``,
  ``emotion_worsened``: the customer's emotion index or its start-to-end change;
- ``sampled``: drawn at random (``sampling.ratio``, stable per conversation id), and
  ``sampled_uncertain``: drawn by ``qa review sample`` among the least certain of an agent's period.
"""

from __future__ import annotations

import hashlib
import statistics
from datetime import datetime, timedelta

from pydantic import BaseModel

from qa_pipeline.review.config import ReviewConfig
from qa_pipeline.types import ConversationResult, TurnSentiment

REASON_ZH = {
    "fatal": "致命项不通过",
    "needs_review": "机器判定把握不足，待人工复核",
    "low_quality": "质检分过低",
    "severe_negative_emotion": "客户情绪严重负面（须2小时内介入）",
    "negative_emotion": "客户情绪负面",
    "emotion_worsened": "客户情绪由始至终恶化",
    "sampled": "随机抽检",
    "sampled_uncertain": "抽检：机器最不确定的会话",
}
REASON_CODES = tuple(REASON_ZH)


class FlagReason(BaseModel):
    code: str
    text: str
    detail: str = ""


def reason(code: str, detail: str = "") -> FlagReason:
    return FlagReason(code=code, text=REASON_ZH[code], detail=detail)


def valence(s: TurnSentiment) -> float:
    return s.probs.get("pos", 0.0) - s.probs.get("neg", 0.0)


def emotion_trend(result: ConversationResult) -> float | None:
    """Mean customer valence of the last third of their turns minus the first third (−2..2)."""
    values = [valence(s) for s in result.customer_sentiment]
    if len(values) < 2:
        return None
    third = max(1, len(values) // 3)
    return statistics.fmean(values[-third:]) - statistics.fmean(values[:third])


def flag_reasons(result: ConversationResult, cfg: ReviewConfig) -> list[FlagReason]:
    """Every reason to review ``result`` (empty: not flagged, unless sampled)."""
    out: list[FlagReason] = []
    fatal = [k for k, i in result.items.items() if i.fatal and i.verdict == "fail"]
    if fatal:
        out.append(reason("fatal", ", ".join(fatal)))
    unsure = [k for k, i in result.items.items() if i.verdict == "review"]
    if unsure:
        out.append(reason("needs_review", ", ".join(unsure)))
    if result.quality_index is not None and result.quality_index < cfg.quality_below:
        out.append(reason("low_quality", f"{result.quality_index:.1f} < {cfg.quality_below:g}"))
    out += _emotion_reasons(result, cfg)
    if not out and sampled(result.id, cfg.sampling.ratio):
        out.append(reason("sampled", f"ratio {cfg.sampling.ratio:g}"))
    return out


def _emotion_reasons(result: ConversationResult, cfg: ReviewConfig) -> list[FlagReason]:
    out: list[FlagReason] = []
    emo, index = cfg.emotion, result.emotion_index
    if index is not None and index < emo.severe_below:
        out.append(reason("severe_negative_emotion", f"{index:.1f} < {emo.severe_below:g}"))
    elif index is not None and index < emo.negative_below:
        out.append(reason("negative_emotion", f"{index:.1f} < {emo.negative_below:g}"))
    trend = emotion_trend(result)
    if trend is not None and trend <= -emo.worsens_by:
        out.append(reason("emotion_worsened", f"{trend:+.2f}"))
    return out


def due_at(reasons: list[FlagReason], flagged_at: datetime, cfg: ReviewConfig) -> datetime | None:
    """The intervention deadline: ``due_hours`` after flagging for severe negative emotion."""
    if any(r.code == "severe_negative_emotion" for r in reasons):
        return flagged_at + timedelta(hours=cfg.emotion.due_hours)
    return None


def sampled(conversation_id: str, ratio: float) -> bool:
    """A stable draw: the same conversation is always in or out of the random sample."""
    if ratio <= 0:
        return False
    digest = hashlib.sha256(("sample:" + conversation_id).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < ratio


def uncertainty(result: ConversationResult) -> float:
    """How unsure the machine was (0..1): the larger of the share of applicable items left to
    ``review`` and the customer sentiment's mean (1 − top probability)."""
    applicable = [i for i in result.items.values() if i.verdict != "na"]
    review_share = sum(i.verdict == "review" for i in applicable) / len(applicable) if applicable else 0.0
    tops = [max(s.probs.values()) for s in result.customer_sentiment if s.probs]
    sentiment = 1.0 - statistics.fmean(tops) if tops else 0.0
    return round(max(review_share, sentiment), 4)
