"""The review workflow without HTTP: reviews recompute the result, appeals, scope, all-or-nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from qa_pipeline.errors import ConflictError, E, ForbiddenError, InputError, NotFoundError
from qa_pipeline.review.service import AppealCreate, AppealDecisionCreate, ReviewCreate, ReviewService
from qa_pipeline.store.models import ConversationRow, utcnow
from qa_pipeline.store.models_access import AuditLogRow
from qa_pipeline.store.models_review import HumanVerdictRow
from qa_pipeline.store.queue import QueueFilter
from qa_pipeline.store.reviews import AppealFilter
from qa_pipeline.types import ItemResult
from tests.review.conftest import AGENT_A01, AGENT_A02, KPI, QA, SUP_T1, SUP_T2
from tests.store.factory import make_conversation


def _store(
    service: ReviewService, conv_id: str = "c1", agent: str = "A01", team: str = "T1", channel: str = "call"
) -> None:
    conv = make_conversation(conv_id, agent_id=agent, team=team)
    conv.channel = channel  # type: ignore[assignment]
    for item in ("closing", "interruption"):
        conv.items[item] = ItemResult(verdict="na", points=0, max_points=5, rubric_version="default@1")
    conv.items["greeting"] = conv.items["greeting"].model_copy(update={"fatal": False})
    conv.quality_index = 33.33  # greeting 5/5 + empathy 0/10
    service.repository.save(conv)


def _review(**items: str) -> ReviewCreate:
    return ReviewCreate.model_validate(
        {"items": {k: {"verdict": v} for k, v in items.items()}, "comment": "复核"}
    )


def test_overturning_an_item_recomputes_quality_and_keeps_the_machine_verdict(service: ReviewService) -> None:
    _store(service)
    result = service.review(SUP_T1, "c1", _review(empathy="pass"))
    item = result.items["empathy"]
    assert (item.verdict, item.machine_verdict, item.points) == ("pass", "fail", 10)
    assert item.review is not None and item.review.by == "sup1" and item.review.disagrees
    assert result.quality_index == 100.0 and result.grade == "优秀"
    assert service.final_result(None, "c1").quality_index == 100.0  # what everyone reads now


def test_every_review_is_kept_and_the_latest_is_in_force(service: ReviewService, engine: Engine) -> None:
    _store(service)
    service.review(SUP_T1, "c1", _review(empathy="pass"))
    service.review(QA, "c1", _review(empathy="fail"))
    assert service.final_result(None, "c1").items["empathy"].verdict == "fail"
    with Session(engine) as session:
        rows = session.scalars(select(HumanVerdictRow.verdict).order_by(HumanVerdictRow.id)).all()
    assert rows == ["pass", "fail"]


def test_a_review_applies_all_items_or_none(service: ReviewService, engine: Engine) -> None:
    _store(service)
    with pytest.raises(InputError) as err:
        service.review(SUP_T1, "c1", _review(empathy="pass", nosuch="fail"))
    assert err.value.field == "items.nosuch"
    _store(service, "chat1", channel="chat")
    with pytest.raises(InputError, match="na by rule"):
        service.review(SUP_T1, "chat1", _review(empathy="pass", interruption="fail"))
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(HumanVerdictRow)) == 0


def test_a_human_may_overturn_an_na_the_machine_reached_by_finding_nothing(service: ReviewService) -> None:
    _store(service)  # closing is na here because no rule fired, not because of the channel
    result = service.review(SUP_T1, "c1", _review(closing="fail", interruption="na"))
    assert result.items["closing"].verdict == "fail" and result.items["closing"].machine_verdict == "na"


def test_scope_and_role(service: ReviewService) -> None:
    _store(service)
    with pytest.raises(NotFoundError):
        service.review(SUP_T2, "c1", _review(empathy="pass"))  # another team's: not found
    with pytest.raises(ForbiddenError):
        service.review(KPI, "c1", _review(empathy="pass"))
    with pytest.raises(ForbiddenError):
        service.review(AGENT_A01, "c1", _review(empathy="pass"))


def test_agent_appeals_and_qa_upholds(service: ReviewService, engine: Engine) -> None:
    _store(service)
    appeal = service.appeal(AGENT_A01, "c1", AppealCreate(item="empathy", reason="我道歉了，系统没识别"))
    assert appeal.state == "open" and appeal.machine_verdict == "fail"
    assert [a.id for a in service.appeals(SUP_T1, AppealFilter())] == [appeal.id]
    assert service.appeals(SUP_T2, AppealFilter()) == []
    decided = service.decide(QA, appeal.id, AppealDecisionCreate(decision="upheld", comment="确有致歉"))
    assert decided.state == "upheld" and decided.decided_by == "qa1"
    item = service.final_result(None, "c1").items["empathy"]
    assert item.verdict == "pass" and item.review is not None and item.review.source == "appeal"
    with pytest.raises(ConflictError):
        service.decide(QA, appeal.id, AppealDecisionCreate(decision="rejected", comment="再看"))
    with Session(engine) as session:
        actions = session.scalars(select(AuditLogRow.action).order_by(AuditLogRow.id)).all()
    assert actions == ["appeal", "appeal_upheld"]


def test_appeal_errors(service: ReviewService, engine: Engine) -> None:
    _store(service)
    _store(service, "c2", agent="A02")
    with pytest.raises(NotFoundError):
        service.appeal(AGENT_A01, "c2", AppealCreate(item="empathy", reason="x"))  # someone else's
    with pytest.raises(InputError, match="only a failed item"):
        service.appeal(AGENT_A01, "c1", AppealCreate(item="greeting", reason="x"))
    service.appeal(AGENT_A01, "c1", AppealCreate(item="empathy", reason="x"))
    with pytest.raises(ConflictError):
        service.appeal(AGENT_A01, "c1", AppealCreate(item="empathy", reason="again"))
    with pytest.raises(ForbiddenError):
        service.appeal(SUP_T1, "c2", AppealCreate(item="empathy", reason="x"))
    with Session(engine) as session, session.begin():
        old = utcnow() - timedelta(days=8)
        session.execute(
            update(ConversationRow).where(ConversationRow.id == "c2").values(imported_at=old, updated_at=old)
        )
    with pytest.raises(InputError) as err:
        service.appeal(AGENT_A02, "c2", AppealCreate(item="empathy", reason="late"))
    assert err.value.code is E.APPEAL_CLOSED


def test_queue_is_scoped_and_review_closes_the_entry(service: ReviewService) -> None:
    _store(service, "c1", team="T1")  # emotion 40 / quality 33: flagged
    _store(service, "c2", agent="A02", team="T2")
    page = service.queue(SUP_T1, QueueFilter())
    assert [e.conversation_id for e in page.items] == ["c1"] and page.counts.total == 1
    assert {"low_quality"} <= set(page.counts.by_reason)
    service.review(SUP_T1, "c1", _review(empathy="pass"))
    assert service.queue(SUP_T1, QueueFilter(state="done")).counts.total == 1
    assert service.queue(QA, QueueFilter()).counts.total == 2
    with pytest.raises(ForbiddenError):
        service.queue(AGENT_A02, QueueFilter())


def test_a_reaudit_keeps_the_human_verdict_and_shows_the_disagreement(service: ReviewService) -> None:
    _store(service)
    confirmed = service.review(QA, "c1", _review(empathy="fail"))
    assert confirmed.items["empathy"].review is not None and not confirmed.items["empathy"].review.disagrees
    newer = make_conversation("c1", rubric="default@2")  # a new rubric version now passes empathy
    newer.items["empathy"] = newer.items["empathy"].model_copy(update={"verdict": "pass", "points": 10})
    service.repository.save(newer)
    item = service.final_result(None, "c1").items["empathy"]
    assert (item.verdict, item.machine_verdict) == ("fail", "pass")
    assert item.review is not None and item.review.disagrees and item.review.by == "qa1"
