"""GET /v1/conversations/{id}/audio: the PII-silenced recording with HTTP Range, scoped."""

from __future__ import annotations

from pathlib import Path

from qa_pipeline.pipeline import Pipeline
from qa_pipeline.recordings import store_recording
from tests.api.helpers import MakeClient
from tests.test_recordings import conversation_with_recording


def test_playback_with_range_is_scoped(
    make_client: MakeClient, light_pipeline: Pipeline, tmp_path: Path
) -> None:
    client = make_client(light_pipeline, audio_dir=tmp_path / "audio")
    record = {
        "id": "c-audio",
        "agent_id": "A01",
        "team": "T1",
        "turns": [{"speaker": "agent", "text": "您好"}],
    }
    assert client.post("/v1/conversations", json=record).status_code == 201
    store_recording(conversation_with_recording(tmp_path), client.app.state.qa.settings)  # type: ignore[attr-defined]
    full = client.get("/v1/conversations/c-audio/audio")
    assert full.status_code == 200 and full.headers["content-type"] == "audio/wav"
    assert full.headers["accept-ranges"] == "bytes"
    part = client.get("/v1/conversations/c-audio/audio", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == full.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(full.content)}"
    assert (
        client.get("/v1/conversations/c-audio/audio", headers={"Range": "bytes=999999999-"}).status_code
        == 416
    )
    other = client.post("/v1/users", json={"name": "sup2", "role": "supervisor", "team": "T2"}).json()[
        "token"
    ]
    hidden = client.get("/v1/conversations/c-audio/audio", headers={"Authorization": f"Bearer {other}"})
    assert hidden.status_code == 404
    assert client.get("/v1/conversations/nope/audio").status_code == 404
    log = client.get("/v1/audit-log?action=play_recording").json()
    assert len(log) == 3 and {e["object_id"] for e in log} == {"c-audio"}
