from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from qa_pipeline.classifiers.cli_support import classify_file, read_text_lines
from qa_pipeline.classifiers.sklearn_model import SklearnTextClassifier
from qa_pipeline.errors import E, InputError

LINES = ["太失望了，再也不买了", "", "我想查一下订单", "  ", "谢谢，问题解决了，非常满意"]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_classify_file_writes_json_lines(tmp_path: Path, tiny: SklearnTextClassifier, encoding: str) -> None:
    path = tmp_path / "in.txt"
    path.write_bytes("\r\n".join(LINES).encode(encoding))
    out = io.StringIO()
    assert classify_file(path, tiny, out, batch_size=2) == 3
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["text"] for r in records] == [LINES[0], LINES[2], LINES[4]]
    assert [r["label"] for r in records] == ["neg", "neu", "pos"]
    for rec in records:
        assert set(rec) == {"text", "label", "probs"}
        assert set(rec["probs"]) == {"neg", "neu", "pos"}
        assert sum(rec["probs"].values()) == pytest.approx(1.0)
    assert "\\u" not in out.getvalue()  # Chinese is written as is


def test_empty_file_writes_nothing(tmp_path: Path, tiny: SklearnTextClassifier) -> None:
    path = tmp_path / "empty.txt"
    path.write_text("\n\n", encoding="utf-8")
    out = io.StringIO()
    assert classify_file(path, tiny, out) == 0
    assert out.getvalue() == ""


def test_line_numbers_count_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "in.txt"
    path.write_text("a\n\nb\n", encoding="utf-8")
    assert list(read_text_lines(path)) == [(1, "a"), (3, "b")]


@pytest.mark.parametrize(
    ("content", "code"),
    [(None, E.FILE_NOT_FOUND), (b"\x00\x01binary", E.NOT_TEXT), (b"\xff\xfe\xff", E.ENCODING)],
)
def test_bad_files_are_typed_errors(tmp_path: Path, content: bytes | None, code: E) -> None:
    path = tmp_path / "in.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError) as info:
        list(read_text_lines(path))
    assert info.value.code is code
    assert info.value.file == str(path)


def test_size_limit(tmp_path: Path, tiny: SklearnTextClassifier) -> None:
    path = tmp_path / "in.txt"
    path.write_text("好" * 100, encoding="utf-8")
    with pytest.raises(InputError) as info:
        classify_file(path, tiny, io.StringIO(), max_bytes=10)
    assert info.value.code is E.FILE_TOO_LARGE
