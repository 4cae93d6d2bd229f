"""A small character CNN text classifier (Kim 2014 style) in torch, behind the classifier contract.

Folder: ``textcnn.json`` (:class:`TextCNNConfig`), ``model.pt`` (the ``state_dict``, loaded with
``weights_only=True``), the character tokenizer files (a ``BertTokenizerFast`` over a character
vocabulary, shared with the char-BERT) and ``metadata.json`` (``kind: textcnn``; ``params``:
``temperature``, ``max_length``, ``normalise``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from qa_pipeline.classifiers.metadata import ModelMetadata, read_metadata
from qa_pipeline.classifiers.torch_base import TokenizedTorchClassifier
from qa_pipeline.errors import E, ModelError

KIND = "textcnn"
CONFIG_FILE = "textcnn.json"
WEIGHTS_FILE = "model.pt"


class TextCNNConfig(BaseModel):
    """Shape of the network."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    vocab_size: int = Field(gt=1)
    n_labels: int = Field(gt=1)
    embed_dim: int = Field(default=128, gt=0)
    filters: int = Field(default=128, gt=0)  # per kernel width
    widths: tuple[int, ...] = (1, 2, 3, 4)
    dropout: float = Field(default=0.3, ge=0, lt=1)
    pad_id: int = 0


def build_network(config: TextCNNConfig) -> Any:
    """The torch module: embedding -> parallel convolutions -> max-pool over time -> linear."""
    import torch
    from torch import nn

    class TextCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(config.vocab_size, config.embed_dim, padding_idx=config.pad_id)
            self.convs = nn.ModuleList(
                nn.Conv1d(config.embed_dim, config.filters, w, padding=w // 2) for w in config.widths
            )
            self.dropout = nn.Dropout(config.dropout)
            self.out = nn.Linear(config.filters * len(config.widths), config.n_labels)

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            x = self.embed(input_ids).transpose(1, 2)  # (batch, embed, time)
            mask = attention_mask.unsqueeze(1).bool()
            pooled = []
            for conv in self.convs:
                h = torch.relu(conv(x))[:, :, : mask.shape[-1]]
                pooled.append(h.masked_fill(~mask, 0.0).amax(dim=-1))
            return self.out(self.dropout(torch.cat(pooled, dim=1)))

    return TextCNN()


class TextCNNClassifier(TokenizedTorchClassifier):
    """Loads a TextCNN folder; batches are tokenised and padded to their longest text."""

    def __init__(self, network: Any, tokenizer: Any, metadata: ModelMetadata) -> None:
        super().__init__(tokenizer, metadata, int(metadata.params.get("max_length", 128)), normalise=True)
        self.network = network.eval()

    @classmethod
    def load(cls, path: Path) -> TextCNNClassifier:
        import torch
        from transformers import AutoTokenizer

        folder = path.parent if path.is_file() else path
        meta = read_metadata(folder)
        try:
            config = TextCNNConfig.model_validate(
                json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
            )
            network = build_network(config)
            network.load_state_dict(torch.load(folder / WEIGHTS_FILE, map_location="cpu", weights_only=True))
            tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise ModelError(
                E.MODEL_INCOMPATIBLE, f"cannot load the TextCNN: {exc}", file=str(folder)
            ) from exc
        if config.n_labels != len(meta.labels):
            raise ModelError(E.MODEL_INCOMPATIBLE, "n_labels differs from metadata labels", file=str(folder))
        return cls(network, tokenizer, meta)

    def _logits(self, enc: Any) -> Any:
        return self.network(enc["input_ids"], enc["attention_mask"])


def save_textcnn(network: Any, config: TextCNNConfig, tokenizer: Any, folder: Path) -> Path:
    """Write the config, the weights and the tokenizer; returns the weights file (the artefact)."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    (folder / CONFIG_FILE).write_text(config.model_dump_json(indent=1), encoding="utf-8")
    torch.save(network.state_dict(), folder / WEIGHTS_FILE)
    tokenizer.save_pretrained(str(folder))
    return folder / WEIGHTS_FILE
