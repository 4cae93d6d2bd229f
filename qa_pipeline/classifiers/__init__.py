"""Inference wrappers: one contract (a list of texts in, a list of :class:`Prediction` out)."""

from qa_pipeline.classifiers.base import TextClassifier
from qa_pipeline.classifiers.metadata import ModelMetadata, read_metadata
from qa_pipeline.classifiers.registry import load_classifier, register_kind, resolve_model_path

__all__ = [
    "ModelMetadata",
    "TextClassifier",
    "load_classifier",
    "read_metadata",
    "register_kind",
    "resolve_model_path",
]
