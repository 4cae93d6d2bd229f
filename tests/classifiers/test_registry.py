from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from qa_pipeline.classifiers import load_classifier, register_kind, resolve_model_path
from qa_pipeline.classifiers.base import Probs, TextClassifier
from qa_pipeline.classifiers.metadata import METADATA_FILE, ModelMetadata, read_metadata, write_metadata
from qa_pipeline.classifiers.sklearn_model import SklearnTextClassifier
from qa_pipeline.errors import E, ModelError


def test_bare_name_is_looked_up_in_models_dir(tiny_dir: Path) -> None:
    clf = load_classifier("tiny", models_dir=tiny_dir.parent)
    assert isinstance(clf, SklearnTextClassifier)
    assert clf.version == read_metadata(tiny_dir).version


def test_path_is_used_as_is(tiny_dir: Path, tmp_path: Path) -> None:
    assert load_classifier(str(tiny_dir), models_dir=tmp_path).labels == ["neg", "neu", "pos"]
    assert resolve_model_path(tiny_dir, tmp_path) == tiny_dir
    assert resolve_model_path("sentiment", tmp_path) == tmp_path / "sentiment"
    assert resolve_model_path("sub/model", tmp_path) == Path("sub/model")


def test_unknown_name_is_model_not_found(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as info:
        load_classifier("sentiment", models_dir=tmp_path)
    assert info.value.code is E.MODEL_NOT_FOUND
    assert str(tmp_path / "sentiment") in info.value.message


def test_unknown_kind_is_incompatible(tiny_dir: Path, tmp_path: Path) -> None:
    folder = Path(shutil.copytree(tiny_dir, tmp_path / "m"))
    raw = json.loads((folder / METADATA_FILE).read_text(encoding="utf-8"))
    raw["kind"] = "onnx"
    (folder / METADATA_FILE).write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(ModelError) as info:
        load_classifier(folder, models_dir=tmp_path)
    assert info.value.code is E.MODEL_INCOMPATIBLE
    assert "onnx" in info.value.message and "sklearn" in info.value.message


class KeywordClassifier(TextClassifier):
    """Another model family: plugs in through metadata.kind + register_kind."""

    def __init__(self, meta: ModelMetadata) -> None:
        self.labels = meta.labels
        self.version = meta.version

    @classmethod
    def load(cls, path: Path) -> KeywordClassifier:
        return cls(read_metadata(path))

    def _forward(self, texts: list[str]) -> Probs:
        return np.array([[1.0, 0.0] if "差" in t else [0.0, 1.0] for t in texts])


def test_a_new_kind_plugs_in_through_metadata(tmp_path: Path) -> None:
    folder = tmp_path / "kw"
    folder.mkdir()
    meta = ModelMetadata(
        kind="keyword-test",
        name="kw",
        version="kw-1",
        labels=["neg", "pos"],
        created="2024-01-01",
        artefact="",
        artefact_sha256="",
    )
    write_metadata(folder, meta)
    register_kind("keyword-test", KeywordClassifier.load)
    clf = load_classifier("kw", models_dir=tmp_path)
    assert [p.label for p in clf.predict(["太差", "很好"])] == ["neg", "pos"]
