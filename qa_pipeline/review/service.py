"""The review workflow without HTTP: the queue, reviews, appeals and the results people see.

Every call takes the acting :class:`Principal`: the role is checked here (403), the scope limits
what is found (404 outside it), and each change is written with its audit-log entry in one
transaction, so a review applies all of its items or none.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from qa_pipeline.access.audit_log import entry_row, record
from qa_pipeline.access.principal import Principal, Scope
from qa_pipeline.access.roles import Action
from qa_pipeline.errors import ConflictError, E, InputError, NotFoundError
from qa_pipeline.figures import Figures
from qa_pipeline.review.agreement import AgreementReport, agreement_report
from qa_pipeline.review.config import ReviewConfig
from qa_pipeline.review.export import labelled_records
from qa_pipeline.review.verdicts import Decision, apply_decisions
from qa_pipeline.rubric.explain import LABEL_MARK
from qa_pipeline.rubric.schema import Rubric
from qa_pipeline.scoring import ScoringConfig
from qa_pipeline.store import Repository
from qa_pipeline.store.kpi_facts import decided_figures, figures_from_facts
from qa_pipeline.store.models import ConversationRow, as_utc, utcnow
from qa_pipeline.store.models_review import QueueRow
from qa_pipeline.store.queue import QueueCounts, QueueEntry, QueueFilter, queue_counts, queue_page, set_state
from qa_pipeline.store.reviews import (
    AppealFilter,
    AppealPublic,
    add_appeal,
    add_review,
    add_verdict,
    all_decisions,
    decisions_for,
    find_appeal,
    get_appeal,
    list_appeals,
)
from qa_pipeline.store.version import bump
from qa_pipeline.types import ConversationResult, ItemResult
from qa_pipeline.webhooks import enqueue

MAX_COMMENT = 2000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ItemVerdictCreate(_Strict):
    verdict: Literal["pass", "fail", "na"]
    comment: str = Field(default="", max_length=MAX_COMMENT)


class ReviewCreate(_Strict):
    """``{"items": {ITEM_ID: {"verdict": "pass"|"fail"|"na", "comment": "..."}}, "comment": "..."}``"""

    items: dict[str, ItemVerdictCreate] = Field(min_length=1, max_length=64)
    comment: str = Field(default="", max_length=MAX_COMMENT)


class AppealCreate(_Strict):
    item: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=MAX_COMMENT)


class AppealDecisionCreate(_Strict):
    decision: Literal["upheld", "rejected"]
    comment: str = Field(min_length=1, max_length=MAX_COMMENT)


class QueuePage(BaseModel):
    items: list[QueueEntry]
    counts: QueueCounts
    limit: int
    offset: int


class ReviewService:
    """One per app (or command); thread-safe: every call opens its own session."""

    def __init__(
        self,
        repository: Repository,
        scoring: ScoringConfig,
        config: ReviewConfig,
        rubric: Rubric | None = None,
    ) -> None:
        self.repository = repository
        self.scoring = scoring
        self.config = config
        self.rubric = rubric  # for "na by rule": items whose channels exclude the conversation

    @property
    def engine(self) -> Engine:
        return self.repository.engine

    # -- results as people see them ---------------------------------------------------------

    def final_result(self, scope: Scope | None, conversation_id: str) -> ConversationResult:
        """The current result with the human verdicts in force; 404 outside ``scope``."""
        result = self.repository.get_result(conversation_id, scope)
        if result is None:
            raise NotFoundError("conversation", conversation_id)
        with Session(self.engine) as session:
            decided = decisions_for(session, [conversation_id]).get(conversation_id, {})
        return apply_decisions(result, decided, self.scoring.grade)

    def final_figures(
        self,
        scope: Scope | None,
        *,
        agent_id: str | None = None,
        team: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[Figures]:
        """The KPI figures of every result in the filters and ``scope``, human verdicts applied."""
        stored = self.repository.list_facts(agent_id, team, start, end, scope=scope)
        with Session(self.engine) as session:
            decided = decisions_for(session, [row.conversation_id for row in stored])
        out = []
        for row in stored:
            figures = figures_from_facts(row.conversation_id, row.facts, row.period_time)
            figures.team = row.team
            mine = decided.get(row.conversation_id)
            out.append(decided_figures(figures, row.facts, mine, self.scoring.grade) if mine else figures)
        return out

    def final_results(
        self, scope: Scope | None, *, agent_id: str | None = None, start: datetime | None = None
    ) -> list[ConversationResult]:
        """Whole results (items and evidence) in ``scope``, human verdicts applied: for one agent's page."""
        results = self.repository.list_results(agent_id, None, start, None, scope=scope)
        with Session(self.engine) as session:
            decided = decisions_for(session, [r.id for r in results])
        return [apply_decisions(r, decided.get(r.id, {}), self.scoring.grade) for r in results]

    # -- queue -----------------------------------------------------------------------------------

    def queue(self, who: Principal, flt: QueueFilter, *, limit: int = 50, offset: int = 0) -> QueuePage:
        who.require(Action.QUEUE_READ)
        with Session(self.engine) as session:
            items = queue_page(session, who.scope, flt, limit=limit, offset=offset)
            counts = queue_counts(session, who.scope, flt)
        return QueuePage(items=items, counts=counts, limit=limit, offset=offset)

    def start_review(self, who: Principal, conversation_id: str) -> None:
        """A reviewer opened an open flagged conversation: it is ``in_review`` until decided."""
        who.require(Action.REVIEW_WRITE)
        with Session(self.engine) as session, session.begin():
            row = session.get(QueueRow, conversation_id)
            if row is not None and row.state == "open":
                set_state(session, conversation_id, "in_review")

    # -- reviews -----------------------------------------------------------------------------------

    def review(
        self, who: Principal, conversation_id: str, body: ReviewCreate, *, client: str | None = None
    ) -> ConversationResult:
        """Apply a reviewer's verdicts (all or none); returns the result with them in force."""
        who.require(Action.REVIEW_WRITE)
        current = self.final_result(who.scope, conversation_id)
        _check_items(current, body, self.rubric)
        now = utcnow()
        with Session(self.engine) as session, session.begin():
            conv = session.get(ConversationRow, conversation_id)
            result_id = conv.current_result_id if conv is not None else None
            review = add_review(session, conversation_id, result_id, who.name, who.role, body.comment)
            for item_id, given in body.items.items():
                machine = current.items[item_id].machine_verdict or current.items[item_id].verdict
                decision = Decision(
                    conversation_id=conversation_id,
                    item=item_id,
                    verdict=given.verdict,
                    machine_verdict=machine,
                    machine_rules=_rules(current.items[item_id]),
                    source="review",
                    user_name=who.name,
                    comment=given.comment or body.comment,
                    created_at=now,
                    review_id=review.id,
                )
                add_verdict(session, decision, current.items[item_id].rubric_version)
            set_state(session, conversation_id, "done")
            bump(session)
            verdicts = {k: v.verdict for k, v in body.items.items()}
            enqueue(
                session, "reviewed", {"conversation_id": conversation_id, "by": who.name, "items": verdicts}
            )
            session.add(
                entry_row(who, "review", "conversation", conversation_id, client=client, reason=body.comment)
            )
        return self.final_result(who.scope, conversation_id)

    # -- appeals ----------------------------------------------------------------------------------

    def appeal(
        self, who: Principal, conversation_id: str, body: AppealCreate, *, client: str | None = None
    ) -> AppealPublic:
        """An agent appeals a failed item of their own conversation within the window."""
        who.require(Action.APPEAL_CREATE)
        current = self.final_result(who.scope, conversation_id)
        item = current.items.get(body.item)
        if item is None:
            raise InputError(E.BAD_REQUEST, f"no item {body.item!r} in this scorecard", field="item")
        if item.verdict != "fail":
            detail = f"only a failed item can be appealed; {body.item!r} is {item.verdict!r}"
            raise InputError(E.BAD_REQUEST, detail, field="item")
        duplicate = ConflictError(
            f"item {body.item!r} of this conversation was appealed already", field="item"
        )
        try:
            with Session(self.engine) as session, session.begin():
                self._check_window(session, conversation_id, item)
                if find_appeal(session, conversation_id, body.item) is not None:
                    raise duplicate
                row = add_appeal(session, conversation_id, body.item, who.name, body.reason, item.verdict)
                enqueue(session, "appealed", _appeal_event(row.id, conversation_id, body.item, "open"))
                entry = entry_row(
                    who, "appeal", "conversation", conversation_id, client=client, reason=body.reason
                )
                session.add(entry)
                return AppealPublic.model_validate(row)
        except IntegrityError:  # a simultaneous appeal on the same item committed first
            raise duplicate from None

    def _check_window(self, session: Session, conversation_id: str, item: ItemResult) -> None:
        """Open for ``appeal_window_days`` after the verdict was given: the audit, or the latest
        human verdict on the item (a fail a reviewer added can be appealed too)."""
        conv = session.get(ConversationRow, conversation_id)
        given = [as_utc(conv.updated_at)] if conv is not None else [utcnow()]
        if item.review is not None:
            given.append(as_utc(item.review.at))
        closes = max(given) + timedelta(days=self.config.appeal_window_days)
        if utcnow() > closes:
            detail = f"the appeal window closed at {closes.isoformat(timespec='minutes')}"
            raise InputError(E.APPEAL_CLOSED, detail, field="item")

    def decide(
        self, who: Principal, appeal_id: str, body: AppealDecisionCreate, *, client: str | None = None
    ) -> AppealPublic:
        """A QA reviewer upholds (the item passes) or rejects an open appeal, with a comment."""
        who.require(Action.APPEAL_DECIDE)
        now = utcnow()
        with Session(self.engine) as session, session.begin():
            row = get_appeal(session, appeal_id, who.scope)
            if row is None:
                raise NotFoundError("appeal", appeal_id)
            if row.state != "open":
                raise ConflictError(f"the appeal was {row.state} already", field="decision")
            row.state, row.decided_by, row.decided_at = body.decision, who.name, now
            row.decision_comment = body.comment
            enqueue(session, "appealed", _appeal_event(row.id, row.conversation_id, row.item, body.decision))
            if body.decision == "upheld":
                bump(session)
                self._uphold(session, row.conversation_id, row.item, row.id, who, body.comment, now)
            session.add(
                entry_row(
                    who, f"appeal_{body.decision}", "appeal", appeal_id, client=client, reason=body.comment
                )
            )
            return AppealPublic.model_validate(row)

    def _uphold(
        self,
        session: Session,
        conv_id: str,
        item: str,
        appeal_id: str,
        who: Principal,
        comment: str,
        now: datetime,
    ) -> None:
        current = self.final_result(None, conv_id).items.get(item)
        if current is None:  # a re-audit with another scorecard dropped the item
            raise ConflictError(
                f"item {item!r} is no longer on this conversation's scorecard; reject the appeal"
            )
        decision = Decision(
            conversation_id=conv_id,
            item=item,
            verdict="pass",
            machine_verdict=current.machine_verdict or current.verdict,
            machine_rules=_rules(current),
            source="appeal",
            user_name=who.name,
            comment=comment,
            created_at=now,
            appeal_id=appeal_id,
        )
        add_verdict(session, decision, current.rubric_version)

    # -- learning from people -----------------------------------------------------------------

    def export(self, who: Principal, *, client: str | None = None) -> list[dict[str, Any]]:
        """Every human decision in scope as labelled conversations (``qa eval`` format); audited."""
        who.require(Action.REVIEWS_EXPORT)
        with Session(self.engine) as session:
            decisions = all_decisions(session, who.scope)
        records = list(labelled_records(self.repository, decisions))
        record(
            self.engine,
            who,
            "export_reviews",
            "export",
            None,
            client=client,
            reason=f"{len(records)} records",
        )
        return records

    def agreement(self, who: Principal, tz: tzinfo) -> AgreementReport:
        """Per item, rule and week: how often people confirmed the machine."""
        who.require(Action.AGREEMENT_READ)
        with Session(self.engine) as session:
            decisions = all_decisions(session, who.scope)
        return agreement_report(decisions, tz)

    def appeals(
        self, who: Principal, flt: AppealFilter, *, limit: int = 50, offset: int = 0
    ) -> list[AppealPublic]:
        who.require(Action.APPEAL_READ)
        with Session(self.engine) as session:
            return list_appeals(session, who.scope, flt, limit=limit, offset=offset)


def _appeal_event(appeal_id: str, conversation_id: str, item: str, state: str) -> dict[str, str]:
    return {"appeal_id": appeal_id, "conversation_id": conversation_id, "item": item, "state": state}


def _rules(item: ItemResult) -> list[str]:
    """The rules an item's evidence cites, without what a model said (``objection.model#价格``)."""
    return list(dict.fromkeys(ev.rule.partition(LABEL_MARK)[0] for ev in item.evidence if ev.rule))


def _na_by_rule(rubric: Rubric | None, item_id: str, channel: str) -> bool:
    """The rubric never applies ``item_id`` to this channel (e.g. interruption in chats)."""
    if rubric is None:
        return False
    try:
        return channel not in rubric.item(item_id).channels
    except KeyError:
        return False


def _check_items(current: ConversationResult, body: ReviewCreate, rubric: Rubric | None) -> None:
    """Every item exists in this result, and none that is ``na`` by rule gets pass or fail (the
    rubric does not apply it to this channel). An ``na`` the machine reached by finding no trigger
    (no objection, no hold) may be overturned: the machine can miss the trigger."""
    for item_id, given in body.items.items():
        item = current.items.get(item_id)
        if item is None:
            known = ", ".join(current.items)
            raise InputError(
                E.BAD_REQUEST, f"no item {item_id!r}; items are {known}", field=f"items.{item_id}"
            )
        if given.verdict != "na" and _na_by_rule(rubric, item_id, current.channel):
            detail = (
                f"{item_id!r} does not apply to {current.channel} conversations (na by rule); leave it out"
            )
            raise InputError(E.BAD_REQUEST, detail, field=f"items.{item_id}")
