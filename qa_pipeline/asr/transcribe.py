"""Per-channel transcription with faster-whisper: VAD, word timestamps, Simplified output.

Each channel of a call is transcribed on its own (stereo calls: agent on one side, customer on the
other), chunk by chunk (:func:`qa_pipeline.asr.decode.iter_chunks`), and the segments of all
channels are merged into one timeline ordered by start time. Word and segment times are seconds
from the start of the file.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from qa_pipeline.asr.checkpoint import ChunkStore
from qa_pipeline.asr.decode import AudioChunk, AudioInfo, ChunkOptions, iter_chunks, probe
from qa_pipeline.asr.model import load_model
from qa_pipeline.asr.simplify import simplify_pieces, to_simplified
from qa_pipeline.types import Speaker, Word

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

log = logging.getLogger(__name__)

_MIN_CHUNK_S = 0.1  # shorter leftovers are not worth a decoder pass


class TranscribeOptions(BaseModel):
    """Decoding options (defaults = the measured baseline: zh, beam 5, Silero VAD, word times)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    language: str = "zh"
    beam_size: int = Field(default=5, ge=1, le=20)
    vad: bool = True
    word_timestamps: bool = True
    condition_on_previous_text: bool = True
    initial_prompt: str | None = None
    hotwords: str | None = None  # hint phrases for the decoder prompt (keep short: ~220 tokens in all)
    vad_min_silence_ms: int = Field(default=2000, ge=0)  # Silero VAD: silence that ends speech
    parallel_channels: bool = False  # decode chunks of different channels at once (model num_workers>1)
    simplified: bool = True
    agent_channel: Literal["left", "right"] = "left"
    chunk: ChunkOptions = Field(default_factory=ChunkOptions)


class Segment(BaseModel):
    """One decoded stretch of one channel; ``speaker`` is None when channels do not map to roles."""

    channel: int
    speaker: Speaker | None
    start: float
    end: float
    text: str
    words: list[Word] = Field(default_factory=list)
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0


class Transcript(BaseModel):
    """All segments of a file on one timeline, with the audio's metadata and the time it took."""

    audio: AudioInfo
    segments: list[Segment]
    audio_s: float  # seconds of audio decoded per channel
    elapsed_s: float

    @property
    def rtf(self) -> float:
        """Real-time factor: processing seconds per second of audio (all channels together)."""
        return self.elapsed_s / self.audio_s if self.audio_s else 0.0

    def text(self, channel: int | None = None) -> str:
        """Concatenated text of one channel (or of all, in timeline order)."""
        return "".join(s.text for s in self.segments if channel is None or s.channel == channel)


def speaker_of(channel: int, n_channels: int, agent_channel: Literal["left", "right"]) -> Speaker | None:
    """Role of a channel: stereo maps agent/customer by ``agent_channel``; other layouts are unknown."""
    if n_channels != 2:
        return None
    return "agent" if channel == (0 if agent_channel == "left" else 1) else "customer"


def _words(raw: list[Any], offset: float, simplified: bool) -> list[Word]:
    texts = [w.word for w in raw]
    if simplified:
        texts = simplify_pieces(texts)
    return [
        Word(
            text=text.strip(),
            start=round(offset + float(w.start), 3),
            end=round(offset + float(w.end), 3),
            probability=round(float(w.probability), 4),
        )
        for text, w in zip(texts, raw, strict=True)
        if text.strip()
    ]


def _segment(raw: Any, chunk: AudioChunk, speaker: Speaker | None, opts: TranscribeOptions) -> Segment:
    words = _words(list(raw.words or []), chunk.start_s, opts.simplified)
    text = raw.text.strip()
    if opts.simplified:
        text = to_simplified(text)
    return Segment(
        channel=chunk.channel,
        speaker=speaker,
        start=round(chunk.start_s + float(raw.start), 3),
        end=round(chunk.start_s + float(raw.end), 3),
        text=text,
        words=words,
        avg_logprob=float(raw.avg_logprob),
        no_speech_prob=float(raw.no_speech_prob),
    )


def transcribe_chunk(
    model: WhisperModel, chunk: AudioChunk, opts: TranscribeOptions, speaker: Speaker | None = None
) -> list[Segment]:
    """Transcribe one chunk of one channel; times are shifted to the file's timeline."""
    if chunk.duration_s < _MIN_CHUNK_S:
        return []
    raw_segments, _info = model.transcribe(
        chunk.samples,
        language=opts.language,
        beam_size=opts.beam_size,
        vad_filter=opts.vad,
        word_timestamps=opts.word_timestamps,
        condition_on_previous_text=opts.condition_on_previous_text,
        initial_prompt=opts.initial_prompt,
        hotwords=opts.hotwords,
        vad_parameters={"min_silence_duration_ms": opts.vad_min_silence_ms} if opts.vad else None,
    )
    segments = [_segment(raw, chunk, speaker, opts) for raw in raw_segments]
    return [s for s in segments if s.text]


_SEGMENTS: TypeAdapter[list[Segment]] = TypeAdapter(list[Segment])


def iter_segments(
    path: str | Path,
    opts: TranscribeOptions | None = None,
    model: WhisperModel | None = None,
    checkpoint: ChunkStore | None = None,
) -> Iterator[Segment]:
    """Segments chunk by chunk (each channel in time order, channels interleaved), in bounded memory.

    With ``parallel_channels`` two chunks are decoded at once in threads (CTranslate2 releases the
    GIL; the model needs ``num_workers`` >= 2 to run them side by side); order is kept. With a
    ``checkpoint`` store, chunks finished by an earlier attempt are read back instead of decoded.
    """
    opts = opts or TranscribeOptions()
    model = model or load_model()
    n_channels = 1 if opts.chunk.mono else probe(path).channels

    def run(chunk: AudioChunk) -> list[Segment]:
        kept = checkpoint.get(chunk, _SEGMENTS) if checkpoint is not None else None
        if kept is not None:
            log.debug("channel %d %.1f s: from the checkpoint", chunk.channel, chunk.start_s)
            return list(kept)
        started = time.perf_counter()
        segments = _decode_and_keep(model, chunk, opts, n_channels, checkpoint)
        log.debug(
            "channel %d %.1f-%.1f s: %d segments in %.1f s",
            chunk.channel,
            chunk.start_s,
            chunk.end_s,
            len(segments),
            time.perf_counter() - started,
        )
        return segments

    if not opts.parallel_channels:
        for chunk in iter_chunks(path, opts.chunk):
            yield from run(chunk)
        return
    yield from _parallel(run, iter_chunks(path, opts.chunk), workers=max(2, n_channels))


def _parallel(
    run: Callable[[AudioChunk], list[Segment]], chunks: Iterator[AudioChunk], workers: int
) -> Iterator[Segment]:
    """``run`` over ``chunks`` in ``workers`` threads, at most ``workers`` chunks in flight, in order."""
    pending: deque[Future[list[Segment]]] = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="asr") as pool:
        for chunk in chunks:
            pending.append(pool.submit(run, chunk))
            if len(pending) >= workers:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()


def prefill_chunks(
    path: str | Path,
    opts: TranscribeOptions,
    model: WhisperModel,
    checkpoint: ChunkStore,
    part: int,
    parts: int,
) -> int:
    """Transcribe the chunks ``i`` with ``i % parts == part`` (chunks counted as :func:`iter_chunks`
    yields them) into ``checkpoint``, skipping those already there; how many were decoded. Several
    workers filling one store share a long recording; :func:`iter_segments` then reads them all back."""
    n_channels = 1 if opts.chunk.mono else probe(path).channels
    decoded = 0
    for i, chunk in enumerate(iter_chunks(path, opts.chunk)):
        if i % parts != part or checkpoint.get(chunk, _SEGMENTS) is not None:
            continue
        _decode_and_keep(model, chunk, opts, n_channels, checkpoint)
        decoded += 1
    return decoded


def _decode_and_keep(
    model: WhisperModel,
    chunk: AudioChunk,
    opts: TranscribeOptions,
    n_channels: int,
    checkpoint: ChunkStore | None,
) -> list[Segment]:
    """One chunk decoded (its channel's speaker from the layout), kept in ``checkpoint`` when there is one."""
    segments = transcribe_chunk(model, chunk, opts, speaker_of(chunk.channel, n_channels, opts.agent_channel))
    if checkpoint is not None:
        checkpoint.put(chunk, segments, _SEGMENTS)
    return segments


def transcribe_file(
    path: str | Path,
    opts: TranscribeOptions | None = None,
    model: WhisperModel | None = None,
    checkpoint: ChunkStore | None = None,
) -> Transcript:
    """Transcribe every channel of an audio file and merge the segments into one timeline."""
    info = probe(path)
    started = time.perf_counter()
    segments = list(iter_segments(path, opts, model, checkpoint))
    segments.sort(key=lambda s: (s.start, s.channel))
    elapsed = time.perf_counter() - started
    audio_s = info.duration_s or max((s.end for s in segments), default=0.0)
    log.info("%s: %.1f s of audio in %.1f s (RTF %.3f)", path, audio_s, elapsed, elapsed / max(audio_s, 1e-9))
    return Transcript(audio=info, segments=segments, audio_s=audio_s, elapsed_s=elapsed)
