"""Every endpoint × every role × own team vs other team: 401 without a token, 403 for a role that may
never do it, 404 for an object outside the caller's scope, success inside it; lists never leak."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from qa_pipeline.access.roles import Action, allowed
from qa_pipeline.pipeline import Pipeline
from qa_pipeline.recordings import store_recording
from tests.api.access_world import CONVERSATIONS, USERS, World, build_world
from tests.test_recordings import conversation_with_recording

REVIEW = {"items": {"greeting": {"verdict": "pass"}}, "comment": "复核"}
APPEAL = {"item": "forbidden_phrase", "reason": "我没有说禁语"}

# (method, path, body, action); {conv} is c-t1 or c-t2, {agent} its agent
OBJECT_ENDPOINTS: list[tuple[str, str, Any, Action]] = [
    ("GET", "/v1/conversations/{conv}", None, Action.CONVERSATION_READ),
    ("GET", "/v1/agents/{agent}/indices", None, Action.INDICES_READ),
    ("POST", "/v1/conversations/{conv}/reviews", REVIEW, Action.REVIEW_WRITE),
    ("POST", "/v1/conversations/{conv}/appeals", APPEAL, Action.APPEAL_CREATE),
    ("GET", "/v1/conversations/{conv}/audio", None, Action.AUDIO_READ),
]
# endpoints whose objects are not team-scoped: only the role decides (401 / 403 / anything else)
ROLE_ONLY: list[tuple[str, str, Any, Action]] = [
    (
        "POST",
        "/v1/conversations",
        {"id": "new-1", "turns": [{"speaker": "agent", "text": "您好"}]},
        Action.CONVERSATION_CREATE,
    ),
    ("POST", "/v1/calls", None, Action.CALL_UPLOAD),
    ("GET", "/v1/jobs/nope", None, Action.JOB_READ),
    ("GET", "/v1/jobs", None, Action.JOB_READ),
    ("POST", "/v1/jobs/nope/retry", None, Action.JOB_RETRY),
    ("POST", "/v1/batches", None, Action.CONVERSATION_CREATE),
    ("GET", "/v1/batches/nope", None, Action.JOB_READ),
    ("POST", "/v1/users", {"name": "x"}, Action.USERS_MANAGE),
    ("POST", "/v1/users/nobody/tokens", None, Action.USERS_MANAGE),
    ("POST", "/v1/users/nobody/revoke", None, Action.USERS_MANAGE),
    ("PUT", "/v1/agents/A09/team", {"team": "T9"}, Action.USERS_MANAGE),
    ("POST", "/v1/appeals/nope/decision", {"decision": "upheld", "comment": "x"}, Action.APPEAL_DECIDE),
    ("POST", "/v1/webhooks", {"url": "ftp://x", "events": ["scored"]}, Action.WEBHOOKS_MANAGE),
    ("GET", "/v1/webhooks", None, Action.WEBHOOKS_MANAGE),
    ("GET", "/v1/webhooks/nope/deliveries", None, Action.WEBHOOKS_MANAGE),
    ("DELETE", "/v1/webhooks/nope", None, Action.WEBHOOKS_MANAGE),
]
LIST_ENDPOINTS: list[tuple[str, Action]] = [
    ("/v1/conversations", Action.CONVERSATION_READ),
    ("/v1/review/queue", Action.QUEUE_READ),
    ("/v1/indices", Action.INDICES_READ),
    ("/v1/appeals", Action.APPEAL_READ),
    ("/v1/users", Action.USERS_MANAGE),
    ("/v1/reviews/export", Action.REVIEWS_EXPORT),
    ("/v1/reports/agreement", Action.AGREEMENT_READ),
    ("/v1/audit-log", Action.AUDIT_LOG_READ),
]
ROLE_OF = {name: fields["role"] for name, fields in USERS.items()}


@pytest.fixture(scope="module")
def world_client(full_pipeline: Pipeline, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from fastapi.testclient import TestClient

    from api.main import create_app
    from qa_pipeline.settings import Settings
    from tests.api.helpers import authorize

    folder = tmp_path_factory.mktemp("matrix")
    settings = Settings(database_url=f"sqlite:///{folder / 'api.db'}", audio_dir=folder / "audio")
    with TestClient(create_app(settings, pipeline=full_pipeline)) as client:
        authorize(client)
        world = build_world(client)
        del client.headers["Authorization"]  # from here on each call names its user (or none)
        for conv in CONVERSATIONS:
            recording = conversation_with_recording(tmp_path_factory.mktemp(conv)).model_copy(
                update={"id": conv}
            )
            store_recording(recording, client.app.state.qa.settings)  # type: ignore[attr-defined]
        yield world


def in_scope(user: str, conv: str) -> bool:
    agent, team = CONVERSATIONS[conv]
    fields = USERS[user]
    if fields["role"] == "supervisor":
        return fields["team"] == team
    if fields["role"] == "agent":
        return fields["agent_id"] == agent
    return True


def expected(user: str | None, conv: str, action: Action) -> set[int]:
    if user is None:
        return {401}
    if not allowed(ROLE_OF[user], action):  # type: ignore[arg-type]
        return {403}
    if not in_scope(user, conv):
        return {404}
    return {200, 201, 409}  # done, or refused on its merits (appealed already), never hidden


CASES = [
    (user, conv, endpoint)
    for user in [None, *USERS]
    for conv in CONVERSATIONS
    for endpoint in OBJECT_ENDPOINTS
]


@pytest.mark.parametrize(
    ("user", "conv", "endpoint"), CASES, ids=lambda v: str(v[1] if isinstance(v, tuple) else v)
)
def test_object_endpoints(
    world_client: World, user: str | None, conv: str, endpoint: tuple[str, str, Any, Action]
) -> None:
    method, template, body, action = endpoint
    path = template.format(conv=conv, agent=CONVERSATIONS[conv][0])
    response = world_client.call(user, method, path, body)
    assert response.status_code in expected(user, conv, action), (user, path, response.text)


@pytest.mark.parametrize("user", [None, *USERS])
@pytest.mark.parametrize("endpoint", ROLE_ONLY, ids=lambda e: f"{e[0]} {e[1]}")
def test_role_only_endpoints(
    world_client: World, user: str | None, endpoint: tuple[str, str, Any, Action]
) -> None:
    method, path, body, action = endpoint
    response = world_client.call(user, method, path, body)
    if user is None:
        assert response.status_code == 401
    elif not allowed(ROLE_OF[user], action):  # type: ignore[arg-type]
        assert response.status_code == 403, response.text
    else:
        assert response.status_code not in (401, 403, 500), response.text


@pytest.mark.parametrize("user", [None, *USERS])
@pytest.mark.parametrize(("path", "action"), LIST_ENDPOINTS)
def test_lists_show_and_count_only_the_scope(
    world_client: World, user: str | None, path: str, action: Action
) -> None:
    response = world_client.call(user, "GET", path)
    if user is None:
        assert response.status_code == 401 and response.headers["www-authenticate"].startswith("Bearer")
        return
    if not allowed(ROLE_OF[user], action):  # type: ignore[arg-type]
        assert response.status_code == 403, response.text
        return
    assert response.status_code == 200, response.text
    visible = {c for c in CONVERSATIONS if in_scope(user, c)}
    hidden = set(CONVERSATIONS) - visible
    text = response.text
    for conv in hidden:
        agent = CONVERSATIONS[conv][0]
        assert conv not in text and agent not in text, (user, path)
    if path == "/v1/reviews/export":
        return
    body = response.json()
    everything = ROLE_OF[user] in ("admin", "qa")  # they also see what other tests here submitted
    if path == "/v1/conversations":
        ids = {i["id"] for i in body["items"]}
        assert ids & set(CONVERSATIONS) == visible and (everything or ids == visible)
        assert body["total"] == len(ids)
    if path == "/v1/review/queue":
        ids = {i["conversation_id"] for i in body["items"]}
        assert ids & set(CONVERSATIONS) <= visible and (everything or ids <= visible)
        assert body["counts"]["total"] == len(body["items"])


def test_kpi_reads_indices_but_no_transcript(world_client: World) -> None:
    csv = world_client.call("kpi1", "GET", "/v1/indices?format=csv&period=day")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert "A01" in csv.text and "A02" in csv.text and "transcript" not in csv.text
    assert world_client.call("kpi1", "GET", "/v1/conversations/c-t1").status_code == 403


def test_a_revoked_or_forged_token_is_401(world_client: World) -> None:
    client, w = world_client.client, world_client
    assert client.get("/v1/conversations", headers={"Authorization": "Bearer qa_forged"}).status_code == 401
    assert client.get("/v1/conversations", headers={"Authorization": "Basic abc"}).status_code == 401
    token = w.call("admin1", "POST", "/v1/users", {"name": "temp", "role": "qa"}).json()["token"]
    assert client.get("/v1/conversations", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert w.call("admin1", "POST", "/v1/users/temp/revoke").status_code == 200
    assert client.get("/v1/conversations", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_health_needs_no_token(world_client: World) -> None:
    assert world_client.client.get("/health").status_code == 200
