"""The TextCNN classifier: save, load through the registry, predict."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa_pipeline.classifiers import load_classifier
from qa_pipeline.classifiers.metadata import ModelMetadata, sha256_of, write_metadata
from qa_pipeline.classifiers.textcnn import TextCNNClassifier, TextCNNConfig, build_network, save_textcnn
from qa_pipeline.errors import ModelError
from tests.classifiers.tiny_torch import tiny_tokenizer


def make(folder: Path, labels: list[str]) -> Path:
    tokenizer = tiny_tokenizer(folder)
    config = TextCNNConfig(vocab_size=len(tokenizer), n_labels=2, embed_dim=8, filters=4, widths=(1, 2))
    artefact = save_textcnn(build_network(config), config, tokenizer, folder)
    meta = ModelMetadata(
        kind="textcnn",
        name="t",
        version="t-1",
        labels=labels,
        created="",
        artefact=artefact.name,
        artefact_sha256=sha256_of(artefact),
    )
    write_metadata(folder, meta)
    return folder


def test_textcnn_round_trip(tmp_path: Path) -> None:
    clf = load_classifier(make(tmp_path / "m", ["agent", "customer"]), models_dir=tmp_path)
    assert isinstance(clf, TextCNNClassifier)
    preds = clf.predict(["您好请问", "好", "x" * 300])
    assert [sorted(p.probs) for p in preds] == [["agent", "customer"]] * 3
    assert all(sum(p.probs.values()) == pytest.approx(1.0) for p in preds)
    # one text alone gives the same probabilities as inside a padded batch
    alone = clf.predict(["好"])[0].probs["agent"]
    assert alone == pytest.approx(preds[1].probs["agent"], abs=1e-5)


def test_textcnn_label_count_mismatch(tmp_path: Path) -> None:
    with pytest.raises(ModelError):
        load_classifier(make(tmp_path / "m", ["a", "b", "c"]), models_dir=tmp_path)
