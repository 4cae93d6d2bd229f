"""Who is calling (:class:`Principal`) and which objects they reach (:class:`Scope`).

Scope rules, decided here and applied by the store's query filters:

- ``admin`` and ``qa``: every team;
- ``supervisor``: conversations of their team (a conversation's team is its own ``team``, else the
  team its agent belongs to);
- ``agent``: their own conversations only (``agent_id``);
- ``kpi``: indices of every team, or of their team when the user has one.
"""

from __future__ import annotations

from dataclasses import dataclass

from qa_pipeline.access.roles import Action, Role, allowed
from qa_pipeline.errors import ForbiddenError

NOBODY = "\x00"
"""An id no stored object has (ids may not contain NUL): the scope of a user missing their team/agent."""


@dataclass(frozen=True)
class Scope:
    """The objects a caller reaches: ``team`` ``None`` and ``agent_id`` ``None`` mean every one."""

    team: str | None = None
    agent_id: str | None = None

    @property
    def everything(self) -> bool:
        return self.team is None and self.agent_id is None

    def covers_team(self, team: str) -> bool:
        """Whether a whole team's figures are visible (an agent sees no team)."""
        return self.agent_id is None and self.team in (None, team)


@dataclass(frozen=True)
class Principal:
    """An authenticated user as the domain sees it."""

    user_id: int
    name: str
    role: Role
    team: str | None = None
    agent_id: str | None = None

    @property
    def scope(self) -> Scope:
        if self.role == "agent":
            return Scope(agent_id=self.agent_id or NOBODY)
        if self.role == "supervisor":
            return Scope(team=self.team or NOBODY)
        if self.role == "kpi" and self.team:
            return Scope(team=self.team)
        return Scope()

    def can(self, action: Action) -> bool:
        return allowed(self.role, action)

    def require(self, action: Action) -> None:
        """Raise :class:`ForbiddenError` (403) unless the role may do ``action``."""
        if not self.can(action):
            raise ForbiddenError(self.role, action.value)


SYSTEM = Principal(user_id=0, name="system", role="admin")
"""The command line acting locally (``qa reviews export`` …): the operator owns the database."""
