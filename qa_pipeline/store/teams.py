"""Which team a conversation belongs to: its own ``team``, else the team of its agent.

``conversations.own_team`` keeps what the conversation said; ``conversations.team`` is the team in
force, the one every scope filter reads. When an agent's team changes (an admin's
``set-team``, or a newer conversation naming another team), the conversations without a team of
their own follow it at once, so a supervisor's scope always matches the current assignment.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from qa_pipeline.store.models import ConversationRow, utcnow
from qa_pipeline.store.models_access import AgentRow, TeamRow
from qa_pipeline.store.version import bump
from qa_pipeline.types import Conversation


def agent_team(session: Session, agent_id: str | None) -> str | None:
    """The team an admin or an earlier conversation gave ``agent_id`` (None if unknown)."""
    if agent_id is None:
        return None
    with session.no_autoflush:
        agent = session.get(AgentRow, agent_id)
    return None if agent is None else agent.team


def ensure_team(session: Session, team: str) -> None:
    if session.get(TeamRow, team) is None:
        session.add(TeamRow(id=team, name=team))
        session.flush()


def move_agent(session: Session, agent_id: str, team: str, source: str) -> None:
    """Put ``agent_id`` in ``team``; its conversations without a team of their own follow."""
    ensure_team(session, team)
    agent = session.get(AgentRow, agent_id)
    if agent is None:
        agent = AgentRow(agent_id=agent_id)
        session.add(agent)
    agent.team, agent.team_source, agent.updated_at = team, source, utcnow()
    stmt = update(ConversationRow).where(
        ConversationRow.agent_id == agent_id, ConversationRow.own_team.is_(None)
    )
    session.execute(stmt.values(team=team, updated_at=utcnow()))
    bump(session)


def register_agent(session: Session, conv: Conversation) -> None:
    """Record the agent and its team (an admin's assignment is kept); teams exist as records."""
    if conv.team:
        ensure_team(session, conv.team)
    if conv.agent_id is None:
        return
    agent = session.get(AgentRow, conv.agent_id)
    if agent is None:
        session.add(AgentRow(agent_id=conv.agent_id, team=conv.team, team_source="conversation"))
    elif conv.team and agent.team_source != "admin" and agent.team != conv.team:
        move_agent(session, conv.agent_id, conv.team, "conversation")
