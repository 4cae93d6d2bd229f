"""Find and load a classifier from a model name or path, whatever its kind.

``load_classifier("sentiment", models_dir=settings.models_dir)`` reads
``<models_dir>/sentiment/metadata.json`` and hands the folder to the loader registered for its
``kind``. Built-in kinds are imported lazily, so a torch model's dependencies are only needed when
such a model is loaded. Register another family with :func:`register_kind`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from qa_pipeline.classifiers.base import TextClassifier
from qa_pipeline.classifiers.metadata import METADATA_FILE, read_metadata
from qa_pipeline.errors import E, ModelError

Loader = Callable[[Path], TextClassifier]

#: kind -> "module:Class" whose ``load(path)`` classmethod loads a folder of that kind.
_BUILTIN: dict[str, str] = {
    "sklearn": "qa_pipeline.classifiers.sklearn_model:SklearnTextClassifier",
    "hf": "qa_pipeline.classifiers.hf_model:HFTextClassifier",
    "textcnn": "qa_pipeline.classifiers.textcnn:TextCNNClassifier",
}
_LOADERS: dict[str, Loader] = {}


def register_kind(kind: str, loader: Loader) -> None:
    """Make ``load_classifier`` load folders whose metadata says ``kind``."""
    _LOADERS[kind] = loader


def known_kinds() -> list[str]:
    return sorted({*_BUILTIN, *_LOADERS})


def resolve_model_path(spec_or_path: str | Path, models_dir: Path) -> Path:
    """An existing, absolute or multi-part path is used as is; a bare name is looked up in ``models_dir``."""
    path = Path(spec_or_path).expanduser()
    if path.exists() or path.is_absolute() or len(path.parts) > 1:
        return path
    return models_dir / path


def load_classifier(spec_or_path: str | Path, *, models_dir: Path) -> TextClassifier:
    """Load the classifier named ``spec_or_path`` (a folder under ``models_dir``, or a path)."""
    path = resolve_model_path(spec_or_path, models_dir)
    folder = path.parent if path.is_file() else path
    if not folder.is_dir():
        raise ModelError(
            E.MODEL_NOT_FOUND,
            f"{path} does not exist (models_dir={models_dir}); train it with "
            "`python -m training.train_<model>` (e.g. train_sentiment, train_role) or set QA_MODELS_DIR",
            file=str(path),
        )
    kind = _kind(folder)
    return _loader(kind, folder)(path)


def _kind(folder: Path) -> str:
    """The metadata's kind; a bare Hugging Face checkpoint (config.json, no metadata) is ``hf``."""
    if not (folder / METADATA_FILE).is_file() and (folder / "config.json").is_file():
        return "hf"
    return read_metadata(folder).kind


def _loader(kind: str, folder: Path) -> Loader:
    if kind in _LOADERS:
        return _LOADERS[kind]
    if kind not in _BUILTIN:
        raise ModelError(
            E.MODEL_INCOMPATIBLE,
            f"unknown model kind {kind!r}; known: {', '.join(known_kinds())}",
            file=str(folder),
        )
    module, _, attr = _BUILTIN[kind].partition(":")
    loader: Loader = getattr(importlib.import_module(module), attr).load
    return loader
