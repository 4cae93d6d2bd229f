"""Tiny torch models built by the tests themselves (no weights to download, seconds to make)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from training.pretrain_mlm import build_vocab, make_tokenizer

TEXTS = ("您好请问有什么可以帮您", "太差了我要投诉", "谢谢你们服务很好", "好的没问题", "退款怎么还没到账")


def tiny_tokenizer(folder: Path) -> Any:
    return make_tokenizer(build_vocab(TEXTS, min_count=1), folder)


def tiny_bert_checkpoint(folder: Path, labels: tuple[str, ...] = ("neg", "neu", "pos")) -> Path:
    """A 1-layer, 16-wide BERT sequence classifier with named labels, saved like any HF checkpoint."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    tokenizer = tiny_tokenizer(folder)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={lab: i for i, lab in enumerate(labels)},
    )
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(str(folder))
    return folder
