"""Character vectors from the Chinese text in ``../shared/data``: PPMI of nearby characters, reduced by SVD.

    python -m training.char_vectors [--out out/char-vectors.npz] [--dim 64] [--window 3]

No pretrained Chinese embedding can be installed here. These vectors carry what a few million
characters of reviews, chat and helpdesk dialogue say about which characters keep the same company
(贵 near 宜 差 高 价; 骗 near 欺 坑 冤), and start the embedding layer of
:class:`qa_pipeline.classifiers.char_cnn.CharCNN` (``train_rubric --family cnn-mean``). The corpus
is the masked-LM pre-training corpus (:func:`training.pretrain_mlm.corpus`: every evaluation text
removed). About 35 s on 2 cores. The ``.npz`` holds ``chars`` (one string) and ``vectors``
(float32, one unit-length row per character); it is a training input, never shipped.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.cli import find_data_dir, setup_logging
from training.datasets import PROJECT_DIR

log = logging.getLogger("training.char_vectors")
DEFAULT_OUT = PROJECT_DIR / "out" / "char-vectors.npz"


@dataclass(frozen=True)
class CharVectors:
    chars: str
    vectors: np.ndarray  # (len(chars), dim); unit rows (zero for a character never seen beside another)

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, chars=np.array(self.chars), vectors=self.vectors)
        return path

    @classmethod
    def load(cls, path: Path) -> CharVectors:
        with np.load(path) as data:
            return cls(str(data["chars"]), np.asarray(data["vectors"], dtype=np.float32))

    def lookup(self) -> dict[str, np.ndarray]:
        return {c: self.vectors[i] for i, c in enumerate(self.chars)}


def cooccurrence(texts: Sequence[str], chars: str, window: int) -> np.ndarray:
    """Symmetric counts of characters ``d`` apart (d <= window), each weighted 1/d."""
    index = {c: i for i, c in enumerate(chars)}
    counts = np.zeros((len(chars), len(chars)), dtype=np.float64)
    for text in texts:
        ids = np.array([index.get(c, -1) for c in text], dtype=np.int64)
        for d in range(1, window + 1):
            a, b = ids[:-d], ids[d:]
            ok = (a >= 0) & (b >= 0)
            np.add.at(counts, (a[ok], b[ok]), 1.0 / d)
            np.add.at(counts, (b[ok], a[ok]), 1.0 / d)
    return counts


def ppmi_svd(counts: np.ndarray, dim: int) -> np.ndarray:
    """Positive PMI (context distribution smoothed to the power 0.75), its top ``dim`` singular
    directions scaled by the root of their values, each non-zero row normalised."""
    total = counts.sum()
    rows = counts.sum(axis=1)
    context = rows**0.75 / (rows**0.75).sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        pmi = np.log(counts / total) - np.log(rows[:, None] / total) - np.log(context[None, :])
    pmi = np.where(np.isfinite(pmi), np.maximum(pmi, 0.0), 0.0)
    u, s, _ = np.linalg.svd(pmi, full_matrices=False)
    k = min(dim, len(s))
    vectors = u[:, :k] * np.sqrt(s[:k])
    return (vectors / (np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-8)).astype(np.float32)


def char_vectors(texts: Sequence[str], dim: int = 64, window: int = 3, min_count: int = 3) -> CharVectors:
    """Vectors for every character seen at least ``min_count`` times in ``texts``."""
    freq = Counter(c for t in texts for c in t if not c.isspace())
    chars = "".join(c for c, n in freq.most_common() if n >= min_count)
    if len(chars) < max(2, dim):
        raise ValueError(
            f"{len(chars)} distinct characters for vectors of {dim}: give more text, a lower min_count "
            "or a smaller dim"
        )
    return CharVectors(chars, ppmi_svd(cooccurrence(texts, chars, window), dim))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.char_vectors", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--window", type=int, default=3)
    parser.add_argument("--max-texts", type=int, default=None, help="fewer texts (a quick run)")
    args = parser.parse_args(argv)
    setup_logging()
    data_dir = find_data_dir(args.data_dir)
    if data_dir is None:
        return 2
    from training.pretrain_mlm import corpus

    texts = corpus(data_dir, args.max_texts, seed=13)
    vectors = char_vectors(texts, args.dim, args.window)
    log.info(
        "%d texts -> %d characters x %d -> %s", len(texts), *vectors.vectors.shape, vectors.save(args.out)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
