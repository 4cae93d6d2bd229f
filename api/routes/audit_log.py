"""/v1/audit-log: who saw or changed what (admin only; the log itself is append-only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.deps import Caller, StateDep
from api.routes.agents import DATE_DOC, ISO_DATE
from api.routes.conversations import ERRORS, MAX_OFFSET
from qa_pipeline.access.audit_log import AuditEntry, AuditFilter, entries
from qa_pipeline.access.principal import Principal
from qa_pipeline.access.roles import Action
from qa_pipeline.periods import check_order, parse_bound

router = APIRouter(tags=["audit log"])
Admin = Annotated[Principal, Depends(Caller(Action.AUDIT_LOG_READ))]


@router.get("/v1/audit-log", response_model=list[AuditEntry], responses=ERRORS, summary="The audit log")
def read_audit_log(
    state: StateDep,
    _who: Admin,
    user: str | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    from_: Annotated[str | None, Query(alias="from", description=DATE_DOC, pattern=ISO_DATE)] = None,
    to: Annotated[str | None, Query(description=DATE_DOC + "; exclusive", pattern=ISO_DATE)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[AuditEntry]:
    """Newest first."""
    tz = state.settings.tz
    start, end = parse_bound(from_, "from", tz), parse_bound(to, "to", tz)
    check_order(start, end)
    flt = AuditFilter(
        user_name=user,
        action=action,
        object_type=object_type,
        object_id=object_id,
        start=start,
        end=end,
        limit=limit,
        offset=offset,
    )
    return entries(state.engine, flt)
