"""Text vs audio comparison: agreement gap per item, CER per speaker, recordings found by id."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa_pipeline.evaluation_audio import compare, find_recording, turns_cer
from qa_pipeline.types import AudioRef, Conversation, ConversationResult, ItemResult, Turn


def result(conv_id: str, verdicts: dict[str, str]) -> ConversationResult:
    conv = Conversation(id=conv_id, channel="call", turns=[Turn(speaker="agent", text="您好")])
    conv.items = {k: ItemResult(verdict=v, points=0, max_points=5) for k, v in verdicts.items()}  # type: ignore[arg-type]
    return conv.to_result()


def test_gap_is_text_minus_audio_on_shared_conversations() -> None:
    labels = {"greeting": "pass", "closing": "pass"}
    text = [(labels, result("a", {"greeting": "pass", "closing": "pass"})),
            (labels, result("b", {"greeting": "pass", "closing": "pass"}))]  # fmt: skip
    audio = [(labels, result("a", {"greeting": "pass", "closing": "fail"}))]
    comp = compare(text, audio, {})
    assert comp.n_conversations == 1  # b has no recording: left out of both sides
    assert comp.items["greeting"].gap == 0.0
    assert comp.items["closing"].gap == pytest.approx(1.0)
    assert comp.max_gap() == pytest.approx(1.0)
    assert comp.cer is None and "closing" in comp.to_table()
    assert comp.differing == {"a": ["closing"]}  # which call moved which verdict
    assert "a (CER -): text and audio differ on closing" in comp.to_table()


def test_cer_is_per_speaker_for_stereo_and_in_time_order_for_mono(tmp_path: Path) -> None:
    ref = Conversation(id="c", channel="call", turns=[
        Turn(speaker="agent", text="您好请问", start=0.0, end=1.0),
        Turn(speaker="customer", text="查话费", start=0.5, end=1.5),
    ])  # fmt: skip
    hyp = Conversation(id="c", channel="call", turns=[
        Turn(speaker="customer", text="查话费", start=0.4, end=1.5),
        Turn(speaker="agent", text="您好请问", start=0.6, end=1.0),
    ])  # fmt: skip
    hyp.audio = AudioRef(path=str(tmp_path / "c.wav"), channels=2, sample_rate=8000, duration_s=2.0)
    assert turns_cer(ref, hyp).edits == 0  # overlapping speech: order between speakers does not matter
    hyp.audio = hyp.audio.model_copy(update={"channels": 1})
    assert turns_cer(ref, hyp).edits > 0  # mono: one stream in time order


def test_find_recording_by_id(tmp_path: Path) -> None:
    (tmp_path / "c1.mp3").write_bytes(b"x")
    assert find_recording(tmp_path, "c1") == tmp_path / "c1.mp3"
    assert find_recording(tmp_path, "c2") is None
