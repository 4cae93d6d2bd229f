"""Character-width and whitespace normalisation for display text.

Full-width ASCII variants (U+FF01–U+FF5E) become their ASCII twins, except the Chinese sentence
punctuation that Chinese text is written with (，？！：；（）), which stays as it is.
The ideographic space U+3000 becomes a plain space. Every mapping is one character to one
character, so :func:`to_halfwidth` preserves offsets.
"""

from __future__ import annotations

import re

FULLWIDTH_FIRST = 0xFF01
FULLWIDTH_LAST = 0xFF5E
FULLWIDTH_OFFSET = 0xFEE0
IDEOGRAPHIC_SPACE = "\u3000"

#: full-width forms that are ordinary Chinese punctuation, kept as they are
CHINESE_PUNCTUATION = frozenset("，？！：；（）")

_HALFWIDTH = {
    cp: cp - FULLWIDTH_OFFSET
    for cp in range(FULLWIDTH_FIRST, FULLWIDTH_LAST + 1)
    if chr(cp) not in CHINESE_PUNCTUATION
}
_HALFWIDTH[ord(IDEOGRAPHIC_SPACE)] = ord(" ")

_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")
_WHITESPACE = re.compile(r"\s+")


def to_halfwidth(text: str) -> str:
    """Full-width letters, digits and symbols to ASCII; Chinese punctuation kept (length-preserving)."""
    return text.translate(_HALFWIDTH)


def collapse_whitespace(text: str) -> str:
    """Drop zero-width characters, turn every whitespace run into one space, strip the ends."""
    return _WHITESPACE.sub(" ", _ZERO_WIDTH.sub("", text)).strip()
