from __future__ import annotations

from pathlib import Path

import pytest

from qa_pipeline.classifiers.sklearn_model import SklearnTextClassifier
from tests.classifiers.tiny_model import train_tiny_model


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny_model(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="session")
def tiny(tiny_dir: Path) -> SklearnTextClassifier:
    return SklearnTextClassifier.load(tiny_dir)
