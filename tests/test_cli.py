"""The `qa` command end to end on real files (real pipeline, real model, SQLite in tmp_path)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from qa_pipeline.cli import EXIT_PROBLEMS, app
from qa_pipeline.settings import PROJECT_DIR

EXAMPLES = PROJECT_DIR / "examples"
runner = CliRunner()


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("QA_DATABASE_URL", f"sqlite:///{tmp_path / 'qa.db'}")
    monkeypatch.setenv("QA_LOG_LEVEL", "WARNING")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _stored_ids(db: Path) -> list[str]:
    with create_engine(f"sqlite:///{db}").connect() as conn:
        return sorted(r[0] for r in conn.execute(text("select id from conversations")))


def test_audit_writes_json_html_and_stores_every_result(env: Path) -> None:
    out = runner.invoke(app, ["audit", str(EXAMPLES), "--json", "out/r.jsonl", "--html", "out/r.html"])
    assert out.exit_code == 0, out.output
    results = [json.loads(line) for line in (env / "out/r.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(results) == 10  # 8 JSONL conversations + 2 chats from the GBK CSV export
    first = next(r for r in results if r["id"] == "ex02")
    assert first["items"]["forbidden_phrase"]["verdict"] == "fail" and first["quality_index"] == 0.0
    assert {"quality_index", "emotion_index", "grade", "metrics", "pii", "versions"} <= first.keys()
    html = (env / "out/r.html").read_text(encoding="utf-8")
    assert "ex02" in html and "<mark" in html
    assert _stored_ids(env / "qa.db") == sorted(r["id"] for r in results)


def test_audit_is_idempotent(env: Path) -> None:
    runner.invoke(app, ["audit", str(EXAMPLES / "conversations.jsonl")])
    again = runner.invoke(app, ["audit", str(EXAMPLES / "conversations.jsonl")])
    assert again.exit_code == 0 and "unchanged 8" in again.output
    with create_engine(f"sqlite:///{env / 'qa.db'}").connect() as conn:
        assert conn.execute(text("select count(*) from results")).scalar() == 8


def test_bad_records_are_reported_and_the_rest_stored(env: Path) -> None:
    good = (EXAMPLES / "conversations.jsonl").read_text(encoding="utf-8").splitlines()[:2]
    bad = ['{"id": "broken", "turns": [', '{"id": "nospk", "turns": [{"text": "你好"}]}']
    (env / "batch.jsonl").write_text("\n".join([good[0], *bad, good[1]]) + "\n", encoding="utf-8")
    (env / "audio.jsonl").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(range(256)))
    out = runner.invoke(app, ["audit", str(env / "batch.jsonl"), str(env / "audio.jsonl")])
    assert out.exit_code == EXIT_PROBLEMS
    assert "batch.jsonl:2" in out.output and "QA104" in out.output  # invalid JSON, file and line
    assert "QA105" in out.output and "speaker" in out.output  # missing speaker
    assert "QA102" in out.output  # not a text file
    assert _stored_ids(env / "qa.db") == ["ex01", "ex02"]


def test_missing_path_is_a_clear_error(env: Path) -> None:
    out = runner.invoke(app, ["audit", "nowhere.jsonl"])
    assert out.exit_code == 2 and "QA101" in out.output and "Traceback" not in out.output


def test_eval_prints_table_and_fails_below_threshold(env: Path) -> None:
    ok = runner.invoke(app, ["eval", str(EXAMPLES / "conversations.jsonl"), "-t", "macro=0.5"])
    assert ok.exit_code == 0, ok.output
    assert "forbidden_phrase" in ok.output and "macro agreement" in ok.output
    strict = runner.invoke(app, ["eval", str(EXAMPLES / "conversations.jsonl"), "-t", "confirmation=1.0"])
    assert strict.exit_code == 1 and "confirmation" in strict.output


def test_eval_without_labels_is_a_typed_error(env: Path) -> None:
    row = json.loads((EXAMPLES / "conversations.jsonl").read_text(encoding="utf-8").splitlines()[0])
    row.pop("labels")
    (env / "nolabels.jsonl").write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    out = runner.invoke(app, ["eval", str(env / "nolabels.jsonl")])
    assert out.exit_code == 2 and "QA602" in out.output


def test_classify_sentiment_writes_json_lines(env: Path) -> None:
    (env / "texts.txt").write_text("太失望了，再也不买了\n谢谢，问题解决了，非常满意\n\n", encoding="utf-8")
    out = runner.invoke(app, ["classify", "sentiment", "--input", "texts.txt", "--output", "s.jsonl"])
    assert out.exit_code == 0, out.output
    rows = [json.loads(line) for line in (env / "s.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["label"] for r in rows] == ["neg", "pos"]
    assert set(rows[0]["probs"]) == {"neg", "neu", "pos"} and abs(sum(rows[0]["probs"].values()) - 1) < 1e-6


def test_csv_export_with_explicit_mapping(env: Path) -> None:
    mapping = "id=会话ID,time=时间,speaker=角色,text=内容,agent_id=坐席工号"
    csv = str(EXAMPLES / "chat_export_gbk.csv")
    out = runner.invoke(app, ["audit", csv, "--csv-map", mapping, "--no-store"])
    assert out.exit_code == 0, out.output
    assert "audited 2 conversations" in out.output
