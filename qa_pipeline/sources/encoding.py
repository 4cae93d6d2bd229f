"""Decode an input file to text, choosing one encoding for the whole file (never per line).

Order of detection: a byte-order mark (UTF-32, UTF-8, UTF-16), then strict UTF-8, then strict
GB18030 (a superset of GBK and GB2312, what Chinese Windows tools export), and only when those
fail charset-normalizer's best guess. Files that are audio, archives, spreadsheets, images or
otherwise binary are refused with ``E.NOT_TEXT`` before any decoding is tried.
"""

from __future__ import annotations

import codecs
import logging
import stat
from dataclasses import dataclass
from pathlib import Path

from charset_normalizer import from_bytes

from qa_pipeline.errors import E, InputError

log = logging.getLogger(__name__)

# (byte-order mark, codec, reported name); UTF-32 LE first: its BOM starts with UTF-16 LE's.
_BOMS: tuple[tuple[bytes, str, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le", "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8", "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "utf-16-be"),
)

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"RIFF", "RIFF data (WAV audio, AVI or WebP)"),
    (b"ID3", "MP3 audio (ID3 tag)"),
    (b"\xff\xfb", "MP3 audio"),
    (b"\xff\xf3", "MP3 audio"),
    (b"\xff\xf2", "MP3 audio"),
    (b"fLaC", "FLAC audio"),
    (b"OggS", "Ogg audio"),
    (b"#!AMR", "AMR audio"),
    (b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "WMA/ASF media"),
    (b"PK\x03\x04", "a zip archive (xlsx, docx or zip)"),
    (b"PK\x05\x06", "a zip archive (xlsx, docx or zip)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an OLE2 document (xls or doc)"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7z archive"),
    (b"SQLite format 3\x00", "an SQLite database"),
)

# Code point ranges expected in Chinese customer-service exports (used to judge guesses).
_COMMON_RANGES: tuple[tuple[int, int], ...] = (
    (0x20, 0x7E),  # ASCII printable
    (0xA0, 0x24F),  # Latin-1 and Latin Extended
    (0x2000, 0x206F),  # general punctuation
    (0x2E80, 0x2FDF),  # CJK radicals
    (0x3000, 0x30FF),  # CJK symbols and punctuation, kana
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xFF00, 0xFFEF),  # full-width forms
    (0x1F300, 0x1FAFF),  # emoji
)
_SAMPLE_CHARS = 65_536
_GUESS_BYTES = 1 << 20


@dataclass(frozen=True)
class DecodedText:
    """A file's text and the encoding it was decoded with (``utf-8-sig`` when it had a UTF-8 BOM)."""

    text: str
    encoding: str


def read_text(path: Path, *, encoding: str | None = None, max_bytes: int) -> DecodedText:
    """Read and decode ``path``; the size is checked with ``stat()`` before a byte is read.

    Raises :class:`InputError` with ``E.FILE_NOT_FOUND``, ``E.FILE_TOO_LARGE``, ``E.NOT_TEXT``
    or ``E.ENCODING``, naming the file. ``encoding`` forces a codec (no detection).
    """
    name = str(path)
    size = _regular_file_size(path)
    if size > max_bytes:
        raise InputError(E.FILE_TOO_LARGE, f"{size:,} bytes > limit {max_bytes:,}", file=name)
    try:
        with path.open("rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise InputError(E.FILE_NOT_FOUND, f"cannot read: {exc.strerror}", file=name) from None
    if len(data) > max_bytes:  # grew after stat()
        raise InputError(E.FILE_TOO_LARGE, f"more than {max_bytes:,} bytes", file=name)
    decoded = decode_bytes(data, name, encoding=encoding)
    log.debug("decoded %s as %s (%d bytes)", name, decoded.encoding, len(data))
    return decoded


def decode_bytes(data: bytes, name: str, *, encoding: str | None = None) -> DecodedText:
    """Decode an uploaded body or file contents; ``name`` is used in error messages."""
    _reject_binary(data, name)
    if encoding:
        return _decode_declared(data, name, encoding)
    for bom, codec, label in _BOMS:
        if data.startswith(bom):
            return DecodedText(_strict(data[len(bom) :], codec, name, f"its {label} byte-order mark"), label)
    if b"\x00" in data:
        return _decode_with_nul(data, name)
    return _detect(data, name)


def _regular_file_size(path: Path) -> int:
    name = str(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise InputError(E.FILE_NOT_FOUND, "no such file", file=name) from None
    except OSError as exc:
        raise InputError(E.FILE_NOT_FOUND, f"cannot access: {exc.strerror}", file=name) from None
    if not stat.S_ISREG(st.st_mode):
        raise InputError(E.FILE_NOT_FOUND, "not a regular file", file=name)
    return st.st_size


def _reject_binary(data: bytes, name: str) -> None:
    for magic, what in _MAGIC:
        if data.startswith(magic):
            raise InputError(E.NOT_TEXT, f"looks like {what}", file=name)
    if data[4:8] == b"ftyp":
        raise InputError(E.NOT_TEXT, "looks like MP4/M4A media", file=name)


def _decode_declared(data: bytes, name: str, encoding: str) -> DecodedText:
    try:
        codec = codecs.lookup(encoding).name
    except LookupError:
        raise InputError(E.ENCODING, f"unknown encoding {encoding!r}", file=name) from None
    if b"\x00" in data and not codec.startswith(("utf-16", "utf-32")):
        raise InputError(E.NOT_TEXT, f"contains NUL bytes, which {codec} text never has", file=name)
    text = _strict(data, codec, name, "the declared encoding")
    return DecodedText(text.removeprefix("\ufeff"), codec)


def _strict(data: bytes, codec: str, name: str, why: str) -> str:
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        detail = f"not valid {codec} (chosen by {why}): bad byte at offset {exc.start}"
        raise InputError(E.ENCODING, detail, file=name) from None


def _decode_with_nul(data: bytes, name: str) -> DecodedText:
    """NUL bytes: UTF-16/32 without a byte-order mark, or binary."""
    for codec, unit in (("utf-16-le", 2), ("utf-16-be", 2), ("utf-32-le", 4), ("utf-32-be", 4)):
        if len(data) % unit:
            continue
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        if "\x00" not in text and _plausible(text):
            return DecodedText(text, codec)
    raise InputError(E.NOT_TEXT, "contains NUL bytes and is not UTF-16/UTF-32 text", file=name)


def _detect(data: bytes, name: str) -> DecodedText:
    try:
        return DecodedText(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError as exc:
        utf8_error = exc
    try:
        gb: str | None = data.decode("gb18030")
    except UnicodeDecodeError:
        gb = None
    if gb is not None and _plausible(gb):
        return DecodedText(gb, "gb18030")
    guess = _guess(data)
    if guess is not None:
        return guess
    if gb is not None:
        return DecodedText(gb, "gb18030")
    detail = f"not UTF-8 (bad byte at offset {utf8_error.start}), GB18030 or another known encoding"
    raise InputError(E.ENCODING, detail, file=name)


def _guess(data: bytes) -> DecodedText | None:
    """charset-normalizer's best single- or multi-byte guess, if the whole file decodes with it."""
    best = from_bytes(data[:_GUESS_BYTES]).best()
    if best is None:
        return None
    codec = codecs.lookup(best.encoding).name
    if codec.startswith(("utf-16", "utf-32")):  # without BOM and NULs these are noise
        return None
    try:
        text = data.decode(codec)
    except UnicodeDecodeError:
        return None
    return DecodedText(text, codec) if _few_controls(text) else None


def _plausible(text: str) -> bool:
    """At least 90 % of a sample is characters found in Chinese/English text."""
    sample = text[:_SAMPLE_CHARS]
    common = sum(1 for ch in sample if ch in "\t\n\r" or _in_common_range(ord(ch)))
    return common >= 0.9 * len(sample)


def _in_common_range(point: int) -> bool:
    return any(lo <= point <= hi for lo, hi in _COMMON_RANGES)


def _few_controls(text: str) -> bool:
    sample = text[:_SAMPLE_CHARS]
    controls = sum(1 for ch in sample if (ord(ch) < 0x20 and ch not in "\t\n\r\f") or 0x7F <= ord(ch) < 0xA0)
    return controls <= 0.01 * len(sample)
