"""Call-job helpers: where uploads are spooled, spool names, conversation ids, payload validation."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from qa_pipeline.errors import E, InputError
from qa_pipeline.jobs import CallPayload, conversation_id_for, new_spool_name, spool_dir
from qa_pipeline.settings import Settings
from qa_pipeline.store.jobs import Job
from qa_pipeline.text.pii import mask_value


def test_spool_folder_sits_next_to_the_sqlite_file(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'db' / 'qa.db'}")
    assert spool_dir(settings) == (tmp_path / "db" / "spool").resolve()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "postgresql+psycopg://qa@db/qa"])
def test_spool_folder_without_a_database_file_is_in_tmp(url: str) -> None:
    assert spool_dir(Settings(database_url=url)).name == "qa-spool"


def test_spool_names_keep_the_suffix_and_survive_pii_masking() -> None:
    names = {new_spool_name("13812345678 录音.WAV") for _ in range(50)}
    assert len(names) == 50
    for name in names:
        assert re.fullmatch(r"[a-z]{24}\.wav", name)
        assert mask_value(name) == name  # stored masked: a digit run could be taken for a phone


def test_conversation_id_is_derived_from_the_content() -> None:
    a, b = conversation_id_for(b"\x01" * 32), conversation_id_for(b"\x02" * 32)
    assert a == conversation_id_for(b"\x01" * 32) and a != b
    assert re.fullmatch(r"call-[a-p]{24}", a)


def test_malformed_payload_is_a_typed_error() -> None:
    now = datetime.now(UTC)
    job = Job(
        id="j1", kind="call", state="running", payload={"path": "x"}, error=None,
        idempotency_key=None, created_at=now, updated_at=now, attempts=1,
    )  # fmt: skip
    with pytest.raises(InputError) as info:
        CallPayload.of(job)
    assert info.value.code is E.BAD_FIELD and "j1" in info.value.detail
