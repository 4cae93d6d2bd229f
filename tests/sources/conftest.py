"""Fixtures for the importer tests: settings with small limits and sample records."""

from __future__ import annotations

import pytest

from qa_pipeline.settings import Settings


@pytest.fixture
def settings() -> Settings:
    return Settings(max_file_bytes=1_000_000, max_turn_chars=200, max_turns=50)
