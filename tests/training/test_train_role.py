"""Smoke training of the role classifier: data -> MLflow run -> artefact -> asr stage role model."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from qa_pipeline.classifiers import load_classifier
from qa_pipeline.classifiers.metadata import read_metadata
from qa_pipeline.stages.asr import AsrConfig, assign_mono_roles
from qa_pipeline.types import Word
from training import train_role

pytestmark = [pytest.mark.data, pytest.mark.slow]


def test_clean_and_clauses() -> None:
    assert train_role.clean("[数字x]好的#E-s[数字x]~") == "好的"
    assert train_role._clauses("亲，请稍等,[数字x],好的,") == ["亲，请稍等", "好的"]


def test_smoke_role_training_end_to_end(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "role"
    argv = ["--smoke", "--data-dir", str(shared_data), "--out", str(out), "--experiment", "role-smoke"]
    assert train_role.main(argv) == 0

    meta = read_metadata(out)
    assert meta.labels == ["agent", "customer"]
    assert {"held_out_accuracy", "held_out_ece", "dialogue_turns_accuracy"} <= set(meta.metrics)
    experiment = MlflowClient(tracking_uri=uri).get_experiment_by_name("role-smoke")
    assert experiment is not None

    classifier = load_classifier(out, models_dir=tmp_path)
    ws = [
        Word(text="您好，请问有什么可以帮您？", start=0.0, end=2.0),
        Word(text="我想退货", start=3.5, end=4.5),
    ]
    turns = assign_mono_roles([[w] for w in ws], AsrConfig(), classifier)
    assert [t.speaker for t in turns] == ["agent", "customer"]
