"""Roles and what each may do: the one permission matrix every route and page asks.

A role answers *whether* a kind of action is ever allowed (403 when not); *which* objects a user
reaches is their :class:`~qa_pipeline.access.principal.Scope` (404 outside it). A new permission is
one entry here, never an ``if`` in a route.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, get_args

Role = Literal["admin", "qa", "supervisor", "agent", "kpi"]
ROLES: tuple[Role, ...] = get_args(Role)

ROLE_ZH: dict[Role, str] = {
    "admin": "管理员",
    "qa": "质检员",
    "supervisor": "班组长",
    "agent": "坐席",
    "kpi": "绩效系统",
}


class Action(StrEnum):
    CONVERSATION_READ = "read conversations"
    CONVERSATION_CREATE = "submit conversations"
    CALL_UPLOAD = "upload recordings"
    JOB_READ = "read jobs"
    JOB_RETRY = "run dead jobs again"
    AUDIO_READ = "play recordings"
    INDICES_READ = "read indices"
    QUEUE_READ = "read the review queue"
    REVIEW_WRITE = "review conversations"
    APPEAL_CREATE = "appeal verdicts"
    APPEAL_READ = "read appeals"
    APPEAL_DECIDE = "decide appeals"
    REVIEWS_EXPORT = "export reviews"
    AGREEMENT_READ = "read agreement reports"
    USERS_MANAGE = "manage users and teams"
    AUDIT_LOG_READ = "read the audit log"
    WEBHOOKS_MANAGE = "manage webhooks"


_EVERY_READER: frozenset[Role] = frozenset({"admin", "qa", "supervisor", "agent"})
PERMISSIONS: dict[Action, frozenset[Role]] = {
    Action.CONVERSATION_READ: _EVERY_READER,
    Action.CONVERSATION_CREATE: frozenset({"admin", "qa"}),
    Action.CALL_UPLOAD: frozenset({"admin", "qa"}),
    Action.JOB_READ: frozenset({"admin", "qa"}),
    Action.JOB_RETRY: frozenset({"admin"}),
    Action.AUDIO_READ: _EVERY_READER,
    Action.INDICES_READ: frozenset({"admin", "qa", "supervisor", "agent", "kpi"}),
    Action.QUEUE_READ: frozenset({"admin", "qa", "supervisor"}),
    Action.REVIEW_WRITE: frozenset({"admin", "qa", "supervisor"}),
    Action.APPEAL_CREATE: frozenset({"agent"}),
    Action.APPEAL_READ: _EVERY_READER,
    Action.APPEAL_DECIDE: frozenset({"admin", "qa"}),
    Action.REVIEWS_EXPORT: frozenset({"admin", "qa"}),
    Action.AGREEMENT_READ: frozenset({"admin", "qa"}),
    Action.USERS_MANAGE: frozenset({"admin"}),
    Action.AUDIT_LOG_READ: frozenset({"admin"}),
    Action.WEBHOOKS_MANAGE: frozenset({"admin"}),
}


def allowed(role: Role, action: Action) -> bool:
    """Whether ``role`` may ever do ``action`` (scope still limits which objects)."""
    return role in PERMISSIONS[action]
