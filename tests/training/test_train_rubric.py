"""The rubric classifiers train from the repo's own examples (no shared data needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa_pipeline.classifiers import load_classifier
from qa_pipeline.classifiers.metadata import read_metadata
from training import train_rubric

pytestmark = pytest.mark.slow


def test_train_rubric_exports_all_four(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    assert train_rubric.main(["--models-dir", str(tmp_path), "--folds", "3"]) == 0
    for task in train_rubric.TASKS:
        meta = read_metadata(tmp_path / f"rubric-{task.name}")
        assert meta.metrics["cv_macro_f1"] > 0.6
        assert meta.data_files[0].path == f"rubrics/examples/{task.file}"
    handling = load_classifier(tmp_path / "rubric-handling", models_dir=tmp_path)
    assert handling.labels == ["dismissed", "handled"]


def test_missing_examples_exit_2(tmp_path: Path) -> None:
    assert train_rubric.main(["--examples", str(tmp_path), "--models-dir", str(tmp_path)]) == 2
