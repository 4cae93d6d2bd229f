"""Smoke training end to end: shared data -> MLflow run -> artefact -> sentiment stage -> a prediction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from qa_pipeline.classifiers.metadata import read_metadata
from qa_pipeline.pipeline import BuildContext, registry
from qa_pipeline.settings import Settings
from qa_pipeline.types import Conversation, Turn
from training import train_sentiment

pytestmark = [pytest.mark.data, pytest.mark.slow]


def test_smoke_training_end_to_end(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)  # artefacts of the sqlite store go under ./mlruns
    out = tmp_path / "model"
    argv = ["--smoke", "--data-dir", str(shared_data), "--out", str(out), "--experiment", "smoke-test"]
    assert train_sentiment.main(argv) == 0

    meta = read_metadata(out)
    assert meta.labels == ["neg", "neu", "pos"]
    assert {"dev_binary_acc", "test_binary_acc", "heldout_macro_f1", "conv_accuracy"} <= set(meta.metrics)
    assert "SMOKE MODEL" in (out / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert {f.path for f in meta.data_files} >= {"sentiment/train.tsv", "emotion/smp2020_virus_train.jsonl"}

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("smoke-test")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.data.tags["model_version"] == meta.version
    assert run.data.metrics["dev_binary_acc"] == pytest.approx(meta.metrics["dev_binary_acc"])
    assert run.data.params["smoke"] == "True"
    logged = {a.path for a in client.list_artifacts(run.info.run_id, "model")}
    assert {"model/model.joblib", "model/metadata.json", "model/MODEL_CARD.md"} <= logged
    confusion = client.download_artifacts(run.info.run_id, "confusion/confusion_dev.json", str(tmp_path))
    assert json.loads(Path(confusion).read_text(encoding="utf-8"))["labels"] == ["neg", "neu", "pos"]

    stage = registry.build(
        "sentiment", {"model": str(out)}, BuildContext(settings=Settings(models_dir=tmp_path))
    )
    conv = Conversation(
        id="s1", channel="chat", turns=[Turn(speaker="customer", text="太失望了，再也不买了")]
    )
    pred = stage(conv).turns[0].sentiment
    assert pred is not None and set(pred.probs) == {"neg", "neu", "pos"}
    assert stage.version == meta.version


def test_missing_data_dir_exits_2(tmp_path: Path) -> None:
    assert (
        train_sentiment.main(["--smoke", "--data-dir", str(tmp_path / "absent"), "--out", str(tmp_path)]) == 2
    )
