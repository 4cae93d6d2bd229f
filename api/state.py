"""What the app builds once at start-up and shares between requests."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from sqlalchemy import Engine

from qa_pipeline.pipeline import Pipeline
from qa_pipeline.scoring import ScoringConfig
from qa_pipeline.settings import Settings
from qa_pipeline.store import Repository, SaveOutcome
from qa_pipeline.types import Conversation


@dataclass
class AppState:
    """Settings, the database, the pipeline (loaded once) and the scoring configuration."""

    settings: Settings
    engine: Engine
    repository: Repository
    pipeline: Pipeline
    scoring: ScoringConfig
    # Stages hold models and caches that are not guaranteed thread-safe; scoring is CPU-bound
    # under the GIL anyway, so one conversation at a time per process loses nothing.
    _pipeline_lock: threading.Lock = field(default_factory=threading.Lock)

    def audit(self, conv: Conversation) -> tuple[Conversation, SaveOutcome]:
        """Run the pipeline on ``conv`` and store the result (blocking; call from a worker thread)."""
        with self._pipeline_lock:
            scored = self.pipeline(conv)
        return scored, self.repository.save(scored)
