"""Streaming audio decode to 16 kHz float32, one array per channel, in bounded memory.

PyAV (the FFmpeg bindings faster-whisper already depends on, with its own bundled FFmpeg libraries)
decodes frame by frame; nothing holds the whole file. :func:`iter_chunks` cuts each channel into
chunks of about ``chunk_s`` seconds, each cut at the quietest point of the last ``search_s``
seconds so a chunk boundary rarely splits a word. Peak memory is a few chunks, whatever the length
of the file (faster-whisper's own ``decode_audio`` holds the whole file: not used here).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import av
import numpy as np
from av.container import InputContainer
from pydantic import BaseModel, ConfigDict, Field, model_validator

from qa_pipeline.errors import E, InputError
from qa_pipeline.settings import Settings

log = logging.getLogger(__name__)

TARGET_RATE = 16_000
SUPPORTED_SUFFIXES = frozenset(
    {".wav", ".mp3", ".flac", ".ogg", ".oga", ".opus", ".m4a", ".mp4", ".aac", ".amr"}
)
_ENERGY_FRAME_S = 0.02  # energy frames for the cut search
_ENERGY_SMOOTH = 10  # frames averaged: the cut lands in the quietest 200 ms


class AudioInfo(BaseModel):
    """What the container says, read without decoding the audio."""

    path: str
    container: str
    codec: str
    channels: int
    sample_rate: int
    duration_s: float | None  # None when the container does not say


class ChunkOptions(BaseModel):
    """How :func:`iter_chunks` cuts: chunk length, how far back to look for a quiet cut, downmix."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    chunk_s: float = Field(default=120.0, gt=1.0)
    search_s: float = Field(default=20.0, ge=0.0)
    mono: bool = False  # downmix every channel into one
    # decoding stops with AUDIO_TOO_LONG past this many seconds (a header may give no duration)
    max_s: float | None = Field(default_factory=lambda: Settings().max_audio_s, gt=0)

    @model_validator(mode="after")
    def _search_inside_chunk(self) -> ChunkOptions:
        if self.search_s >= self.chunk_s:
            raise ValueError("search_s must be shorter than chunk_s")
        return self


@dataclass(frozen=True)
class AudioChunk:
    """``samples`` (16 kHz float32, 1-D) of channel ``channel`` (0 = left), starting at ``start_s``."""

    channel: int
    start_s: float
    samples: np.ndarray

    @property
    def duration_s(self) -> float:
        return len(self.samples) / TARGET_RATE

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


def _open(path: Path) -> InputContainer:
    if not path.is_file():
        raise InputError(E.FILE_NOT_FOUND, "audio file not found", file=str(path))
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        kinds = ", ".join(sorted(SUPPORTED_SUFFIXES))
        raise InputError(E.UNSUPPORTED_FORMAT, f"audio must be one of {kinds}", file=str(path))
    try:
        container = av.open(str(path), mode="r")
    except (av.error.FFmpegError, ValueError) as exc:
        raise InputError(E.UNSUPPORTED_FORMAT, f"not readable as audio: {exc}", file=str(path)) from None
    if not container.streams.audio:
        container.close()
        raise InputError(E.UNSUPPORTED_FORMAT, "the file has no audio stream", file=str(path))
    if container.streams.audio[0].codec_context is None:  # a codec id FFmpeg does not know
        container.close()
        raise InputError(E.UNSUPPORTED_FORMAT, "unknown audio codec", file=str(path))
    return container


def _duration(container: InputContainer) -> float | None:
    stream = container.streams.audio[0]
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def probe(path: str | Path) -> AudioInfo:
    """Channels, sample rate and duration from the container headers (nothing is decoded)."""
    path = Path(path)
    with _open(path) as container:
        stream = container.streams.audio[0]
        ctx = stream.codec_context
        return AudioInfo(
            path=str(path),
            container=container.format.name,
            codec=ctx.name,
            channels=ctx.channels,
            sample_rate=ctx.sample_rate,
            duration_s=_duration(container),
        )


def iter_blocks(path: str | Path, *, mono: bool = False, max_s: float | None = None) -> Iterator[np.ndarray]:
    """Decoded audio as it comes: arrays of shape (channels, n), float32 at 16 kHz.

    With ``max_s``, decoding stops with ``AUDIO_TOO_LONG`` once more than ``max_s`` seconds have
    come out: the cap holds even when the header gives no duration (raw AAC, a streamed upload).
    """
    path = Path(path)
    limit, total = (None if max_s is None else int(max_s * TARGET_RATE)), 0
    with _open(path) as container:
        try:
            for block in _resampled(_frames(container, path), mono, path):
                total += block.shape[1]
                if limit is not None and total > limit:
                    detail = f"decoding passed the limit of {max_s:,.0f} s of audio"
                    raise InputError(E.AUDIO_TOO_LONG, detail, file=str(path))
                yield block
        except av.error.FFmpegError as exc:
            raise InputError(E.UNSUPPORTED_FORMAT, f"audio decoding failed: {exc}", file=str(path)) from None


def _resampled(frames: Iterator[av.AudioFrame], mono: bool, path: Path) -> Iterator[np.ndarray]:
    """Frames at 16 kHz float32. A stream whose sample format or rate changes mid-way (it happens in
    concatenated MP3s) gets a fresh resampler; one whose channel count changes is refused."""
    current: tuple[tuple[str, int, int], av.AudioResampler] | None = None
    first_channels: int | None = None
    for frame in frames:
        channels = len(frame.layout.channels)
        first_channels = first_channels or channels
        if channels != first_channels and not mono:
            detail = f"the number of channels changes mid-stream ({first_channels} -> {channels})"
            raise InputError(E.AUDIO_UNREADABLE, detail, file=str(path))
        setup = (frame.format.name, frame.sample_rate, channels)
        if current is None or current[0] != setup:
            if current is not None:
                yield from _flushed(current[1])
            current = (
                setup,
                av.AudioResampler(format="fltp", layout="mono" if mono else None, rate=TARGET_RATE),
            )
        yield from _resample(current[1], frame, path)
    if current is not None:
        yield from _flushed(current[1])


def _resample(resampler: av.AudioResampler, frame: av.AudioFrame, path: Path) -> Iterator[np.ndarray]:
    try:
        outs = resampler.resample(frame)
    except ValueError as exc:  # a frame the resampler cannot take (bad layout or rate in the header)
        raise InputError(
            E.AUDIO_UNREADABLE, f"audio frame cannot be resampled: {exc}", file=str(path)
        ) from None
    for out in outs:
        yield out.to_ndarray()


def _flushed(resampler: av.AudioResampler) -> Iterator[np.ndarray]:
    for out in resampler.resample(None):
        yield out.to_ndarray()


def _frames(container: InputContainer, path: Path) -> Iterator[av.AudioFrame]:
    """Decoded frames; a damaged packet (a cut-off recording, a bad sector) is skipped with a warning."""
    stream, bad, good = container.streams.audio[0], 0, 0
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.error.InvalidDataError:
            bad += 1
            continue
        good += len(frames)
        yield from cast(list[av.AudioFrame], frames)
    if bad and not good:
        raise InputError(E.UNSUPPORTED_FORMAT, f"none of {bad} audio packets decodes", file=str(path))
    if bad:
        log.warning("%s: skipped %d undecodable audio packets", path, bad)
    if not good:
        log.warning("%s: no audio decoded", path)


def decode_all(path: str | Path, *, mono: bool = False, max_s: float = 1800.0) -> np.ndarray:
    """The whole file as (channels, n) float32 at 16 kHz; for short audio only (``max_s`` caps it)."""
    info = probe(path)
    if info.duration_s is not None and info.duration_s > max_s:
        raise InputError(
            E.FILE_TOO_LARGE, f"{info.duration_s:.0f} s of audio, over {max_s:.0f} s", file=str(path)
        )
    blocks, total = [], 0
    for block in iter_blocks(path, mono=mono):
        blocks.append(block)
        total += block.shape[1]
        if total > max_s * TARGET_RATE:
            raise InputError(E.FILE_TOO_LARGE, f"more than {max_s:.0f} s of audio", file=str(path))
    channels = 1 if mono else info.channels
    return np.concatenate(blocks, axis=1) if blocks else np.zeros((channels, 0), np.float32)


def quietest_cut(samples: np.ndarray, lo: int, hi: int) -> int:
    """Sample index in [lo, hi] at the middle of the quietest ~200 ms stretch of ``samples``."""
    frame = int(_ENERGY_FRAME_S * TARGET_RATE)
    lo, hi = max(0, lo), min(hi, len(samples))
    n_frames = (hi - lo) // frame
    if n_frames < 1:
        return hi
    energy = np.square(samples[lo : lo + n_frames * frame], dtype=np.float64).reshape(n_frames, frame)
    smooth = np.convolve(energy.mean(axis=1), np.ones(_ENERGY_SMOOTH) / _ENERGY_SMOOTH, mode="same")
    return lo + int(np.argmin(smooth)) * frame + frame // 2


class _ChannelBuffer:
    """Decoded samples of one channel not yet handed out as a chunk."""

    def __init__(self, channel: int) -> None:
        self.channel = channel
        self.parts: list[np.ndarray] = []
        self.size = 0
        self.emitted = 0  # samples already handed out

    def add(self, samples: np.ndarray) -> None:
        self.parts.append(samples)
        self.size += len(samples)

    def take(self, cut: int | None = None, search: int = 0) -> AudioChunk:
        """Hand out a chunk: everything, or up to a quiet point in [cut - search, cut]."""
        data = np.concatenate(self.parts) if len(self.parts) != 1 else self.parts[0]
        end = len(data) if cut is None else quietest_cut(data, cut - search, cut)
        rest = data[end:].copy()
        self.parts, self.size = ([rest], len(rest)) if len(rest) else ([], 0)
        chunk = AudioChunk(self.channel, self.emitted / TARGET_RATE, data[:end])
        self.emitted += end
        return chunk


def iter_chunks(path: str | Path, options: ChunkOptions | None = None) -> Iterator[AudioChunk]:
    """Each channel's audio as consecutive chunks (channels interleaved, each in time order)."""
    opts = options or ChunkOptions()
    chunk_n, search_n = int(opts.chunk_s * TARGET_RATE), int(opts.search_s * TARGET_RATE)
    buffers: list[_ChannelBuffer] = []
    for block in iter_blocks(path, mono=opts.mono, max_s=opts.max_s):
        if not buffers:
            buffers = [_ChannelBuffer(ch) for ch in range(block.shape[0])]
        for buf, samples in zip(buffers, block, strict=True):
            buf.add(samples)
            if buf.size >= chunk_n:
                yield buf.take(chunk_n, search_n)
    for buf in buffers:
        if buf.size:
            yield buf.take()
