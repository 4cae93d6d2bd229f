"""The internal hold-out set (tests/data/holdout): well-formed, fully labelled, unique ids, and
disjoint from the dev dialogues. Checks only; nothing here prints or tunes on its content."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa_pipeline.evaluation import ITEM_IDS, gold_verdict
from qa_pipeline.settings import Settings
from qa_pipeline.sources import read_conversations
from qa_pipeline.types import Conversation
from training.datasets import HOLDOUT_DIR, normalise

FILES = sorted(HOLDOUT_DIR.glob("*.jsonl"))
pytestmark = pytest.mark.skipif(not FILES, reason="no hold-out files written yet")


def test_every_record_reads_and_is_fully_labelled() -> None:
    ids: list[str] = []
    for item in read_conversations(FILES, settings=Settings()):
        assert isinstance(item, Conversation), getattr(item, "message", item)
        labels = item.metadata["labels"]
        assert all(gold_verdict(labels, key, record=item.id) is not None for key in ITEM_IDS), item.id
        ids.append(item.id)
    assert len(ids) == len(set(ids)) and len(ids) >= 40 * len(FILES)


def test_nearly_disjoint_from_the_dev_dialogues(dialogues_path: Path) -> None:
    dev = {
        normalise(t["text"])
        for line in dialogues_path.read_text(encoding="utf-8").splitlines()
        if line.strip()
        for t in json.loads(line)["turns"]
        if len(normalise(t["text"])) >= 10
    }
    shared = total = 0
    for path in FILES:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                turns = json.loads(line)["turns"]
                total += len(turns)
                shared += sum(normalise(t["text"]) in dev for t in turns)
    # stock formulas (您好，请问有什么可以帮您) can coincide when written independently; nothing more
    assert shared <= 0.01 * total
