"""Recordings kept for review, with the spoken personal data silenced.

A scored call's recording is stored as ``QA_AUDIO_DIR/<sha256(conversation id)[:40]>.wav`` (16 kHz,
16-bit PCM, its own channels), so a supervisor can play it. Every PII span the ``pii`` stage found in
the transcript (phone, ID, card number, e-mail read out) is mapped through the ASR word timestamps
to a time range on the speaker's channel and replaced by silence, with ``PAD_S`` either side, as
word timings are approximate. When a span cannot be placed (no word timings, text and words that do
not line up) the whole turn is silenced: privacy first. The original is kept only with
``QA_KEEP_ORIGINAL_AUDIO`` (``QA_AUDIO_DIR/originals/``).
"""

from __future__ import annotations

import hashlib
import shutil
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa_pipeline.asr.decode import TARGET_RATE, iter_blocks
from qa_pipeline.settings import Settings
from qa_pipeline.types import Conversation, PiiSpan, Turn

PAD_S = 0.15
MAX_S = 24 * 3600.0  # "to the end" when neither the turn's end nor the recording's length is known
ORIGINALS = "originals"


@dataclass(frozen=True)
class Mute:
    """Silence ``[start, end)`` seconds on ``channel`` (``None``: every channel)."""

    channel: int | None
    start: float
    end: float


def recording_path(settings: Settings, conversation_id: str) -> Path:
    """Where the silenced copy of a conversation's recording is (or would be) stored."""
    name = hashlib.sha256(conversation_id.encode("utf-8")).hexdigest()[:40]
    return settings.audio_dir / f"{name}.wav"


def _channel(conv: Conversation, turn: Turn) -> int | None:
    audio = conv.audio
    if audio is None or audio.channels < 2:
        return None
    agent = 0 if audio.agent_channel == "left" else 1
    return agent if turn.speaker == "agent" else 1 - agent


def _word_span(turn: Turn, span: PiiSpan) -> tuple[float, float] | None:
    """The time of the words under ``span``'s characters, or None when they cannot be placed."""
    sizes = [len(w.text.strip()) for w in turn.words]
    if not turn.words or sum(sizes) != len(turn.text.replace(" ", "")):
        return None
    pos, hit = 0, []
    for word, size in zip(turn.words, sizes, strict=True):
        if pos < span.end_char and pos + size > span.start_char:
            hit.append(word)
        pos += size
    return (min(w.start for w in hit), max(w.end for w in hit)) if hit else None


def pii_mutes(conv: Conversation, pad_s: float = PAD_S) -> list[Mute]:
    """The time ranges to silence for every PII span of ``conv``."""
    mutes = []
    for span in conv.pii:
        turn = conv.turns[span.turn]
        placed = _word_span(turn, span)
        if placed is None:  # the whole turn (to the end of the recording when its end is unknown)
            until = turn.end if turn.end is not None else (conv.audio.duration_s if conv.audio else None)
            placed = (turn.start or 0.0, until if until is not None else MAX_S)
        start, end = placed
        mutes.append(Mute(_channel(conv, turn), max(0.0, start - pad_s), end + pad_s))
    return mutes


def silenced_blocks(
    blocks: Iterator[np.ndarray], mutes: list[Mute], rate: int = TARGET_RATE
) -> Iterator[np.ndarray]:
    """``blocks`` (channels, n) with the ``mutes`` zeroed, streaming (one block in memory)."""
    offset = 0
    for block in blocks:
        n = block.shape[1]
        out = block.copy()
        for m in mutes:
            lo, hi = max(0, int(m.start * rate) - offset), min(n, int(np.ceil(m.end * rate)) - offset)
            if lo < hi:
                out[slice(None) if m.channel is None else m.channel, lo:hi] = 0.0
        offset += n
        yield out


def write_wav(path: Path, blocks: Iterator[np.ndarray], channels: int, rate: int = TARGET_RATE) -> None:
    """16-bit PCM WAV, written block by block to a temporary name, then renamed (never half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    try:
        with wave.open(str(partial), "wb") as out:
            out.setnchannels(channels)
            out.setsampwidth(2)
            out.setframerate(rate)
            for block in blocks:
                pcm = (np.clip(block[:channels], -1.0, 1.0) * 32767.0).astype("<i2")
                out.writeframes(pcm.T.tobytes())
    except BaseException:  # e.g. the volume is full: leave no half file taking space
        partial.unlink(missing_ok=True)
        raise
    partial.replace(path)


def store_recording(conv: Conversation, settings: Settings) -> Path | None:
    """Write the silenced copy of ``conv``'s recording (masked first: run after the ``pii`` stage)."""
    if conv.audio is None:
        return None
    source = Path(conv.audio.path)
    target = recording_path(settings, conv.id)
    channels = max(1, min(2, conv.audio.channels))
    blocks = iter_blocks(source, mono=channels == 1, max_s=settings.max_audio_s)
    write_wav(target, silenced_blocks(blocks, pii_mutes(conv)), channels)
    if settings.keep_original_audio:
        original = settings.audio_dir / ORIGINALS / (target.stem + source.suffix.lower())
        original.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, original)
    return target
