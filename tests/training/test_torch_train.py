"""The torch fine-tuning loop: length-bucketed batches, learning on a toy task, temperature fitting."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from tests.classifiers.tiny_torch import tiny_tokenizer
from training.torch_train import Encoded, LoopOptions, batches, collate, encode, fit_temperature, train


def test_batches_group_similar_lengths_and_cover_everything() -> None:
    data = Encoded([[1] * n for n in (5, 1, 9, 2, 8, 3)], np.zeros(6, dtype=np.int64))
    chunks = batches(data, 2, None)
    assert sorted(i for c in chunks for i in c) == list(range(6))
    assert [sorted(len(data.ids[i]) for i in c) for c in chunks] == [[1, 2], [3, 5], [8, 9]]
    assert sorted(map(tuple, batches(data, 2, random.Random(1)))) == sorted(map(tuple, chunks))
    ids, mask, labels = collate(data, [1, 0])
    assert ids.shape == (2, 5) and mask.sum().item() == 6 and labels.tolist() == [0, 0]


def test_temperature_recovers_an_overconfident_scale() -> None:
    rng = np.random.default_rng(0)
    true_logits = rng.normal(size=(4000, 3)) * 2
    labels = np.array([rng.choice(3, p=np.exp(r) / np.exp(r).sum()) for r in true_logits])
    assert fit_temperature(true_logits * 3.0, labels) == pytest.approx(3.0, rel=0.15)
    assert fit_temperature(true_logits, labels) == pytest.approx(1.0, rel=0.15)


def test_textcnn_learns_a_toy_task(tmp_path: Path) -> None:
    from qa_pipeline.classifiers.textcnn import TextCNNConfig, build_network

    tok = tiny_tokenizer(tmp_path)
    texts = ["太差了我要投诉", "谢谢你们服务很好"] * 40
    data = encode(tok, texts, [0, 1] * 40, 32)
    net = build_network(
        TextCNNConfig(vocab_size=len(tok), n_labels=2, embed_dim=16, filters=8, widths=(1, 2))
    )
    figures = train(net, net, data, data, 2, LoopOptions(epochs=4, lr=1e-2, batch_size=16, minutes=1.0))
    assert figures["heldout_best_macro_f1"] == 1.0
