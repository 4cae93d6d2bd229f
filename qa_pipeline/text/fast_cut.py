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

log = logging.getLogger(__name__)

_ASCII = re.compile(r"[\x21-\x7e]")
_PLAIN_RUN = re.compile(r"[a-zA-Z0-9]+(?:\.\d+)?%?")  # what Python jieba's HMM keeps in one token
# A unit said three times or more (好好好, 谢谢谢谢谢谢): its cuts tie exactly (好好|好 = 好|好好), and
# the two break the tie on opposite sides.
_REPEATED = re.compile(r"(.{1,4})\1\1")
_BLOCK = jieba.re_han_default  # Python jieba cuts each run of these characters apart from the rest


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
        self._rust = _rust_jieba()
        if self._rust is not None:
            for word, freq in _added_words(reference, base):
                self._rust.add_word(word, freq, None)
        self._recut = functools.lru_cache(maxsize=8192)(self._python_pieces)

    @property
    def engine(self) -> str:
        return "python" if self._rust is None else "rust"

    def lcut(self, text: str) -> list[str]:
        rust = self._rust
        if rust is None:
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
            and _ASCII.search(token) is not None
            and _PLAIN_RUN.fullmatch(token) is None
            and not self.reference.FREQ.get(token)
        )

    def _python_pieces(self, token: str) -> tuple[str, ...]:
        return tuple(self.reference.lcut(token))

    def __reduce__(self) -> tuple[Any, ...]:
        raise TypeError("a Cutter holds a native tokenizer: build one per process instead of pickling it")


def _added_words(tokenizer: jieba.Tokenizer, base: jieba.Tokenizer | None) -> list[tuple[str, int]]:
    """The words ``tokenizer`` has beyond jieba's main dictionary ``base``, with their frequencies
    (prefix entries of frequency 0 left out)."""
    if base is None or base is tokenizer:
        return []
    known = base.FREQ
    return [(w, f) for w, f in tokenizer.FREQ.items() if f and known.get(w) != f]
