"""File digests read in blocks, never whole files in memory (models, artefacts, data, uploads)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

BLOCK = 1 << 20


def sha256_files(paths: Iterable[Path], block: int = BLOCK) -> tuple[str, int]:
    """SHA-256 (hex) and size in bytes of the files' concatenation."""
    digest, size = hashlib.sha256(), 0
    for path in paths:
        with Path(path).open("rb") as fh:
            while chunk := fh.read(block):
                digest.update(chunk)
                size += len(chunk)
    return digest.hexdigest(), size


def sha256_file(path: Path) -> str:
    """SHA-256 (hex) of one file."""
    return sha256_files([path])[0]
