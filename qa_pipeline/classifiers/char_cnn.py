"""A character CNN as a scikit-learn estimator, and the mean of several estimators' probabilities.

A length-normalised bag of n-grams dilutes one banned clause inside a long helpful turn; convolutions
max-pooled over the text find a pattern wherever it stands in the first ``max_length`` characters,
whatever surrounds it. :class:`CharCNN` follows the scikit-learn contract (``__init__`` stores
parameters, ``fit`` returns self, learned state ends in ``_``), so the rubric trainer cross-validates,
leaves writers out and exports it like any pipeline, and :class:`MeanProba` averages it with the
tf-idf model. The learned weights are kept as numpy arrays (``weights_``): the pickle holds no torch
object, and the network is rebuilt on first use. Pair inputs (``<context> || <turn>``) keep the turn
(up to ``max_length`` characters) and cut the context from its start.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.validation import check_is_fitted

from qa_pipeline.classifiers.features import PAIR_SEP, model_text

PAD, UNK, SEP = 0, 1, 2


class CharCNN(ClassifierMixin, BaseEstimator):
    """Characters -> embeddings -> convolutions of several widths -> max over time -> softmax."""

    def __init__(
        self,
        max_length: int = 160,
        embed_dim: int = 64,
        filters: int = 96,
        widths: tuple[int, ...] = (2, 3, 4, 5),
        dropout: float = 0.3,
        epochs: int = 8,
        batch_size: int = 64,
        learning_rate: float = 2e-3,
        min_char_count: int = 2,
        seed: int = 13,
        threads: int = 1,  # torch threads while fitting (0: torch's setting); prediction leaves it
        init_vectors: str | None = None,
        preprocessor: Callable[[str], str] = model_text,
    ) -> None:
        self.max_length = max_length
        self.embed_dim = embed_dim
        self.filters = filters
        self.widths = widths
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.min_char_count = min_char_count
        self.seed = seed
        self.threads = threads
        self.init_vectors = init_vectors
        self.preprocessor = preprocessor

    # -- text -> ids ------------------------------------------------------------------------------
    def _chars(self, text: str) -> list[str]:
        before, sep, own = text.rpartition(PAIR_SEP)
        own_chars = list(self.preprocessor(own))[: self.max_length]
        if not sep:
            return own_chars
        room = self.max_length - len(own_chars) - 1
        if room <= 0:
            return own_chars  # the turn alone fills the window
        return [*list(self.preprocessor(before))[-room:], "\x00", *own_chars]

    def _ids(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        rows = [
            [SEP if c == "\x00" else self.vocab_.get(c, UNK) for c in self._chars(t)] or [UNK] for t in texts
        ]
        width = max(max(len(r) for r in rows), max(self.widths))
        ids = np.zeros((len(rows), width), dtype=np.int64)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
        return ids, ids != PAD

    # -- network ----------------------------------------------------------------------------------
    def _network(self) -> Any:
        import torch
        from torch import nn

        widths, filters = tuple(self.widths), self.filters

        class Net(nn.Module):
            def __init__(self, vocab: int, embed: int, labels: int, dropout: float) -> None:
                super().__init__()
                self.embed = nn.Embedding(vocab, embed, padding_idx=PAD)
                self.convs = nn.ModuleList(nn.Conv1d(embed, filters, w) for w in widths)
                self.drop = nn.Dropout(dropout)
                self.out = nn.Linear(filters * len(widths), labels)

            def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
                x = (self.embed(ids) * mask.unsqueeze(-1)).transpose(1, 2)
                lengths = mask.sum(dim=1, keepdim=True)
                pooled = []
                for w, conv in zip(widths, self.convs, strict=True):
                    h = torch.relu(conv(x))
                    # windows reaching into the padding are dropped (the first is always kept), so a
                    # text scores the same whatever longer texts share its batch
                    start = torch.arange(h.shape[-1], device=h.device).unsqueeze(0)
                    inside = start <= (lengths - w).clamp(min=0)
                    pooled.append(h.masked_fill(~inside.unsqueeze(1), 0.0).amax(dim=-1))
                return self.out(self.drop(torch.cat(pooled, dim=1)))

        return Net(len(self.vocab_) + 3, self.embed_dim, len(self.classes_), self.dropout)

    def _net(self) -> Any:
        net = getattr(self, "_net_cache", None)
        if net is None:
            import torch

            net = self._network()
            net.load_state_dict({k: torch.from_numpy(v) for k, v in self.weights_.items()})
            net.eval()
            self._net_cache = net
        return net

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        state.pop("_net_cache", None)
        return state

    # -- scikit-learn contract ------------------------------------------------------------------------
    def fit(self, X: Sequence[str], y: Sequence[str]) -> CharCNN:
        import torch

        texts, labels = list(X), [str(v) for v in y]
        if len(texts) != len(labels) or not texts:
            raise ValueError(f"{len(texts)} texts and {len(labels)} labels: give one label per text")
        self.classes_ = np.array(sorted(set(labels)))
        counts = Counter(c for t in texts for c in self._chars_raw(t))
        kept = sorted(c for c, n in counts.items() if n >= self.min_char_count and c != "\x00")
        self.vocab_ = {c: i + 3 for i, c in enumerate(kept)}
        target = np.searchsorted(self.classes_, labels)
        with _torch_threads(self.threads):
            torch.manual_seed(self.seed)
            net = self._network()
            if self.init_vectors:
                self._start_embeddings(net, self.init_vectors)
            self._train(net, texts, target)
        self.weights_ = {k: v.detach().numpy().copy() for k, v in net.state_dict().items()}
        self.__dict__.pop("_net_cache", None)
        return self

    def _start_embeddings(self, net: Any, path: str) -> None:
        """Rows of known characters from ``init_vectors`` (``training.char_vectors``), scaled so that
        their entries spread like the default N(0, 1) start."""
        import torch

        with np.load(path) as data:
            chars, vectors = str(data["chars"]), np.asarray(data["vectors"], dtype=np.float32)
        if vectors.shape[1] != self.embed_dim:
            raise ValueError(
                f"{self.init_vectors}: vectors of {vectors.shape[1]}, embed_dim is {self.embed_dim}"
            )
        rows = [(self.vocab_[c], i) for i, c in enumerate(chars) if c in self.vocab_]
        with torch.no_grad():
            for row, i in rows:
                net.embed.weight[row] = torch.from_numpy(vectors[i] * np.sqrt(self.embed_dim))

    def _chars_raw(self, text: str) -> list[str]:
        return [c for part in text.split(PAIR_SEP) for c in self.preprocessor(part)]

    def _train(self, net: Any, texts: list[str], target: np.ndarray) -> None:
        import torch

        freq = np.bincount(target, minlength=len(self.classes_)).astype(np.float32)
        weight = torch.tensor(len(target) / (len(freq) * np.maximum(freq, 1)))  # "balanced", as the LR
        loss_fn = torch.nn.CrossEntropyLoss(weight=weight)
        opt = torch.optim.Adam(net.parameters(), lr=self.learning_rate)
        order, rng = list(range(len(texts))), random.Random(self.seed)
        net.train()
        for _ in range(self.epochs):
            rng.shuffle(order)
            for start in range(0, len(order), self.batch_size):
                batch = order[start : start + self.batch_size]
                ids, mask = self._ids([texts[i] for i in batch])
                opt.zero_grad()
                loss = loss_fn(
                    net(torch.from_numpy(ids), torch.from_numpy(mask)), torch.from_numpy(target[batch])
                )
                loss.backward()
                opt.step()
        net.eval()

    def predict_proba(self, X: Sequence[str]) -> np.ndarray:
        import torch

        check_is_fitted(self, "weights_")
        texts = list(X)
        out = np.zeros((len(texts), len(self.classes_)))
        net = self._net()
        # torch's thread setting is process-wide: prediction leaves it as the process has it
        with torch.inference_mode():
            for start in range(0, len(texts), 512):
                ids, mask = self._ids(texts[start : start + 512])
                logits = net(torch.from_numpy(ids), torch.from_numpy(mask))
                out[start : start + 512] = torch.softmax(logits, dim=-1).numpy()
        return out

    def predict(self, X: Sequence[str]) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


class MeanProba(ClassifierMixin, BaseEstimator):
    """The mean of the members' ``predict_proba`` (each fitted on the same data; classes must agree)."""

    def __init__(self, members: Sequence[Any] = ()) -> None:
        self.members = members

    def fit(self, X: Sequence[str], y: Sequence[str]) -> MeanProba:
        if not self.members:
            raise ValueError("MeanProba needs at least one member estimator")
        texts, labels = list(X), list(y)
        self.members_ = [clone(m).fit(texts, labels) for m in self.members]
        classes = [list(map(str, m.classes_)) for m in self.members_]
        if any(c != classes[0] for c in classes):
            raise ValueError(f"members disagree on the classes: {classes}")
        self.classes_ = np.array(classes[0])
        return self

    def predict_proba(self, X: Sequence[str]) -> np.ndarray:
        check_is_fitted(self, "members_")
        texts = list(X)
        return np.mean([m.predict_proba(texts) for m in self.members_], axis=0)

    def predict(self, X: Sequence[str]) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


@contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    """Run a block with ``n`` torch threads (0: leave torch's setting), restoring the old value. The
    setting is process-wide: used for training only, where one caller fits at a time."""
    import torch

    old = torch.get_num_threads()
    if n > 0:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)
