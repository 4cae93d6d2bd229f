"""Read and write audited conversations.

``Repository.save`` stores a conversation, its masked turns and its result in one transaction.
An audit is identified by (conversation, rubric version, pipeline version, models version,
content hash): saving the same audit again writes nothing; a new version adds a result row and
moves the conversation's ``current_result_id`` to it; changed content replaces the turns.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel
from pydantic_core import to_jsonable_python
from sqlalchemy import ColumnElement, Engine, Select, and_, delete, func, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from qa_pipeline.access.principal import Scope
from qa_pipeline.errors import E, StorageError
from qa_pipeline.review.config import ReviewConfig
from qa_pipeline.sources.fields import Locator, check_metadata, in_range, range_detail
from qa_pipeline.store.kpi_facts import VERSION as FACTS_VERSION
from qa_pipeline.store.kpi_facts import facts_of
from qa_pipeline.store.models import ID_LENGTH, ConversationRow, ResultRow, TurnRow, as_utc, utcnow
from qa_pipeline.store.queue import flag_conversation
from qa_pipeline.store.scope import scope_conditions
from qa_pipeline.store.teams import agent_team, register_agent
from qa_pipeline.store.version import bump
from qa_pipeline.types import Channel, Conversation, ConversationResult, PublicTurn
from qa_pipeline.webhooks import enqueue

log = logging.getLogger(__name__)

SaveStatus = Literal["created", "updated", "unchanged"]


class UnmaskedDataError(StorageError):
    """Refused to store a conversation that has not been through PII masking (a server bug, not input)."""

    http_status = 500

    def __init__(self, conversation_id: str) -> None:
        super().__init__(
            E.UNMASKED_PII, "pii_masked is false; run the 'pii' stage first", record=conversation_id
        )


@dataclass(frozen=True)
class SaveOutcome:
    """What :meth:`Repository.save` did: ``created`` (new conversation), ``updated`` or ``unchanged``."""

    conversation_id: str
    status: SaveStatus
    result_id: int
    new_result: bool


class StoredFacts(NamedTuple):
    """One conversation's KPI facts as stored, with what the store knows beside them."""

    conversation_id: str
    facts: list[Any]
    period_time: datetime
    """The start time, or the import time when the start is unknown (what the period filters use)."""
    team: str | None
    """The team in force (the conversation's own, else its agent's)."""


class ConversationKey(BaseModel):
    """What identifies a stored conversation in a listing: ids, channel and when."""

    id: str
    agent_id: str | None
    team: str | None
    channel: Channel
    started_at: datetime | None
    imported_at: datetime


class ConversationHeader(ConversationKey):
    """A stored conversation without its transcript: :class:`ConversationKey` plus bookkeeping."""

    updated_at: datetime
    source: str | None
    metadata: dict[str, Any]


class StoredConversation(ConversationHeader):
    """A stored conversation: header, masked transcript and content hash."""

    content_hash: str
    turns: list[PublicTurn]


class ConversationSummary(ConversationKey):
    """One line of a conversation listing."""

    quality_index: float | None
    emotion_index: float | None
    grade: str | None


@dataclass(frozen=True)
class _Audit:
    """The parts of a conversation that are written, computed once before the transaction."""

    result: ConversationResult
    content_hash: str
    models_version: str
    metadata: dict[str, Any]


def content_hash(result: ConversationResult) -> str:
    """sha256 of the masked content an audit depends on: header fields and turns."""
    payload = result.model_dump(mode="json", include={"agent_id", "team", "channel", "started_at", "turns"})
    return _sha256(payload)


def models_version(models: dict[str, str]) -> str:
    """A stable hash of ``versions.models`` (order-independent)."""
    return _sha256(models)


def _sha256(payload: Any) -> str:
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _check_storable(conv: Conversation) -> None:
    """The importers already enforce all of this; a Conversation built elsewhere gets a typed error
    here instead of a database or serialisation failure."""
    if not conv.pii_masked:
        raise UnmaskedDataError(conv.id)
    loc = Locator(record=conv.id[:80])
    if not conv.id or len(conv.id) > ID_LENGTH:
        raise loc.error(E.BAD_FIELD, f"id must be 1..{ID_LENGTH} characters", field="id")
    for field, value in (("agent_id", conv.agent_id), ("team", conv.team)):
        if value is not None and len(value) > ID_LENGTH:
            raise loc.error(E.BAD_FIELD, f"{field} must be at most {ID_LENGTH} characters", field=field)
    if conv.started_at is not None and not in_range(conv.started_at):
        raise loc.error(E.BAD_FIELD, f"date/time {range_detail()}", field="started_at")
    check_metadata(conv.metadata, loc=loc)


class Repository:
    """Typed access to the store. Build it once per engine; it is safe to share between threads.

    Every read takes an optional :class:`Scope` (``None``: everything, for the operator's own
    commands): objects outside it are simply not found. ``review`` decides which saved
    conversations enter the review queue.
    """

    def __init__(self, engine: Engine, review: ReviewConfig | None = None) -> None:
        self.engine = engine
        self.review = review or ReviewConfig()

    @contextmanager
    def _session(self, *, write: bool = False) -> Iterator[Session]:
        try:
            with Session(self.engine, expire_on_commit=False) as session:
                if not write:
                    yield session
                    return
                with session.begin():
                    yield session
        except IntegrityError:
            raise
        except SQLAlchemyError as exc:
            raise StorageError(E.DATABASE, f"{type(exc).__name__}: {getattr(exc, 'orig', exc)}") from exc

    # -- writing -------------------------------------------------------------------------------

    def save(self, conv: Conversation, *, within: Callable[[Session], None] | None = None) -> SaveOutcome:
        """Store ``conv`` (masked), its turns and its result in one transaction; idempotent per audit.

        ``within`` runs inside that transaction before it commits (a job marking itself done): if it
        raises, nothing of this save is kept.
        """
        _check_storable(conv)
        result = conv.to_result()
        metadata = to_jsonable_python(conv.metadata)
        audit = _Audit(result, content_hash(result), models_version(conv.versions.models), metadata)
        for attempt in (1, 2):
            try:
                with self._session(write=True) as session:
                    outcome = _save(session, conv, audit)
                    if within is not None:
                        within(session)
                    if outcome.status != "unchanged":
                        bump(session)
                    if outcome.new_result:
                        _announce(
                            session,
                            audit.result,
                            flag_conversation(session, conv.id, audit.result, self.review),
                        )
                    return outcome
            except IntegrityError as exc:  # a concurrent writer stored the same audit first
                if attempt == 2:
                    raise StorageError(
                        E.DATABASE, f"conflicting concurrent save: {exc.orig}", record=conv.id
                    ) from exc
                log.debug("save of %s raced another writer; retrying", conv.id)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- reading -------------------------------------------------------------------------------

    def get_result(self, conversation_id: str, scope: Scope | None = None) -> ConversationResult | None:
        """The current (latest) machine result of a conversation in ``scope``, or None."""
        stmt = _current_results().where(ConversationRow.id == conversation_id, *scope_conditions(scope))
        with self._session() as session:
            row = session.scalars(stmt).first()
            return None if row is None else ConversationResult.model_validate(row.result)

    def get_conversation(self, conversation_id: str, scope: Scope | None = None) -> StoredConversation | None:
        """The stored conversation, or None when there is none or it lies outside ``scope``."""
        stmt = select(ConversationRow).where(ConversationRow.id == conversation_id, *scope_conditions(scope))
        with self._session() as session:
            row = session.scalars(stmt).first()
            return None if row is None else _stored(row)

    def list_results(
        self,
        agent_id: str | None = None,
        team: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        scope: Scope | None = None,
    ) -> list[ConversationResult]:
        """Current result of each conversation matching the filters, oldest first.

        The period filter applies to ``started_at`` (``imported_at`` when unknown): ``start``
        inclusive, ``end`` exclusive. Naive datetimes are taken as UTC.
        """
        stmt = (
            _current_results()
            .where(*_filters(agent_id, team, start, end), *scope_conditions(scope))
            .order_by(*_chronological())
        )
        with self._session() as session:
            return [ConversationResult.model_validate(r.result) for r in session.scalars(stmt)]

    def list_facts(
        self,
        agent_id: str | None = None,
        team: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        scope: Scope | None = None,
    ) -> list[StoredFacts]:
        """The KPI facts of the current results :meth:`list_results` would return, oldest first
        (:mod:`kpi_facts`): a few hundred bytes each, for large pulls. Results stored before facts
        existed are read whole once."""
        conds = [*_filters(agent_id, team, start, end), *scope_conditions(scope)]
        stmt = (
            select(
                ResultRow.id,
                ResultRow.conversation_id,
                ResultRow.facts,
                _period_column(),
                ConversationRow.team,
            )
            .join(ConversationRow, ConversationRow.current_result_id == ResultRow.id)
            .where(*conds)
            .order_by(*_chronological())
        )
        with self._session() as session:
            rows = session.execute(stmt).all()
            old = [rid for rid, _, facts, _, _ in rows if not _current(facts)]
            whole = (
                {r.id: r.result for r in session.scalars(select(ResultRow).where(ResultRow.id.in_(old)))}
                if old
                else {}
            )
        return [
            StoredFacts(
                cid,
                facts if _current(facts) else facts_of(ConversationResult.model_validate(whole[rid])),
                as_utc(when),
                team,
            )
            for rid, cid, facts, when, team in rows
        ]

    def list_summaries(
        self,
        agent_id: str | None = None,
        team: str | None = None,
        *,
        limit: int = 50,
        offset: int = 0,
        scope: Scope | None = None,
    ) -> list[ConversationSummary]:
        """One page of conversations (newest first) with their current indices."""
        stmt = (
            select(ConversationRow, ResultRow)
            .join(ResultRow, ResultRow.id == ConversationRow.current_result_id)
            .where(*_filters(agent_id, team, None, None), *scope_conditions(scope))
            .order_by(*(c.desc() for c in _chronological()))
            .limit(limit)
            .offset(offset)
        )
        with self._session() as session:
            return [_summary(c, r) for c, r in session.execute(stmt)]

    def count_conversations(
        self, agent_id: str | None = None, team: str | None = None, scope: Scope | None = None
    ) -> int:
        conds = [*_filters(agent_id, team, None, None), *scope_conditions(scope)]
        stmt = select(func.count()).select_from(ConversationRow).where(*conds)
        with self._session() as session:
            return int(session.scalar(stmt) or 0)

    def agent_known(self, agent_id: str, scope: Scope | None = None) -> bool:
        """Whether any stored conversation in ``scope`` names ``agent_id``."""
        conds = [ConversationRow.agent_id == agent_id, *scope_conditions(scope)]
        stmt = select(ConversationRow.id).where(*conds).limit(1)
        with self._session() as session:
            return session.scalar(stmt) is not None

    def count_results(self, conversation_id: str | None = None) -> int:
        """Number of stored audits (all versions), optionally of one conversation."""
        stmt = select(func.count()).select_from(ResultRow)
        if conversation_id is not None:
            stmt = stmt.where(ResultRow.conversation_id == conversation_id)
        with self._session() as session:
            return int(session.scalar(stmt) or 0)


# -- save, step by step (inside one transaction) ----------------------------------------------


def _save(session: Session, conv: Conversation, audit: _Audit) -> SaveOutcome:
    row = session.get(ConversationRow, conv.id)
    status: SaveStatus = "created" if row is None else "unchanged"
    if row is None:
        row = ConversationRow(id=conv.id, content_hash=audit.content_hash)
        session.add(row)
        _write_header(session, row, conv, audit)
        _write_turns(session, row, audit.result, replace=False)
    elif _header_changed(row, conv, audit):
        if row.content_hash != audit.content_hash:
            _write_turns(session, row, audit.result, replace=True)
        _write_header(session, row, conv, audit)
        status = "updated"
    register_agent(session, conv)
    session.flush()
    # a conversation created in this transaction has no result yet: no need to look for one
    result_row, new_result = _find_or_add_result(session, conv, audit, look=status != "created")
    if row.current_result_id != result_row.id:
        row.current_result_id = result_row.id
        row.updated_at = utcnow()
        status = "updated" if status == "unchanged" else status
    return SaveOutcome(conv.id, status, result_row.id, new_result)


def _current(facts: Any) -> bool:
    """Facts in the present layout (older results are read whole and reduced again)."""
    return isinstance(facts, list) and bool(facts) and facts[0] == FACTS_VERSION


def _announce(session: Session, result: ConversationResult, flagged: list[str]) -> None:
    """Webhook events of a new result (written with it: see :mod:`qa_pipeline.webhooks`)."""
    head = {"conversation_id": result.id, "agent_id": result.agent_id, "team": result.team}
    scores = {
        "quality_index": result.quality_index,
        "emotion_index": result.emotion_index,
        "grade": result.grade,
    }
    enqueue(session, "scored", head | scores)
    if flagged:
        enqueue(session, "flagged", head | {"reasons": flagged})


def _header_changed(row: ConversationRow, conv: Conversation, audit: _Audit) -> bool:
    return (
        row.content_hash != audit.content_hash or row.metadata_ != audit.metadata or row.source != conv.source
    )


def _write_header(session: Session, row: ConversationRow, conv: Conversation, audit: _Audit) -> None:
    row.agent_id = conv.agent_id
    row.own_team = conv.team
    row.team = conv.team or agent_team(session, conv.agent_id)
    row.channel = conv.channel
    row.started_at = None if conv.started_at is None else as_utc(conv.started_at)
    row.source = conv.source
    row.metadata_ = audit.metadata
    row.content_hash = audit.content_hash
    row.updated_at = utcnow()


def _write_turns(
    session: Session, row: ConversationRow, result: ConversationResult, *, replace: bool
) -> None:
    if replace:
        session.execute(delete(TurnRow).where(TurnRow.conversation_id == row.id))
        session.expire(row, ["turns"])
    session.add_all(
        TurnRow(conversation_id=row.id, idx=i, speaker=t.speaker, text=t.text, start=t.start, end=t.end)
        for i, t in enumerate(result.turns)
    )


def _find_or_add_result(
    session: Session, conv: Conversation, audit: _Audit, *, look: bool = True
) -> tuple[ResultRow, bool]:
    key = {
        "conversation_id": conv.id,
        "rubric_version": conv.versions.rubric,
        "pipeline_version": conv.versions.pipeline,
        "models_version": audit.models_version,
        "content_hash": audit.content_hash,
    }
    found = session.scalars(select(ResultRow).filter_by(**key)).first() if look else None
    if found is not None:
        return found, False
    res = audit.result
    row = ResultRow(
        **key,
        quality_index=res.quality_index,
        emotion_index=res.emotion_index,
        grade=res.grade,
        result=res.model_dump(mode="json"),
        facts=facts_of(res),
    )
    session.add(row)
    session.flush()
    return row, True


# -- queries ----------------------------------------------------------------------------------


def _current_results() -> Select[ResultRow]:
    return select(ResultRow).join(ConversationRow, ConversationRow.current_result_id == ResultRow.id)


def _period_column() -> ColumnElement[datetime]:
    return func.coalesce(ConversationRow.started_at, ConversationRow.imported_at)


def _chronological() -> tuple[ColumnElement[Any], ...]:
    return (_period_column(), ConversationRow.id.expression)


def _filters(
    agent_id: str | None, team: str | None, start: datetime | None, end: datetime | None
) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if agent_id is not None:
        conds.append(ConversationRow.agent_id == agent_id)
    if team is not None:
        conds.append(ConversationRow.team == team)
    if start is not None:
        conds.append(_period_column() >= as_utc(start))
    if end is not None:
        conds.append(_period_column() < as_utc(end))
    return [and_(*conds)] if conds else []


def _key(row: ConversationRow) -> dict[str, Any]:
    """The :class:`ConversationKey` fields of a row (shared by full records and listing lines)."""
    return {name: getattr(row, name) for name in ConversationKey.model_fields}


def _stored(row: ConversationRow) -> StoredConversation:
    return StoredConversation(
        **_key(row),
        updated_at=row.updated_at,
        source=row.source,
        metadata=row.metadata_,
        content_hash=row.content_hash,
        turns=[PublicTurn.model_validate(t, from_attributes=True) for t in row.turns],
    )


def _summary(conv: ConversationRow, res: ResultRow) -> ConversationSummary:
    return ConversationSummary(
        **_key(conv), quality_index=res.quality_index, emotion_index=res.emotion_index, grade=res.grade
    )
