"""Detect and mask personal data in text: mainland phone numbers, ID numbers, bank cards, e-mail.

Detection runs on a *digit view* of the text: each character is mapped to one character (Chinese
digits 幺三八, the telephone-style 拐 (7) and 洞 (0), and full-width ０-９ to ASCII digits,
full-width ASCII to ASCII, 叉 to X), so every offset in the view is an offset in the text.

Numbers are read as *runs*: digit groups joined by one separator each (a space, or one of
``，,、.-`` with at most a space on either side), as ASR output with restored punctuation writes
them: ``138，1234，5678``, ``13812 345678``, ``1 3 8 1 2 3 4 5 6 7 8``. A candidate is a window of
whole groups of a run, so a number never starts or ends inside a longer digit string (a phone
number inside a longer order number is not one), nor next to a hyphen-joined group
(``138-1234-5678-9`` is not a phone). A run written as a thousands-grouped amount
(``13,812,345,678``) is an amount, not a number to mask. Each candidate must have a type's exact
shape, which is what keeps ordinary sentences with several numbers (3个，5个; 1,280.50元;
2026.03.01) unmasked:

* ``id_card``: 17 digits and a GB 11643 check character (digit, X or 叉) that must be right.
* ``phone``: 11 digits 1[3-9]…, optionally after 86 / 0086 (+86). Not masked when a full
  order-type label stands right before it (订单号/运单号/工单号/快递单号/物流单号/流水号/批次号/
  订单编号, optionally 码, 是/为, a colon), since such numbers have the same shape, unless
  手机/电话/号码/联系 comes just before that label. Bare 单号/编号, 下单号码, 手机号 and account
  numbers (账号/户号) are no exemption.
* ``bank_card``: 13–19 digits that pass the Luhn check, written as one group, digit by digit,
  in groups of four (the last one shorter) or as 4-6-5 / 4-6-4.
* ``email``: local@domain.tld.

ID numbers and phones are written in one group, digit by digit, or in groups of three or more
digits (at most four for a phone after its 86 prefix, five for an ID number), so lists of small
numbers (1、3、5、7、9、11、13) are not read as one number. E-mails are found first, then
ID numbers, cards written in groups, phones, cards in one piece; each claims characters no earlier
match holds.

Masking keeps the shape: every masked character becomes ``*``, kept characters come from the
digit view (so they are ASCII even when the speaker said 幺三八), separators stay as written, and
the masked text has exactly the length of the original. Names and addresses are not detected.
:func:`mask_value` masks JSON-like values (keys too), :func:`mask_message` error and log text.
"""

from __future__ import annotations

import bisect
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from qa_pipeline.text.numerals import digit_characters, to_arabic_digits
from qa_pipeline.types import PiiType

PII_TYPES: tuple[PiiType, ...] = ("phone", "id_card", "bank_card", "email")

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARS = "10X98765432"

_VIEW_TABLE = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_VIEW_TABLE[ord("叉")] = ord("X")
#: spoken telephone digits: 拐 = 7, 洞 = 0 (they also occur in words: 拐弯, 漏洞; see :func:`detect`)
SPOKEN_DIGITS = {"拐": "7", "洞": "0"}
_SPOKEN_TABLE = {ord(k): ord(v) for k, v in SPOKEN_DIGITS.items()}

_LUHN_DOUBLE = {str(d): (2 * d) % 10 + (2 * d) // 10 for d in range(10)}
_SEP = r"(?:\s?[,、.\-]\s?|\s)"
_RUN = re.compile(rf"[0-9]+(?:{_SEP}[0-9]+)*")
_GROUP = re.compile(r"[0-9]+")
_THOUSANDS = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?")
_MIN_DIGITS = 11
# every character the digit view turns into a digit (see :func:`digit_view`)
_DIGITISH = re.compile("[" + re.escape("".join(sorted({*digit_characters(), *SPOKEN_DIGITS}))) + "]")
_MAX_DIGITS = 19
_PHONE = re.compile(r"(?:0086|86)?(1[3-9][0-9]{9})")
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+\-*])(?P<num>[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,})"
    r"(?![A-Za-z0-9])"
)
#: right before a phone-shaped number, these labels say it is an order-type number, not a phone
_ORDER_LABEL = re.compile(r"(?:(?:订|运|工|快递|物流)单号|流水号|批次号|订单编号)码?(?:是|为)?:?\s*$")
_PHONE_CUE = re.compile(r"手机|电话|号码|联系")
#: a machine identifier: a UUID as written (8-4-4-4-12 hex digits) or as ``uuid.hex`` gives it (32 hex
#: digits with the version and variant digits of a UUID in place). Its digit runs are not numbers: about 1
#: in 280 random ``uuid4().hex`` ids, and 1 in 1,000 dashed ones, hold a phone or card shape. Only these
#: exact shapes are exempt, so a number glued to some other hex string is still masked.
_HEX_ID = re.compile(
    r"(?<![0-9A-Za-z])(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|[0-9a-fA-F]{12}[1-8][0-9a-fA-F]{3}[89abAB][0-9a-fA-F]{15})(?![0-9A-Za-z])"
)
_LABEL_WINDOW = 10
_CUE_WINDOW = 6


@dataclass(frozen=True)
class MaskPolicy:
    """How much of a detected number stays visible.

    ``keep_first``/``keep_last`` apply to phones and ID numbers (138****5678, 110***********123X),
    ``card_keep_last`` to bank cards (************1234); e-mails keep the first character of the
    local part (when it has two or more) and the domain.
    """

    keep_first: int = 3
    keep_last: int = 4
    card_keep_last: int = 4
    mask_char: str = "*"

    def __post_init__(self) -> None:
        if min(self.keep_first, self.keep_last, self.card_keep_last) < 0:
            raise ValueError("keep_first, keep_last and card_keep_last must be >= 0")
        if self.keep_first + self.keep_last > 7:
            raise ValueError("keep_first + keep_last must be <= 7 so a phone number keeps 4 digits hidden")
        if self.card_keep_last > 6:
            raise ValueError("card_keep_last must be <= 6")
        if len(self.mask_char) != 1 or self.mask_char.isalnum() or self.mask_char.isspace():
            raise ValueError("mask_char must be one character that is neither a letter, a digit nor a space")


DEFAULT_POLICY = MaskPolicy()


@dataclass(frozen=True)
class Match:
    type: PiiType
    start: int
    end: int


@dataclass(slots=True)
class _Window:
    """Whole digit groups ``first..last`` of one run: their digits and where they lie in the view."""

    view: str
    groups: tuple[tuple[int, int], ...]
    first: int
    last: int
    digits: str
    lengths: tuple[int, ...]

    @property
    def start(self) -> int:
        return self.groups[self.first][0]

    @property
    def end(self) -> int:
        return self.groups[self.last][1]

    def at_run_end(self) -> bool:
        return self.last == len(self.groups) - 1

    def position(self, k: int) -> int:
        """View offset of the ``k``-th digit of the window."""
        for s, e in self.groups[self.first : self.last + 1]:
            if k < e - s:
                return s + k
            k -= e - s
        raise IndexError(k)


def digit_view(text: str) -> str:
    """Same length as ``text``: digits as ASCII (幺三八拐洞 → 13870, ０ → 0), full-width ASCII as ASCII."""
    return _plain_view(text).translate(_SPOKEN_TABLE)


def _plain_view(text: str) -> str:
    return to_arabic_digits(text).translate(_VIEW_TABLE)


def luhn_valid(digits: str) -> bool:
    """Luhn (mod 10) check of a string of ASCII digits."""
    backwards = digits[::-1]
    total = sum(map(int, backwards[::2])) + sum(_LUHN_DOUBLE[c] for c in backwards[1::2])
    return total % 10 == 0


def id_check_char(first17: str) -> str:
    """The GB 11643 check character of the first 17 digits of an ID number."""
    return ID_CHECK_CHARS[sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


def id_card_valid(number: str) -> bool:
    """18 characters, 17 digits and the right check character (x or X)."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    return id_check_char(number[:17]) == number[17].upper()


# --- detection ---------------------------------------------------------------------------------


def identifier_is_personal(value: str) -> bool:
    """Whether an identifier (conversation id, agent id, team, file name) holds personal data.

    A UUID never does: its hex groups can look like a phone or card number written with dashes
    (about 1 in 1,400 random UUIDs would), but clients use them as ids.
    """
    try:
        uuid.UUID(value.strip())
    except ValueError:
        return bool(detect(value))
    return False


def detect(text: str, types: Iterable[PiiType] = PII_TYPES) -> list[Match]:
    """Personal-data spans in ``text``, sorted, never overlapping."""
    return _detect(text, frozenset(types))[1]


def _detect(text: str, wanted: frozenset[PiiType]) -> tuple[str, list[Match]]:
    """The digit view and the matches in it.

    When the text has 拐 or 洞, the view without them is searched too (漏洞13812345678: read as a
    digit, 洞 would glue itself to the phone number); its matches hold no 拐/洞, so both views
    agree on their characters.
    """
    if not _may_hold(text):
        return text, []
    view = digit_view(text)
    found = _Found()
    _detect_view(view, wanted, found)
    if any(ch in text for ch in SPOKEN_DIGITS):
        _detect_view(_plain_view(text), wanted, found)
    return view, _outside_hex_ids(text, found.matches)


def _may_hold(text: str) -> bool:
    """Whether ``text`` could hold anything :func:`detect` finds: an @, or enough characters that read
    as digits for the shortest number (most turns have neither, and skip the views and windows)."""
    return "@" in text or "＠" in text or len(_DIGITISH.findall(text)) >= _MIN_DIGITS


def _outside_hex_ids(text: str, matches: list[Match]) -> list[Match]:
    """``matches`` less those inside a machine identifier (see ``_HEX_ID``)."""
    ids = [m.span() for m in _HEX_ID.finditer(text)] if matches else []
    return [m for m in matches if not any(a <= m.start and m.end <= b for a, b in ids)]


def _detect_view(view: str, wanted: frozenset[PiiType], found: _Found) -> None:
    """Add the matches in ``view`` to ``found``: e-mails, then the checks in order."""
    if "email" in wanted:
        for m in _EMAIL.finditer(view):
            found.add(Match("email", *m.span("num")))
    runs = [list(_windows(view, groups)) for groups in _runs(view)] if wanted - {"email"} else []
    for kind, check in _CHECKS:
        if kind in wanted:
            for windows in runs:
                for window in windows:
                    span = check(window)
                    if span is not None:
                        found.add(Match(kind, *span))


class _Found:
    """Matches sorted by start, never overlapping: :meth:`add` drops a match that overlaps one."""

    def __init__(self) -> None:
        self.matches: list[Match] = []
        self._starts: list[int] = []

    def add(self, m: Match) -> bool:
        i = bisect.bisect_right(self._starts, m.start)
        if (i and self.matches[i - 1].end > m.start) or (i < len(self.matches) and self._starts[i] < m.end):
            return False
        self.matches.insert(i, m)
        self._starts.insert(i, m.start)
        return True


def _runs(view: str) -> Iterator[tuple[tuple[int, int], ...]]:
    """Digit groups of each run long enough to hold a number, except thousands-grouped amounts."""
    for m in _RUN.finditer(view):
        if m.end() - m.start() >= _MIN_DIGITS and not _THOUSANDS.fullmatch(m.group()):
            yield tuple((m.start() + g.start(), m.start() + g.end()) for g in _GROUP.finditer(m.group()))


def _windows(view: str, groups: tuple[tuple[int, int], ...]) -> Iterator[_Window]:
    """Windows of whole groups holding 11–19 digits, longest first from each group.

    A window is not cut at a hyphen, and stops growing once its grouping fits no type.
    """
    hard = [view.find("-", groups[i][1], groups[i + 1][0]) >= 0 for i in range(len(groups) - 1)]
    for first in range(len(groups)):
        if first and hard[first - 1]:
            continue
        found: list[_Window] = []
        digits = ""
        lengths: tuple[int, ...] = ()
        for last in range(first, len(groups)):
            digits += view[groups[last][0] : groups[last][1]]
            lengths += (groups[last][1] - groups[last][0],)
            if len(digits) > _MAX_DIGITS or not _may_fit(lengths):
                break
            if len(digits) >= _MIN_DIGITS and (last == len(groups) - 1 or not hard[last]):
                found.append(_Window(view, groups, first, last, digits, lengths))
        yield from reversed(found)


def _id_span(w: _Window) -> tuple[int, int] | None:
    if len(w.digits) not in (17, 18) or not _digit_grouping(w.lengths, 5):
        return None
    after = w.view[w.end : w.end + 2] if w.at_run_end() else ""
    if len(w.digits) == 17 and after[:1] in ("X", "x") and not _ascii_alnum(after[1:]):
        return (w.start, w.end + 1) if id_check_char(w.digits) == "X" else None
    if len(w.digits) != 18 or _ascii_alnum(after[:1]):
        return None
    return (w.start, w.end) if id_card_valid(w.digits) else None


def _ascii_alnum(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def _phone_span(w: _Window) -> tuple[int, int] | None:
    m = _PHONE.fullmatch(w.digits) if len(w.digits) in (11, 13, 15) else None
    if m is None or not _digit_grouping(_drop_digits(w.lengths, m.start(1)), 4):
        return None
    start = w.position(m.start(1))
    return None if _order_labelled(w.view, w.start) else (start, w.end)


def _card_span(w: _Window) -> tuple[int, int] | None:
    if not 13 <= len(w.digits) <= 19 or not _card_grouping(w.lengths):
        return None
    return (w.start, w.end) if luhn_valid(w.digits) else None


def _grouped_card_span(w: _Window) -> tuple[int, int] | None:
    return _card_span(w) if w.first != w.last else None


def _one_piece_card_span(w: _Window) -> tuple[int, int] | None:
    return _card_span(w) if w.first == w.last else None


_Check = Callable[[_Window], tuple[int, int] | None]
#: after e-mail, in this order; a card written in groups goes before phones, or 6839 1006 1860 6804 022
#: would lose its tail to the phone 18606804022; a card in one piece after them (86138…: a phone)
_CHECKS: tuple[tuple[PiiType, _Check], ...] = (
    ("id_card", _id_span),
    ("bank_card", _grouped_card_span),
    ("phone", _phone_span),
    ("bank_card", _one_piece_card_span),
)


def _may_fit(lengths: tuple[int, ...]) -> bool:
    """Whether this grouping, or one with more groups after it, can be a phone, ID or card number."""
    if max(lengths) == 1:
        return True
    return len(lengths) <= 5 and (min(lengths) >= 2 or _card_grouping(lengths))


def _digit_grouping(lengths: tuple[int, ...], max_groups: int) -> bool:
    """Digit by digit, or at most ``max_groups`` groups of three or more (not 1、3、5、7、9、11、13)."""
    return max(lengths) == 1 or (len(lengths) <= max_groups and min(lengths) >= 3)


def _drop_digits(lengths: tuple[int, ...], k: int) -> tuple[int, ...]:
    """Group lengths without the first ``k`` digits (a phone's 86 prefix)."""
    out = list(lengths)
    while k and out:
        cut = min(k, out[0])
        out[0] -= cut
        k -= cut
        if not out[0]:
            out.pop(0)
    return tuple(out)


def _card_grouping(lengths: tuple[int, ...]) -> bool:
    """How card numbers are written: one group, digit by digit, 4-4-4-4(-1..4), 4-6-5 or 4-6-4."""
    if len(lengths) == 1 or lengths in ((4, 6, 5), (4, 6, 4)):
        return True
    if lengths[0] == 1:
        return all(n == 1 for n in lengths)
    return all(n == 4 for n in lengths[:-1]) and 1 <= lengths[-1] <= 4


def _order_labelled(view: str, start: int) -> bool:
    """An order-type label stands right before ``start``, with no phone cue just before the label."""
    label = _ORDER_LABEL.search(view, max(0, start - _LABEL_WINDOW), start)
    if label is None:
        return False
    return _PHONE_CUE.search(view, max(0, label.start() - _CUE_WINDOW), label.start()) is None


# --- masking -----------------------------------------------------------------------------------


def mask_text(
    text: str, types: Iterable[PiiType] = PII_TYPES, policy: MaskPolicy = DEFAULT_POLICY
) -> tuple[str, list[tuple[PiiType, int, int]]]:
    """Mask personal data; returns the masked text (same length) and (type, start, end) spans."""
    view, matches = _detect(text, frozenset(types))
    if not matches:
        return text, []
    parts: list[str] = []
    pos = 0
    for m in matches:
        parts.append(text[pos : m.start])
        parts.append(_keep_separators(mask_span(m.type, view[m.start : m.end], policy), view, text, m))
        pos = m.end
    parts.append(text[pos:])
    return "".join(parts), [(m.type, m.start, m.end) for m in matches]


def _keep_separators(masked: str, view: str, text: str, m: Match) -> str:
    """A number's separators as the text wrote them (，stays ，), its digits as masked."""
    if m.type == "email":
        return masked
    pairs = zip(masked, view[m.start : m.end], text[m.start : m.end], strict=True)
    return "".join(k if v.isalnum() else t for k, v, t in pairs)


def mask_message(text: str) -> str:
    """``text`` with every phone, ID, card number and e-mail masked: for error and log messages."""
    return mask_text(text)[0]


def mask_value(value: Any, types: Iterable[PiiType] = PII_TYPES, policy: MaskPolicy | None = None) -> Any:
    """Mask every string inside a JSON-like value (dict keys and values, lists, tuples), as a new value.

    Two keys that become equal once masked are both kept: the later one gets a ``#2`` (``#3`` …)
    suffix.
    """
    return _mask_value(value, frozenset(types), policy or DEFAULT_POLICY)


def _mask_value(value: Any, kinds: frozenset[PiiType], policy: MaskPolicy) -> Any:
    if isinstance(value, str):
        return mask_text(value, kinds, policy)[0]
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            out[_free_key(_mask_value(key, kinds, policy), out)] = _mask_value(item, kinds, policy)
        return out
    if isinstance(value, list | tuple):
        return type(value)(_mask_value(v, kinds, policy) for v in value)
    return value


def _free_key(key: Any, taken: dict[Any, Any]) -> Any:
    if not isinstance(key, str) or key not in taken:
        return key
    n = 2
    while f"{key}#{n}" in taken:
        n += 1
    return f"{key}#{n}"


def mask_span(kind: PiiType, view_span: str, policy: MaskPolicy = DEFAULT_POLICY) -> str:
    """The masked form of one detected span (given in the digit view), same length."""
    if kind == "email":
        return _mask_email(view_span, policy.mask_char)
    first, last = (0, policy.card_keep_last) if kind == "bank_card" else (policy.keep_first, policy.keep_last)
    return _mask_digits(view_span, first, last, policy.mask_char)


def _mask_digits(span: str, keep_first: int, keep_last: int, mask: str) -> str:
    """Hide every digit (or ID check X) except the first/last few; separators stay."""
    slots = [i for i, ch in enumerate(span) if ch.isalnum()]
    keep = set(slots[:keep_first]) | set(slots[len(slots) - keep_last :] if keep_last else [])
    return "".join(ch if (i in keep or not ch.isalnum()) else mask for i, ch in enumerate(span))


def _mask_email(span: str, mask: str) -> str:
    local, _, domain = span.partition("@")
    kept = local[0] if len(local) > 1 else ""
    return kept + mask * (len(local) - len(kept)) + "@" + domain
