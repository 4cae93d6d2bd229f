"""Finding input files and reading a batch: file-level errors are yielded and the batch goes on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa_pipeline.errors import E, InputError
from qa_pipeline.settings import Settings
from qa_pipeline.sources import CsvMapping, iter_input_files, read_conversations
from qa_pipeline.types import Conversation
from tests.sources.samples import call_record, wav_bytes


def write_jsonl(path: Path, *ids: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = (json.dumps(call_record(i), ensure_ascii=False) for i in ids)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_folders_are_searched_recursively_and_sorted(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "b" / "2.jsonl", "x")
    write_jsonl(tmp_path / "b" / "1.JSONL", "x")
    write_jsonl(tmp_path / "a.json", "x")
    write_jsonl(tmp_path / ".hidden" / "3.jsonl", "x")
    (tmp_path / "c.csv").write_text("x", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("x", encoding="utf-8")
    (tmp_path / "audio.wav").write_bytes(wav_bytes())
    rel = [p.relative_to(tmp_path).as_posix() for p in iter_input_files([tmp_path])]
    assert rel == ["a.json", "audio.wav", "b/1.JSONL", "b/2.jsonl", "c.csv"]


def test_files_are_kept_as_given_and_read_once(tmp_path: Path) -> None:
    b = write_jsonl(tmp_path / "b.jsonl", "x")
    a = write_jsonl(tmp_path / "a.jsonl", "x")
    assert iter_input_files([b, a, tmp_path / "." / "b.jsonl"]) == [b, a]
    assert iter_input_files([str(a)]) == [a]  # type: ignore[list-item]


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        iter_input_files([tmp_path / "nope"])
    assert err.value.code is E.FILE_NOT_FOUND
    assert err.value.file == str(tmp_path / "nope")


def test_unsupported_extension(tmp_path: Path) -> None:
    path = tmp_path / "calls.xlsx"
    path.write_bytes(b"PK\x03\x04")
    with pytest.raises(InputError) as err:
        iter_input_files([path])
    assert err.value.code is E.UNSUPPORTED_FORMAT
    assert ".xlsx" in err.value.detail


def test_batch_goes_on_after_file_level_errors(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "1_good.jsonl", "j1", "j2")
    (tmp_path / "2_audio.jsonl").write_bytes(wav_bytes())
    (tmp_path / "3_chat.csv").write_text("会话,时间,角色,内容\nk1,0,客服,您好\n", encoding="gbk")
    (tmp_path / "4_columns.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    write_jsonl(tmp_path / "5_big.jsonl", *[f"b{i}" for i in range(50)])
    (tmp_path / "6_one.json").write_text(json.dumps(call_record("o1")), encoding="utf-8")
    settings = Settings(max_file_bytes=4_000)
    mapping = CsvMapping(id="会话", time="时间", speaker="角色", text="内容")
    results = list(read_conversations([tmp_path], settings=settings, csv_mapping=mapping))
    summary = [r.id if isinstance(r, Conversation) else (r.code, Path(r.file or "").name) for r in results]
    assert summary == [
        "j1",
        "j2",
        (E.NOT_TEXT, "2_audio.jsonl"),
        "k1",
        (E.CSV_COLUMNS, "4_columns.csv"),
        (E.FILE_TOO_LARGE, "5_big.jsonl"),
        "o1",
    ]


def test_missing_path_in_a_batch_raises_before_reading(tmp_path: Path) -> None:
    good = write_jsonl(tmp_path / "good.jsonl", "j1")
    with pytest.raises(InputError) as err:
        list(read_conversations([good, tmp_path / "gone.jsonl"], settings=Settings()))
    assert err.value.code is E.FILE_NOT_FOUND


def test_encoding_option_applies_to_every_file(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(json.dumps(call_record("g1"), ensure_ascii=False).encode("gbk"))
    [conv] = list(read_conversations([path], settings=Settings(), encoding="gbk"))
    assert isinstance(conv, Conversation)
    [err] = list(read_conversations([path], settings=Settings(), encoding="utf-8"))
    assert isinstance(err, InputError)
    assert err.code is E.ENCODING


def test_real_dev_folder(dialogues_path: Path) -> None:
    results = list(read_conversations([dialogues_path.parent], settings=Settings()))
    assert all(isinstance(r, Conversation) for r in results)
    texts = [r for r in results if isinstance(r, Conversation) and r.audio is None]
    calls = [r for r in results if isinstance(r, Conversation) and r.audio is not None]
    assert (len(texts), len(calls)) == (80, 12)  # the folder holds 80 transcripts and 12 recordings
