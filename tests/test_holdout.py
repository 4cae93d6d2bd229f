"""The internal hold-out set (tests/data/holdout) and the tuning set (tests/data/tuning): well-formed,
fully labelled, unique ids, disjoint from the dev dialogues and from each other. Checks only; nothing
here prints or tunes on the hold-out's content."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa_pipeline.evaluation import ITEM_IDS, gold_verdict
from qa_pipeline.settings import Settings
from qa_pipeline.sources import read_conversations
from qa_pipeline.types import Conversation
from training.datasets import EVALUATION_SETS, normalise

SETS = {name: sorted(folder.glob("*.jsonl")) for name, folder in EVALUATION_SETS.items()}
FILES = SETS["holdout"]
pytestmark = pytest.mark.skipif(not FILES, reason="no hold-out files written yet")


@pytest.mark.parametrize("name", sorted(SETS))
def test_every_record_reads_and_is_fully_labelled(name: str) -> None:
    ids: list[str] = []
    files = SETS[name]
    if not files:
        pytest.skip(f"no {name} files")
    for item in read_conversations(files, settings=Settings()):
        assert isinstance(item, Conversation), getattr(item, "message", item)
        labels = item.metadata["labels"]
        assert all(gold_verdict(labels, key, record=item.id) is not None for key in ITEM_IDS), item.id
        ids.append(item.id)
    assert len(ids) == len(set(ids)) and len(ids) >= 40 * len(files)


def _long_turns(paths: list[Path]) -> set[str]:
    return {
        normalise(t["text"])
        for path in paths
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
        for t in json.loads(line)["turns"]
        if len(normalise(t["text"])) >= 10
    }


@pytest.mark.parametrize(
    ("name", "other"),
    [
        ("holdout", "dev"),
        ("tuning", "dev"),
        ("tuning", "holdout"),
        ("holdout2", "dev"),
        ("holdout2", "tuning"),
        ("holdout3", "dev"),
        ("holdout3", "tuning"),
        ("holdout3", "holdout2"),
        ("holdout4", "dev"),
        ("holdout4", "tuning"),
        ("holdout4", "holdout3"),
        ("holdout5", "dev"),
        ("holdout5", "tuning"),
        ("holdout5", "holdout4"),
        ("holdout6", "dev"),
        ("holdout6", "tuning"),
        ("holdout6", "holdout5"),
        ("holdout7", "dev"),
        ("holdout7", "tuning"),
        ("holdout7", "holdout6"),
        ("holdout8", "dev"),
        ("holdout8", "tuning"),
        ("holdout8", "holdout7"),
        ("holdout9", "dev"),
        ("holdout9", "tuning"),
        ("holdout9", "holdout8"),
        ("holdout10", "dev"),
        ("holdout10", "tuning"),
        ("holdout10", "holdout9"),
        ("holdout11", "dev"),
        ("holdout11", "tuning"),
        ("holdout11", "holdout10"),
        ("holdout12", "dev"),
        ("holdout12", "tuning"),
        ("holdout12", "holdout11"),
        ("holdout13", "dev"),
        ("holdout13", "tuning"),
        ("holdout13", "holdout12"),
        ("holdout14", "dev"),
        ("holdout14", "tuning"),
        ("holdout14", "holdout13"),
        ("holdout15", "dev"),
        ("holdout15", "tuning"),
        ("holdout15", "holdout14"),
        ("holdout16", "dev"),
        ("holdout16", "tuning"),
        ("holdout16", "holdout15"),
        ("holdout17", "dev"),
        ("holdout17", "tuning"),
        ("holdout17", "holdout16"),
        ("holdout18", "dev"),
        ("holdout18", "tuning"),
        ("holdout18", "holdout17"),
        ("holdout19", "dev"),
        ("holdout19", "tuning"),
        ("holdout19", "holdout18"),
        ("holdout20", "dev"),
        ("holdout20", "tuning"),
        ("holdout20", "holdout19"),
        ("holdout21", "dev"),
        ("holdout21", "tuning"),
        ("holdout21", "holdout20"),
        ("holdout22", "dev"),
        ("holdout22", "tuning"),
        ("holdout22", "holdout21"),
        ("holdout23", "dev"),
        ("holdout23", "tuning"),
        ("holdout23", "holdout22"),
        ("holdout24", "dev"),
        ("holdout24", "tuning"),
        ("holdout24", "holdout23"),
        ("holdout25", "dev"),
        ("holdout25", "tuning"),
        ("holdout25", "holdout24"),
        ("holdout26", "dev"),
        ("holdout26", "tuning"),
        ("holdout26", "holdout25"),
        ("holdout27", "dev"),
        ("holdout27", "tuning"),
        ("holdout27", "holdout26"),
        ("holdout28", "dev"),
        ("holdout28", "tuning"),
        ("holdout28", "holdout27"),
    ],
)
def test_nearly_disjoint(name: str, other: str, dialogues_path: Path) -> None:
    seen = _long_turns([dialogues_path] if other == "dev" else SETS[other])
    shared = total = 0
    for path in SETS[name]:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                turns = json.loads(line)["turns"]
                total += len(turns)
                shared += sum(normalise(t["text"]) in seen for t in turns)
    # stock formulas (您好，请问有什么可以帮您; 请问还有其他问题吗) coincide when written independently
    assert shared <= 0.02 * total


def test_every_evaluation_folder_is_kept_out_of_training() -> None:
    """A new hold-out folder must join ``EVALUATION_SETS`` (training drops its texts; checked here);
    only the retired ones, long read, are trained on."""
    from training.datasets import EVALUATION_DIRS, PROJECT_DIR, RETIRED_DIRS

    data = PROJECT_DIR / "tests" / "data"
    folders = {
        p for p in data.iterdir() if p.is_dir() and (p.name.startswith("holdout") or p.name == "tuning")
    }
    assert folders <= set(EVALUATION_DIRS) | set(RETIRED_DIRS)
    assert not set(EVALUATION_DIRS) & set(RETIRED_DIRS)
    # the sets rules are still chosen on, and the unread one, stay out of every training mix
    kept_out = {"tuning", *(f"holdout-{n}" for n in range(17, 29))}
    assert kept_out <= {p.name for p in EVALUATION_DIRS}
