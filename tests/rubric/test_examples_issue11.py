"""The example files written for issue 11 (rubrics/examples/README.md): well-formed, labelled from
their label sets, no repeats, and never a turn of the hold-out set or the dev dialogues."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from qa_pipeline.evaluation import ITEM_IDS, gold_verdict
from qa_pipeline.settings import PROJECT_DIR, Settings
from qa_pipeline.sources import read_conversations
from qa_pipeline.types import Conversation
from training.datasets import EVALUATION_DIRS

EXAMPLES = PROJECT_DIR / "rubrics" / "examples"
OBJECTION_LABELS = {"price", "refund", "distrust", "delay", "cancel", "hesitate", "other", "none"}
_PUNCT = re.compile(r"[\s\W_]+")


def norm(text: str) -> str:
    return _PUNCT.sub("", text)


def rows(name: str) -> list[dict[str, object]]:
    path = EXAMPLES / name
    if not path.is_file():
        pytest.skip(f"{name} not written yet")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def evaluation_turns(extra: Path | None = None) -> set[str]:
    files = sorted(p for d in EVALUATION_DIRS for p in d.glob("*.jsonl"))
    files += [extra] if extra and extra.is_file() else []
    return {
        norm(t["text"])
        for path in files
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
        for t in json.loads(line)["turns"]
        if len(norm(t["text"])) >= 8
    }


def test_objection_context_file() -> None:
    data = rows("objection_context.jsonl")
    assert len(data) >= 800 and {r["label"] for r in data} == OBJECTION_LABELS
    assert all(isinstance(r["agent"], str) and isinstance(r["first_customer_turn"], bool) for r in data)
    pairs = [(norm(str(r["agent"])), norm(str(r["customer"]))) for r in data]
    assert len(pairs) == len(set(pairs))


def test_second_objection_context_file() -> None:
    """Pushback after an apology or an explanation, acceptance, neutral follow-ups (see its README row)."""
    data = rows("objection_context_2.jsonl")
    assert len(data) >= 450 and {r["label"] for r in data} == OBJECTION_LABELS
    assert {r["family"] for r in data} == {"A", "B", "C", "D", "E"}
    assert all(r["first_customer_turn"] is False and str(r["agent"]).strip() for r in data)
    pairs = [(norm(str(r["agent"])), norm(str(r["customer"]))) for r in data]
    assert len(pairs) == len(set(pairs))


def test_forbidden_disguised_file() -> None:
    data = rows("forbidden_disguised.jsonl")
    assert {r["label"] for r in data} == {"forbidden", "ok"}
    texts = [norm(str(r["text"])) for r in data]
    assert len(texts) == len(set(texts))


def test_confirmation_file() -> None:
    data = rows("confirmation.jsonl")
    assert {r["label"] for r in data} == {"restated", "none"}
    assert all(isinstance(r["agent_turns"], list) and 1 <= len(r["agent_turns"]) <= 3 for r in data)  # type: ignore[arg-type]
    keys = [norm(str(r["context"])) + "|" + "|".join(norm(str(t)) for t in r["agent_turns"]) for r in data]  # type: ignore[attr-defined]
    assert len(keys) == len(set(keys))


def test_no_example_is_an_evaluation_turn(shared_data: Path) -> None:
    seen = evaluation_turns(shared_data / "conversations_dev" / "dialogues.jsonl")
    contexts = ("objection_context.jsonl", "objection_context_2.jsonl")
    texts = [str(r["customer"]) for f in contexts for r in rows(f)]
    texts += [str(r["text"]) for r in rows("forbidden_disguised.jsonl")]
    texts += [str(t) for r in rows("confirmation.jsonl") for t in r["agent_turns"]]  # type: ignore[attr-defined]
    texts += [str(r["customer"]) for r in rows("objection_dialogue.jsonl")]
    texts += [str(t) for r in rows("objection_dialogue.jsonl") for t in r["replies"]]  # type: ignore[attr-defined]
    moods = ("customer_mood.jsonl", "customer_mood_2.jsonl", "customer_mood_3.jsonl")
    texts += [str(r["text"]) for f in moods for r in rows(f)]
    texts += [str(r["reply"]) for r in rows("empathy_context.jsonl")]
    texts += [str(t) for r in rows("confirmation_dialogue.jsonl") for t in r["agent_turns"]]  # type: ignore[attr-defined]
    texts += [str(r["text"]) for r in rows("forbidden_agent_turns.jsonl")]
    assert sum(norm(t) in seen for t in texts) <= 0.01 * len(texts)  # stock formulas may coincide


@pytest.mark.parametrize(
    ("name", "fields", "labels"),
    [
        ("objection_dialogue.jsonl", ("agent", "customer", "replies", "handled"), OBJECTION_LABELS),
        ("customer_mood.jsonl", ("agent", "text", "industry"), {"neg", "neu", "pos"}),
        ("customer_mood_2.jsonl", ("agent", "text", "industry"), {"neg", "neu", "pos"}),
        ("customer_mood_3.jsonl", ("agent", "text", "industry"), {"neg", "neu", "pos"}),
        ("empathy_context.jsonl", ("customer", "reply", "industry"), {"empathy", "none"}),
        ("confirmation_dialogue.jsonl", ("context", "agent_turns", "industry"), {"restated", "none"}),
        ("forbidden_agent_turns.jsonl", ("text", "family", "industry"), {"forbidden", "ok"}),
    ],
)
def test_second_round_files(name: str, fields: tuple[str, ...], labels: set[str]) -> None:
    data = rows(name)
    assert len(data) >= 1000 and {r["label"] for r in data} == labels
    assert all(all(f in r for f in fields) for r in data)
    keys = [json.dumps([r[f] for f in fields if f != "industry"], ensure_ascii=False) for r in data]
    assert len(keys) == len(set(keys))


DIALOGUE_FILES = sorted((EXAMPLES / "dialogues").glob("writer-*.jsonl"))


@pytest.mark.parametrize("path", DIALOGUE_FILES, ids=lambda p: p.name)
def test_labelled_training_dialogues_are_complete(path: Path) -> None:
    """rubrics/examples/dialogues: conversations labelled like the evaluation sets, for training only."""
    convs = list(read_conversations([path], settings=Settings()))
    assert len(convs) >= 40 and all(isinstance(c, Conversation) for c in convs)
    for conv in convs:
        labels = conv.metadata["labels"]  # type: ignore[union-attr]
        assert all(gold_verdict(labels, key, record=conv.id) is not None for key in ITEM_IDS)  # type: ignore[union-attr]
        customers = sum(t.speaker == "customer" for t in conv.turns)  # type: ignore[union-attr]
        assert len(labels["customer_sentiment"]) == customers, conv.id  # type: ignore[union-attr]


def test_training_dialogues_share_no_turn_with_an_evaluation_set(shared_data: Path) -> None:
    seen = evaluation_turns(shared_data / "conversations_dev" / "dialogues.jsonl")
    texts = [
        t["text"]
        for p in DIALOGUE_FILES
        for r in map(json.loads, p.open(encoding="utf-8"))
        for t in r["turns"]
    ]
    long = [norm(t) for t in texts if len(norm(t)) >= 10]
    assert sum(t in seen for t in long) <= 0.02 * len(long)  # stock formulas coincide when written apart
