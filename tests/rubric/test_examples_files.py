"""The labelled examples that train the rubric classifiers (rubrics/examples/*.jsonl).

Checks the files' shape (one JSON object a line, known keys and labels), that no text is repeated
once punctuation and whitespace are dropped, the minimum count per label, and that no example was
lifted from the conversations_dev evaluation set the classifiers are judged on.
"""

from __future__ import annotations

import json
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from qa_pipeline.settings import PROJECT_DIR

EXAMPLES = PROJECT_DIR / "rubrics" / "examples"
OBJECTION_TYPES = ("price", "refund", "distrust", "delay", "cancel", "hesitate")

# file -> (label set, minimum count per label)
SIMPLE: dict[str, tuple[set[str], dict[str, int]]] = {
    "objection.jsonl": (
        {*OBJECTION_TYPES, "none"},
        {**dict.fromkeys(OBJECTION_TYPES, 90), "none": 400},
    ),
    "empathy.jsonl": ({"empathy", "none"}, {"empathy": 350, "none": 350}),
    "forbidden.jsonl": ({"forbidden", "ok"}, {"forbidden": 350, "ok": 450}),
}
HANDLING_MIN = {"handled": 300, "dismissed": 300}
HANDLING_MIN_PER_TYPE = 25  # per (type, label): every objection type has both kinds of reply
MAX_CHARS = 120

# Leak check against the dev set: a normalised example equal to a dev turn counts from this length
# (shorter stock phrases such as 好的 or 可以 occur everywhere), one contained in a dev turn from the next.
LEAK_EQUAL_MIN = 4
LEAK_CONTAINED_MIN = 10


def norm(text: str) -> str:
    """Lower-cased NFKC text without punctuation, symbols or whitespace."""
    kept = []
    for char in unicodedata.normalize("NFKC", text).lower():
        if char.isspace() or unicodedata.category(char)[0] in "PZS":
            continue
        kept.append(char)
    return "".join(kept)


def load(name: str) -> list[dict[str, Any]]:
    path = EXAMPLES / name
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            pytest.fail(f"{path}:{number}: not JSON ({err})")
        assert isinstance(row, dict), f"{path}:{number}: not a JSON object"
        rows.append(row)
    assert rows, f"{path} is empty"
    return rows


def check_text(value: Any, where: str) -> str:
    assert isinstance(value, str) and value.strip(), f"{where}: empty or not a string"
    assert value == value.strip(), f"{where}: leading/trailing whitespace"
    assert len(value) <= MAX_CHARS, f"{where}: longer than {MAX_CHARS} characters"
    assert norm(value), f"{where}: nothing left after removing punctuation"
    return value


def all_texts() -> list[str]:
    texts = [row["text"] for name in SIMPLE for row in load(name)]
    for row in load("handling.jsonl"):
        texts += [row["objection"], row["reply"]]
    return texts


@pytest.mark.parametrize("name", sorted(SIMPLE))
def test_simple_file_shape_labels_and_counts(name: str) -> None:
    labels, minimum = SIMPLE[name]
    rows = load(name)
    seen: dict[str, int] = {}
    for number, row in enumerate(rows, start=1):
        where = f"{name}:{number}"
        assert set(row) == {"text", "label"}, f"{where}: keys {sorted(row)}"
        assert row["label"] in labels, f"{where}: unknown label {row['label']!r}"
        key = norm(check_text(row["text"], where))
        assert key not in seen, f"{where}: duplicate of line {seen[key]} ({row['text']!r})"
        seen[key] = number
    counts = Counter(row["label"] for row in rows)
    short = {label: counts[label] for label, least in minimum.items() if counts[label] < least}
    assert not short, f"{name}: too few examples for {short} (minimum {minimum})"


def test_handling_file_shape_labels_and_counts() -> None:
    rows = load("handling.jsonl")
    seen: dict[tuple[str, str], int] = {}
    for number, row in enumerate(rows, start=1):
        where = f"handling.jsonl:{number}"
        assert set(row) == {"objection", "type", "reply", "label"}, f"{where}: keys {sorted(row)}"
        assert row["type"] in OBJECTION_TYPES, f"{where}: unknown type {row['type']!r}"
        assert row["label"] in HANDLING_MIN, f"{where}: unknown label {row['label']!r}"
        key = (norm(check_text(row["objection"], where)), norm(check_text(row["reply"], where)))
        assert key not in seen, f"{where}: duplicate pair of line {seen[key]}"
        seen[key] = number
    counts = Counter(row["label"] for row in rows)
    assert all(counts[label] >= least for label, least in HANDLING_MIN.items()), counts
    per_type = Counter((row["type"], row["label"]) for row in rows)
    thin = {k: per_type[k] for k in ((t, lab) for t in OBJECTION_TYPES for lab in HANDLING_MIN)}
    assert min(thin.values()) >= HANDLING_MIN_PER_TYPE, thin


def test_handling_includes_the_hard_cases() -> None:
    """Handled replies without 理解/抱歉, and dismissals that do apologise or say 理解."""
    rows = load("handling.jsonl")
    apology = ("理解", "抱歉", "对不起", "不好意思")
    plain_handled = [r for r in rows if r["label"] == "handled" and not any(w in r["reply"] for w in apology)]
    sorry_dismissed = [r for r in rows if r["label"] == "dismissed" and any(w in r["reply"] for w in apology)]
    assert len(plain_handled) >= 100, len(plain_handled)
    assert len(sorry_dismissed) >= 20, len(sorry_dismissed)


def test_objection_types_are_not_just_keywords() -> None:
    """Most objection examples avoid the textbook cue words the keyword rules already catch."""
    cues = ("太贵", "退款", "骗", "考虑", "取消", "太慢", "不信", "注销")
    rows = [r for r in load("objection.jsonl") if r["label"] != "none"]
    with_cue = sum(any(cue in r["text"] for cue in cues) for r in rows)
    assert with_cue / len(rows) < 0.2, f"{with_cue} of {len(rows)} objections use a textbook cue word"


def test_a_text_has_one_label_across_the_agent_files() -> None:
    """An agent turn labelled in both empathy.jsonl and forbidden.jsonl is never empathy and forbidden."""
    empathy = {norm(r["text"]) for r in load("empathy.jsonl") if r["label"] == "empathy"}
    forbidden = {norm(r["text"]) for r in load("forbidden.jsonl") if r["label"] == "forbidden"}
    assert not empathy & forbidden, sorted(empathy & forbidden)


@pytest.mark.data
def test_no_example_is_taken_from_the_dev_conversations(shared_data: Path) -> None:
    path = shared_data / "conversations_dev" / "dialogues.jsonl"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    dev: set[str] = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        dev.update(norm(turn["text"]) for turn in json.loads(line)["turns"])
    joined = "\n".join(dev)
    leaked = []
    for text in all_texts():
        key = norm(text)
        if (len(key) >= LEAK_EQUAL_MIN and key in dev) or (len(key) >= LEAK_CONTAINED_MIN and key in joined):
            leaked.append(text)
    assert not leaked, f"{len(leaked)} examples also occur in conversations_dev: {leaked[:20]}"
