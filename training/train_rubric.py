"""Train the rubric classifiers from the labelled examples that live with the rubric; export + MLflow.

    python -m training.train_rubric [--examples rubrics/examples] [--models-dir models] [--smoke]

One model per file of ``rubrics/examples/`` (see its README for the label definitions):

- ``rubric-objection``: a customer turn -> price / refund / distrust / delay / cancel / hesitate / none;
- ``rubric-handling``: the objection and the agent's reply (:func:`pair_text`) -> handled / dismissed;
- ``rubric-empathy``: an agent turn -> empathy / none;
- ``rubric-forbidden``: an agent turn -> forbidden / ok (banned phrases in any wording).

Each is character 1-4-gram TF-IDF + class-balanced logistic regression (fast: the rubric stage runs
all four on every batch). Reported: 5-fold stratified cross-validated accuracy, macro-F1 and ECE on
the examples, then the model is fitted on all of them (probabilities sigmoid-calibrated on inner
folds). The examples are the project's own (written
for it, never derived from ``conversations_dev``), so these models ship; judge them with
``qa eval`` on conversations the examples never saw.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline

from qa_pipeline.classifiers.features import model_text
from qa_pipeline.classifiers.sklearn_model import ExportInfo, export_model
from qa_pipeline.hashing import sha256_file
from qa_pipeline.rubric.models import pair_text
from training import evaluate
from training.cards import write_card
from training.cli import setup_logging
from training.datasets import PROJECT_DIR, default_data_dir, eval_keys, normalise
from training.tracking import log_report, start_run

log = logging.getLogger("training.train_rubric")
PURPOSES = {
    "objection": "Customer-turn objection type (price, refund, distrust, delay, cancel, hesitate) or none.",
    "handling": "Whether the agent's reply handles the customer's objection (acknowledges + reason or "
    "option) or dismisses it; reads `<customer turn> || <reply>`. Used by the rubric's handled_reply rule.",
    "empathy": "Whether an agent turn apologises or acknowledges the customer's feelings (empathy / none).",
    "forbidden": "Whether an agent turn is a banned service phrase in any wording (forbidden / ok); used by "
    "the fatal forbidden_phrase item with a strict threshold.",
}
LIMITS = [
    "About 800-1100 hand-written examples per model; the cross-validated figures are on those examples, "
    "not on real conversations: judge them with `qa eval` on your own labelled calls.",
    "Character n-grams only: no context beyond the turn (handling: the customer's turn and the reply).",
]
EXAMPLES = PROJECT_DIR / "rubrics" / "examples"


@dataclass(frozen=True)
class RubricTask:
    name: str
    file: str
    text: Callable[[dict[str, str]], str]
    # (other file, its label, label here): agent turns of another task as extra negatives, so that e.g. a
    # rude refusal (never seen by the empathy model otherwise) is not read as empathy
    borrow: tuple[str, str, str] | None = None


TASKS = (
    RubricTask("objection", "objection.jsonl", lambda r: r["text"]),
    RubricTask("handling", "handling.jsonl", lambda r: pair_text(r["objection"], r["reply"])),
    RubricTask("empathy", "empathy.jsonl", lambda r: r["text"], ("forbidden.jsonl", "forbidden", "none")),
    RubricTask("forbidden", "forbidden.jsonl", lambda r: r["text"], ("empathy.jsonl", "empathy", "ok")),
)


def _rows(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def read_examples(path: Path, task: RubricTask) -> tuple[list[str], list[str]]:
    """The task's examples, plus the borrowed negatives from its sibling file."""
    rows = _rows(path)
    texts, labels = [task.text(r) for r in rows], [str(r["label"]) for r in rows]
    if task.borrow is not None:
        other, their_label, ours = task.borrow
        extra = [r["text"] for r in _rows(path.parent / other) if r["label"] == their_label]
        seen = set(texts)
        texts += [t for t in extra if t not in seen]
        labels += [ours] * (len(texts) - len(labels))
    return texts, labels


def build_model(C: float = 4.0) -> Pipeline:
    features = TfidfVectorizer(
        analyzer="char",
        preprocessor=model_text,
        ngram_range=(1, 4),
        sublinear_tf=True,
        min_df=1,
        dtype=np.float32,
    )
    # a few hundred examples leave a regularised LR under-confident (ECE ~0.2): sigmoid calibration on
    # inner folds brings its probabilities in line with its accuracy
    clf = CalibratedClassifierCV(
        LogisticRegression(C=C, max_iter=2000, class_weight="balanced"), method="sigmoid", cv=3
    )
    return Pipeline([("features", features), ("clf", clf)])


def cross_validate(texts: list[str], labels: list[str], folds: int, seed: int) -> evaluate.Report:
    """Out-of-fold predictions of a fresh model: accuracy, macro-F1, per-class F1, ECE, confusion."""
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    probs = cross_val_predict(build_model(), texts, labels, cv=cv, method="predict_proba")
    classes = sorted(set(labels))
    pred = [classes[i] for i in probs.argmax(axis=1)]
    correct = np.array([p == t for p, t in zip(pred, labels, strict=True)], dtype=float)
    report = evaluate.Report()
    values = {
        "accuracy": accuracy_score(labels, pred),
        "macro_f1": f1_score(labels, pred, average="macro"),
        "ece": evaluate.expected_calibration_error(probs.max(axis=1), correct),
        "n": len(labels),
    }
    per_class = f1_score(labels, pred, labels=classes, average=None, zero_division=0)
    values |= {f"f1_{c}": f for c, f in zip(classes, per_class, strict=True)}
    report.add("cv", values)
    report.confusion["cv"] = evaluate._confusion("cross-validated", labels, pred, classes)
    return report


def _without_evaluation_texts(texts: list[str], labels: list[str]) -> tuple[list[str], list[str]]:
    """Drop any example that is a turn of an evaluation file (the dev dialogues, the hold-out set)."""
    keys = eval_keys(default_data_dir())
    kept = [(t, lab) for t, lab in zip(texts, labels, strict=True) if normalise(t) not in keys]
    if len(kept) < len(texts):
        log.info("dropped %d examples found in evaluation files", len(texts) - len(kept))
    return [t for t, _ in kept], [lab for _, lab in kept]


def train_one(task: RubricTask, examples: Path, models_dir: Path, folds: int, seed: int) -> dict[str, float]:
    path = examples / task.file
    texts, labels = read_examples(path, task)
    texts, labels = _without_evaluation_texts(texts, labels)
    report = cross_validate(texts, labels, folds, seed)
    model = build_model().fit(texts, labels)
    out = models_dir / f"rubric-{task.name}"
    info = ExportInfo(
        name=f"rubric-{task.name}",
        data_files={f"rubrics/examples/{task.file}": sha256_file(path)},
        metrics=report.metrics,
        params={"features": "char 1-4 tf-idf", "C": 4.0, "folds": folds},
    )
    meta = export_model(model, out, info)
    write_card(out, meta, PURPOSES[task.name], LIMITS)
    with start_run("rubric", task.name):
        log_report(info.params, report, out, meta)
    log.info(
        "%s: %d examples, cv accuracy %.3f, macro-F1 %.3f -> %s",
        task.name,
        len(texts),
        report.metrics["cv_accuracy"],
        report.metrics["cv_macro_f1"],
        out,
    )
    return report.metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.train_rubric", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--examples", type=Path, default=EXAMPLES)
    parser.add_argument("--models-dir", type=Path, default=PROJECT_DIR / "models")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument(
        "--task", choices=[t.name for t in TASKS], action="append", help="only these (default: all)"
    )
    args = parser.parse_args(argv)
    setup_logging()
    tasks = [t for t in TASKS if not args.task or t.name in args.task]
    missing = [t.file for t in tasks if not (args.examples / t.file).is_file()]
    if missing:
        log.error("missing example files in %s: %s", args.examples, ", ".join(missing))
        return 2
    for task in tasks:
        train_one(task, args.examples, args.models_dir, args.folds, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
