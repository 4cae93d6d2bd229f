"""scikit-learn text classifiers behind the :class:`TextClassifier` contract.

A model folder holds ``model.joblib`` (a fitted :class:`sklearn.pipeline.Pipeline` whose first steps
do their own tokenisation, see :mod:`qa_pipeline.classifiers.features`) and ``metadata.json``
(:class:`ModelMetadata` with ``kind: sklearn``). Loading checks the artefact's sha256 against the
metadata, so a truncated or swapped file fails with a clear error instead of odd predictions.
Only load artefacts you trust: joblib files are pickles and run code when loaded.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn

from qa_pipeline.classifiers.base import Probs, TextClassifier
from qa_pipeline.classifiers.fast_features import compile_features
from qa_pipeline.classifiers.fast_linear import compile_estimator
from qa_pipeline.classifiers.metadata import (
    DataFile,
    ModelMetadata,
    read_metadata,
    sha256_of,
    write_metadata,
)
from qa_pipeline.errors import E, ModelError

log = logging.getLogger(__name__)

KIND = "sklearn"
ARTEFACT = "model.joblib"
#: an artefact larger than this is written again with xz: the same model in under half the bytes, loaded
#: about as fast (the 8-class objection model of stop 25: 31.7 MB with zlib level 3, 13.9 MB with xz)
LARGE_ARTEFACT = 20_000_000


class SklearnTextClassifier(TextClassifier):
    """Wraps a fitted scikit-learn pipeline that has ``predict_proba`` and ``classes_``."""

    #: sparse rows are cheap; scikit-learn's per-call input checks are not (a dozen per calibrated model)
    batch_size = 4096

    def __init__(self, model: Any, metadata: ModelMetadata) -> None:
        classes = [str(c) for c in getattr(model, "classes_", [])]
        if not hasattr(model, "predict_proba") or classes != metadata.labels:
            raise ModelError(
                E.MODEL_INCOMPATIBLE,
                f"model classes {classes} do not match metadata labels {metadata.labels} "
                "(or the model has no predict_proba)",
            )
        self.model = model
        self._compiled = compile_features(model)  # None: scikit-learn's own (slower) transform
        estimator = self._compiled[1] if self._compiled else None
        self._proba = compile_estimator(estimator)  # None: the estimator's own predict_proba
        self.metadata = metadata
        self.labels = list(metadata.labels)
        self.version = metadata.version

    @classmethod
    def load(cls, path: Path) -> SklearnTextClassifier:
        """Load a model folder (or its ``model.joblib``); :class:`ModelError` says what is wrong."""
        folder = path.parent if path.is_file() else path
        if not folder.is_dir():
            raise ModelError(
                E.MODEL_NOT_FOUND,
                f"{path} does not exist; train with `python -m training.train_sentiment --out {path}`",
                file=str(path),
            )
        meta = read_metadata(folder)
        if meta.kind != KIND:
            raise ModelError(E.MODEL_INCOMPATIBLE, f"kind {meta.kind!r} is not {KIND!r}", file=str(folder))
        model = _load_artefact(folder / meta.artefact, meta)
        try:
            return cls(model, meta)
        except ModelError as exc:
            exc.file = str(folder / meta.artefact)
            raise

    def _forward(self, texts: list[str]) -> Probs:
        if not texts:
            return np.zeros((0, len(self.labels)))
        if self._compiled is None:
            return np.asarray(self.model.predict_proba(texts), dtype=np.float64)
        features, estimator = self._compiled
        proba = self._proba or estimator.predict_proba
        return np.asarray(proba(features(texts)), dtype=np.float64)


def _load_artefact(path: Path, meta: ModelMetadata) -> Any:
    if not path.is_file():
        raise ModelError(
            E.MODEL_NOT_FOUND,
            f"artefact {path.name} is missing; re-export the model folder with training.train_sentiment",
            file=str(path),
        )
    if sha256_of(path) != meta.artefact_sha256:
        raise ModelError(
            E.MODEL_INCOMPATIBLE,
            "sha256 differs from metadata.json (file changed or truncated since export); re-export the model",
            file=str(path),
        )
    trained_with = meta.frameworks.get("scikit-learn", "?")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = joblib.load(path)
        except Exception as exc:  # unpickling raises anything: AttributeError, ModuleNotFoundError, EOFError
            raise ModelError(
                E.MODEL_INCOMPATIBLE,
                f"cannot unpickle ({type(exc).__name__}: {exc}); trained with scikit-learn {trained_with}, "
                f"installed {sklearn.__version__}",
                file=str(path),
            ) from exc
    for w in caught:
        log.warning("%s: %s (trained with scikit-learn %s)", path, w.message, trained_with)
    return model


@dataclass(frozen=True)
class ExportInfo:
    """What the metadata records besides the artefact itself."""

    name: str
    data_files: dict[str, str] = field(default_factory=dict)  # relative path -> sha256
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)


def export_model(model: Any, folder: Path, info: ExportInfo, *, compress: int = 3) -> ModelMetadata:
    """Write ``model.joblib`` + ``metadata.json``; the version is ``<name>-sklearn-<date>-<sha8>``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ARTEFACT
    joblib.dump(model, path, compress=compress)
    if path.stat().st_size > LARGE_ARTEFACT:
        joblib.dump(model, path, compress=("xz", 6))
    digest = sha256_of(path)
    now = datetime.now(UTC)
    meta = ModelMetadata(
        kind=KIND,
        name=info.name,
        version=f"{info.name}-{KIND}-{now:%Y%m%d}-{digest[:8]}",
        labels=[str(c) for c in model.classes_],
        created=now.isoformat(timespec="seconds"),
        artefact=ARTEFACT,
        artefact_sha256=digest,
        artefact_bytes=path.stat().st_size,
        frameworks={"scikit-learn": sklearn.__version__, "joblib": joblib.__version__},
        data_files=[DataFile(path=p, sha256=h) for p, h in sorted(info.data_files.items())],
        metrics=dict(info.metrics),
        params=dict(info.params),
    )
    write_metadata(folder, meta)
    return meta
