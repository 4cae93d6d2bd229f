"""A retried transcription resumes from its finished chunks (the real Whisper base model)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from qa_pipeline.asr.checkpoint import ChunkStore
from qa_pipeline.asr.decode import AudioChunk, ChunkOptions
from qa_pipeline.asr.model import load_model
from qa_pipeline.asr.transcribe import TranscribeOptions, transcribe_file


class Counting:
    """The real model, counting the chunks it is asked to decode."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.calls = 0

    def transcribe(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.model.transcribe(*args, **kwargs)


def test_store_round_trip_and_damaged_files(tmp_path: Path) -> None:
    import numpy as np
    from pydantic import TypeAdapter

    adapter: TypeAdapter[list[int]] = TypeAdapter(list[int])
    store = ChunkStore(tmp_path / "c", "model|opts")
    chunk = AudioChunk(channel=1, start_s=12.5, samples=np.zeros(1600, np.float32))
    assert store.get(chunk, adapter) is None
    store.put(chunk, [1, 2], adapter)
    assert store.get(chunk, adapter) == [1, 2]
    assert ChunkStore(tmp_path / "c", "other options").get(chunk, adapter) is None  # other decoding
    [path] = (tmp_path / "c").iterdir()
    path.write_text("{half a fi")
    assert store.get(chunk, adapter) is None  # decoded again, not trusted
    store.clear()
    assert not (tmp_path / "c").exists()


@pytest.mark.slow
@pytest.mark.data
def test_a_retry_decodes_only_the_chunks_not_finished_before(shared_data: Path, tmp_path: Path) -> None:
    path = shared_data / "conversations_dev" / "audio" / "c0002.wav"  # 45 s stereo call
    opts = TranscribeOptions(chunk=ChunkOptions(chunk_s=15.0, search_s=5.0))
    model = Counting(load_model())
    store = ChunkStore(tmp_path / "chunks", "base|" + opts.model_dump_json())
    first = transcribe_file(path, opts, model, store)  # type: ignore[arg-type]
    chunks = sorted((tmp_path / "chunks").iterdir())
    assert len(chunks) == model.calls >= 4  # every decoded chunk was kept
    chunks[-1].unlink()  # the attempt died before its last chunk was finished
    model.calls = 0
    again = transcribe_file(path, opts, model, store)  # type: ignore[arg-type]
    assert model.calls == 1
    assert [s.model_dump() for s in again.segments] == [s.model_dump() for s in first.segments]
