"""Smoke path of the torch models: data -> MLM pre-training -> fine-tuning -> MLflow -> artefact ->
the pipeline's stage loads it -> a prediction. Also a user's own HF checkpoint through --init."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from qa_pipeline.classifiers.metadata import read_metadata
from qa_pipeline.pipeline import BuildContext, registry
from qa_pipeline.settings import Settings
from qa_pipeline.types import Conversation, Turn
from tests.classifiers.tiny_torch import tiny_bert_checkpoint
from training import pretrain_mlm, train_classifier

pytestmark = [pytest.mark.data, pytest.mark.slow]


@pytest.fixture()
def tracking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    return uri


def _emotion(model: Path, tmp_path: Path, text: str) -> dict[str, float]:
    stage = registry.build(
        "emotion", {"model": str(model)}, BuildContext(settings=Settings(models_dir=tmp_path))
    )
    conv = Conversation(id="x", channel="chat", turns=[Turn(speaker="customer", text=text)])
    pred = stage(conv).turns[0].emotion
    assert pred is not None
    return pred.probs


def test_pretrain_then_finetune_bert_and_textcnn(shared_data: Path, tmp_path: Path, tracking: str) -> None:
    ckpt = tmp_path / "charbert"
    assert pretrain_mlm.main(["--smoke", "--data-dir", str(shared_data), "--out", str(ckpt)]) == 0
    assert (ckpt / "config.json").is_file() and (ckpt / "tokenizer_config.json").is_file()
    for arch in ("bert", "textcnn"):
        out = tmp_path / f"emotion-{arch}"
        argv = [
            "--task",
            "emotion",
            "--arch",
            arch,
            "--smoke",
            "--init",
            str(ckpt),
            "--data-dir",
            str(shared_data),
            "--out",
            str(out),
            "--experiment",
            "smoke",
        ]
        assert train_classifier.main(argv) == 0
        meta = read_metadata(out)
        assert meta.kind == {"bert": "hf", "textcnn": "textcnn"}[arch]
        assert meta.labels == ["angry", "happy", "neutral", "sad", "surprise", "fear"]
        assert {"usual_eval_macro_f1", "heldout_ece", "temperature", "speed_utterances_per_s"} <= set(
            meta.metrics
        )
        probs = _emotion(out, tmp_path, "气死我了")
        assert sum(probs.values()) == pytest.approx(1.0)
    runs = MlflowClient(tracking_uri=tracking).search_runs(
        [MlflowClient(tracking_uri=tracking).get_experiment_by_name("smoke").experiment_id]  # type: ignore[union-attr]
    )
    assert len(runs) == 2 and all("usual_eval_macro_f1" in r.data.metrics for r in runs)


def test_a_users_hf_checkpoint_fine_tunes_through_init(
    shared_data: Path, tmp_path: Path, tracking: str
) -> None:
    user = tiny_bert_checkpoint(tmp_path / "user-roberta")  # stands in for a checkpoint downloaded elsewhere
    out = tmp_path / "sentiment-user"
    argv = [
        "--task",
        "sentiment",
        "--arch",
        "bert",
        "--smoke",
        "--init",
        str(user),
        "--data-dir",
        str(shared_data),
        "--out",
        str(out),
    ]
    assert train_classifier.main(argv) == 0
    assert read_metadata(out).params["init"] == str(user)
    stage = registry.build(
        "sentiment", {"model": str(out)}, BuildContext(settings=Settings(models_dir=tmp_path))
    )
    conv = Conversation(id="x", channel="chat", turns=[Turn(speaker="customer", text="太失望了")])
    pred = stage(conv).turns[0].sentiment
    assert pred is not None and set(pred.probs) == {"neg", "neu", "pos"}


def test_init_that_is_not_a_checkpoint_exits_2(shared_data: Path, tmp_path: Path) -> None:
    argv = ["--task", "emotion", "--arch", "bert", "--init", str(tmp_path), "--data-dir", str(shared_data)]
    assert train_classifier.main(argv) == 2
