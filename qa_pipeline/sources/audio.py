"""Call recordings as conversations: probe the file, check its limits, attach call metadata.

:func:`conversation_from_audio` reads only the container header (``qa_pipeline.asr.decode.probe``):
nothing is decoded here. The returned :class:`~qa_pipeline.types.Conversation` has
``channel="call"``, no turns yet and ``audio`` set; the ``asr`` stage fills the turns.

Call metadata (agent, team, start time, any other field) comes from, in this order:

1. ``metadata`` passed by the caller (e.g. a row of a CSV manifest, :func:`read_audio_manifest`);
2. a sidecar JSON object next to the audio, same stem: ``calls/c01.wav`` + ``calls/c01.json``;
3. nothing: the audio alone is a valid input (``agent_id`` is then ``None``).

In a folder, a CSV file named :data:`MANIFEST_NAME` next to audio files is read as their manifest
(columns ``file,id,agent_id,team,started_at`` and any others), not as a chat export.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from qa_pipeline.asr.decode import AudioInfo, iter_blocks, probe
from qa_pipeline.errors import E, InputError
from qa_pipeline.settings import Settings
from qa_pipeline.sources.encoding import read_text
from qa_pipeline.sources.fields import (
    Locator,
    check_metadata,
    clean_conversation_id,
    clean_id,
    datetime_from_json,
)
from qa_pipeline.types import AudioRef, Conversation

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".wav", ".mp3", ".flac", ".m4a", ".aac", ".ogg", ".opus", ".amr")
MANIFEST_NAME = "manifest.csv"
MANIFEST_COLUMNS = ("file", "id", "agent_id", "team", "started_at")
_SIDECAR_MAX_BYTES = 1024 * 1024
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 4_000, 192_000  # outside: a damaged or forged header
_CORE = frozenset({"id", "agent_id", "team", "started_at", "file"})


def is_audio(path: Path) -> bool:
    return path.suffix.lower() in AUDIO_SUFFIXES


def sidecar_of(path: Path) -> Path:
    """The sidecar JSON of an audio file: same folder, same stem, ``.json``."""
    return path.with_suffix(".json")


def conversation_from_audio(
    path: Path,
    *,
    settings: Settings,
    metadata: Mapping[str, Any] | None = None,
    conversation_id: str | None = None,
) -> Conversation:
    """A call conversation for one recording (turns empty until the ``asr`` stage runs).

    Raises :class:`InputError`: ``FILE_NOT_FOUND``, ``FILE_TOO_LARGE`` (bytes), ``AUDIO_UNREADABLE``
    (empty, header only, not audio, unsupported codec), ``AUDIO_TOO_LONG``, ``AUDIO_CHANNELS``;
    ``INVALID_JSON``/``BAD_FIELD`` for a bad sidecar or metadata value. Every error names the file.
    """
    path = Path(path)
    info = _probe_checked(path, settings)
    meta = dict(metadata) if metadata is not None else read_sidecar(path, settings=settings)
    loc = Locator(file=str(path))
    ident = clean_conversation_id(str(conversation_id or meta.get("id") or path.stem), loc=loc, field="id")
    loc = loc.at(record=ident)
    extra = {k: v for k, v in meta.items() if k not in _CORE and v not in (None, "")}
    check_metadata(extra, loc=loc)
    return Conversation(
        id=ident,
        channel="call",
        agent_id=_optional(meta.get("agent_id"), "agent_id", loc),
        team=_optional(meta.get("team"), "team", loc),
        started_at=datetime_from_json(
            meta.get("started_at") or None, loc=loc, field="started_at", tz=settings.tz
        ),
        turns=[],
        metadata=extra,
        source=str(path),
        audio=_audio_ref(path, info, settings),
    )


def _optional(value: Any, field: str, loc: Locator) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str | int):
        raise loc.error(E.BAD_FIELD, "expected a string", field=field)
    return clean_id(str(value), loc=loc, field=field) or None


def _audio_ref(path: Path, info: AudioInfo, settings: Settings) -> AudioRef:
    return AudioRef(
        path=str(path),
        format=f"{info.container}/{info.codec}",
        channels=info.channels,
        sample_rate=info.sample_rate,
        duration_s=info.duration_s,
        agent_channel=settings.asr_agent_channel,
    )


def _probe_checked(path: Path, settings: Settings) -> AudioInfo:
    """Header facts of ``path``, after the size, format, length and channel checks."""
    name = str(path)
    if not path.is_file():
        raise InputError(E.FILE_NOT_FOUND, "audio file not found", file=name)
    size = path.stat().st_size
    limit = min(settings.max_upload_bytes, settings.max_file_bytes)
    if size > limit:
        raise InputError(E.FILE_TOO_LARGE, f"{size:,} bytes > limit {limit:,}", file=name)
    if size == 0:
        raise InputError(E.AUDIO_UNREADABLE, "the file is empty (0 bytes)", file=name)
    info = _probe(path)
    _check_info(info, name, settings)
    return info


def _probe(path: Path) -> AudioInfo:
    """Header facts, after checking that the first audio frame decodes (one frame, not the file)."""
    try:
        info = probe(path)
        blocks = iter_blocks(path)
        first = next(blocks, None)
        close = getattr(blocks, "close", None)  # a generator: closing it closes the container
        if close is not None:
            close()
        if first is None or first.shape[1] == 0:
            raise InputError(E.AUDIO_UNREADABLE, "the file holds no audio samples (header only)")
        return info
    except InputError as exc:
        if exc.code is E.FILE_NOT_FOUND:
            raise
        raise InputError(E.AUDIO_UNREADABLE, exc.detail, file=str(path)) from None


def _check_info(info: AudioInfo, name: str, settings: Settings) -> None:
    if info.channels not in (1, 2):
        detail = f"{info.channels} channels; expected 1 (mono) or 2 (stereo: agent and customer)"
        raise InputError(E.AUDIO_CHANNELS, detail, file=name)
    if not MIN_SAMPLE_RATE <= info.sample_rate <= MAX_SAMPLE_RATE:
        span = f"{MIN_SAMPLE_RATE:,} to {MAX_SAMPLE_RATE:,} Hz"
        detail = f"sample rate {info.sample_rate:,} Hz; expected {span}"
        raise InputError(E.AUDIO_UNREADABLE, detail, file=name)
    if info.duration_s is not None and info.duration_s <= 0:
        raise InputError(E.AUDIO_UNREADABLE, "the file holds no audio samples (header only)", file=name)
    if info.duration_s is not None and info.duration_s > settings.max_audio_s:
        detail = f"{info.duration_s:,.0f} s of audio > limit {settings.max_audio_s:,.0f} s"
        raise InputError(E.AUDIO_TOO_LONG, detail, file=name)
    if info.duration_s is None:
        log.warning("%s: the container gives no duration; the length limit is checked while decoding", name)


def read_sidecar(path: Path, *, settings: Settings) -> dict[str, Any]:
    """The sidecar JSON object of audio file ``path`` (``{}`` when there is none)."""
    sidecar = sidecar_of(path)
    if not sidecar.is_file():
        return {}
    text = read_text(sidecar, max_bytes=min(settings.max_file_bytes, _SIDECAR_MAX_BYTES)).text
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        detail = f"{exc.msg} at column {exc.colno}"
        raise InputError(E.INVALID_JSON, detail, file=str(sidecar), line=exc.lineno) from None
    if not isinstance(data, dict):
        raise InputError(E.BAD_FIELD, "a sidecar must hold one JSON object", file=str(sidecar))
    return data


def read_audio_manifest(path: Path, *, settings: Settings | None = None) -> dict[str, dict[str, Any]]:
    """A CSV manifest as ``{audio file stem: metadata}`` (columns ``file,id,agent_id,team,started_at``).

    ``file`` is required (a file name or a stem); the other columns are optional, extra columns go
    into the conversation's metadata. Empty cells are left out.
    """
    settings = settings or Settings()
    decoded = read_text(path, max_bytes=settings.max_file_bytes)
    reader = csv.DictReader(decoded.text.splitlines())
    columns = [c.strip() for c in reader.fieldnames or []]
    if "file" not in columns:
        detail = f"a manifest needs a 'file' column (and optionally {', '.join(MANIFEST_COLUMNS[1:])})"
        raise InputError(E.CSV_COLUMNS, detail, file=str(path), line=1)
    rows: dict[str, dict[str, Any]] = {}
    for line, row in enumerate(reader, start=2):
        meta = {(k or "").strip(): (v or "").strip() for k, v in row.items() if k and v and v.strip()}
        name = meta.pop("file", "")
        if not name:
            raise InputError(E.MISSING_FIELD, "empty 'file' cell", file=str(path), line=line, field="file")
        rows[Path(name).stem] = meta
    return rows
