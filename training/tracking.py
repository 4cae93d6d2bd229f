"""MLflow for every training entry point: where runs go, and what a finished run logs.

``MLFLOW_TRACKING_URI`` if set, else ``sqlite:///mlflow.db`` in the working directory (artefacts
under ``./mlruns``).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow

from training.evaluate import Report

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


@contextmanager
def start_run(experiment: str, run_name: str) -> Iterator[Any]:
    """An MLflow run in ``experiment`` on the configured tracking store."""
    mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI)
    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name=run_name) as run:
        yield run


def log_report(params: dict[str, Any], report: Report, out: Path, meta: Any) -> None:
    """Parameters, metrics, confusion matrices (JSON artefacts), the model folder and version tags."""
    mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
    log_outputs(report, out, meta)


def log_outputs(report: Report, out: Path, meta: Any) -> None:
    """Metrics, confusion matrices (JSON artefacts), the model folder and version tags."""
    mlflow.log_metrics(report.metrics)
    with tempfile.TemporaryDirectory() as tmp:
        for name, matrix in report.confusion.items():
            path = Path(tmp) / f"confusion_{name}.json"
            path.write_text(json.dumps(matrix, ensure_ascii=False, indent=1), encoding="utf-8")
        mlflow.log_artifacts(tmp, artifact_path="confusion")
    mlflow.log_artifacts(str(out), artifact_path="model")
    mlflow.set_tags({"model_version": meta.version, "artefact_sha256": meta.artefact_sha256})
