"""Call-job helpers: where uploads are spooled, spool names, conversation ids, payload validation."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from qa_pipeline.errors import E, InputError
from qa_pipeline.jobs import (
    CallPayload,
    content_key,
    digest_letters,
    new_spool_name,
    spool_dir,
    upload_conversation_id,
)
from qa_pipeline.settings import Settings
from qa_pipeline.store.jobs import Job
from qa_pipeline.text.pii import mask_value


@pytest.mark.parametrize("url", ["sqlite:///db/qa.db", "sqlite://", "postgresql+psycopg://qa@db/qa"])
def test_spool_folder_is_in_the_storage_folder_whatever_the_database(url: str, tmp_path: Path) -> None:
    settings = Settings(database_url=url, audio_dir=tmp_path / "store")
    assert spool_dir(settings) == tmp_path / "store" / "spool"


def test_spool_names_keep_the_suffix_and_survive_pii_masking() -> None:
    names = {new_spool_name("13812345678 录音.WAV") for _ in range(50)}
    assert len(names) == 50
    for name in names:
        assert re.fullmatch(r"[a-z]{24}\.wav", name)
        assert mask_value(name) == name  # stored masked: a digit run could be taken for a phone


def test_upload_id_is_the_file_name_without_extension() -> None:
    assert upload_conversation_id("0408-A01.wav") == "0408-A01"
    assert upload_conversation_id("C:\\calls\\north\\0408-A01.mp3") == "0408-A01"
    assert upload_conversation_id("../../etc/x.wav") == "x"


@pytest.mark.parametrize("name", [None, "", ".wav", "13812345678.wav", "x" * 300 + ".wav"])
def test_upload_without_a_usable_name_asks_for_metadata_id(name: str | None) -> None:
    with pytest.raises(InputError) as err:
        upload_conversation_id(name)
    assert "metadata" in err.value.info.hint and "138" not in err.value.message


def test_content_key_depends_on_content_and_id() -> None:
    a = content_key(digest_letters(b"\x01" * 32), "c1")
    assert a == content_key(digest_letters(b"\x01" * 32), "c1")
    assert a != content_key(digest_letters(b"\x02" * 32), "c1") and a != content_key(
        digest_letters(b"\x01" * 32), "c2"
    )
    assert re.fullmatch(r"[a-p]{64}", digest_letters(b"\x01" * 32))


def test_malformed_payload_is_a_typed_error() -> None:
    now = datetime.now(UTC)
    job = Job(
        id="j1", kind="call", state="running", payload={"path": "x"}, error=None,
        idempotency_key=None, created_at=now, updated_at=now, attempts=1, next_run_at=now,
    )  # fmt: skip
    with pytest.raises(InputError) as info:
        CallPayload.of(job)
    assert info.value.code is E.BAD_FIELD and "j1" in info.value.detail
