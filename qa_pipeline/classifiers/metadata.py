"""The metadata file that sits next to every model artefact (``metadata.json``).

``kind`` says which wrapper loads the folder (``sklearn`` today; ``torch``/``hf`` later), so a new
model family plugs into :func:`qa_pipeline.classifiers.load_classifier` without changing callers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from qa_pipeline.errors import E, ModelError
from qa_pipeline.hashing import sha256_file

METADATA_FILE = "metadata.json"
SCHEMA_VERSION = 1


class DataFile(BaseModel):
    """A training file, relative to the data directory, and its sha256."""

    path: str
    sha256: str


class ModelMetadata(BaseModel):
    """What a model folder holds and how it was made."""

    schema_version: int = SCHEMA_VERSION
    kind: str
    name: str
    version: str
    labels: list[str]
    created: str
    artefact: str
    artefact_sha256: str
    artefact_bytes: int = 0
    frameworks: dict[str, str] = Field(default_factory=dict)
    data_files: list[DataFile] = Field(default_factory=list)
    metrics: dict[str, float] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)


def sha256_of(path: Path) -> str:
    return sha256_file(path)


def read_metadata(folder: Path) -> ModelMetadata:
    """Read and validate ``folder/metadata.json``; typed :class:`ModelError` when absent or invalid."""
    path = folder / METADATA_FILE
    if not path.is_file():
        raise ModelError(
            E.MODEL_NOT_FOUND,
            f"no {METADATA_FILE} in {folder}; train one with "
            f"`python -m training.train_sentiment --out {folder}` "
            "or point the stage's `model` at a model folder",
            file=str(path),
        )
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        meta = ModelMetadata.model_validate(raw)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValidationError) as exc:
        raise ModelError(E.MODEL_INCOMPATIBLE, f"unreadable metadata: {exc}", file=str(path)) from exc
    if meta.schema_version > SCHEMA_VERSION:
        raise ModelError(
            E.MODEL_INCOMPATIBLE,
            f"metadata schema {meta.schema_version} is newer than this package reads ({SCHEMA_VERSION}); "
            "upgrade qa-pipeline",
            file=str(path),
        )
    return meta


def write_metadata(folder: Path, meta: ModelMetadata) -> Path:
    path = folder / METADATA_FILE
    path.write_text(json.dumps(meta.model_dump(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path
