"""The `qa` command end to end on real files (real pipeline, real model, SQLite in tmp_path)."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from qa_pipeline.audit import Auditor
from qa_pipeline.cli import LabelledResults, app
from qa_pipeline.cli_support import EXIT_ERROR, EXIT_PROBLEMS
from qa_pipeline.errors import E, StorageError
from qa_pipeline.pipeline import BuildContext, Pipeline, registry
from qa_pipeline.settings import PROJECT_DIR, Settings
from qa_pipeline.sources.jsonl import conversation_from_dict
from qa_pipeline.store import Repository, describe_database, init_db

EXAMPLES = PROJECT_DIR / "examples"
runner = CliRunner()


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
    # the same conversations with every greeting label flipped: agreement 0 on greeting, whatever the models
    flipped = env / "flipped.jsonl"
    rows = [
        json.loads(line)
        for line in (EXAMPLES / "conversations.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    for row in rows:
        row["labels"]["greeting"] = "fail" if row["labels"]["greeting"] == "pass" else "pass"
    flipped.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    strict = runner.invoke(app, ["eval", str(flipped), "-t", "greeting=0.5"])
    assert strict.exit_code == 1 and "greeting" in strict.output


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


def test_classify_emotion_writes_one_of_six_labels(env: Path) -> None:
    texts = "气死我了，等了一个星期还没到\n太好了，谢谢你们，真开心\n"
    (env / "texts.txt").write_text(texts, encoding="utf-8")
    out = runner.invoke(app, ["classify", "emotion", "--input", "texts.txt", "--output", "e.jsonl"])
    assert out.exit_code == 0, out.output
    rows = [json.loads(line) for line in (env / "e.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["label"] for r in rows] == ["angry", "happy"]
    assert set(rows[0]["probs"]) == {"angry", "happy", "neutral", "sad", "surprise", "fear"}
    missing = runner.invoke(app, ["classify", "emotion", "--input", "texts.txt", "--model", "no-such-model"])
    assert missing.exit_code == EXIT_ERROR and "QA301" in missing.output


def test_csv_export_with_explicit_mapping(env: Path) -> None:
    mapping = "id=会话ID,time=时间,speaker=角色,text=内容,agent_id=坐席工号"
    csv = str(EXAMPLES / "chat_export_gbk.csv")
    out = runner.invoke(app, ["audit", csv, "--csv-map", mapping, "--no-store"])
    assert out.exit_code == 0, out.output
    assert "audited 2 conversations" in out.output


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["audit", str(EXAMPLES), "--json", "out"], "--json"),
        (["audit", str(EXAMPLES), "--html", "afile/r.html"], "--html"),
        (["eval", str(EXAMPLES / "conversations.jsonl"), "--json", "out"], "--json"),
        (["eval", str(EXAMPLES / "conversations.jsonl"), "--errors", "out"], "--errors"),
        (["classify", "sentiment", "--input", "afile", "--output", "out"], "--output"),
    ],
)
def test_unwritable_output_path_is_a_clear_error_before_any_work(
    env: Path, args: list[str], option: str
) -> None:
    (env / "out").mkdir()
    (env / "afile").write_text("a file, not a folder\n", encoding="utf-8")
    result = runner.invoke(app, args)
    assert result.exit_code == EXIT_ERROR, result.output
    assert "QA601" in result.output and option in result.output
    assert isinstance(result.exception, SystemExit)  # a clean exit, not IsADirectoryError
    assert not (env / "qa.db").exists()  # failed up front: nothing audited or stored


@pytest.mark.parametrize(
    ("variable", "value", "allowed"),
    [
        ("QA_LOG_LEVEL", "bogus", "DEBUG, INFO, WARNING or ERROR"),
        ("QA_BATCH_SIZE", "0", "greater than 0"),
        ("QA_DATABASE_URL", "qa.db", "SQLAlchemy URL"),
    ],
)
def test_invalid_setting_is_one_clear_line(
    env: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, allowed: str
) -> None:
    monkeypatch.setenv(variable, value)
    result = runner.invoke(app, ["audit", "x.jsonl"])
    assert result.exit_code == EXIT_ERROR and isinstance(result.exception, SystemExit), result.output
    line = next(ln for ln in result.output.splitlines() if ln.startswith("error:"))
    assert variable in line and allowed in line and "QA601" in line


@pytest.mark.parametrize(
    "command",
    [["db", "upgrade"], ["serve"], ["eval", "x.jsonl"], ["classify", "sentiment", "-i", "x.txt"]],
)
def test_every_command_reports_an_invalid_setting(
    env: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.setenv("QA_LOG_LEVEL", "bogus")
    result = runner.invoke(app, command)
    assert result.exit_code == EXIT_ERROR and isinstance(result.exception, SystemExit), result.output
    assert "QA_LOG_LEVEL" in result.output


def _nothing(env: Path, kind: str) -> Path:
    files = {
        "empty.jsonl": "",
        "blank.jsonl": "\n  \n\n",
        "header.csv": "conversation_id,time,speaker,text\n",
    }
    if kind == "folder":
        (env / "inbox").mkdir()
        return env / "inbox"
    (env / kind).write_text(files[kind], encoding="utf-8")
    return env / kind


@pytest.mark.parametrize("kind", ["empty.jsonl", "blank.jsonl", "header.csv", "folder"])
def test_nothing_to_audit_is_a_warning_and_exit_problems(env: Path, kind: str) -> None:
    path = _nothing(env, kind)
    result = runner.invoke(app, ["audit", str(path), "--json", "r.jsonl"])
    assert result.exit_code == EXIT_PROBLEMS, result.output
    assert f"no conversations found in {path}" in result.output and "exit 3" in result.output
    assert "skipped 0" not in result.output  # nothing was skipped: there was nothing to read
    assert (env / "r.jsonl").read_text(encoding="utf-8") == ""


def test_zero_byte_csv_is_a_reported_problem(env: Path) -> None:
    (env / "zero.csv").write_bytes(b"")
    result = runner.invoke(app, ["audit", str(env / "zero.csv"), "--no-store"])
    assert result.exit_code == EXIT_PROBLEMS and "QA111" in result.output
    assert "no conversations found" not in result.output  # the problem says why


def test_audit_disposes_its_database_engine(env: Path) -> None:
    """With WAL journalling the -wal file goes when the last connection closes: the engine's pool."""
    gc.disable()  # only an explicit dispose closes the pooled connection, not garbage collection
    try:
        result = runner.invoke(app, ["audit", str(EXAMPLES / "conversations.jsonl")])
        assert result.exit_code == 0, result.output
        assert (env / "qa.db").exists() and not (env / "qa.db-wal").exists()
    finally:
        gc.enable()


def test_labelled_results_keep_only_conversations_with_labels() -> None:
    rows = [json.loads(line) for line in (EXAMPLES / "conversations.jsonl").read_text("utf-8").splitlines()]
    settings = Settings()
    collect = LabelledResults()
    unlabelled = {k: v for k, v in rows[1].items() if k != "labels"}
    for row in (rows[0], unlabelled, {**rows[2], "labels": {}}):
        collect(conversation_from_dict(row, settings=settings))
    assert [(labels, result.id) for labels, result in collect.pairs] == [(rows[0]["labels"], "ex01")]


def test_auditor_turns_an_unexpected_save_error_into_a_problem(tmp_path: Path) -> None:
    """A non-QAError from the repository (here: metadata it cannot serialise) skips one conversation."""
    settings = Settings()
    ctx = BuildContext(settings=settings)
    pipeline = Pipeline([registry.build(name, {}, ctx) for name in ("normalize", "pii")])
    rows = (EXAMPLES / "conversations.jsonl").read_text(encoding="utf-8").splitlines()[:3]
    convs = [conversation_from_dict(json.loads(row), settings=settings) for row in rows]
    convs[1].metadata["handle"] = object()  # a library caller's value; not JSON
    engine = init_db(f"sqlite:///{tmp_path / 'qa.db'}")
    try:
        summary = Auditor(pipeline, Repository(engine), batch_size=2).run(convs)
    finally:
        engine.dispose()
    assert summary.audited == 2 and summary.stored["created"] == 2
    [problem] = summary.problems
    assert isinstance(problem.error, StorageError) and problem.error.code is E.DATABASE
    assert problem.conversation_id == "ex02" and "PydanticSerializationError" in problem.error.message
    assert _stored_ids(tmp_path / "qa.db") == ["ex01", "ex03"]


def test_the_same_id_twice_in_one_run_is_reported_not_audited_twice(env: Path) -> None:
    line = (EXAMPLES / "conversations.jsonl").read_text(encoding="utf-8").splitlines()[0]
    (env / "one.jsonl").write_text(line + "\n", encoding="utf-8")
    (env / "two.jsonl").write_text(line + "\n", encoding="utf-8")
    out = runner.invoke(app, ["audit", str(env / "one.jsonl"), str(env / "two.jsonl")])
    assert out.exit_code == EXIT_PROBLEMS and "QA117" in out.output and "one.jsonl" in out.output
    assert _stored_ids(env / "qa.db") == ["ex01"]


@pytest.mark.slow
def test_audit_with_two_worker_processes(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_WORKERS", "2")
    out = runner.invoke(app, ["audit", str(PROJECT_DIR / "examples"), "--json", "r.jsonl"])
    assert out.exit_code == 0, out.output
    results = [json.loads(line) for line in (env / "r.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(results) == 10 and all(r["quality_index"] is not None for r in results)
    ex02 = next(r for r in results if r["id"] == "ex02")
    assert ex02["items"]["forbidden_phrase"]["verdict"] == "fail"
    assert _stored_ids(env / "qa.db") == sorted(r["id"] for r in results)


def test_jsonl_with_offset_and_csv_without_zone_store_the_same_start(env: Path) -> None:
    """A CSV time without a zone is China Standard Time (QA_TIMEZONE), like the JSONL's +08:00."""
    turns = [
        {"speaker": "agent", "text": "您好，请问有什么可以帮您？"},
        {"speaker": "customer", "text": "查订单。"},
    ]
    record = {"id": "j1", "agent_id": "A01", "started_at": "2026-04-08T20:11:00+08:00", "turns": turns}
    (env / "chat.jsonl").write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    rows = "".join(f"c1,2026-04-08 20:11:{i:02d},{t['speaker']},{t['text']}\n" for i, t in enumerate(turns))
    (env / "chat.csv").write_text("conversation_id,time,speaker,text\n" + rows, encoding="gbk")
    result = runner.invoke(app, ["audit", str(env / "chat.jsonl"), str(env / "chat.csv")])
    assert result.exit_code == 0, result.output
    engine = init_db(f"sqlite:///{env / 'qa.db'}")
    try:
        repo = Repository(engine)
        starts = [repo.get_conversation(i).started_at for i in ("j1", "c1")]  # type: ignore[union-attr]
    finally:
        engine.dispose()
    assert starts[0] == starts[1] and starts[0].isoformat() == "2026-04-08T12:11:00+00:00"


def test_audit_says_where_the_results_are_stored(env: Path) -> None:
    result = runner.invoke(app, ["audit", str(EXAMPLES / "conversations.jsonl"), "--no-store"])
    assert "storing results" not in result.output
    result = runner.invoke(app, ["audit", str(EXAMPLES / "conversations.jsonl")])
    assert f"storing results in SQLite file {(env / 'qa.db').resolve()}" in result.output


def test_database_location_hides_passwords() -> None:
    assert describe_database("postgresql+psycopg://qa:s3cret@db/qa") == "postgresql+psycopg://qa:***@db/qa"
    assert "in-memory" in describe_database("sqlite://")
