"""Mono role attribution on the labelled dialogues, without audio: how often each clause gets its speaker.

    python -m bench.mono_roles [--model role] [--dialogues PATH]

Every labelled call (``channel: call`` with turn times) is flattened into one mono stream: each turn
is cut into clauses at punctuation, clause times are spread over the turn's span, and the speaker
labels are hidden. The asr stage's role model (:mod:`qa_pipeline.asr.roles`) then assigns roles;
the figure is the share of characters attributed to the right speaker, for the phrase-list
fallback and for the trained classifier, side by side in one run.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
from pathlib import Path
from typing import Any

from qa_pipeline.asr.roles import Clause, RoleOptions, agent_probabilities, decide_roles
from qa_pipeline.classifiers import load_classifier
from qa_pipeline.classifiers.base import TextClassifier
from qa_pipeline.errors import ModelError
from qa_pipeline.settings import Settings

log = logging.getLogger("bench")
DIALOGUES = Path(__file__).resolve().parents[2] / "shared" / "data" / "conversations_dev" / "dialogues.jsonl"
_CLAUSE = re.compile(r"[^，,。！？!?；;、…]+[，,。！？!?；;、…]*")
TURN_GAP_S = 0.8


def clauses_of(record: dict[str, Any]) -> list[tuple[Clause, str]]:
    """(clause, true speaker) in time order; a turn's clauses share its span by length."""
    out: list[tuple[Clause, str]] = []
    for turn in sorted(record["turns"], key=lambda t: t["start"]):
        parts = _CLAUSE.findall(turn["text"]) or [turn["text"]]
        span, total = turn["end"] - turn["start"], sum(len(p) for p in parts)
        at = turn["start"]
        for part in parts:
            end = at + span * len(part) / max(total, 1)
            out.append((Clause(part, at, end), turn["speaker"]))
            at = end
    return out


def accuracy(records: list[dict[str, Any]], classifier: TextClassifier | None, opts: RoleOptions) -> float:
    right = total = 0
    for rec in records:
        items = clauses_of(rec)
        views = [c for c, _ in items]
        decisions = decide_roles(
            views, agent_probabilities([c.text for c in views], classifier), TURN_GAP_S, opts
        )
        for (clause, truth), d in zip(items, decisions, strict=True):
            total += len(clause.text)
            right += len(clause.text) * (d.speaker == truth)
    return right / max(total, 1)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="role")
    ap.add_argument("--dialogues", type=Path, default=DIALOGUES)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    records = [json.loads(line) for line in args.dialogues.read_text(encoding="utf-8").splitlines()]
    records = [r for r in records if r.get("channel") == "call" and all("start" in t for t in r["turns"])]
    try:
        classifier: TextClassifier | None = load_classifier(args.model, models_dir=Settings().models_dir)
    except ModelError as exc:
        log.warning("%s: classifier rows skipped (train it: python -m training.train_role)", exc)
        classifier = None
    base = RoleOptions()
    log.info("%d calls flattened to mono", len(records))
    for name, clf, opts in [
        ("phrase list + turn-taking", None, base),
        ("classifier + turn-taking", classifier, base),
        ("classifier^0.5 + turn-taking", classifier, base.model_copy(update={"emission_power": 0.5})),
        (
            "classifier alone",
            classifier,
            base.model_copy(
                update={
                    "switch_after_pause": 0.5,
                    "switch_after_question": 0.5,
                    "switch_default": 0.5,
                    "first_is_agent": 0.5,
                }
            ),
        ),
    ]:
        if clf is None and name != "phrase list + turn-taking":
            continue
        log.info("%-30s character accuracy %.3f", name, accuracy(records, clf, opts))


if __name__ == "__main__":
    main()
