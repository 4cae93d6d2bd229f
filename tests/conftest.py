"""Shared fixtures. Tests that need ../shared/data skip cleanly when it is absent."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from qa_pipeline.pipeline import _HEAP_SETTLED

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (clone the project next to shared/)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def dialogues_path(shared_data: Path) -> Path:
    path = shared_data / "conversations_dev" / "dialogues.jsonl"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with its own SQLite database, for running the `qa` command."""
    monkeypatch.setenv("QA_DATABASE_URL", f"sqlite:///{tmp_path / 'qa.db'}")
    monkeypatch.setenv("QA_LOG_LEVEL", "WARNING")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(autouse=True)
def _unfrozen_heap() -> Iterator[None]:
    """Code under test may call settle_heap() (gc.freeze, a higher threshold); undo it so the test process
    stays collectable as before."""
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)
    _HEAP_SETTLED.clear()


@pytest.fixture(autouse=True)
def _audio_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Recordings a test keeps (the audio pipeline's ``recording`` stage) go to a temporary folder,
    never into the working tree."""
    monkeypatch.setenv("QA_AUDIO_DIR", str(tmp_path_factory.mktemp("audio")))
