"""Where the rubric models' examples come from: each file of ``rubrics/examples`` and how its rows
become (model input, label) pairs (``training/train_rubric.py`` lists which model reads which).

Only the project's own hand-written files: a model trained on research-only dialogues (JDDC, STC-3)
could not ship. The labelled training dialogues (``dialogues/``) lend customer moods, objections and
their handling, endings and agent turns in the format of the evaluation sets.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from qa_pipeline.rubric.models import pair_text, window_text
from training.datasets import LATE_RETIRED_DIRS, RETIRED_DIRS

log = logging.getLogger("training.train_rubric")

Row = dict[str, object]


def labelled_text(r: Row) -> list[tuple[str, str]]:
    return [(str(r["text"]), str(r["label"]))]


def objection_pair(r: Row) -> list[tuple[str, str]]:
    """objection_context / objection_dialogue: the agent's turn before and the customer's turn."""
    return [(pair_text(str(r.get("agent", "")), str(r["customer"])), str(r["label"]))]


def objection_alone(r: Row) -> list[tuple[str, str]]:
    """objection.jsonl has no agent turn: the pair's first half is empty, as for an opening turn."""
    return [(pair_text("", str(r["text"])), str(r["label"]))]


def handling_dialogue(r: Row) -> list[tuple[str, str]]:
    """An objection with its one or two replies: handled pairs join both replies (the answer may come
    second); a dismissed objection makes each reply a dismissed example."""
    if r.get("handled") is None or r.get("label") == "none":
        return []
    replies = [str(x) for x in r["replies"]]  # type: ignore[attr-defined]
    if r["handled"]:
        return [(pair_text(str(r["customer"]), window_text(replies)), "handled")]
    return [(pair_text(str(r["customer"]), reply), "dismissed") for reply in replies]


def settled_customer_turn(r: Row) -> list[tuple[str, str]]:
    """A customer turn of the mood files that is no objection: thanks or relief (pos), or a short
    neutral answer (好的, 没了, 行那就这么办): closings the objection files hardly have."""
    text = str(r["text"])
    if r["label"] == "pos" or (r["label"] == "neu" and len(text) <= 12):
        return [(pair_text(str(r.get("agent", "")), text), "none")]
    return []


def empathy_alone(r: Row) -> list[tuple[str, str]]:
    return [(pair_text("", str(r["text"])), str(r["label"]))]


def empathy_pair(r: Row) -> list[tuple[str, str]]:
    return [(pair_text(str(r["customer"]), str(r["reply"])), str(r["label"]))]


def mood_pair(r: Row) -> list[tuple[str, str]]:
    return [(pair_text(str(r.get("agent", "")), str(r["text"])), str(r["label"]))]


Turns = list[dict[str, Any]]


def _turns_and_labels(r: Row) -> tuple[Turns, dict[str, Any]]:
    """A labelled dialogue (the dialogues.jsonl format of the evaluation sets): its turns and labels."""
    return cast(Turns, r["turns"]), cast(dict[str, Any], r["labels"])


def _customer_turns(turns: Turns) -> list[tuple[int, str, str]]:
    """The customer turns: (turn index, the agent turn before it or "", its text)."""
    out: list[tuple[int, str, str]] = []
    agent = ""
    for i, turn in enumerate(turns):
        if turn["speaker"] == "customer":
            out.append((i, agent, str(turn["text"])))
        else:
            agent = str(turn["text"])
    return out


def dialogue_moods(r: Row) -> list[tuple[str, str]]:
    """Every customer turn of a labelled dialogue (rubrics/examples/dialogues/) with its labelled mood."""
    turns, labels = _turns_and_labels(r)
    moods = [str(m) for m in labels["customer_sentiment"]]
    customer = _customer_turns(turns)
    if len(moods) != len(customer):
        log.warning("%s: %d moods for %d customer turns; skipped", r.get("id"), len(moods), len(customer))
        return []
    return [(pair_text(agent, text), m) for (_, agent, text), m in zip(customer, moods, strict=True)]


def _objections(labels: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {int(o["turn"]): o for o in labels["objection_handling"].get("objections") or []}


def dialogue_objections(r: Row) -> list[tuple[str, str]]:
    """Every customer turn after the opening one: its objection type, or none. The opening complaint is
    left out: the rubric never asks the model about it (``after: customer_opening``)."""
    turns, labels = _turns_and_labels(r)
    marked = _objections(labels)
    return [
        (pair_text(agent, text), str(marked[i]["type"]) if i in marked else "none")
        for i, agent, text in _customer_turns(turns)[1:]
    ]


def dialogue_handling(r: Row) -> list[tuple[str, str]]:
    """Each labelled objection with the next two agent turns, as :func:`handling_dialogue` reads them."""
    turns, labels = _turns_and_labels(r)
    out: list[tuple[str, str]] = []
    for i, objection in _objections(labels).items():
        if not 0 <= i < len(turns):
            continue
        replies = [str(t["text"]) for t in turns[i + 1 :] if t["speaker"] == "agent"][:2]
        if replies:
            row: Row = {"customer": turns[i]["text"], "replies": replies, "handled": objection["handled"]}
            out += handling_dialogue(row)
    return out


def dialogue_confirmation(r: Row) -> list[tuple[str, str]]:
    """The agent's last three turns joined, as :func:`confirmation` reads them: ``restated`` when the
    conversation's confirmation is labelled ``pass``."""
    turns, labels = _turns_and_labels(r)
    agent = [str(t["text"]) for t in turns if t["speaker"] == "agent"]
    verdict = labels.get("confirmation")
    if not agent or verdict not in ("pass", "fail"):
        return []
    return [(window_text(agent[-3:]), "restated" if verdict == "pass" else "none")]


def dialogue_forbidden(r: Row) -> list[tuple[str, str]]:
    """Every agent turn: ``forbidden`` when the forbidden_phrase label lists it, else ``ok``."""
    turns, labels = _turns_and_labels(r)
    banned = {int(i) for i in labels["forbidden_phrase"].get("turns") or []}
    return [
        (str(t["text"]), "forbidden" if i in banned else "ok")
        for i, t in enumerate(turns)
        if t["speaker"] == "agent"
    ]


DIALOGUES = tuple(f"dialogues/writer-{n}.jsonl" for n in (18, 19, 20))
#: The retired hold-outs' conversations (``training.datasets.RETIRED_SETS``: 1,960 conversations in
#: 49 writers' files; the first 1,360 trained on since stop 25, hold-outs 12-16 by the objection and
#: handling models since stop 29: ``LATE_RETIRED_DIALOGUES``); left out
#: together in the leave-one-writer-out figure.
RETIRED_DIALOGUES = tuple(str(p) for d in RETIRED_DIRS for p in sorted(d.glob("*.jsonl")))
LATE_RETIRED_DIALOGUES = tuple(str(p) for d in LATE_RETIRED_DIRS for p in sorted(d.glob("*.jsonl")))
RETIRED_GROUP = "retired hold-outs"


def dialogue_sources(
    examples: Callable[[Row], list[tuple[str, str]]], retired: bool = True, late: bool = False
) -> tuple[Source, ...]:
    """The labelled dialogues read by ``examples``: the training writers', then (with ``retired``) the
    retired hold-outs' (their many industries stay out of the leave-one-industry-out figure); those
    retired at stop 29 only with ``late`` (the models retrained with them)."""
    own = tuple(Source(f, examples) for f in DIALOGUES)
    files = [f for f in RETIRED_DIALOGUES if late or f not in LATE_RETIRED_DIALOGUES]
    old = tuple(Source(f, examples, RETIRED_GROUP, industries=False) for f in files)
    return own + (old if retired else ())


FORBIDDEN_FILES = ("forbidden.jsonl", "forbidden_disguised.jsonl", "forbidden_agent_turns.jsonl")


def confirmation(r: Row) -> list[tuple[str, str]]:
    """The agent's last (up to three) turns joined; the customer's request is not read, since at the end
    of a conversation the turn before is mostly thanks, not the request."""
    turns = [str(t) for t in r["agent_turns"]]  # type: ignore[attr-defined]
    return [(window_text(turns[-3:]), str(r["label"]))]


def borrow(field: str, their_label: str | None, ours: str) -> Callable[[Row], list[tuple[str, str]]]:
    """Another task's rows lending a text field as examples of ``ours`` (e.g. rude refusals as
    non-empathy), optionally only the rows with ``their_label``; a list field lends every element."""

    def lend(r: Row) -> list[tuple[str, str]]:
        if their_label is not None and r.get("label") != their_label:
            return []
        value = r[field]
        texts = [str(v) for v in value] if isinstance(value, list) else [str(value)]
        return [(t, ours) for t in texts if t.strip()]

    return lend


def read_rows(path: Path) -> list[Row]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass(frozen=True)
class Source:
    """One examples file and how each of its rows becomes (model input, label) pairs. ``file`` is
    relative to the examples folder, or absolute (a retired hold-out); ``group`` names the writer group
    the leave-one-writer-out figure leaves out together (default: the file), and without
    ``industries`` the rows count in no industry of the leave-one-industry-out figure."""

    file: str
    examples: Callable[[Row], list[tuple[str, str]]]
    group: str | None = None
    industries: bool = True

    def pairs(self, folder: Path) -> Iterator[tuple[Row, str, str]]:
        """``(row, model input, label)`` for every example of the file under ``folder``."""
        for row in read_rows(folder / self.file):
            for text, label in self.examples(row):
                yield row, text, label


MOOD_FILES = ("customer_mood.jsonl", "customer_mood_2.jsonl")


@dataclass(frozen=True)
class SettledInContext:
    """Each objection's agent turn (of ``file``) followed, instead of the objection, by a settled
    customer turn of the mood files (thanks, relief, a short neutral answer; one per agent turn, picked
    by a hash of it): no objection. Without them the agent's words alone made one: 好 after a price
    or ok after a delivery date read as price and delay objections."""

    file: str
    partners: tuple[str, ...]
    group: str | None = None  # as for :class:`Source`
    industries: bool = True

    def pairs(self, folder: Path) -> Iterator[tuple[Row, str, str]]:
        pool = [
            str(r["text"]) for f in self.partners for r in read_rows(folder / f) if settled_customer_turn(r)
        ]
        for row in read_rows(folder / self.file):
            agent = str(row.get("agent", ""))
            if pool and agent and row.get("label") != "none":
                pick = pool[int(hashlib.sha256(agent.encode()).hexdigest(), 16) % len(pool)]
                yield row, pair_text(agent, pick), "none"
