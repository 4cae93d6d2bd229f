"""Character error rate (CER) for Chinese ASR, on a normalised view of both texts.

Normalisation, applied to reference and hypothesis alike: Traditional → Simplified (OpenCC ``t2s``),
NFKC (full-width letters and digits to ASCII), lower case, every punctuation, symbol and space
removed, and each Chinese digit character (零〇一幺二两…九) mapped to its Arabic digit one for one,
so "幺三八" and "138" compare equal. Positional numbers (一百二十) are not rewritten: both sides see
the same mapping, and a reader who says 一百二十 is transcribed with the same characters.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from qa_pipeline.asr.simplify import to_simplified
from qa_pipeline.text.numerals import to_arabic_digits

_DROP_CATEGORIES = ("P", "S", "Z", "C")


def normalize_for_cer(text: str) -> str:
    """The view CER is measured on (see the module docstring)."""
    text = unicodedata.normalize("NFKC", to_simplified(text)).lower()
    text = to_arabic_digits(text)
    return "".join(ch for ch in text if not unicodedata.category(ch).startswith(_DROP_CATEGORIES))


def edit_distance(ref: str, hyp: str) -> int:
    """Levenshtein distance (substitutions, insertions, deletions, each cost 1) between two strings."""
    if len(ref) < len(hyp):
        ref, hyp = hyp, ref
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        current = [i]
        for j, h in enumerate(hyp, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1]


@dataclass(frozen=True)
class CerResult:
    """Edits and reference length; ``cer`` is their ratio (pool several with :func:`pool`)."""

    edits: int
    ref_chars: int
    hyp_chars: int

    @property
    def cer(self) -> float:
        if self.ref_chars == 0:
            return 0.0 if self.hyp_chars == 0 else 1.0
        return self.edits / self.ref_chars


def cer(reference: str, hypothesis: str) -> CerResult:
    """CER of ``hypothesis`` against ``reference``, both normalised with :func:`normalize_for_cer`."""
    ref, hyp = normalize_for_cer(reference), normalize_for_cer(hypothesis)
    return CerResult(edits=edit_distance(ref, hyp), ref_chars=len(ref), hyp_chars=len(hyp))


def pool(results: Iterable[CerResult]) -> CerResult:
    """Pooled CER: total edits over total reference characters."""
    items = list(results)
    return CerResult(
        edits=sum(r.edits for r in items),
        ref_chars=sum(r.ref_chars for r in items),
        hyp_chars=sum(r.hyp_chars for r in items),
    )
