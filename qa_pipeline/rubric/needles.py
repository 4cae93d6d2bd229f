"""Literal strings a regular expression cannot match without: a quick test before the search.

Most banned-phrase and verification patterns are alternations with gaps (``(我|我们)[^，。]{0,4}
(不知道|不清楚)``); Python's ``re`` tries every alternative at every position of a turn, about 10 µs
a pattern, although almost no agent turn matches. :func:`needles` reads the parsed pattern and
returns a set of literal strings one of which is in every text the pattern matches (here
``不知道``, ``不清楚``); a turn holding none of them is passed over with a few substring tests.

The set is derived, never written by hand, so it cannot drift from the pattern: for a sequence it
takes the run of fixed parts (literals, small classes, optional pieces, alternations of those) or the
required piece whose shortest string is longest; for an alternation the union over its branches. A
pattern with a part it cannot read (a back-reference, case-insensitive matching, a branch with no
literal) has no needles (None), and is always searched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as parser  # type: ignore[attr-defined]

Strings = frozenset[str]

MAX_STRINGS = 48  # a larger set costs more substring tests than the search it saves
FEW = 12  # what a piece of a pattern should keep to, so that an alternation's union stays small
_EMPTY: Strings = frozenset({""})
_ZERO_WIDTH = {sre.AT, sre.ASSERT, sre.ASSERT_NOT}
_REPEATS = {sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", sre.MAX_REPEAT)}


def needles(pattern: str) -> Strings | None:
    """Strings one of which every match of ``pattern`` contains; None when none can be derived."""
    try:
        parsed = parser.parse(pattern)
        if parsed.state.flags & sre.SRE_FLAG_IGNORECASE:
            return None
        found = _required(list(parsed))
    except (re.error, RecursionError, OverflowError):  # re.compile reports a bad pattern; no shortcut
        return None
    if found is None or "" in found or len(found) > MAX_STRINGS:
        return None
    return found


def _exact(item: tuple) -> Strings | None:
    """Every string ``item`` can match, when they are few and fixed; None otherwise."""
    op, av = item
    if op is sre.LITERAL:
        return frozenset({chr(av)})
    if op in _ZERO_WIDTH:
        return _EMPTY
    if op is sre.IN:
        return _char_class(av)
    if op is sre.SUBPATTERN:
        return None if _ignores_case(av) else _exact_seq(list(av[3]))
    if op is sre.BRANCH:
        branches = [_exact_seq(list(b)) for b in av[1]]
        return _union(branches)
    if op in _REPEATS:
        low, high, body = av
        inner = _exact_seq(list(body))
        if inner is None or high > 1:
            return None
        return inner | _EMPTY if low == 0 else inner
    return None


def _char_class(items: list) -> Strings | None:
    chars = [chr(av) for op, av in items if op is sre.LITERAL]
    if len(chars) != len(items) or len(chars) > 8:  # a range, a negation, a category
        return None
    return frozenset(chars)


def _ignores_case(av: tuple) -> bool:
    return bool(av[1] & sre.SRE_FLAG_IGNORECASE)


def _exact_seq(items: list) -> Strings | None:
    out: Strings = _EMPTY
    for item in items:
        part = _exact(item)
        if part is None or len(out) * len(part) > MAX_STRINGS:
            return None
        out = frozenset(a + b for a in out for b in part)
    return out


def _union(sets: Iterable[Strings | None]) -> Strings | None:
    out: set[str] = set()
    for s in sets:
        if s is None:
            return None
        out |= s
    return frozenset(out) if len(out) <= MAX_STRINGS else None


def _required(items: list) -> Strings | None:
    """The best set among the sequence's fixed runs (and their stretches) and required pieces."""
    candidates: list[Strings] = []
    run: list[Strings] = []
    for item in items:
        part = _exact(item)
        if part is not None:
            run.append(part)
            continue
        candidates.extend(_stretches(run))
        run = []
        if (inner := _required_item(item)) is not None:
            candidates.append(inner)
    candidates.extend(_stretches(run))
    return max(candidates, key=_selectivity, default=None)


def _stretches(run: list[Strings]) -> list[Strings]:
    """Every stretch of consecutive fixed parts as the strings it can match (each small enough)."""
    out = []
    for start in range(len(run)):
        strings: Strings = _EMPTY
        for part in run[start:]:
            if len(strings) * len(part) > MAX_STRINGS:
                break
            strings = frozenset(a + b for a in strings for b in part)
            if "" not in strings:
                out.append(_minimal(strings))
    return out


def _minimal(strings: Strings) -> Strings:
    """Without the strings that hold another of the set (a text holding one holds the other)."""
    return frozenset(s for s in strings if not any(o != s and o in s for o in strings))


def _required_item(item: tuple) -> Strings | None:
    """Strings one of which every match of a piece that is not fixed contains."""
    op, av = item
    if op is sre.SUBPATTERN or op is getattr(sre, "ATOMIC_GROUP", None):
        body = av[3] if op is sre.SUBPATTERN else av
        return None if op is sre.SUBPATTERN and _ignores_case(av) else _required(list(body))
    if op is sre.BRANCH:  # (minimal only here: a fixed part's strings are joined to their neighbours')
        union = _union(_required(list(b)) for b in av[1])
        return None if union is None else _minimal(union)
    if op in _REPEATS and av[0] >= 1:
        return _required(list(av[2]))
    return None


def _selectivity(strings: Strings) -> tuple[bool, int, int, int]:
    """A set of a few strings first (an alternation joins the sets of its branches), then a longer
    shortest string (rarer in text; three Chinese characters are rare enough), then fewer strings,
    then longer ones."""
    shortest = min(len(s) for s in strings)
    return len(strings) <= FEW, min(3, shortest), -len(strings), shortest
