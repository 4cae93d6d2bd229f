"""Finished chunks of a transcription, kept on disk so that a job stopped half way (its worker killed,
the machine rebooted) resumes from the last finished chunk instead of from the start.

A :class:`ChunkStore` is a folder (``QA_AUDIO_DIR/chunks/<job id>/``, created by the call job); each
finished chunk of each channel is one JSON file named by its channel, start time and a digest of the
model and decoding options, written to a temporary name and renamed (never half a file). Chunk cuts
are deterministic for a file and options, so the next attempt asks for the same names.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from qa_pipeline.asr.decode import AudioChunk

log = logging.getLogger(__name__)


class ChunkStore:
    def __init__(self, folder: Path, fingerprint: str) -> None:
        self.folder = folder
        self.tag = hashlib.sha256(fingerprint.encode()).hexdigest()[:12]

    def _path(self, chunk: AudioChunk) -> Path:
        return self.folder / f"{self.tag}-c{chunk.channel}-{chunk.start_s:010.3f}-{chunk.duration_s:.3f}.json"

    def get(self, chunk: AudioChunk, adapter: TypeAdapter[Any]) -> Any:
        """The chunk's stored segments, or None (not finished before, or unreadable: decode again)."""
        path = self._path(chunk)
        try:
            return adapter.validate_json(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValidationError, ValueError) as exc:
            log.warning("checkpoint %s unreadable (%s); decoding the chunk again", path.name, exc)
            return None

    def put(self, chunk: AudioChunk, segments: Any, adapter: TypeAdapter[Any]) -> None:
        """Keep a finished chunk; a failure to write (disk full) only costs the resume, not the job."""
        path = self._path(chunk)
        partial = path.with_suffix(".partial")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            partial.write_bytes(adapter.dump_json(segments))
            os.replace(partial, path)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            log.warning("cannot keep checkpoint %s: %s", path.name, exc)

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
