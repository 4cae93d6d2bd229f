"""Trained rubric classifiers: which models a rubric uses, and their predictions over a batch.

A rubric names models in ``classifier`` rules (:class:`~qa_pipeline.rubric.rules.ClassifierRule`).
The rubric stage loads each model once and, per batch of conversations, runs each
(model, pair, speaker) combination over every turn in scope in one ``predict`` call; rules then
read the predictions from the :class:`MatchContext`. A pair model reads :func:`pair_text` of the
previous customer (or agent, ``pair_with``) turn and the turn, as ``training.train_rubric`` trained it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from qa_pipeline.classifiers.base import Probs, TextClassifier
from qa_pipeline.classifiers.features import PAIR_SEP
from qa_pipeline.rubric.rule_base import MatchContext, RuleBase, following_turns
from qa_pipeline.rubric.rules import ClassifierRule
from qa_pipeline.rubric.schema import Rubric
from qa_pipeline.types import Conversation, Prediction

TURN_SEP = " | "
Preds = dict[str, list[Prediction | None]]


def pair_text(before: str, text: str) -> str:
    """What a pair model reads: the customer's turn, a separator, the reply."""
    return f"{before}{PAIR_SEP}{text}"


def classifier_rules(rubric: Rubric) -> list[ClassifierRule]:
    """Every ``classifier`` rule of the rubric (several may share a key: :class:`RubricModels` runs
    the model once per key, on the turns any of them reads)."""
    return [rule for rule in rubric.every_rule() if isinstance(rule, ClassifierRule)]


_WORDY = re.compile(r"\w")  # a turn of only punctuation or emoji is nothing a model can read


def window_text(texts: Sequence[str]) -> str:
    """What a window model reads: a speaker's consecutive turns, oldest first."""
    return TURN_SEP.join(texts)


def model_inputs(
    conv: Conversation, rule: ClassifierRule, needed: Sequence[bool] | None = None
) -> list[str | None]:
    """Per turn: the text the rule's model reads, or None when the turn is out of its speaker scope
    (or not ``needed``)."""
    out: list[str | None] = []
    said: dict[str, list[str]] = {"customer": [""], "agent": [""]}
    for i, turn in enumerate(conv.turns):
        wanted = needed is None or needed[i]
        if wanted and rule.speaker in ("any", turn.speaker) and _WORDY.search(turn.text):
            own = (
                window_text([*said[turn.speaker][1:], turn.text][-rule.window :])
                if rule.window
                else turn.text
            )
            out.append(pair_text(said[rule.pair_with][-1], own) if rule.pair else own)
        else:
            out.append(None)
        said[turn.speaker].append(turn.text)
    return out


def needed_turns(
    conv: Conversation, rules: Sequence[ClassifierRule], ctx: MatchContext | None = None
) -> list[bool]:
    """Per turn: whether one of the rules (of one key) may read the model there. Their ``first_turns``
    and ``last_turns`` are applied here (``confirmation`` reads only the agent's last two turns), and,
    given the context of the models already run, ``follows`` (the replies to an objection); the other
    scope fields depend on more than the turn's place and are left to the rule."""
    need = [False] * len(conv.turns)
    for rule in rules:
        turns = [i for i, t in enumerate(conv.turns) if rule.speaker in ("any", t.speaker)]
        low = 0 if rule.last_turns is None else max(0, len(turns) - rule.last_turns)
        high = len(turns) if rule.first_turns is None else min(len(turns), rule.first_turns)
        after = None if ctx is None or rule.follows is None else following_turns(ctx, rule)
        for i in turns[low:high]:
            need[i] = need[i] or after is None or after[i]
    return need


class RubricModels:
    """The loaded classifiers of a rubric and the rules that use them (several rules may share a
    model input, a key: the model runs once for them all, on the turns any of them reads)."""

    def __init__(
        self,
        classifiers: Mapping[str, TextClassifier],
        rules: Sequence[ClassifierRule],
        named: Mapping[str, RuleBase] | None = None,
    ) -> None:
        self.classifiers = dict(classifiers)
        self.named = dict(named or {})
        self.by_key: dict[str, list[ClassifierRule]] = {}
        for rule in rules:
            self.by_key.setdefault(rule.key, []).append(rule)
        self.rules = [group[0] for group in self.by_key.values()]

    def _later(self, rule: ClassifierRule) -> bool:
        """Whether the rule's model runs in the second pass: every rule of its key reads only the turns
        that follow a named rule's hits (the schema makes sure those rules read no such model)."""
        group = self.by_key[rule.key]
        return all(r.follows is not None and r.follows in self.named for r in group)

    @property
    def versions(self) -> dict[str, str]:
        return {name: clf.version for name, clf in sorted(self.classifiers.items())}

    def predict(self, convs: Sequence[Conversation]) -> list[Preds]:
        """Per conversation, per rule key, one prediction slot per turn. The models whose rules read
        only the turns that follow a named rule's hits run second, on those turns alone, once the first
        models' outputs decide where that rule hits."""
        out: list[Preds] = [{} for _ in convs]
        later = [self._later(r) for r in self.rules]
        first = [r for r, wait in zip(self.rules, later, strict=True) if not wait]
        self._run(first, convs, out, [[needed_turns(c, self.by_key[r.key]) for r in first] for c in convs])
        if any(later):
            second = [r for r, wait in zip(self.rules, later, strict=True) if wait]
            self._run(
                second, convs, out, [self._after(c, p, second) for c, p in zip(convs, out, strict=True)]
            )
        return out

    def _after(self, conv: Conversation, preds: Preds, rules: Sequence[ClassifierRule]) -> list[list[bool]]:
        """The turns each second-pass rule's model must read in ``conv``, decided on a context of the
        first models' outputs that lives only as long as this call."""
        ctx = MatchContext(conv=conv, named=self.named, model_preds=preds)
        return [needed_turns(conv, self.by_key[r.key], ctx) for r in rules]

    def _run(
        self,
        rules: Sequence[ClassifierRule],
        convs: Sequence[Conversation],
        out: list[Preds],
        needs: list[list[list[bool]]],
    ) -> None:
        """Each rule's model over the batch, on the turns ``needs[conversation][rule]`` marks."""
        for k, rule in enumerate(rules):
            inputs = [model_inputs(conv, rule, need[k]) for conv, need in zip(convs, needs, strict=True)]
            best = iter(self._predict_turns(rule, [t for c in inputs for t in c if t is not None]))
            for slots, per_conv in zip(out, inputs, strict=True):
                slots[rule.key] = [next(best) if text is not None else None for text in per_conv]

    def _predict_turns(self, rule: ClassifierRule, texts: list[str]) -> list[Prediction]:
        """One prediction per input: with ``sentences``, the best of the turn's and its sentences'."""
        model = self.classifiers[rule.model]
        variants = [sentence_variants(t) if rule.sentences else [t] for t in texts]
        rows = model.predict_probs([v for vs in variants for v in vs])
        out, at = [], 0
        for vs in variants:
            pick = at if len(vs) == 1 else at + _best(rows[at : at + len(vs)], model.labels, rule.labels)
            out.append(model.prediction(rows[pick]))
            at += len(vs)
        return out


_SENTENCE_END = re.compile(r"(?<=[。！？!?；;])")


def sentence_variants(text: str) -> list[str]:
    """The model input, then (when the turn has several sentences) one input per sentence of the
    turn's own part; a pair's first half stays with each sentence."""
    before, sep, own = text.rpartition(PAIR_SEP)
    parts = [p for p in _SENTENCE_END.split(own) if len(p.strip()) > 1]
    return [text, *(f"{before}{sep}{p}" for p in parts)] if len(parts) > 1 else [text]


def _best(rows: Probs, model_labels: Sequence[str], labels: Sequence[str]) -> int:
    """The row whose probabilities of ``labels`` add up highest (the first of equals)."""
    columns = [model_labels.index(label) for label in labels if label in model_labels]
    scores = [sum(row[c] for c in columns) for row in rows.tolist()]
    return scores.index(max(scores))
