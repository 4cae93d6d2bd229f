"""The whole default pipeline behind the API: a real dev conversation is scored, stored and served.

Skipped (with the missing stage named) while the default pipeline cannot be built yet.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from qa_pipeline.pipeline import Pipeline
from tests.api.helpers import MakeClient, post


@pytest.fixture
def full_client(make_client: MakeClient, full_pipeline: Pipeline) -> TestClient:
    return make_client(full_pipeline)


def test_dev_conversation_is_scored_with_evidence(
    full_client: TestClient, dev_records: list[dict[str, Any]]
) -> None:
    record = dev_records[0]
    created = post(full_client, record)
    assert created.status_code == 201, created.text
    result = created.json()["result"]
    assert result["quality_index"] is not None and 0 <= result["quality_index"] <= 100
    assert result["emotion_index"] is not None and result["grade"]
    assert set(record["labels"]) & set(result["items"])  # scorecard items from the default rubric
    assert result["versions"]["pipeline"] and result["versions"]["rubric"]

    got = full_client.get(f"/v1/conversations/{record['id']}").json()
    assert got["result"] == result
    assert got["evidence"] == {k: v["evidence"] for k, v in result["items"].items()}
    assert any(got["evidence"].values())


def test_agent_indices_average_the_stored_results(
    full_client: TestClient, dev_records: list[dict[str, Any]]
) -> None:
    agent = dev_records[0]["agent_id"]
    mine = [r for r in dev_records if r["agent_id"] == agent][:3]
    qualities = [post(full_client, r).json()["result"]["quality_index"] for r in mine]
    body = full_client.get(f"/v1/agents/{agent}/indices").json()
    assert body["conversations"] == len(mine)
    assert body["quality_index"] == pytest.approx(sum(qualities) / len(qualities))
    assert body["agent_score"] is not None and body["grade"]


def test_repost_of_a_scored_conversation_is_unchanged(
    full_client: TestClient, dev_records: list[dict[str, Any]]
) -> None:
    record = dev_records[1]
    first = post(full_client, record)
    again = post(full_client, record)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["result"] == first.json()["result"]
