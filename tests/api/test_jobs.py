"""POST /v1/calls and GET /v1/jobs/{id}: upload, idempotency, size and format checks, restarts.

The worker runs the real job machinery; the transcript comes from a sidecar JSON file
(:class:`tests.jobs.sidecar.SidecarSource`) so these tests run without the speech model.
``test_real_audio_pipeline`` uses the real audio reader and ``pipeline.audio.yaml`` when present.
"""

from __future__ import annotations

import importlib.util
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from qa_pipeline.jobs import AUDIO_PIPELINE, CALL_JOB, CallHandler, JobHandler, spool_dir
from qa_pipeline.pipeline import Pipeline
from qa_pipeline.settings import Settings
from qa_pipeline.store import create_job, init_db
from qa_pipeline.store.job_leases import claim_next
from qa_pipeline.store.models import JobRow
from tests.api.helpers import authorize
from tests.jobs.sidecar import (
    PipelineFactoryCounter,
    SidecarSource,
    light_pipeline_config,
    write_call,
    write_transcript,
)

StartApp = Callable[..., TestClient]
Response = Any  # the TestClient's response type (its httpx flavour varies)


@pytest.fixture
def start_app(tmp_path: Path, light_pipeline: Pipeline) -> Iterator[StartApp]:
    """``start_app(handler=None, **settings)``: an app on ``tmp_path/api.db`` with the sidecar worker."""
    clients: list[TestClient] = []

    def start(handler: JobHandler | None = None, **overrides: Any) -> TestClient:
        fast = {"job_retry_base_s": 0.0, "job_max_attempts": 2, "audio_dir": tmp_path}
        settings = Settings(database_url=f"sqlite:///{tmp_path / 'api.db'}", **{**fast, **overrides})
        if handler is None:
            factory = PipelineFactoryCounter(light_pipeline_config(tmp_path / "pipeline"))
            handler = CallHandler(
                settings, source=SidecarSource(tmp_path / "transcripts"), pipeline_factory=factory
            )
        client = TestClient(create_app(settings, pipeline=light_pipeline, job_handler=handler))
        client.__enter__()
        clients.append(client)
        authorize(client)
        return client

    yield start
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def recording(tmp_path: Path) -> Path:
    path = write_call(tmp_path / "call-0042.wav")
    write_transcript(tmp_path / "transcripts", path.name)
    return path


def upload(client: TestClient, path: Path, metadata: Any = None, **kw: Any) -> Response:
    data = (
        {}
        if metadata is None
        else {"metadata": metadata if isinstance(metadata, str) else json.dumps(metadata)}
    )
    with path.open("rb") as f:
        return client.post("/v1/calls", files={"file": (path.name, f, "audio/wav")}, data=data, **kw)


def poll(client: TestClient, url: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(url).json()
        if body["state"] in ("done", "dead"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"{url} did not finish within {timeout} s")


def spooled(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "spool"
    return sorted(folder.iterdir()) if folder.is_dir() else []


def job_count(client: TestClient) -> int:
    from sqlalchemy import func, select

    with client.app.state.qa.engine.connect() as conn:  # type: ignore[attr-defined]
        return int(conn.scalar(select(func.count()).select_from(JobRow)) or 0)


def assert_error(resp: Response, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    error: dict[str, Any] = resp.json()["error"]
    assert error["code"] == code
    return error


def test_upload_poll_and_fetch_the_result(start_app: StartApp, recording: Path) -> None:
    client = start_app()
    meta = {"id": "call-0042", "agent_id": "A7", "team": "north", "started_at": "2024-05-01T09:30:00+08:00"}
    resp = upload(client, recording, meta)
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert body["state"] in ("queued", "running", "done")
    assert body["links"]["self"] == f"/v1/jobs/{body['job_id']}"
    done = poll(client, body["links"]["self"])
    assert (done["state"], done["error"], done["conversation_id"]) == ("done", None, "call-0042")
    assert done["links"]["conversation"] == "/v1/conversations/call-0042"
    conv = client.get(done["links"]["conversation"]).json()
    assert (conv["agent_id"], conv["team"]) == ("A7", "north") and len(conv["transcript"]) == 3
    assert spooled(recording.parent) == []  # the recording is deleted once audited


def test_without_an_id_the_conversation_id_is_the_file_name(start_app: StartApp, recording: Path) -> None:
    client = start_app()
    first = upload(client, recording)
    done = poll(client, first.json()["links"]["self"])
    assert (first.status_code, done["conversation_id"], done["state"]) == (202, "call-0042", "done")
    again = upload(client, recording)  # the same recording under the same id: the same job
    assert (again.status_code, again.json()["job_id"]) == (200, done["job_id"])


def test_the_same_recording_with_corrected_metadata_is_a_new_job(
    start_app: StartApp, recording: Path
) -> None:
    client = start_app()
    first = poll(client, upload(client, recording, {"agent_id": "A7"}).json()["links"]["self"])
    fixed = upload(client, recording, {"agent_id": "A8"})
    assert fixed.status_code == 202 and fixed.json()["job_id"] != first["job_id"]
    poll(client, fixed.json()["links"]["self"])
    assert client.get("/v1/conversations/call-0042").json()["agent_id"] == "A8"


def test_the_same_recording_under_another_id_is_a_new_job(start_app: StartApp, recording: Path) -> None:
    client = start_app()
    first = poll(client, upload(client, recording).json()["links"]["self"])
    other = upload(client, recording, metadata={"id": "call-0042-again"})
    assert other.status_code == 202 and other.json()["job_id"] != first["job_id"]


def test_idempotency_key_returns_the_same_job(start_app: StartApp, recording: Path, tmp_path: Path) -> None:
    client = start_app()
    key = {"Idempotency-Key": "upload-0042"}
    first = upload(client, recording, headers=key)
    again = upload(client, recording, headers=key)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["job_id"] == first.json()["job_id"]
    assert job_count(client) == 1
    poll(client, first.json()["links"]["self"])
    assert spooled(tmp_path) == []


def test_too_long_idempotency_key_is_refused(start_app: StartApp, recording: Path) -> None:
    client = start_app()
    err = assert_error(upload(client, recording, headers={"Idempotency-Key": "k" * 300}), 422, "QA601")
    assert err["field"] == "Idempotency-Key"


def test_declared_size_over_the_limit_is_refused_before_reading(start_app: StartApp, tmp_path: Path) -> None:
    client = start_app(max_upload_bytes=10_000)
    headers = {"content-type": "multipart/form-data; boundary=x", "content-length": str(10**9)}
    resp = client.post("/v1/calls", content=b"--x--\r\n", headers=headers)  # tiny body, huge declared size
    assert_error(resp, 413, "QA110")
    assert job_count(client) == 0 and spooled(tmp_path) == []


def test_streamed_size_over_the_limit_is_refused(start_app: StartApp, tmp_path: Path) -> None:
    client = start_app(max_upload_bytes=10_000)
    big = write_call(tmp_path / "big.wav", seconds=2.0)  # 128 kB
    body = b"".join(
        [
            b'--x\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\n',
            b"Content-Type: audio/wav\r\n\r\n",
            big.read_bytes(),
            b"\r\n--x--\r\n",
        ]
    )

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer
        for i in range(0, len(body), 4096):
            yield body[i : i + 4096]

    resp = client.post(
        "/v1/calls", content=chunks(), headers={"content-type": "multipart/form-data; boundary=x"}
    )
    assert_error(resp, 413, "QA110")
    assert job_count(client) == 0 and spooled(tmp_path) == []


@pytest.mark.parametrize("name", ["call.wav", "notes.txt"])
def test_non_audio_is_refused_and_nothing_is_stored(start_app: StartApp, tmp_path: Path, name: str) -> None:
    client = start_app()
    path = tmp_path / name
    path.write_text("这不是录音 just some text\n" * 20, encoding="utf-8")
    err = assert_error(upload(client, path), 422, "QA114")
    assert err["file"] == name and str(tmp_path) not in json.dumps(err)  # never the server's spool path
    assert job_count(client) == 0 and spooled(tmp_path) == []


def test_recording_over_the_length_limit_is_refused(
    start_app: StartApp, recording: Path, tmp_path: Path
) -> None:
    client = start_app(max_audio_s=0.5)
    assert_error(upload(client, recording), 413, "QA115")
    assert job_count(client) == 0 and spooled(tmp_path) == []


def test_more_than_two_channels_is_refused(start_app: StartApp, tmp_path: Path) -> None:
    client = start_app()
    assert_error(upload(client, write_call(tmp_path / "four.wav", channels=4)), 422, "QA116")


@pytest.mark.parametrize(
    ("metadata", "code", "field"),
    [
        ("{not json", "QA104", "metadata"),
        ({"started_at": "yesterday"}, "QA106", "metadata.started_at"),
        ({"id": "a/b"}, "QA106", "metadata.id"),
    ],
)
def test_bad_metadata_is_a_typed_error(
    start_app: StartApp, recording: Path, metadata: Any, code: str, field: str
) -> None:
    client = start_app()
    err = assert_error(upload(client, recording, metadata), 422, code)
    assert err["field"] == field
    assert spooled(recording.parent) == []


@pytest.mark.parametrize("metadata", ["{not json", "[1, 2]"])
def test_bad_metadata_gets_a_hint_about_the_metadata_field(
    start_app: StartApp, recording: Path, metadata: str
) -> None:
    err = upload(start_app(), recording, metadata).json()["error"]
    assert "metadata" in err["hint"] and "JSON object" in err["hint"]
    assert "Each line" not in err["hint"]


def test_an_empty_recording_gets_the_same_message_as_the_cli(start_app: StartApp, tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    err = assert_error(upload(start_app(), empty), 422, "QA114")
    assert err["detail"] == "the file is empty (0 bytes)" and err["file"] == "empty.wav"
    assert "Errno" not in json.dumps(err) and spooled(tmp_path) == []


def test_a_file_name_holding_a_phone_number_asks_for_metadata_id(start_app: StartApp, tmp_path: Path) -> None:
    path = write_call(tmp_path / "13812345678.wav")
    err = assert_error(upload(start_app(), path), 422, "QA106")
    assert "metadata" in err["hint"] and "13812345678" not in json.dumps(err)


def test_missing_file_field_and_wrong_content_type(start_app: StartApp) -> None:
    client = start_app()
    err = assert_error(
        client.post("/v1/calls", data={"metadata": "{}"}, files={"x": ("a", b"b")}), 422, "QA105"
    )
    assert err["field"] == "file"
    assert_error(client.post("/v1/calls", json={"file": "x"}), 415, "QA601")


def test_unknown_job_is_404(start_app: StartApp) -> None:
    assert_error(start_app().get("/v1/jobs/nope"), 404, "QA502")


def test_a_job_left_running_by_a_killed_process_runs_again_once_its_lease_lapses(
    tmp_path: Path, start_app: StartApp, recording: Path
) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'api.db'}", audio_dir=tmp_path)
    engine = init_db(settings.database_url)
    try:
        folder = spool_dir(settings)
        folder.mkdir(parents=True)
        (folder / "abc.wav").write_bytes(recording.read_bytes())
        payload = {"spool_file": "abc.wav", "filename": recording.name, "conversation_id": "crashed-1"}
        job = create_job(engine, CALL_JOB, payload)
        assert claim_next(engine, "killed-process", 0.01) is not None  # its lease lapses at once
    finally:
        engine.dispose()
    client = start_app()
    done = poll(client, f"/v1/jobs/{job.id}")
    assert (done["state"], done["attempts"]) == ("done", 2)
    assert client.get("/v1/conversations/crashed-1").status_code == 200


def test_a_failing_job_is_reported_and_the_worker_goes_on(
    start_app: StartApp, recording: Path, tmp_path: Path
) -> None:
    client = start_app()
    broken = write_call(tmp_path / "no-transcript.wav")  # the sidecar source has no transcript for it
    failed = poll(client, upload(client, broken).json()["links"]["self"])
    assert failed["state"] == "dead" and failed["error"]["code"] == "QA405"
    assert failed["links"]["conversation"] is None
    ok = poll(client, upload(client, recording).json()["links"]["self"])
    assert ok["state"] == "done"


def test_a_dead_recording_can_be_uploaded_again(start_app: StartApp, tmp_path: Path) -> None:
    client = start_app()
    broken = write_call(tmp_path / "retry-me.wav")  # no transcript yet: the job fails
    failed = poll(client, upload(client, broken).json()["links"]["self"])
    assert failed["state"] == "dead"
    write_transcript(tmp_path / "transcripts", broken.name)
    again = upload(client, broken)
    assert again.status_code == 202 and again.json()["job_id"] != failed["job_id"]
    assert poll(client, again.json()["links"]["self"])["state"] == "done"
    assert client.get(f"/v1/jobs/{failed['job_id']}").json()["state"] == "dead"  # kept


def _audio_app(tmp_path: Path, light_pipeline: Pipeline) -> TestClient:
    if importlib.util.find_spec("qa_pipeline.sources.audio") is None or not AUDIO_PIPELINE.is_file():
        pytest.skip("qa_pipeline.sources.audio / config/pipeline.audio.yaml not written yet")
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'api.db'}", audio_dir=tmp_path / "audio")
    return TestClient(create_app(settings, pipeline=light_pipeline))  # the real CallHandler


def _audit_recording(client: TestClient, path: Path) -> dict[str, Any]:
    if "Authorization" not in client.headers:
        authorize(client)
    resp = upload(client, path, {"agent_id": "A1"})
    assert resp.status_code == 202, resp.text
    body = poll(client, resp.json()["links"]["self"], timeout=300)
    assert body["state"] in ("done", "dead")
    return body


def test_real_audio_pipeline_on_speech(tmp_path: Path, light_pipeline: Pipeline, shared_data: Path) -> None:
    recording = shared_data / "speech" / "wenet_aishell-BAC009S0724W0121.wav"  # 广州市房地产中介协会分析
    with _audio_app(tmp_path, light_pipeline) as client:
        body = _audit_recording(client, recording)
        assert body["state"] == "done", body["error"]
        conv = client.get(body["links"]["conversation"]).json()
        audio = client.get(body["links"]["conversation"] + "/audio")
    assert audio.status_code == 200 and audio.content[:4] == b"RIFF"  # kept for playback
    assert conv["agent_id"] == "A1" and conv["transcript"]
    text = "".join(t["text"] for t in conv["transcript"])
    assert "广州市" in text and "协会" in text  # Whisper base: "广州市佛地产中间协会分析"


def test_real_audio_pipeline_on_a_recording_without_speech(tmp_path: Path, light_pipeline: Pipeline) -> None:
    with _audio_app(tmp_path, light_pipeline) as client:
        body = _audit_recording(client, write_call(tmp_path / "tone.wav", seconds=2.0))
    if body["state"] == "dead":  # no speech: a typed error or a stored empty call, never a crash
        assert body["error"]["code"] != "QA405", body["error"]
