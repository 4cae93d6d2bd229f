"""Figures for the sentiment model: held-out 3-class, binary review benchmarks, calibration, transfer.

Definitions (also written to the model card):

- *binary accuracy* on a 0/1 review file: the arg-max over ``neg`` vs ``pos`` only (``neu`` ignored,
  i.e. ``p(pos) >= p(neg)`` means positive); *strict accuracy* counts a ``neu`` arg-max as wrong.
- *ECE* (expected calibration error): 15 equal-width confidence bins, weighted mean gap between
  confidence and accuracy; on binary files the confidence is ``max(p(pos), p(neg)) / (p(pos) + p(neg))``.
- *conversation agreement*: per customer turn of ``conversations_dev/dialogues.jsonl``, predicted label
  vs ``labels.customer_sentiment`` (never trained on; it chose the weight of the hand-written examples).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

from qa_pipeline.classifiers.base import TextClassifier
from training.datasets import LABELS, Example, read_binary_tsv

Array = npt.NDArray[np.float64]


@dataclass
class Report:
    """Scalar metrics (logged to MLflow and the metadata) and confusion matrices (artefacts)."""

    metrics: dict[str, float] = field(default_factory=dict)
    confusion: dict[str, dict[str, object]] = field(default_factory=dict)

    def add(self, prefix: str, values: dict[str, float]) -> None:
        self.metrics.update({f"{prefix}_{k}": round(float(v), 6) for k, v in values.items()})


def expected_calibration_error(confidence: Array, correct: Array, bins: int = 15) -> float:
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        mask = idx == b
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(ece)


def _confusion(
    name: str, truth: Sequence[str], pred: Sequence[str], labels: Sequence[str] = LABELS
) -> dict[str, object]:
    matrix = confusion_matrix(list(truth), list(pred), labels=list(labels))
    return {
        "name": name,
        "labels": list(labels),
        "rows": "truth",
        "cols": "prediction",
        "matrix": matrix.tolist(),
    }


def three_class(model: object, held: list[Example], report: Report) -> None:
    """Accuracy, macro-F1, per-class F1, per-source accuracy and top-label ECE on the held-out split."""
    probs = np.asarray(model.predict_proba([e.text for e in held]))  # type: ignore[attr-defined]
    classes = list(model.classes_)  # type: ignore[attr-defined]
    pred = [classes[i] for i in probs.argmax(axis=1)]
    truth = [e.label for e in held]
    correct = np.array([p == t for p, t in zip(pred, truth, strict=True)], dtype=float)
    per_class = f1_score(truth, pred, labels=list(LABELS), average=None, zero_division=0)
    values = {"accuracy": accuracy_score(truth, pred), "macro_f1": f1_score(truth, pred, average="macro")}
    values |= {f"f1_{label}": f for label, f in zip(LABELS, per_class, strict=True)}
    values["ece"] = expected_calibration_error(probs.max(axis=1), correct)
    values["n"] = len(held)
    for source in sorted({e.source for e in held}):
        mask = np.array([e.source == source for e in held])
        values[f"acc_{source}"] = float(correct[mask].mean())
    report.add("heldout", values)
    report.confusion["heldout"] = _confusion("held-out split of the training mix", truth, pred)


def labelled(
    model: object, texts: list[str], truth: list[str], prefix: str, report: Report, labels: Sequence[str]
) -> None:
    """Accuracy, macro-F1, per-class F1 and top-label ECE of a fitted pipeline on labelled texts."""
    probs = np.asarray(model.predict_proba(texts))  # type: ignore[attr-defined]
    classes = list(model.classes_)  # type: ignore[attr-defined]
    pred = [classes[i] for i in probs.argmax(axis=1)]
    correct = np.array([p == t for p, t in zip(pred, truth, strict=True)], dtype=float)
    per_class = f1_score(truth, pred, labels=list(labels), average=None, zero_division=0)
    values = {"accuracy": accuracy_score(truth, pred), "macro_f1": f1_score(truth, pred, average="macro")}
    values |= {f"f1_{label}": f for label, f in zip(labels, per_class, strict=True)}
    values |= {"ece": expected_calibration_error(probs.max(axis=1), correct), "n": len(truth)}
    report.add(prefix, values)
    report.confusion[prefix] = _confusion(prefix, truth, pred, labels)


def binary_file(model: object, path: Path, prefix: str, report: Report) -> None:
    """Binary accuracy (neu ignored), strict accuracy (neu wrong), neu rate and ECE on a 0/1 file."""
    examples = list(read_binary_tsv(path))
    probs = np.asarray(model.predict_proba([e.text for e in examples]))  # type: ignore[attr-defined]
    classes = list(model.classes_)  # type: ignore[attr-defined]
    p_neg, p_pos = probs[:, classes.index("neg")], probs[:, classes.index("pos")]
    p_bin = p_pos / np.maximum(p_pos + p_neg, 1e-12)
    truth = np.array([e.label == "pos" for e in examples])
    binary_correct = ((p_bin >= 0.5) == truth).astype(float)
    strict = [classes[i] for i in probs.argmax(axis=1)]
    values = {
        "binary_acc": binary_correct.mean(),
        "strict_acc": np.mean([s == e.label for s, e in zip(strict, examples, strict=True)]),
        "neu_rate": np.mean([s == "neu" for s in strict]),
        "ece": expected_calibration_error(np.maximum(p_bin, 1 - p_bin), binary_correct),
        "n": len(examples),
    }
    report.add(prefix, values)
    report.confusion[prefix] = _confusion(path.name, [e.label for e in examples], strict)


def customer_turns(path: Path) -> tuple[list[str], list[str]]:
    """(text, label) of every customer turn whose dialogue has one label per customer turn."""
    texts: list[str] = []
    labels: list[str] = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            turns = [t["text"] for t in rec["turns"] if t["speaker"] == "customer"]
            gold = rec.get("labels", {}).get("customer_sentiment") or []
            if len(gold) == len(turns):
                texts.extend(turns)
                labels.extend(gold)
    return texts, labels


def conversations(classifier: TextClassifier, path: Path, report: Report) -> None:
    """Per-turn customer_sentiment agreement on the synthetic dev dialogues (a transfer sanity check)."""
    texts, truth = customer_turns(path)
    pred = [p.label for p in classifier.predict(texts)]
    values = {"accuracy": accuracy_score(truth, pred), "macro_f1": f1_score(truth, pred, average="macro")}
    values |= {"majority_baseline": max(truth.count(label) for label in LABELS) / len(truth), "n": len(truth)}
    report.add("conv", values)
    report.confusion["conversations_dev"] = _confusion("conversations_dev customer turns", truth, pred)


def throughput(classifier: TextClassifier, texts: list[str], min_items: int = 5_000) -> float:
    """Utterances per second of ``classifier.predict`` (batch 256, one process) over >= min_items texts."""
    reps = max(1, -(-min_items // max(1, len(texts))))
    # every item distinct (repeats get a marker), so the models' token cache gives no free hits
    items = [t if r == 0 else f"{t}（{r}）" for r in range(reps) for t in texts][: max(min_items, len(texts))]
    classifier.predict([f"{t}（预热）" for t in texts[:256]])  # warm-up: jieba dictionary, first allocation
    start = time.perf_counter()
    classifier.predict(items, batch_size=256)
    return len(items) / (time.perf_counter() - start)
