"""The scorecard on recordings vs on their transcripts: ``qa eval DIALOGUES --audio DIR``.

For every labelled conversation that has a recording ``DIR/<id>.<ext>``, the recording is audited
through the audio pipeline with the conversation's labels and metadata, and both sides are
evaluated on the same conversations: per-item agreement on the text, on the audio, and the gap
(text minus audio: how much the ASR costs the scorecard). With reference turns, the character
error rate of the recognised turns is reported too (:mod:`qa_pipeline.asr.cer`; stereo: per
speaker; mono: the whole call in time order).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from qa_pipeline.asr.cer import CerResult, cer, pool
from qa_pipeline.errors import QAError
from qa_pipeline.evaluation import EvalReport, ReviewPolicy, evaluate
from qa_pipeline.settings import Settings
from qa_pipeline.sources.audio import AUDIO_SUFFIXES, conversation_from_audio
from qa_pipeline.types import Conversation, ConversationResult

LabelledResult = tuple[Any, ConversationResult]

_KEPT = ("agent_id", "team", "industry", "scenario")


@dataclass
class AudioTwins:
    """Recordings found for labelled conversations, and what could not be read."""

    conversations: list[Conversation] = field(default_factory=list)
    references: dict[str, Conversation] = field(default_factory=dict)  # id -> the text version
    problems: list[str] = field(default_factory=list)


def find_recording(audio_dir: Path, conv_id: str) -> Path | None:
    """``audio_dir/<id>.<ext>`` for a known audio extension, if there is one."""
    for ext in AUDIO_SUFFIXES:
        path = audio_dir / f"{conv_id}{ext}"
        if path.is_file():
            return path
    return None


def audio_twins(texts: Iterable[Conversation], audio_dir: Path, settings: Settings) -> AudioTwins:
    """The recording of every labelled text conversation that has one, carrying its labels."""
    out = AudioTwins()
    for conv in texts:
        path = find_recording(audio_dir, conv.id)
        if path is None or not conv.metadata.get("labels"):
            continue
        meta = {k: getattr(conv, k, None) or conv.metadata.get(k) for k in _KEPT}
        meta["labels"] = conv.metadata["labels"]
        try:
            twin = conversation_from_audio(path, settings=settings, metadata=meta, conversation_id=conv.id)
        except QAError as exc:
            out.problems.append(f"{path.name}: {exc}")
            continue
        out.conversations.append(twin)
        out.references[conv.id] = conv
    return out


def turns_cer(reference: Conversation, recognised: Conversation) -> CerResult:
    """Stereo: each speaker's turns joined and compared; mono: all turns in time order."""
    if recognised.audio is not None and recognised.audio.channels == 2:
        return pool(cer(_joined(reference, spk), _joined(recognised, spk)) for spk in ("agent", "customer"))
    return cer(_joined(reference, None), _joined(recognised, None))


def _joined(conv: Conversation, speaker: str | None) -> str:
    turns = sorted(conv.turns, key=lambda t: t.start or 0.0)
    return "".join(t.text for t in turns if speaker is None or t.speaker == speaker)


class ItemGap(BaseModel):
    text: float | None
    audio: float | None
    gap: float | None


class AudioComparison(BaseModel):
    """Text vs audio on the same labelled conversations."""

    n_conversations: int
    items: dict[str, ItemGap]
    macro: ItemGap
    cer: float | None
    cer_per_call: dict[str, float]
    differing: dict[str, list[str]] = {}
    """Per call, the items whose verdict on the recording differs from the verdict on its text."""

    def max_gap(self) -> float:
        return max((g.gap for g in self.items.values() if g.gap is not None), default=0.0)

    def to_table(self) -> str:
        lines = [f"text vs audio on {self.n_conversations} recordings (gap = text - audio)"]
        lines.append(f"{'item':<22} {'text':>6} {'audio':>6} {'gap':>6}")
        for item, g in [*self.items.items(), ("macro", self.macro)]:
            lines.append(f"{item:<22} {_f(g.text)} {_f(g.audio)} {_f(g.gap)}")
        if self.cer is not None:
            lines.append(
                f"CER of the recognised turns: {self.cer:.4f} (pooled over {len(self.cer_per_call)})"
            )
        for conv_id, items in self.differing.items():
            cer = self.cer_per_call.get(conv_id)
            lines.append(f"  {conv_id} (CER {_f(cer).strip()}): text and audio differ on {', '.join(items)}")
        return "\n".join(lines)


def _f(value: float | None) -> str:
    return f"{'-':>6}" if value is None else f"{value:6.3f}"


def compare(
    text_pairs: list[LabelledResult],
    audio_pairs: list[LabelledResult],
    cer_rows: dict[str, CerResult],
    review_as: ReviewPolicy = "fail",
) -> AudioComparison:
    """Agreement on both sides, restricted to the conversations that both sides completed."""
    both = {r.id for _, r in audio_pairs} & {r.id for _, r in text_pairs}
    text_rep = evaluate([p for p in text_pairs if p[1].id in both], review_as=review_as)
    audio_rep = evaluate([p for p in audio_pairs if p[1].id in both], review_as=review_as)
    items = {item: _gap(_agreement(text_rep, item), _agreement(audio_rep, item)) for item in text_rep.items}
    pooled = pool(cer_rows[i] for i in sorted(both) if i in cer_rows) if cer_rows else None
    return AudioComparison(
        n_conversations=len(both),
        items=items,
        macro=_gap(text_rep.macro_agreement, audio_rep.macro_agreement),
        cer=pooled.cer if pooled is not None and pooled.ref_chars else None,
        cer_per_call={i: round(r.cer, 4) for i, r in sorted(cer_rows.items()) if i in both},
        differing=_differing(text_pairs, audio_pairs, both),
    )


def _differing(
    text_pairs: list[LabelledResult], audio_pairs: list[LabelledResult], both: set[str]
) -> dict[str, list[str]]:
    """Which items get another verdict on the recording than on the text, per call."""
    text = {r.id: r for _, r in text_pairs if r.id in both}
    out: dict[str, list[str]] = {}
    for _, audio in sorted(audio_pairs, key=lambda p: p[1].id):
        ref = text.get(audio.id)
        if ref is None:
            continue
        items = [
            item
            for item, res in ref.items.items()
            if (other := audio.items.get(item)) is not None and other.verdict != res.verdict
        ]
        if items:
            out[audio.id] = items
    return out


def _agreement(report: EvalReport, item: str) -> float | None:
    rep = report.items.get(item)
    return rep.agreement if rep else None


def _gap(text: float | None, audio: float | None) -> ItemGap:
    gap = None if text is None or audio is None else round(text - audio, 6)
    return ItemGap(text=text, audio=audio, gap=gap)


@dataclass
class AudioResults:
    """The auditor's ``on_done`` for recordings: labelled results, and each call's CER."""

    references: dict[str, Conversation]
    pairs: list[LabelledResult] = field(default_factory=list)
    cer_rows: dict[str, CerResult] = field(default_factory=dict)

    def __call__(self, conv: Conversation) -> None:
        labels: Any = conv.metadata.get("labels")
        if labels:
            self.pairs.append((labels, conv.to_result()))
        ref = self.references.get(conv.id)
        if ref is not None and ref.turns:
            self.cer_rows[conv.id] = turns_cer(ref, conv)
