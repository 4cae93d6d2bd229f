"""/v1/webhooks: register, list and remove subscribers; see their deliveries (admin only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from api.deps import Caller, ClientDep, StateDep
from api.routes.conversations import ERRORS
from qa_pipeline.access.audit_log import Actor
from qa_pipeline.access.principal import Principal
from qa_pipeline.access.roles import Action
from qa_pipeline.webhooks import (
    DeliveryPublic,
    WebhookCreate,
    WebhookCreated,
    WebhookPublic,
    deliveries,
    list_hooks,
    register,
    remove,
)

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
Admin = Annotated[Principal, Depends(Caller(Action.WEBHOOKS_MANAGE))]


@router.post(
    "", status_code=201, response_model=WebhookCreated, responses=ERRORS, summary="Register a webhook"
)
def create_webhook(body: WebhookCreate, state: StateDep, who: Admin, client: ClientDep) -> WebhookCreated:
    """Events ``scored``, ``flagged``, ``reviewed``, ``appealed``; the secret (for X-QA-Signature) is
    shown once."""
    return register(state.engine, body, Actor(who, client))


@router.get("", response_model=list[WebhookPublic], responses=ERRORS, summary="List webhooks")
def read_webhooks(state: StateDep, _who: Admin) -> list[WebhookPublic]:
    return list_hooks(state.engine)


@router.delete("/{hook_id}", status_code=204, responses=ERRORS, summary="Remove a webhook")
def delete_webhook(hook_id: str, state: StateDep, who: Admin, client: ClientDep) -> None:
    remove(state.engine, hook_id, Actor(who, client))


@router.get(
    "/{hook_id}/deliveries", response_model=list[DeliveryPublic], responses=ERRORS, summary="Delivery log"
)
def read_deliveries(hook_id: str, state: StateDep, _who: Admin) -> list[DeliveryPublic]:
    """Newest first: state (pending / delivered / dead), attempts, last status or error."""
    return deliveries(state.engine, hook_id)
