"""Traditional → Simplified Chinese (Whisper often writes Mandarin in Traditional characters)."""

from __future__ import annotations

from functools import lru_cache

from opencc import OpenCC


@lru_cache(maxsize=1)
def _converter() -> OpenCC:
    return OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Convert ``text`` to Simplified Chinese with OpenCC's ``t2s`` dictionaries (phrases first)."""
    if not text:
        return text
    return str(_converter().convert(text))


def simplify_pieces(pieces: list[str]) -> list[str]:
    """Convert consecutive pieces (ASR words) with phrase context, keeping each piece's boundaries.

    The pieces are converted joined, then split back at the same offsets; should a phrase mapping
    change the length (rare), each piece is converted on its own instead.
    """
    joined = "".join(pieces)
    converted = to_simplified(joined)
    if len(converted) != len(joined):
        return [to_simplified(piece) for piece in pieces]
    out, pos = [], 0
    for piece in pieces:
        out.append(converted[pos : pos + len(piece)])
        pos += len(piece)
    return out
