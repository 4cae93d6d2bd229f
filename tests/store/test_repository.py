"""Repository: round-trip, idempotent re-save, versions, content changes, rollback, refusal, filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, text

from qa_pipeline.errors import InputError, StorageError
from qa_pipeline.store import Repository, UnmaskedDataError
from qa_pipeline.store.repository import ConversationKey
from qa_pipeline.types import Conversation
from tests.store.factory import make_conversation


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())


def test_save_and_get_round_trip(repo: Repository) -> None:
    conv = make_conversation()
    outcome = repo.save(conv)
    assert (outcome.status, outcome.new_result) == ("created", True)
    assert repo.get_result("c0001") == conv.to_result()
    stored = repo.get_conversation("c0001")
    assert stored is not None
    assert stored.turns == conv.to_result().turns
    assert stored.metadata == {"industry": "telecom"}
    assert stored.started_at == datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
    assert stored.imported_at.tzinfo is not None
    assert repo.count_conversations() == 1


def test_missing_conversation_is_none(repo: Repository) -> None:
    assert repo.get_result("nope") is None
    assert repo.get_conversation("nope") is None


def test_resave_same_audit_is_unchanged(repo: Repository, engine: Engine) -> None:
    first = repo.save(make_conversation())
    again = repo.save(make_conversation())
    assert again.status == "unchanged"
    assert not again.new_result
    assert again.result_id == first.result_id
    assert _count(engine, "results") == 1
    assert _count(engine, "turns") == 3


def test_new_rubric_version_adds_a_result_and_serves_the_latest(repo: Repository) -> None:
    repo.save(make_conversation(rubric="default@1"))
    outcome = repo.save(make_conversation(rubric="default@2"))
    assert (outcome.status, outcome.new_result) == ("updated", True)
    assert repo.count_results("c0001") == 2
    latest = repo.get_result("c0001")
    assert latest is not None and latest.versions.rubric == "default@2"
    assert [r.versions.rubric for r in repo.list_results()] == ["default@2"]


def test_going_back_to_an_earlier_version_reuses_its_row(repo: Repository) -> None:
    v1 = repo.save(make_conversation(rubric="default@1"))
    repo.save(make_conversation(rubric="default@2"))
    back = repo.save(make_conversation(rubric="default@1"))
    assert (back.status, back.new_result, back.result_id) == ("updated", False, v1.result_id)
    assert repo.count_results("c0001") == 2
    latest = repo.get_result("c0001")
    assert latest is not None and latest.versions.rubric == "default@1"


def test_model_version_change_adds_a_result(repo: Repository) -> None:
    repo.save(make_conversation())
    conv = make_conversation()
    conv.versions.models["sentiment"] = "tfidf-lr@2"
    assert repo.save(conv).new_result
    assert repo.count_results("c0001") == 2


def test_content_change_replaces_turns_and_adds_a_result(repo: Repository, engine: Engine) -> None:
    repo.save(make_conversation())
    changed = make_conversation(last_text="好的，祝您愉快，再见。")
    outcome = repo.save(changed)
    assert (outcome.status, outcome.new_result) == ("updated", True)
    stored = repo.get_conversation("c0001")
    assert stored is not None and stored.turns[-1].text == "好的，祝您愉快，再见。"
    assert _count(engine, "turns") == 3
    assert repo.get_result("c0001") == changed.to_result()


def test_fewer_turns_leave_no_stale_rows(repo: Repository, engine: Engine) -> None:
    repo.save(make_conversation())
    shorter = make_conversation()
    shorter.turns = shorter.turns[:2]
    repo.save(shorter)
    assert _count(engine, "turns") == 2


def test_metadata_change_updates_without_new_result(repo: Repository) -> None:
    repo.save(make_conversation())
    outcome = repo.save(make_conversation(metadata={"industry": "bank", "at": datetime(2025, 1, 1)}))
    assert (outcome.status, outcome.new_result) == ("updated", False)
    stored = repo.get_conversation("c0001")
    assert stored is not None and stored.metadata == {"industry": "bank", "at": "2025-01-01T00:00:00"}


def _install_failing_trigger(engine: Engine) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(
                text(
                    "CREATE TRIGGER fail_results BEFORE INSERT ON results "
                    "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
                )
            )
            return
        conn.execute(
            text(
                "CREATE FUNCTION fail_results() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql"
            )
        )
        conn.execute(
            text(
                "CREATE TRIGGER fail_results BEFORE INSERT ON results "
                "FOR EACH ROW EXECUTE FUNCTION fail_results()"
            )
        )


def test_failed_save_rolls_back_and_keeps_previous_data(repo: Repository, engine: Engine) -> None:
    original = make_conversation()
    repo.save(original)
    before = repo.get_conversation("c0001")
    _install_failing_trigger(engine)
    changed = make_conversation(last_text="内容改了。", metadata={"industry": "bank"})
    with pytest.raises(StorageError, match="injected failure"):
        repo.save(changed)
    assert repo.get_conversation("c0001") == before
    assert repo.get_result("c0001") == original.to_result()
    assert _count(engine, "results") == 1
    with pytest.raises(StorageError):
        repo.save(make_conversation("c0002"))
    assert repo.get_conversation("c0002") is None
    assert repo.count_conversations() == 1


def test_unmasked_conversation_is_refused(repo: Repository, engine: Engine) -> None:
    conv = make_conversation()
    conv.pii_masked = False
    with pytest.raises(UnmaskedDataError, match="QA503") as info:
        repo.save(conv)
    assert info.value.record == "c0001"
    assert _count(engine, "conversations") == 0
    assert _count(engine, "turns") == 0


def test_overlong_id_is_a_typed_input_error(repo: Repository) -> None:
    with pytest.raises(InputError, match="QA106"):
        repo.save(make_conversation("x" * 300))


def _deep(depth: int) -> list[object]:
    value: list[object] = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"agent_id": "x" * 256}, "agent_id"),
        ({"team": "x" * 256}, "team"),
        ({"started_at": datetime.fromisoformat("9999-12-31T23:59:59-14:00")}, "started_at"),
        ({"metadata": {"m": _deep(300)}}, "metadata"),
    ],
)
def test_unstorable_values_are_typed_input_errors_and_write_nothing(
    repo: Repository, engine: Engine, change: dict[str, object], field: str
) -> None:
    conv = make_conversation()
    for name, value in change.items():
        setattr(conv, name, value)
    with pytest.raises(InputError, match="QA106") as info:
        repo.save(conv)
    assert info.value.field == field
    assert _count(engine, "conversations") == 0


def test_rows_map_to_the_shared_key_fields(repo: Repository) -> None:
    repo.save(make_conversation())
    stored, [summary] = repo.get_conversation("c0001"), repo.list_summaries()
    assert stored is not None
    key = ConversationKey.model_fields
    assert stored.model_dump(include=set(key)) == summary.model_dump(include=set(key))
    assert stored.channel == "call" and stored.turns[0].speaker == "agent"


def _day(d: int, hour: int = 0) -> datetime:
    return datetime(2025, 3, d, hour, tzinfo=UTC)


def test_period_filter_inclusive_start_exclusive_end(repo: Repository) -> None:
    for i, day in enumerate([1, 2, 3, 4]):
        repo.save(make_conversation(f"c{i}", started_at=_day(day)))
    got = repo.list_results(start=_day(2), end=_day(4))
    assert [r.id for r in got] == ["c1", "c2"]
    assert [r.id for r in repo.list_results(start=_day(4))] == ["c3"]
    assert [r.id for r in repo.list_results(end=_day(2))] == ["c0"]


def test_period_filter_converts_time_zones(repo: Repository) -> None:
    repo.save(make_conversation("c0", started_at=_day(2, 1)))  # 01:00 UTC = 09:00 in Beijing
    beijing = timezone(timedelta(hours=8))
    assert [r.id for r in repo.list_results(start=datetime(2025, 3, 2, 9, tzinfo=beijing))] == ["c0"]
    assert repo.list_results(start=datetime(2025, 3, 2, 9, 1, tzinfo=beijing)) == []
    assert [r.id for r in repo.list_results(start=datetime(2025, 3, 2, 1))] == ["c0"]  # naive = UTC


def test_period_filter_falls_back_to_imported_at(repo: Repository) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    repo.save(make_conversation("undated", started_at=None))
    repo.save(make_conversation("old", started_at=_day(1)))
    assert [r.id for r in repo.list_results(start=before)] == ["undated"]
    assert [r.id for r in repo.list_results(end=before)] == ["old"]


def test_filters_by_agent_and_team(repo: Repository) -> None:
    repo.save(make_conversation("a", agent_id="A01", team="T1"))
    repo.save(make_conversation("b", agent_id="A02", team="T1"))
    repo.save(make_conversation("c", agent_id="A05", team="T2"))
    assert [r.id for r in repo.list_results(agent_id="A02")] == ["b"]
    assert {r.id for r in repo.list_results(team="T1")} == {"a", "b"}
    assert repo.count_conversations(team="T1") == 2
    assert repo.list_results(agent_id="A99") == []


def test_summaries_page_newest_first(repo: Repository) -> None:
    for i in range(5):
        repo.save(make_conversation(f"c{i}", started_at=_day(i + 1)))
    page = repo.list_summaries(limit=2, offset=1)
    assert [s.id for s in page] == ["c3", "c2"]
    assert page[0].quality_index == 72.5 and page[0].grade == "C"


def test_deleting_a_conversation_cascades(repo: Repository, engine: Engine) -> None:
    repo.save(make_conversation())
    repo.save(make_conversation(rubric="default@2"))
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM conversations WHERE id = 'c0001'"))
    assert _count(engine, "turns") == _count(engine, "results") == 0


def _rescored(pattern: str) -> Conversation:
    """The factory conversation re-scored by a one-item rubric (id and version never change), its
    versions stamped as the pipeline stamps them."""
    from qa_pipeline.rubric import parse_rubric
    from qa_pipeline.rubric.scorecard import Scorecard
    from qa_pipeline.stages.rubric import RubricStage

    rule = {"type": "regex", "pattern": pattern}
    item = {"id": "closing", "points": 100, "check": {"type": "require", "rule": rule}}
    stage = RubricStage(Scorecard(parse_rubric({"id": "mine", "version": "1", "items": [item]})))
    conv = stage(make_conversation())
    conv.versions.models[stage.name] = stage.version
    return conv


def test_a_rubric_edited_without_a_version_bump_stores_its_new_verdicts(repo: Repository) -> None:
    repo.save(_rescored("拜拜"))
    outcome = repo.save(_rescored("(拜拜|再见)"))
    assert outcome.new_result
    latest = repo.get_result("c0001")
    assert latest is not None and latest.items["closing"].verdict == "pass"
