"""Detect and mask personal data in text: mainland phone numbers, ID numbers, bank cards, e-mail.

Detection runs on a *digit view* of the text: each character is mapped to one character (Chinese
digits 幺三八 and full-width ０-９ to ASCII digits, full-width ASCII to ASCII, 叉 to X), so every
offset in the view is an offset in the text. A number only counts when it stands alone: it may
not touch another digit (or a digit behind a hyphen) on either side, so a phone number inside a
longer order number is not one.

* ``id_card``: 18 characters, 17 digits and a GB 11643 check character that must be right.
* ``phone``: 1[3-9] and 9 more digits, optional +86/86 prefix, optional space/hyphen groups 3-4-4;
  not when an order-type label stands right before it (订单号/运单号/工单号/流水号 … 是 …), since
  such numbers have the same shape. Account numbers (账号/户号) are not exempt: they are often phones.
* ``bank_card``: 13–19 digits (contiguous or in groups) that pass the Luhn check.
* ``email``: local@domain.tld.

Masking keeps the shape: every masked character becomes ``*``, kept characters come from the
digit view (so they are ASCII even when the speaker said 幺三八), separators stay, and the masked
text has exactly the length of the original. Names and addresses are not detected.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from qa_pipeline.text.numerals import to_arabic_digits
from qa_pipeline.types import PiiType

PII_TYPES: tuple[PiiType, ...] = ("phone", "id_card", "bank_card", "email")
#: detection order: earlier types claim their characters first
_ORDER: tuple[PiiType, ...] = ("email", "id_card", "phone", "bank_card")

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARS = "10X98765432"

_VIEW_TABLE = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_VIEW_TABLE[ord("叉")] = ord("X")

_BEFORE = r"(?<![0-9])(?<![0-9]-)"
_AFTER = r"(?![0-9])(?!-[0-9])"
#: right before a phone-shaped number, these labels say it is an order-type number, not a phone
_ORDER_LABEL = re.compile(r"(?:订单|运单|快递单|物流单|工单|单|流水|批次|编)号(?:码)?(?:是|为)?[:：]?\s*$")
_LABEL_WINDOW = 8

_PATTERNS: dict[PiiType, re.Pattern[str]] = {
    "email": re.compile(
        r"(?<![A-Za-z0-9._%+\-*])(?P<num>[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,})"
        r"(?![A-Za-z0-9])"
    ),
    "id_card": re.compile(
        _BEFORE + r"(?P<num>\d{6}[ -]?\d{8}[ -]?\d{3}[0-9Xx])" + r"(?![0-9A-Za-z])(?!-[0-9])"
    ),
    "phone": re.compile(_BEFORE + r"(?P<pre>(?:\+|00)?86[ -]?)?(?P<num>1[3-9]\d(?:[ -]?\d{4}){2})" + _AFTER),
    "bank_card": re.compile(
        _BEFORE
        + r"(?P<num>\d{13,19}|\d{4}(?:[ -]\d{4}){2,3}(?:[ -]\d{1,4})?|\d{4}[ -]\d{6}[ -]\d{5})"
        + _AFTER
    ),
}


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


def digit_view(text: str) -> str:
    """Same length as ``text``: digits as ASCII (幺三八 → 138, ０ → 0), full-width ASCII as ASCII."""
    return to_arabic_digits(text).translate(_VIEW_TABLE)


def luhn_valid(digits: str) -> bool:
    """Luhn (mod 10) check of a string of ASCII digits."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def id_check_char(first17: str) -> str:
    """The GB 11643 check character of the first 17 digits of an ID number."""
    return ID_CHECK_CHARS[sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


def id_card_valid(number: str) -> bool:
    """18 characters, 17 digits and the right check character (x or X)."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    return id_check_char(number[:17]) == number[17].upper()


def detect(text: str, types: Iterable[PiiType] = PII_TYPES) -> list[Match]:
    """Personal-data spans in ``text``, sorted, never overlapping."""
    view = digit_view(text)
    wanted = set(types)
    found: list[Match] = []
    for kind in _ORDER:
        if kind in wanted:
            found.extend(m for m in _candidates(kind, view) if not _overlaps(m, found))
    return sorted(found, key=lambda m: m.start)


def _overlaps(m: Match, found: list[Match]) -> bool:
    return any(m.start < f.end and f.start < m.end for f in found)


def _candidates(kind: PiiType, view: str) -> Iterator[Match]:
    for m in _PATTERNS[kind].finditer(view):
        start, end = m.span("num")
        span = _accept(kind, view, start, end)
        if span is not None:
            yield Match(kind, *span)


def _accept(kind: PiiType, view: str, start: int, end: int) -> tuple[int, int] | None:
    """The span to mask if the candidate passes its check (a grouped card may drop its last group)."""
    raw = _strip_separators(view[start:end])
    if kind == "id_card":
        return (start, end) if id_card_valid(raw) else None
    if kind == "phone":
        return None if _ORDER_LABEL.search(view, max(0, start - _LABEL_WINDOW), start) else (start, end)
    if kind != "bank_card":
        return start, end
    if 13 <= len(raw) <= 19 and luhn_valid(raw):
        return start, end
    cut = max(view.rfind(" ", start, end), view.rfind("-", start, end))
    shorter = _strip_separators(view[start:cut]) if cut > start else ""
    return (start, cut) if len(shorter) >= 13 and luhn_valid(shorter) else None


def _strip_separators(s: str) -> str:
    return s.replace(" ", "").replace("-", "")


def mask_text(
    text: str, types: Iterable[PiiType] = PII_TYPES, policy: MaskPolicy = DEFAULT_POLICY
) -> tuple[str, list[tuple[PiiType, int, int]]]:
    """Mask personal data; returns the masked text (same length) and (type, start, end) spans."""
    matches = detect(text, types)
    if not matches:
        return text, []
    view = digit_view(text)
    parts: list[str] = []
    pos = 0
    for m in matches:
        parts.append(text[pos : m.start])
        parts.append(mask_span(m.type, view[m.start : m.end], policy))
        pos = m.end
    parts.append(text[pos:])
    return "".join(parts), [(m.type, m.start, m.end) for m in matches]


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
