"""jieba's accurate mode (HMM on), token for token, about ten times faster.

Python jieba cuts about 6,000 short turns a second on one core; every turn is cut twice (the
``segment`` stage's tokens and the models' word features), which made segmentation a third of the
text path's time. :class:`Cutter` cuts with jieba-rs (the ``rjieba`` wheel: the same dictionary, the
same route and HMM) and hands back exactly what ``jieba.Tokenizer.lcut`` would:

- jieba-rs keeps an ASCII run with ``-``, ``_`` or a unit in one token (``at-2``, ``2.5mg``,
  ``1-2``) where Python jieba splits it (``at`` ``-`` ``2``). Such a token (ASCII inside, not a plain
  letter/digit run, not a dictionary word) is cut again by the Python tokenizer, which gives
  Python's pieces: Python's HMM never joins an ASCII run to the Chinese beside it.
- Where a unit repeats three times or more (好好好), two cuts have exactly the same probability
  and the two break the tie differently: Python cuts the block (the run between punctuation) that
  holds it.
- Words added to the Python tokenizer (a user dictionary, the rubric's words) are added to the
  jieba-rs copy with the frequency Python gave them.

The Python tokenizer stays the reference: the models were trained on its tokens, and
``tests/text/test_fast_cut.py`` checks the two agree. Where the wheel is missing (a platform
without one) the Python tokenizer cuts alone, slower and the same.
"""

from __future__ import annotations

import functools
import logging
import re
from typing import Any

import jieba
from jieba import finalseg

log = logging.getLogger(__name__)

_ASCII = re.compile(r"[\x21-\x7e]")
_PLAIN_RUN = re.compile(r"[a-zA-Z0-9]+(?:\.\d+)?%?")  # what Python jieba's HMM keeps in one token
# A unit said three times or more (好好好, 谢谢谢谢谢谢): its cuts tie exactly (好好|好 = 好|好好), and
# the two break the tie on opposite sides.
_REPEATED = re.compile(r"(.{1,4})\1\1")
_BLOCK = jieba.re_han_default  # Python jieba cuts each run of these characters apart from the rest
# Characters jieba-rs reads as Chinese and Python jieba does not (CJK extensions, compatibility
# ideographs, U+9FD6-U+9FFF), private-use ones (the ballast word below) and lone surrogates: a text
# holding one is cut by Python.
_PYTHON_ONLY = re.compile(
    "[\u3400-\u4dbf\u9fd6-\u9fff\uf900-\ufaff\ue000-\uf8ff\ud800-\udfff\U00020000-\U0003ffff]"
)
# A word no text holds, whose frequency makes jieba-rs's dictionary total equal Python's (which adds
# a re-listed word's frequency again where jieba-rs replaces it): the total weighs every route.
_BALLAST = "\ue000\ue001\ue002"


def _rust_jieba() -> Any | None:
    try:
        import rjieba
    except ImportError:
        log.warning("rjieba is not installed: jieba cuts in Python (same tokens, about 10x slower)")
        return None
    return rjieba.Jieba()


class Cutter:
    """``reference.lcut(text)`` (HMM on), cut by jieba-rs where the two agree.

    Build it after every word is added to ``reference``; words added later are not seen.
    """

    def __init__(self, reference: jieba.Tokenizer, base: jieba.Tokenizer | None = None) -> None:
        self.reference = reference
        self._rust = _mirror(reference, base)
        self._recut = functools.lru_cache(maxsize=8192)(self._python_pieces)

    @property
    def engine(self) -> str:
        """``rust`` where jieba-rs cuts (Python re-cutting the few places they differ), ``python``
        where Python jieba cuts alone (no wheel, or a dictionary that deletes words)."""
        return "python" if self._rust is None else "rust"

    def lcut(self, text: str) -> list[str]:
        rust = self._rust
        if rust is None or finalseg.Force_Split_Words:  # a word was deleted somewhere (jieba's global)
            return self.reference.lcut(text)
        if _PYTHON_ONLY.search(text) is not None:
            return self.reference.lcut(text)
        if _REPEATED.search(text) is None:
            return self._rust_cut(rust, text)
        return [token for block in _BLOCK.split(text) if block for token in self._block_cut(rust, block)]

    def _block_cut(self, rust: Any, block: str) -> list[str]:
        """Python jieba cuts each block (a run of Chinese, letters and digits; or what lies between)
        on its own, so only a block with a repeated unit needs it."""
        if _BLOCK.fullmatch(block) is None or _REPEATED.search(block) is not None:
            return self.reference.lcut(block)
        return self._rust_cut(rust, block)

    def _rust_cut(self, rust: Any, text: str) -> list[str]:
        tokens: list[str] = rust.cut(text)
        if _ASCII.search(text) is None:
            return tokens  # the common case: nothing for Python to split again
        out: list[str] = []
        for token in tokens:
            if self._python_would_split(token):
                out.extend(self._recut(token))
            else:
                out.append(token)
        return out

    def _python_would_split(self, token: str) -> bool:
        return (
            len(token) > 1
            and min(token) <= "~"  # some character is ASCII or below (a Chinese token: one C-level pass)
            and _ASCII.search(token) is not None
            and _PLAIN_RUN.fullmatch(token) is None
            and not self.reference.FREQ.get(token)
        )

    def _python_pieces(self, token: str) -> tuple[str, ...]:
        return tuple(self.reference.lcut(token))

    def __reduce__(self) -> tuple[Any, ...]:
        raise TypeError("a Cutter holds a native tokenizer: build one per process instead of pickling it")


def _mirror(reference: jieba.Tokenizer, base: jieba.Tokenizer | None) -> Any | None:
    """A jieba-rs tokenizer with ``reference``'s words beyond jieba's main dictionary ``base``, at
    Python's frequencies and Python's total; None (Python cuts alone) without the wheel, or where a
    word was deleted (frequency 0: Python also forces its HMM to split it, which jieba-rs cannot)."""
    rust = _rust_jieba()
    if rust is None or base is None or base is reference:
        return rust
    known = base.FREQ
    if any(f == 0 and known.get(w) for w, f in reference.FREQ.items()):
        log.info("the segment dictionary deletes words: jieba cuts in Python (same tokens, slower)")
        return None
    total = base.total  # what jieba-rs's total becomes: it replaces a word's frequency
    for word, freq in reference.FREQ.items():
        if freq and known.get(word) != freq:
            rust.add_word(word, freq, None)
            total += freq - (known.get(word) or 0)
    if reference.total > total:
        rust.add_word(_BALLAST, reference.total - total, None)
    elif reference.total < total:
        log.info("jieba totals differ (%d < %d): jieba cuts in Python", reference.total, total)
        return None
    return rust
