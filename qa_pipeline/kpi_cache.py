"""Answers of the KPI pull kept while the data under them is unchanged.

A KPI system polls the same pulls again and again; recomputing intervals over tens of thousands of
conversations each time is wasted work. An answer is keyed by the query (caller's scope included)
and by :func:`~qa_pipeline.store.kpi_facts.data_version`, which changes with every new result,
human verdict or team change, so a cached answer is never stale; the oldest answers go first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class AnswerCache(Generic[T]):
    def __init__(self, size: int = 128) -> None:
        self.size = size
        self._answers: OrderedDict[Hashable, T] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def peek(self, key: Hashable) -> T | None:
        """The answer for ``key`` if it is kept (counted as a hit), else None; never computes."""
        with self._lock:
            if key not in self._answers:
                return None
            self._answers.move_to_end(key)
            self.hits += 1
            return self._answers[key]

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The answer for ``key`` (which must include the data version), computed on a miss."""
        with self._lock:
            if key in self._answers:
                self._answers.move_to_end(key)
                self.hits += 1
                return self._answers[key]
        answer = compute()
        with self._lock:
            self.misses += 1
            self._answers[key] = answer
            while len(self._answers) > self.size:
                self._answers.popitem(last=False)
        return answer

    def clear(self) -> None:
        with self._lock:
            self._answers.clear()
