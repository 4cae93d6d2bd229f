"""Hugging Face sequence classifiers (our char-BERT, or any checkpoint a user fine-tuned) behind the contract.

A model folder is a ``save_pretrained`` directory (``config.json``, weights, tokenizer files), plus
our ``metadata.json`` (``kind: hf``) when it was exported by ``training.train_classifier``. A folder
without ``metadata.json`` but with a ``config.json`` whose ``id2label`` names the classes loads too
(labels from the config, temperature 1), so a checkpoint fine-tuned elsewhere plugs in by path.

``preprocess`` applies the same text normalisation as training (:func:`model_text`, recorded in the
metadata's ``params.normalise``); ``_forward`` tokenises a batch (padded to its longest text, cut to
``max_length``) and runs the model under ``torch.inference_mode``; ``postprocess`` turns logits /
``temperature`` (fitted on held-out data, see :mod:`training.calibration`) into probabilities.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from qa_pipeline.classifiers.metadata import METADATA_FILE, ModelMetadata, read_metadata
from qa_pipeline.classifiers.torch_base import TokenizedTorchClassifier
from qa_pipeline.errors import E, ModelError

log = logging.getLogger(__name__)

KIND = "hf"
DEFAULT_MAX_LENGTH = 128


class HFTextClassifier(TokenizedTorchClassifier):
    """A transformers ``AutoModelForSequenceClassification`` with calibrated softmax outputs."""

    def __init__(self, model: Any, tokenizer: Any, metadata: ModelMetadata) -> None:
        wanted = int(metadata.params.get("max_length", DEFAULT_MAX_LENGTH))
        super().__init__(tokenizer, metadata, _max_length(model, tokenizer, wanted), normalise=False)
        self.model = model.eval()

    @classmethod
    def load(cls, path: Path) -> HFTextClassifier:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        folder = path.parent if path.is_file() else path
        meta = read_metadata(folder) if (folder / METADATA_FILE).is_file() else metadata_from_config(folder)
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
            model = AutoModelForSequenceClassification.from_pretrained(str(folder), local_files_only=True)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(
                E.MODEL_INCOMPATIBLE, f"cannot load the checkpoint: {exc}", file=str(folder)
            ) from exc
        _check_labels(model, meta, folder)
        return cls(model, tokenizer, meta)

    def _logits(self, enc: Any) -> Any:
        return self.model(**enc).logits


def _max_length(model: Any, tokenizer: Any, wanted: int) -> int:
    """``wanted``, but no longer than the position embeddings (minus [CLS]/[SEP]) or the tokenizer allow."""
    limits = [wanted, int(getattr(tokenizer, "model_max_length", wanted) or wanted)]
    positions = getattr(model.config, "max_position_embeddings", None)
    if positions:
        limits.append(int(positions) - 2)
    return max(8, min(limits))


def metadata_from_config(folder: Path) -> ModelMetadata:
    """Metadata for a bare checkpoint folder: labels from ``config.json``'s ``id2label``."""
    config = folder / "config.json"
    if not config.is_file():
        raise ModelError(
            E.MODEL_NOT_FOUND, f"{folder} has neither {METADATA_FILE} nor config.json", file=str(folder)
        )
    try:
        raw = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(E.MODEL_INCOMPATIBLE, f"unreadable config.json: {exc}", file=str(config)) from exc
    id2label = raw.get("id2label") or {}
    labels = [str(id2label[k]) for k in sorted(id2label, key=int)]
    if len(labels) < 2 or all(lab.startswith("LABEL_") for lab in labels):
        raise ModelError(
            E.MODEL_INCOMPATIBLE,
            "config.json has no named id2label; fine-tune it with `python -m training.train_classifier "
            f"--init {folder}` first",
            file=str(config),
        )
    name = folder.name
    return ModelMetadata(
        kind=KIND,
        name=name,
        version=f"{name}-{KIND}",
        labels=labels,
        created="",
        artefact="config.json",
        artefact_sha256="",
    )


def _check_labels(model: Any, meta: ModelMetadata, folder: Path) -> None:
    id2label = getattr(model.config, "id2label", {}) or {}
    labels = [str(id2label[i]) for i in sorted(id2label)]
    if labels != meta.labels:
        raise ModelError(
            E.MODEL_INCOMPATIBLE,
            f"checkpoint labels {labels} do not match metadata labels {meta.labels}",
            file=str(folder),
        )
