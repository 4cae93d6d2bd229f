"""The scripted walk of README 'Supervisors, agents and the KPI system': every step through the API."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient

from qa_pipeline.pipeline import Pipeline
from tests.api.access_world import record
from tests.api.helpers import MakeClient, post


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _add(client: TestClient, name: str, **fields: str) -> dict[str, str]:
    response = client.post("/v1/users", json={"name": name, **fields})
    assert response.status_code == 201, response.text
    return _bearer(response.json()["token"])


def test_walkthrough(make_client: MakeClient, full_pipeline: Pipeline) -> None:
    admin = make_client(full_pipeline)  # carries an admin's token
    sup1 = _add(admin, "sup1", role="supervisor", team="T1")
    sup2 = _add(admin, "sup2", role="supervisor", team="T2")
    kpi = _add(admin, "kpi1", role="kpi")
    agent = _add(admin, "wang", role="agent", agent_id="A01")
    qa = _add(admin, "qa1", role="qa")
    assert post(admin, record("c-t1", "A01", "T1")).status_code == 201
    assert post(admin, record("c-t2", "A02", "T2")).status_code == 201
    nobody = {"Authorization": ""}

    # the T1 supervisor sees only T1 in the queue
    queue = admin.get("/v1/review/queue", headers=sup1).json()
    assert [e["conversation_id"] for e in queue["items"]] == ["c-t1"]
    reasons = {r["code"] for r in queue["items"][0]["reasons"]}
    assert "fatal" in reasons

    # ... overturns an item: the conversation's quality index and the agent's index change
    before = admin.get("/v1/conversations/c-t1", headers=sup1).json()["result"]
    indices_before = admin.get("/v1/agents/A01/indices", headers=sup1).json()
    body = {
        "items": {"forbidden_phrase": {"verdict": "pass", "comment": "语气生硬但不构成禁语"}},
        "comment": "复核",
    }
    after = admin.post("/v1/conversations/c-t1/reviews", json=body, headers=sup1)
    assert after.status_code == 201, after.text
    item = after.json()["items"]["forbidden_phrase"]
    assert (item["verdict"], item["machine_verdict"], item["review"]["by"]) == ("pass", "fail", "sup1")
    assert before["quality_index"] == 0.0 and after.json()["quality_index"] > 0.0
    indices_after = admin.get("/v1/agents/A01/indices", headers=sup1).json()
    assert indices_after["quality_index"] > indices_before["quality_index"]

    # the T2 supervisor cannot see it
    assert admin.get("/v1/conversations/c-t1", headers=sup2).status_code == 404
    assert admin.post("/v1/conversations/c-t1/reviews", json=body, headers=sup2).status_code == 404

    # the agent appeals another item; a qa user upholds it
    appeal = admin.post(
        "/v1/conversations/c-t1/appeals",
        json={"item": "greeting", "reason": "客户先开口，我直接处理了"},
        headers=agent,
    )
    assert appeal.status_code == 201, appeal.text
    decided = admin.post(
        f"/v1/appeals/{appeal.json()['id']}/decision",
        json={"decision": "upheld", "comment": "合理"},
        headers=qa,
    )
    assert decided.status_code == 200 and decided.json()["state"] == "upheld"
    final = admin.get("/v1/conversations/c-t1", headers=agent).json()
    assert (
        final["result"]["items"]["greeting"]["verdict"] == "pass" and final["appeals"][0]["state"] == "upheld"
    )

    # the kpi user pulls CSV and cannot read the transcript
    pulled = admin.get("/v1/indices?format=csv&period=week", headers=kpi)
    rows = list(csv.DictReader(io.StringIO(pulled.text.lstrip("\ufeff"))))
    assert {r["agent_id"] for r in rows} == {"A01", "A02"} and all(r["quality_index_low"] == "" for r in rows)
    assert admin.get("/v1/conversations/c-t1", headers=kpi).status_code == 403
    assert admin.get("/v1/conversations/c-t1", headers=nobody).status_code == 401

    # the audit log shows each view and each decision
    log = admin.get("/v1/audit-log?object_id=c-t1").json()
    seen = [(e["user_name"], e["action"]) for e in reversed(log)]
    assert ("sup1", "view_transcript") in seen and ("wang", "view_transcript") in seen
    assert ("sup1", "review") in seen and ("wang", "appeal") in seen
    assert ("sup2", "view_transcript") not in seen  # a refused view shows nothing, and logs no view
    assert any(e["action"] == "appeal_upheld" for e in admin.get("/v1/audit-log?action=appeal_upheld").json())
