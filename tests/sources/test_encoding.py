"""File decoding: BOMs, UTF-8, GB18030/GBK, BOM-less UTF-16, binary files, size limits."""

from __future__ import annotations

import codecs
import os
import random
from pathlib import Path

import pytest

from qa_pipeline.errors import E, InputError
from qa_pipeline.sources.encoding import decode_bytes, read_text
from tests.sources.samples import wav_bytes

TEXT = '{"id": "c1", "turns": [{"speaker": "客服", "text": "您好，请问有什么可以帮您？"}]}\n'

ENCODED = {
    "utf-8": TEXT.encode("utf-8"),
    "utf-8-sig": codecs.BOM_UTF8 + TEXT.encode("utf-8"),
    "gb18030": TEXT.encode("gbk"),
    "utf-16-le": codecs.BOM_UTF16_LE + TEXT.encode("utf-16-le"),
    "utf-16-be": codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be"),
    "utf-32-le": codecs.BOM_UTF32_LE + TEXT.encode("utf-32-le"),
}


@pytest.mark.parametrize("expected", sorted(ENCODED))
def test_read_text_detects_each_encoding(tmp_path: Path, expected: str) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(ENCODED[expected])
    decoded = read_text(path, max_bytes=10_000)
    assert decoded.text == TEXT
    assert decoded.encoding == expected


def test_gb18030_only_characters_decode() -> None:
    text = "客户：我姓𠮷，住在€区。"  # 𠮷 is a 4-byte GB18030 sequence, not in GBK
    decoded = decode_bytes(text.encode("gb18030"), "x.csv")
    assert (decoded.text, decoded.encoding) == (text, "gb18030")


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_without_bom(codec: str) -> None:
    decoded = decode_bytes(TEXT.encode(codec), "x.jsonl")
    assert (decoded.text, decoded.encoding) == (TEXT, codec)


def test_other_encodings_fall_back_to_charset_normalizer() -> None:
    text = "Привет, как дела? Всё хорошо, спасибо. Жду ответа оператора.\n"
    decoded = decode_bytes(text.encode("cp1251"), "ru.csv")
    assert decoded.text == text
    assert decoded.encoding not in {"utf-8", "gb18030"}


def test_declared_encoding_is_used_and_bom_dropped() -> None:
    assert decode_bytes(TEXT.encode("gbk"), "x", encoding="GBK").text == TEXT
    decoded = decode_bytes(ENCODED["utf-8-sig"], "x", encoding="utf-8")
    assert (decoded.text, decoded.encoding) == (TEXT, "utf-8")


def test_wrong_declared_encoding_is_an_encoding_error() -> None:
    with pytest.raises(InputError) as err:
        decode_bytes(TEXT.encode("gbk"), "export.csv", encoding="utf-8")
    assert err.value.code is E.ENCODING
    assert err.value.file == "export.csv"
    assert "offset" in err.value.detail


def test_unknown_declared_encoding() -> None:
    with pytest.raises(InputError) as err:
        decode_bytes(b"abc", "x", encoding="klingon-8")
    assert err.value.code is E.ENCODING
    assert "klingon-8" in err.value.detail


def test_undecodable_bytes_are_an_encoding_error_with_hint() -> None:
    noise = bytes(b for b in random.Random(0).randbytes(300) if b >= 0x80)
    with pytest.raises(InputError) as err:
        decode_bytes(noise, "noise.jsonl")
    assert err.value.code is E.ENCODING
    assert "--encoding" in err.value.message
    assert "noise.jsonl" in err.value.message


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (wav_bytes(), "WAV"),
        (b"ID3\x04\x00" + bytes(200), "MP3"),
        (b"fLaC\x00\x00\x00\x22" + bytes(100), "FLAC"),
        (b"OggS\x00\x02" + bytes(100), "Ogg"),
        (b"PK\x03\x04\x14\x00" + b"[Content_Types].xml", "xlsx"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "PDF"),
        (b"\x89PNG\r\n\x1a\n" + bytes(30), "PNG"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "JPEG"),
    ],
)
def test_binary_file_renamed_jsonl_is_not_text(tmp_path: Path, data: bytes, what: str) -> None:
    path = tmp_path / "recording.jsonl"
    path.write_bytes(data)
    with pytest.raises(InputError) as err:
        read_text(path, max_bytes=10_000)
    assert err.value.code is E.NOT_TEXT
    assert err.value.file == str(path)
    assert what in err.value.detail


def test_nul_bytes_without_utf16_are_not_text() -> None:
    data = b'{"id": "c1"}\n' + bytes(8) + random.Random(2).randbytes(200)
    with pytest.raises(InputError) as err:
        decode_bytes(data, "odd.jsonl")
    assert err.value.code is E.NOT_TEXT
    assert "NUL" in err.value.detail


def test_nul_bytes_with_declared_utf8_are_not_text() -> None:
    with pytest.raises(InputError) as err:
        decode_bytes(b"abc\x00def", "x.csv", encoding="utf-8")
    assert err.value.code is E.NOT_TEXT


def test_file_too_large_is_refused_from_stat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "huge.jsonl"
    with path.open("wb") as fh:  # sparse: 4 GiB on stat(), no disk used
        fh.truncate(4 << 30)

    def no_open(*args: object, **kwargs: object) -> None:
        raise AssertionError("the file was opened although stat() says it is too large")

    monkeypatch.setattr(Path, "open", no_open)
    with pytest.raises(InputError) as err:
        read_text(path, max_bytes=1024)
    assert err.value.code is E.FILE_TOO_LARGE
    assert err.value.http_status == 413
    assert err.value.file == str(path)


def test_file_at_the_limit_is_read(tmp_path: Path) -> None:
    path = tmp_path / "ok.jsonl"
    path.write_bytes(ENCODED["utf-8"])
    assert read_text(path, max_bytes=len(ENCODED["utf-8"])).text == TEXT
    with pytest.raises(InputError):
        read_text(path, max_bytes=len(ENCODED["utf-8"]) - 1)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    for path in (tmp_path / "nope.jsonl", tmp_path):
        with pytest.raises(InputError) as err:
            read_text(path, max_bytes=10)
        assert err.value.code is E.FILE_NOT_FOUND
        assert err.value.file == str(path)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "locked.jsonl"
    path.write_text(TEXT)
    path.chmod(0)
    with pytest.raises(InputError) as err:
        read_text(path, max_bytes=10_000)
    assert err.value.code is E.FILE_NOT_FOUND
