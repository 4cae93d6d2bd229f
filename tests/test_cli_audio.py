"""`qa audit` on call recordings: the audio pipeline (asr first) with the real Whisper model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from qa_pipeline.cli import app

runner = CliRunner()


@pytest.mark.slow
@pytest.mark.data
def test_audit_stereo_call_recording(env: Path, shared_data: Path) -> None:
    audio = shared_data / "conversations_dev" / "audio" / "c0002.wav"
    if not audio.is_file():
        pytest.skip(f"{audio} not found")
    out = runner.invoke(app, ["audit", str(audio), "--json", "r.jsonl"])
    assert out.exit_code == 0, out.output
    (result,) = [json.loads(line) for line in (env / "r.jsonl").read_text(encoding="utf-8").splitlines()]
    assert result["id"] == "c0002" and result["channel"] == "call"
    turns = result["turns"]
    assert {t["speaker"] for t in turns} == {"agent", "customer"} and len(turns) >= 6
    assert all(0 <= t["start"] < t["end"] <= 45.2 for t in turns)
    assert [t["start"] for t in turns] == sorted(t["start"] for t in turns)
    assert "overlaps" in result["metrics"] and result["metrics"]["duration_s"] > 30
    assert {"greeting", "closing", "forbidden_phrase"} <= result["items"].keys()
    assert result["versions"]["models"]["asr"].startswith("whisper-base")
    assert "audited 1 conversations (created 1)" in out.output
    with create_engine(f"sqlite:///{env / 'qa.db'}").connect() as conn:
        assert [r[0] for r in conn.execute(text("select id from conversations"))] == ["c0002"]


def test_audit_mixes_text_and_audio_and_reports_bad_audio(env: Path) -> None:
    (env / "calls").mkdir()
    (env / "calls" / "broken.wav").write_text("not audio", encoding="utf-8")
    record = {
        "id": "t1",
        "channel": "chat",
        "turns": [{"speaker": "agent", "text": "您好，请问有什么可以帮您"}],
    }
    (env / "calls" / "chat.jsonl").write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    out = runner.invoke(app, ["audit", "calls", "--json", "r.jsonl", "--no-store"])
    assert out.exit_code == 3, out.output
    assert "QA114" in out.output and "broken.wav" in out.output
    ids = [json.loads(line)["id"] for line in (env / "r.jsonl").read_text(encoding="utf-8").splitlines()]
    assert ids == ["t1"]


@pytest.mark.slow
@pytest.mark.data
def test_eval_with_audio_reports_text_vs_audio_gap_and_cer(env: Path, shared_data: Path) -> None:
    dev = shared_data / "conversations_dev"
    if not (dev / "audio" / "c0002.wav").is_file():
        pytest.skip("conversations_dev audio not found")
    (env / "one.jsonl").write_text(
        next(line for line in (dev / "dialogues.jsonl").read_text(encoding="utf-8").splitlines()
             if '"id": "c0002"' in line) + "\n",
        encoding="utf-8",
    )  # fmt: skip
    (env / "rec").mkdir()
    (env / "rec" / "c0002.wav").write_bytes((dev / "audio" / "c0002.wav").read_bytes())
    args = ["eval", "one.jsonl", "--audio", "rec", "--json", "rep.json"]
    out = runner.invoke(app, args)
    assert out.exit_code == 0, out.output
    assert "text vs audio on 1 recordings" in out.output
    assert "CER of the recognised turns" in out.output
    strict = runner.invoke(app, [*args, "--max-gap", "-1"])
    assert strict.exit_code == 1 and "text-audio gap" in strict.output
    missing = runner.invoke(app, ["eval", "one.jsonl", "--audio", "nowhere"])
    assert missing.exit_code == 2 and "not a folder" in missing.output
