"""File-level helpers for ``qa classify``: one text per line in, one JSON object per line out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from qa_pipeline.classifiers.base import TextClassifier
from qa_pipeline.errors import E, InputError

ENCODINGS = ("utf-8-sig", "gb18030")


def read_text_lines(path: Path, max_bytes: int | None = None) -> Iterator[tuple[int, str]]:
    """(line number, text) of every non-blank line; UTF-8 (BOM or not), falling back to GB18030."""
    try:
        size = path.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise InputError(E.FILE_TOO_LARGE, f"{size} bytes > {max_bytes}", file=str(path))
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise InputError(E.FILE_NOT_FOUND, f"{path} does not exist", file=str(path)) from exc
    except IsADirectoryError as exc:
        raise InputError(E.NOT_TEXT, "a folder, not a text file", file=str(path)) from exc
    if b"\x00" in raw[:8192]:
        raise InputError(
            E.NOT_TEXT, "contains NUL bytes (binary file, or UTF-16: re-save as UTF-8)", file=str(path)
        )
    text = _decode(raw, path)
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            yield number, line.strip()


def _decode(raw: bytes, path: Path) -> str:
    for encoding in ENCODINGS:
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InputError(E.ENCODING, f"neither {' nor '.join(ENCODINGS)}", file=str(path))


def classify_file(
    input: Path,
    classifier: TextClassifier,
    out: IO[str],
    *,
    batch_size: int = 256,
    max_bytes: int | None = None,
) -> int:
    """Classify every non-blank line of ``input``; write ``{"text","label","probs"}`` JSON lines to ``out``.

    Returns the number of lines written. Blank lines are skipped; ``max_bytes`` (e.g.
    ``Settings.max_file_bytes``) refuses larger files with ``E.FILE_TOO_LARGE``.
    """
    texts = [text for _, text in read_text_lines(input, max_bytes)]
    written = 0
    for start in range(0, len(texts), batch_size):
        chunk = texts[start : start + batch_size]
        for text, pred in zip(chunk, classifier.predict(chunk, batch_size=batch_size), strict=True):
            record = {"text": text, "label": pred.label, "probs": pred.probs}
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            written += 1
    return written
