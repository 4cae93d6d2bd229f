"""Evidence a supervisor can read: a Chinese note for each piece of evidence of an item.

A hit is described by the ``name`` of its rule, or of the nearest enclosing rule (or named rule it
reuses) that has one, else by the item's name. Evidence of something *missing* (rule ids ending in
``:missing``) says what was expected where, from the item's check::

    require  未找到：首个坐席话轮的问候语
    each     第3轮客户抱怨或情绪负面后，下一轮坐席未安抚客户情绪
    before   第5轮坐席透露或办理账户信息之前，坐席未核实客户身份

Rule ids stay on the evidence (``rule``) for whoever edits the rubric.
"""

from __future__ import annotations

from collections.abc import Iterable

from qa_pipeline.rubric.rules import Ref, RuleBase, walk
from qa_pipeline.rubric.schema import BeforeCheck, EachCheck, Item, RequireCheck, Rubric
from qa_pipeline.types import Evidence

MISSING = ":missing"
LABEL_MARK = "#"  # evidence rule ids: "<rule id>#<what the model said>" (e.g. objection.model#价格)
WINDOW_ZH = {
    "same_turn": "同一轮",
    "next_agent_turn": "下一轮",
    "next_agent_turns_2": "随后两轮内",
    "rest": "此后",
}


class Explainer:
    """Notes for one rubric's evidence; built once per scorecard (pure lookups afterwards)."""

    def __init__(self, rubric: Rubric) -> None:
        self.rubric = rubric
        self._rules: dict[str, RuleBase] = {}
        self._parent: dict[str, str] = {}
        roots = [*rubric.rules.values(), *(r for item in rubric.items for r in _item_roots(item))]
        for root in roots:
            self._index(root)

    def _index(self, root: RuleBase) -> None:
        for rule in walk(root):
            self._rules.setdefault(rule.id, rule)
            for child in rule.children():
                self._parent.setdefault(child.id, rule.id)

    def rule_name(self, rule_id: str, item: Item) -> str:
        """The name of ``rule_id`` or its nearest named ancestor (through ``ref``), else the item's."""
        seen: set[str] = set()
        current: str | None = rule_id
        while current is not None and current not in seen:
            seen.add(current)
            rule = self._rules.get(current)
            if rule is not None and rule.name:
                return rule.name
            if isinstance(rule, Ref) and (named := self.rubric.rules.get(rule.ref)) and named.name:
                return named.name
            current = self._parent.get(current)
        return item.name or item.id

    def note(self, item: Item, ev: Evidence) -> str:
        if not ev.rule.endswith(MISSING):
            rule, _, label = ev.rule.partition(LABEL_MARK)
            name = self.rule_name(rule, item)
            return f"{name}（{label}）" if label else name
        return self._missing(item, ev.rule.removesuffix(MISSING), ev.turn)

    def annotate(self, item: Item, evidence: Iterable[Evidence]) -> list[Evidence]:
        """``evidence`` with :attr:`Evidence.note` filled in where empty, in place: the scorecard owns
        the evidence it has just built (a copy each cost more than the rest of the item's evidence)."""
        out = list(evidence)
        for ev in out:
            if not ev.note:
                ev.note = self.note(item, ev)
        return out

    def _missing(self, item: Item, rule_id: str, turn: int | None) -> str:
        check = item.check
        expected = self.rule_name(rule_id, item)
        at = f"第{turn + 1}轮" if turn is not None else ""
        if isinstance(check, EachCheck) and turn is not None:
            trigger = self.rule_name(check.trigger.id, item)
            if check.expect_before is not None and rule_id == check.expect_before.id:
                return f"{at}{trigger}，此前坐席未{expected}"
            if check.window == "same_turn":
                return f"{at}{trigger}，该轮坐席未{expected}"
            return f"{at}{trigger}后，{WINDOW_ZH[check.window]}坐席未{expected}"
        if isinstance(check, BeforeCheck) and turn is not None:
            return f"{at}{self.rule_name(check.event.id, item)}之前，坐席未{expected}"
        if isinstance(check, RequireCheck) or turn is None:
            return f"未找到：{expected}"
        return f"{at}未找到：{expected}"


def _item_roots(item: Item) -> list[RuleBase]:
    check = item.check
    fields = ("rule", "trigger", "expect", "expect_before", "event")
    roots = [r for f in fields if isinstance(r := getattr(check, f, None), RuleBase)]
    return roots + ([item.applies_if] if item.applies_if is not None else [])
