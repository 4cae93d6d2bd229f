"""Hugging Face checkpoint folders behind the classifier contract (a tiny BERT the test builds)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa_pipeline.classifiers import load_classifier
from qa_pipeline.classifiers.hf_model import HFTextClassifier
from qa_pipeline.classifiers.metadata import read_metadata, write_metadata
from qa_pipeline.errors import ModelError
from tests.classifiers.tiny_torch import tiny_bert_checkpoint


def test_bare_checkpoint_loads_with_labels_from_config(tmp_path: Path) -> None:
    folder = tiny_bert_checkpoint(tmp_path / "ckpt")
    clf = load_classifier(folder, models_dir=tmp_path)
    assert isinstance(clf, HFTextClassifier) and clf.labels == ["neg", "neu", "pos"]
    preds = clf.predict(["太差了我要投诉", "", "谢谢" * 400, "iphone 12 退款"], batch_size=2)
    assert len(preds) == 4
    for p in preds:
        assert set(p.probs) == {"neg", "neu", "pos"} and sum(p.probs.values()) == pytest.approx(1.0)
        assert p.label == max(p.probs, key=lambda k: p.probs[k])
    assert clf.predict([]) == []


def test_temperature_from_metadata_flattens_probabilities(tmp_path: Path) -> None:
    folder = tiny_bert_checkpoint(tmp_path / "ckpt")
    plain = load_classifier(folder, models_dir=tmp_path)
    meta = plain.metadata  # type: ignore[attr-defined]
    meta.params = {"temperature": 50.0, "normalise": True}
    write_metadata(folder, meta)
    hot = load_classifier(folder, models_dir=tmp_path)
    assert read_metadata(folder).kind == "hf"
    a, b = plain.predict(["太差了"])[0], hot.predict(["太差了"])[0]
    assert max(b.probs.values()) - min(b.probs.values()) < max(a.probs.values()) - min(a.probs.values())


def test_unnamed_labels_or_missing_config_are_typed_errors(tmp_path: Path) -> None:
    folder = tiny_bert_checkpoint(tmp_path / "ckpt")
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config["id2label"] = {"0": "LABEL_0", "1": "LABEL_1", "2": "LABEL_2"}
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(ModelError, match="no named id2label"):
        load_classifier(folder, models_dir=tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError):
        load_classifier(tmp_path / "empty", models_dir=tmp_path)


def test_metadata_labels_must_match_the_checkpoint(tmp_path: Path) -> None:
    folder = tiny_bert_checkpoint(tmp_path / "ckpt")
    meta = load_classifier(folder, models_dir=tmp_path).metadata  # type: ignore[attr-defined]
    meta.labels = ["pos", "neu", "neg"]
    write_metadata(folder, meta)
    with pytest.raises(ModelError, match="do not match"):
        load_classifier(folder, models_dir=tmp_path)
