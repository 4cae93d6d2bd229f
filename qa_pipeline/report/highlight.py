"""Safe highlighting of evidence inside untrusted turn text.

The text is never marked up by string replacement. Marks are character spans over the *raw*
text; the text is cut at every span boundary, each piece is escaped on its own, and only then
wrapped in ``<mark>``. Overlapping marks are handled by covering sets, so marks never nest or
cross, and a title attribute is escaped like any other value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from markupsafe import Markup, escape

SEVERITY: tuple[str, ...] = ("fail", "review", "neg", "pass", "pii", "na")
"""Mark kinds, most visible first: where marks overlap, the first kind in this order wins."""


@dataclass(frozen=True)
class Mark:
    """A span ``[start, end)`` of a turn's raw text to highlight, with its kind and tooltip."""

    start: int
    end: int
    kind: str
    title: str


def locate(text: str, needle: str) -> tuple[int, int] | None:
    """Character span of the first occurrence of ``needle`` in ``text`` (case-insensitive fallback)."""
    if not needle:
        return None
    at = text.find(needle)
    if at < 0:
        at = text.casefold().find(needle.casefold())
        if at < 0 or len(text.casefold()) != len(text):
            return None
    return at, at + len(needle)


def _boundaries(length: int, marks: Sequence[Mark]) -> list[int]:
    cuts = {0, length}
    for m in marks:
        cuts.update((m.start, m.end))
    return sorted(c for c in cuts if 0 <= c <= length)


def _segments(text: str, marks: Sequence[Mark]) -> list[tuple[str, tuple[Mark, ...]]]:
    """Pieces of ``text`` with the marks covering each; neighbours with equal cover are merged."""
    pieces: list[tuple[str, tuple[Mark, ...]]] = []
    cuts = _boundaries(len(text), marks)
    for a, b in pairwise(cuts):
        cover = tuple(m for m in marks if m.start <= a and b <= m.end)
        if pieces and pieces[-1][1] == cover:
            pieces[-1] = (pieces[-1][0] + text[a:b], cover)
        elif b > a:
            pieces.append((text[a:b], cover))
    return pieces


def _wrap(piece: str, cover: tuple[Mark, ...]) -> Markup:
    if not cover:
        return escape(piece)
    kind = min((m.kind for m in cover), key=lambda k: SEVERITY.index(k) if k in SEVERITY else len(SEVERITY))
    title = "；".join(dict.fromkeys(m.title for m in cover))
    return Markup('<mark class="ev ev-{}" title="{}">{}</mark>').format(kind, title, piece)


def highlight(text: str, marks: Sequence[Mark]) -> Markup:
    """Escaped ``text`` with each mark's span wrapped in ``<mark>`` (spans outside the text are clipped)."""
    valid = [m for m in marks if 0 <= m.start < m.end]
    return Markup("").join(_wrap(piece, cover) for piece, cover in _segments(text, valid))
