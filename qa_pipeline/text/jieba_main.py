"""jieba's main dictionary, loaded once per process and shared read-only.

The ``segment`` stage copies its word table into tokenizers of its own (user and rubric words go
there); the classifiers' word features cut with it as it is, through :func:`main_cutter`. Nobody
adds words to it, and the global ``jieba.dt`` (which other code may change) is never used.
"""

from __future__ import annotations

import functools
import logging
import threading

import jieba

from qa_pipeline.text.fast_cut import Cutter

_LOCK = threading.Lock()


def main_tokenizer() -> jieba.Tokenizer:
    """The shared tokenizer with jieba's main dictionary only (about a second to load, the first time)."""
    with _LOCK:  # two threads must not both load it
        return _load()


@functools.cache
def _load() -> jieba.Tokenizer:
    logging.getLogger("jieba").setLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    return tokenizer


def main_cutter() -> Cutter:
    """:func:`main_tokenizer`'s cuts, made by jieba-rs (:mod:`qa_pipeline.text.fast_cut`)."""
    with _LOCK:
        return _cutter()


@functools.cache
def _cutter() -> Cutter:
    return Cutter(_load())
