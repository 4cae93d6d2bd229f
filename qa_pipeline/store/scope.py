"""The one place a caller's :class:`~qa_pipeline.access.principal.Scope` becomes SQL: conditions on
``conversations`` that every scoped query (conversations, results, queue, appeals, indices) adds."""

from __future__ import annotations

from sqlalchemy import ColumnElement

from qa_pipeline.access.principal import Scope
from qa_pipeline.store.models import ConversationRow


def scope_conditions(scope: Scope | None) -> list[ColumnElement[bool]]:
    """``WHERE`` conditions limiting ``conversations`` to ``scope`` (none for full access)."""
    if scope is None or scope.everything:
        return []
    conds: list[ColumnElement[bool]] = []
    if scope.team is not None:
        conds.append(ConversationRow.team == scope.team)
    if scope.agent_id is not None:
        conds.append(ConversationRow.agent_id == scope.agent_id)
    return conds
