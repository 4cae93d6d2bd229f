from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from qa_pipeline.classifiers.metadata import METADATA_FILE, read_metadata, sha256_of
from qa_pipeline.classifiers.sklearn_model import ARTEFACT, ExportInfo, SklearnTextClassifier, export_model
from qa_pipeline.errors import E, ModelError
from tests.classifiers.tiny_model import fit_tiny


def _copy(src: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(src, tmp_path / "model"))


def _edit_metadata(folder: Path, **changes: object) -> None:
    path = folder / METADATA_FILE
    raw = json.loads(path.read_text(encoding="utf-8"))
    raw.update(changes)
    path.write_text(json.dumps(raw), encoding="utf-8")


def test_export_writes_versioned_metadata(tiny_dir: Path) -> None:
    meta = read_metadata(tiny_dir)
    assert meta.kind == "sklearn"
    assert meta.labels == ["neg", "neu", "pos"]
    assert re.fullmatch(r"tiny-sklearn-\d{8}-[0-9a-f]{8}", meta.version)
    assert meta.version.endswith(meta.artefact_sha256[:8])
    assert meta.artefact_sha256 == sha256_of(tiny_dir / ARTEFACT)
    assert meta.artefact_bytes == (tiny_dir / ARTEFACT).stat().st_size
    assert "scikit-learn" in meta.frameworks
    assert meta.metrics == {"train_size": 12}


def test_reload_predicts_like_the_fitted_pipeline(tmp_path: Path) -> None:
    model = fit_tiny()
    export_model(model, tmp_path / "m", ExportInfo(name="tiny"))
    loaded = SklearnTextClassifier.load(tmp_path / "m")
    texts = ["服务太差了", "我要改地址", "非常满意"]
    direct = model.predict_proba(texts)
    for row, pred in zip(direct, loaded.predict(texts), strict=True):
        assert list(pred.probs.values()) == pytest.approx(list(row))


def test_a_large_artefact_is_written_with_xz_and_predicts_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qa_pipeline.classifiers import sklearn_model

    monkeypatch.setattr(sklearn_model, "LARGE_ARTEFACT", 0)  # every artefact counts as large
    model = fit_tiny()
    meta = export_model(model, tmp_path / "m", ExportInfo(name="tiny"))
    assert (tmp_path / "m" / ARTEFACT).read_bytes()[:6] == b"\xfd7zXZ\x00"  # the xz magic number
    assert meta.artefact_bytes == (tmp_path / "m" / ARTEFACT).stat().st_size
    texts = ["服务太差了", "我要改地址"]
    loaded = SklearnTextClassifier.load(tmp_path / "m")
    for row, pred in zip(model.predict_proba(texts), loaded.predict(texts), strict=True):
        assert list(pred.probs.values()) == pytest.approx(list(row))


def test_load_accepts_the_artefact_file_itself(tiny_dir: Path) -> None:
    assert SklearnTextClassifier.load(tiny_dir / ARTEFACT).version == read_metadata(tiny_dir).version


def test_missing_folder_is_model_not_found(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as info:
        SklearnTextClassifier.load(tmp_path / "nope")
    assert info.value.code is E.MODEL_NOT_FOUND
    assert "nope" in info.value.message
    assert "training.train_sentiment" in info.value.message


def test_missing_metadata_is_model_not_found(tiny_dir: Path, tmp_path: Path) -> None:
    folder = _copy(tiny_dir, tmp_path)
    (folder / METADATA_FILE).unlink()
    with pytest.raises(ModelError) as info:
        SklearnTextClassifier.load(folder)
    assert info.value.code is E.MODEL_NOT_FOUND
    assert info.value.file == str(folder / METADATA_FILE)


def test_missing_artefact_is_model_not_found(tiny_dir: Path, tmp_path: Path) -> None:
    folder = _copy(tiny_dir, tmp_path)
    (folder / ARTEFACT).unlink()
    with pytest.raises(ModelError) as info:
        SklearnTextClassifier.load(folder)
    assert info.value.code is E.MODEL_NOT_FOUND


def test_changed_artefact_fails_the_checksum(tiny_dir: Path, tmp_path: Path) -> None:
    folder = _copy(tiny_dir, tmp_path)
    with (folder / ARTEFACT).open("ab") as fh:
        fh.write(b"x")
    with pytest.raises(ModelError) as info:
        SklearnTextClassifier.load(folder)
    assert info.value.code is E.MODEL_INCOMPATIBLE
    assert "sha256" in info.value.detail


def test_unpicklable_artefact_is_incompatible(tiny_dir: Path, tmp_path: Path) -> None:
    folder = _copy(tiny_dir, tmp_path)
    (folder / ARTEFACT).write_bytes(b"not a pickle at all")
    _edit_metadata(folder, artefact_sha256=sha256_of(folder / ARTEFACT))
    with pytest.raises(ModelError) as info:
        SklearnTextClassifier.load(folder)
    assert info.value.code is E.MODEL_INCOMPATIBLE
    assert "cannot unpickle" in info.value.detail


@pytest.mark.parametrize(
    ("changes", "needle"),
    [({"kind": "torch"}, "kind"), ({"labels": ["neg", "pos"]}, "labels"), ({"schema_version": 99}, "schema")],
)
def test_incompatible_metadata(
    tiny_dir: Path, tmp_path: Path, changes: dict[str, object], needle: str
) -> None:
    folder = _copy(tiny_dir, tmp_path)
    _edit_metadata(folder, **changes)
    with pytest.raises(ModelError) as info:
        SklearnTextClassifier.load(folder)
    assert info.value.code is E.MODEL_INCOMPATIBLE
    assert needle in info.value.message


def test_unreadable_metadata_is_incompatible(tiny_dir: Path, tmp_path: Path) -> None:
    folder = _copy(tiny_dir, tmp_path)
    (folder / METADATA_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelError) as info:
        SklearnTextClassifier.load(folder)
    assert info.value.code is E.MODEL_INCOMPATIBLE
