"""Text helpers shared by the text stages: width, numerals, personal-data masking."""

from qa_pipeline.text.numerals import matching_view, normalize_numerals, to_arabic_digits
from qa_pipeline.text.pii import PII_TYPES, MaskPolicy, mask_text
from qa_pipeline.text.width import collapse_whitespace, to_halfwidth

__all__ = [
    "PII_TYPES",
    "MaskPolicy",
    "collapse_whitespace",
    "mask_text",
    "matching_view",
    "normalize_numerals",
    "to_arabic_digits",
    "to_halfwidth",
]
