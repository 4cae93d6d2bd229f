"""The fine-tuning loop shared by the torch classifiers (char-BERT / any HF checkpoint, TextCNN).

A network here is a callable ``net(input_ids, attention_mask) -> logits``. Texts are tokenised once;
batches are drawn from length buckets (similar lengths together: far less padding on CPU). Training
runs for ``epochs`` or until ``minutes`` of wall time, keeps the weights of the epoch with the best
held-out macro-F1, and :func:`fit_temperature` then calibrates the logits on the same held-out part.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import f1_score

log = logging.getLogger(__name__)

Net = Callable[[Any, Any], Any]


@dataclass(frozen=True)
class LoopOptions:
    epochs: int = 3
    minutes: float = 15.0
    batch_size: int = 32
    lr: float = 1e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    max_length: int = 128
    balanced: bool = False  # class-weighted loss (for macro-F1 on skewed labels)
    seed: int = 13


@dataclass
class Encoded:
    ids: list[list[int]]
    labels: npt.NDArray[np.int64]


def encode(tokenizer: Any, texts: Sequence[str], labels: Sequence[int], max_length: int) -> Encoded:
    ids = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    return Encoded(ids, np.asarray(labels, dtype=np.int64))


def batches(data: Encoded, batch_size: int, rng: random.Random | None) -> list[list[int]]:
    """Index batches of similar length; shuffled order when ``rng`` is given (training)."""
    order = sorted(range(len(data.ids)), key=lambda i: len(data.ids[i]))
    chunks = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if rng is not None:
        rng.shuffle(chunks)
    return chunks


def collate(data: Encoded, index: list[int], pad_id: int = 0) -> tuple[Any, Any, Any]:
    import torch

    width = max(len(data.ids[i]) for i in index)
    ids = torch.full((len(index), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(index), width), dtype=torch.long)
    for row, i in enumerate(index):
        seq = data.ids[i]
        ids[row, : len(seq)] = torch.tensor(seq)
        mask[row, : len(seq)] = 1
    return ids, mask, torch.from_numpy(data.labels[index])


def predict_logits(net: Net, module: Any, data: Encoded, batch_size: int = 128) -> npt.NDArray[np.float64]:
    import torch

    module.eval()
    out = np.zeros((len(data.ids), 0))
    rows: dict[int, npt.NDArray[np.float64]] = {}
    with torch.inference_mode():
        for index in batches(data, batch_size, None):
            ids, mask, _ = collate(data, index)
            logits = net(ids, mask).float().numpy()
            rows.update(zip(index, logits, strict=True))
    if rows:
        out = np.stack([rows[i] for i in range(len(data.ids))])
    return out


def macro_f1(logits: npt.NDArray[np.float64], labels: npt.NDArray[np.int64]) -> float:
    return float(f1_score(labels, logits.argmax(axis=1), average="macro"))


def train(
    net: Net, module: Any, train_data: Encoded, held: Encoded, n_labels: int, opts: LoopOptions
) -> dict[str, float]:
    """Fine-tune in place; restores the best epoch's weights. Returns loop figures."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    torch.manual_seed(opts.seed)
    rng = random.Random(opts.seed)
    n_batches = math.ceil(len(train_data.ids) / opts.batch_size)
    total = n_batches * opts.epochs
    optim = torch.optim.AdamW(module.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
    sched = get_linear_schedule_with_warmup(optim, int(opts.warmup_ratio * total), total)
    loss_fn = torch.nn.CrossEntropyLoss(
        weight=_class_weights(train_data.labels, n_labels) if opts.balanced else None
    )
    deadline = time.monotonic() + 60 * opts.minutes
    best, best_state, steps = -1.0, None, 0
    for epoch in range(opts.epochs):
        module.train()
        for index in batches(train_data, opts.batch_size, rng):
            ids, mask, labels = collate(train_data, index)
            loss = loss_fn(net(ids, mask), labels)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
            optim.step()
            sched.step()
            optim.zero_grad()
            steps += 1
            if time.monotonic() > deadline:
                break
        score = macro_f1(predict_logits(net, module, held), held.labels)
        log.info("epoch %d (%d steps): held-out macro-F1 %.4f", epoch + 1, steps, score)
        if score > best:
            best, best_state = score, {k: v.detach().clone() for k, v in module.state_dict().items()}
        if time.monotonic() > deadline:
            log.info("time budget of %.1f min spent", opts.minutes)
            break
    if best_state is not None:
        module.load_state_dict(best_state)
    return {"steps": steps, "epochs_run": epoch + 1, "heldout_best_macro_f1": best}


def _class_weights(labels: npt.NDArray[np.int64], n_labels: int) -> Any:
    import torch

    counts = np.bincount(labels, minlength=n_labels).astype(np.float64)
    weights = len(labels) / (n_labels * np.maximum(counts, 1.0))
    return torch.tensor(np.sqrt(weights), dtype=torch.float32)  # square root: softened re-balancing


def fit_temperature(logits: npt.NDArray[np.float64], labels: npt.NDArray[np.int64]) -> float:
    """The temperature T minimising the held-out negative log-likelihood of softmax(logits / T)."""
    grid = np.exp(np.linspace(np.log(0.25), np.log(8.0), 200))
    return float(min(grid, key=lambda t: _nll(logits / t, labels)))


def _nll(logits: npt.NDArray[np.float64], labels: npt.NDArray[np.int64]) -> float:
    z = logits - logits.max(axis=1, keepdims=True)
    log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(labels)), labels].mean())
