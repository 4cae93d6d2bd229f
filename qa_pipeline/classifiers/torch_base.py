"""What the torch classifiers share: calibrated softmax over a tokenised, padded batch.

Subclasses (:mod:`~qa_pipeline.classifiers.hf_model`, :mod:`~qa_pipeline.classifiers.textcnn`) load
their network and say how it turns the tokenizer's output into logits (:meth:`_logits`).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from qa_pipeline.classifiers.base import Probs, TextClassifier
from qa_pipeline.classifiers.features import model_text
from qa_pipeline.classifiers.metadata import ModelMetadata


class TokenizedTorchClassifier(TextClassifier):
    """``metadata.params``: ``temperature`` (fitted on held-out data), ``normalise`` (:func:`model_text`)."""

    def __init__(self, tokenizer: Any, metadata: ModelMetadata, max_length: int, normalise: bool) -> None:
        self.tokenizer = tokenizer
        self.metadata = metadata
        self.labels = list(metadata.labels)
        self.version = metadata.version
        self.temperature = float(metadata.params.get("temperature", 1.0))
        self.max_length = max_length
        self.normalise = bool(metadata.params.get("normalise", normalise))

    def preprocess(self, texts: Sequence[str]) -> list[str]:
        items = super().preprocess(texts)
        return [model_text(t) for t in items] if self.normalise else items

    def _forward(self, texts: list[str]) -> Probs:
        import torch

        if not texts:
            return np.zeros((0, len(self.labels)))
        enc = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        with torch.inference_mode():
            logits = self._logits(enc) / self.temperature
        return np.asarray(torch.softmax(logits.float(), dim=-1).numpy(), dtype=np.float64)

    @abstractmethod
    def _logits(self, enc: Any) -> Any:
        """The network's logits for one tokenised batch (a torch tensor, batch x labels)."""
