"""Input sources: files (or folders of files) to :class:`~qa_pipeline.types.Conversation` objects.

``read_conversations`` yields a Conversation for each good record and an :class:`InputError`
for each bad record or unreadable file, so one bad input never stops a batch.

| extension | reader |
|---|---|
| ``.jsonl`` | :func:`~qa_pipeline.sources.jsonl.read_jsonl` (one conversation a line) |
| ``.json`` | :func:`~qa_pipeline.sources.jsonl.read_json` (an object or a list of objects) |
| ``.csv`` | :func:`~qa_pipeline.sources.csv_chat.read_csv_chat` (one chat message a row) |
| ``.wav .mp3 .flac .m4a .aac .ogg .opus .amr`` | :func:`~qa_pipeline.sources.audio.conversation_from_audio` |

An audio file's sidecar JSON (same stem, ``.json``) and a ``manifest.csv`` next to audio files
hold call metadata: they are not read as conversations (see :mod:`qa_pipeline.sources.audio`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from qa_pipeline.errors import E, InputError
from qa_pipeline.settings import Settings
from qa_pipeline.sources.audio import (
    AUDIO_SUFFIXES,
    MANIFEST_NAME,
    conversation_from_audio,
    is_audio,
    read_audio_manifest,
)
from qa_pipeline.sources.csv_chat import CsvMapping, read_csv_chat
from qa_pipeline.sources.encoding import DecodedText, decode_bytes, read_text
from qa_pipeline.sources.jsonl import conversation_from_dict, read_json, read_jsonl
from qa_pipeline.types import Conversation

__all__ = [
    "AUDIO_SUFFIXES",
    "SUFFIXES",
    "CsvMapping",
    "DecodedText",
    "conversation_from_audio",
    "conversation_from_dict",
    "decode_bytes",
    "iter_input_files",
    "read_audio_manifest",
    "read_conversations",
    "read_csv_chat",
    "read_json",
    "read_jsonl",
    "read_text",
]

log = logging.getLogger(__name__)

TEXT_SUFFIXES = (".jsonl", ".json", ".csv")
SUFFIXES = TEXT_SUFFIXES + AUDIO_SUFFIXES


def iter_input_files(paths: Sequence[Path]) -> list[Path]:
    """The input files: files as given, folders searched recursively for ``*.jsonl|json|csv`` and audio.

    Folder contents are sorted; hidden files and folders are skipped; a file given twice is read
    once; audio sidecars and manifests are left out. A missing path raises ``E.FILE_NOT_FOUND``;
    a file given with another extension raises ``E.UNSUPPORTED_FORMAT``.
    """
    files: list[Path] = []
    seen: set[Path] = set()
    for path in map(Path, paths):
        for file in _expand(path):
            key = file.resolve()
            if key not in seen:
                seen.add(key)
                files.append(file)
    return [f for f in files if not _audio_metadata_file(f)]


def _audio_metadata_file(path: Path) -> bool:
    """A sidecar ``<stem>.json`` next to ``<stem>.<audio>``, or a manifest.csv next to audio files."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        return any(path.with_suffix(s).is_file() for s in _suffix_cases())
    if path.name.lower() == MANIFEST_NAME:
        return any(is_audio(f) for f in path.parent.iterdir())
    return False


def _suffix_cases() -> list[str]:
    return [c for s in AUDIO_SUFFIXES for c in (s, s.upper())]


def read_conversations(
    paths: Sequence[Path],
    *,
    settings: Settings,
    csv_mapping: CsvMapping | None = None,
    encoding: str | None = None,
) -> Iterator[Conversation | InputError]:
    """Conversations of every input file, in order, with errors yielded in place.

    A file that cannot be read (too large, not text, undecodable, CSV columns missing) is
    yielded as one :class:`InputError` and the next file is read. Bad ``paths`` raise at once
    (see :func:`iter_input_files`).
    """
    manifests: dict[Path, dict[str, dict[str, Any]]] = {}
    for path in iter_input_files(paths):
        try:
            if is_audio(path):
                yield _read_audio(path, settings, manifests)
                continue
            yield from _read_file(path, settings=settings, csv_mapping=csv_mapping, encoding=encoding)
        except InputError as exc:
            log.debug("%s", exc.message)
            yield exc


def _read_audio(
    path: Path, settings: Settings, manifests: dict[Path, dict[str, dict[str, Any]]]
) -> Conversation:
    """One recording; its row of the folder's manifest.csv (read once per folder) when there is one."""
    folder = path.parent
    if folder not in manifests:
        manifest = folder / MANIFEST_NAME
        manifests[folder] = {}  # a bad manifest is reported once, not for every recording
        if manifest.is_file():
            manifests[folder] = read_audio_manifest(manifest, settings=settings)
    row = manifests[folder].get(path.stem)
    return conversation_from_audio(path, settings=settings, metadata=row)


def _read_file(
    path: Path, *, settings: Settings, csv_mapping: CsvMapping | None, encoding: str | None
) -> Iterator[Conversation | InputError]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_csv_chat(path, settings=settings, mapping=csv_mapping, encoding=encoding)
    if suffix == ".json":
        return read_json(path, settings=settings, encoding=encoding)
    return read_jsonl(path, settings=settings, encoding=encoding)


def _expand(path: Path) -> list[Path]:
    if path.is_dir():
        found = (f for f in path.rglob("*") if f.suffix.lower() in SUFFIXES and f.is_file())
        files = sorted(f for f in found if not _hidden(f.relative_to(path)))
        if not files:
            log.warning("no %s files under %s", "/".join(SUFFIXES), path)
        return files
    if not path.exists():
        raise InputError(E.FILE_NOT_FOUND, "no such file or folder", file=str(path))
    if path.suffix.lower() not in SUFFIXES:
        kind = f"extension {path.suffix!r}" if path.suffix else "no extension"
        raise InputError(
            E.UNSUPPORTED_FORMAT, f"{kind}; expected one of {', '.join(SUFFIXES)}", file=str(path)
        )
    return [path]


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)
