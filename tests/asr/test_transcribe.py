from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qa_pipeline.asr.decode import AudioChunk, ChunkOptions
from qa_pipeline.asr.model import load_model
from qa_pipeline.asr.transcribe import TranscribeOptions, speaker_of, transcribe_chunk, transcribe_file


def test_speaker_of_channels() -> None:
    assert speaker_of(0, 2, "left") == "agent"
    assert speaker_of(1, 2, "left") == "customer"
    assert speaker_of(0, 2, "right") == "customer"
    assert speaker_of(1, 2, "right") == "agent"
    assert speaker_of(0, 1, "left") is None
    assert speaker_of(3, 6, "left") is None


def test_options_reject_unknown_keys() -> None:
    with pytest.raises(ValueError):
        TranscribeOptions(beam=5)  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        ChunkOptions(chunk_s=10, search_s=20)


@pytest.mark.slow
def test_silence_gives_no_segments() -> None:
    chunk = AudioChunk(channel=0, start_s=0.0, samples=np.zeros(16000 * 5, np.float32))
    assert transcribe_chunk(load_model(), chunk, TranscribeOptions()) == []


@pytest.mark.slow
@pytest.mark.data
def test_real_clip_simplified_with_word_times(shared_data: Path) -> None:
    path = shared_data / "speech" / "wenet_aishell-BAC009S0724W0121.wav"  # 广州市房地产中介协会分析
    tr = transcribe_file(path, model=load_model())
    text = tr.text()
    assert "广州" in text and "协会" in text and "分析" in text
    assert "廣" not in text and "協" not in text  # converted to Simplified
    words = [w for s in tr.segments for w in s.words]
    assert "".join(w.text for w in words) == text
    assert all(0 <= w.start <= w.end <= tr.audio_s + 0.1 and 0 <= w.probability <= 1 for w in words)
    assert [w.start for w in words] == sorted(w.start for w in words)
    assert all(s.speaker is None and s.channel == 0 for s in tr.segments)


@pytest.mark.slow
@pytest.mark.data
def test_stereo_call_in_chunks_keeps_roles_and_times(shared_data: Path, dialogues_path: Path) -> None:
    turns = next(
        json.loads(line)["turns"] for line in dialogues_path.open(encoding="utf-8") if '"c0002"' in line
    )
    opts = TranscribeOptions(chunk=ChunkOptions(chunk_s=20, search_s=6))  # 45 s call: 3 chunks a channel
    tr = transcribe_file(shared_data / "conversations_dev" / "audio" / "c0002.wav", opts, load_model())
    assert [s.start for s in tr.segments] == sorted(s.start for s in tr.segments)
    agent = "".join(s.text for s in tr.segments if s.speaker == "agent")
    customer = "".join(s.text for s in tr.segments if s.speaker == "customer")
    assert "客服" in agent and "再见" in agent
    assert "谢谢" in customer and "客服" not in customer
    for seg in tr.segments:  # every word lies inside a reference turn of the channel's speaker
        spans = [(t["start"] - 0.6, t["end"] + 0.6) for t in turns if t["speaker"] == seg.speaker]
        for w in seg.words:
            assert any(lo <= (w.start + w.end) / 2 <= hi for lo, hi in spans), (seg.speaker, w)
