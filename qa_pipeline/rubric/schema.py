"""The rubric YAML model: items, their checks and named rules, validated by pydantic.

Checks say how an item's rules become a verdict:

- ``require``: pass when the rule hits somewhere, else fail (greeting, closing…);
- ``forbid``: fail when the rule hits (banned phrases, interruptions);
- ``each``: for every trigger turn, an expected reply must follow (empathy, objections,
  hold etiquette); ``na`` when nothing triggers;
- ``before``: the expected rule must hit before the first event turn (identity check);
  ``na`` when no event happens.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from qa_pipeline.rubric.rules import ClassifierRule, Rule, RuleBase, assign_ids, walk
from qa_pipeline.types import CHANNELS, Channel


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RequireCheck(_Strict):
    type: Literal["require"]
    rule: Rule


class ForbidCheck(_Strict):
    type: Literal["forbid"]
    rule: Rule


Window = Literal["same_turn", "next_agent_turn", "next_agent_turns_2", "rest"]


class EachCheck(_Strict):
    type: Literal["each"]
    trigger: Rule
    expect: Rule | None = Field(default=None, description="must hit in `window` after each trigger")
    expect_before: Rule | None = Field(default=None, description="must hit in the last agent turn before it")
    window: Window = "next_agent_turn"
    needs_reply: bool = Field(default=True, description="ignore triggers that no agent turn follows")

    @model_validator(mode="after")
    def _something_expected(self) -> EachCheck:
        if self.expect is None and self.expect_before is None:
            raise ValueError("an `each` check needs `expect` and/or `expect_before`")
        return self


class BeforeCheck(_Strict):
    type: Literal["before"]
    event: Rule
    expect: Rule
    inclusive: bool = Field(default=False, description="a hit in the event turn itself counts")


Check = Annotated[RequireCheck | ForbidCheck | EachCheck | BeforeCheck, Field(discriminator="type")]


class Item(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str = ""
    description: str = ""
    points: float = Field(gt=0)
    fatal: bool = False
    channels: list[Channel] = Field(default_factory=lambda: list(CHANNELS))
    applies_if: Rule | None = Field(default=None, description="na when this rule hits nowhere")
    check: Check

    def rules(self) -> list[RuleBase]:
        roots: list[RuleBase] = [r for r in (self.applies_if,) if r is not None]
        roots += [r for r in _check_rules(self.check) if r is not None]
        return [r for root in roots for r in walk(root)]


def _check_rules(check: RequireCheck | ForbidCheck | EachCheck | BeforeCheck) -> list[RuleBase | None]:
    if isinstance(check, RequireCheck | ForbidCheck):
        return [check.rule]
    if isinstance(check, EachCheck):
        return [check.trigger, check.expect, check.expect_before]
    return [check.event, check.expect]


class Rubric(_Strict):
    # results carry ``id@version+fingerprint`` in a 255-character column (qa_pipeline.store)
    id: str = Field(min_length=1, max_length=100)
    version: str = Field(min_length=1, max_length=100)
    name: str = ""
    description: str = ""
    review_below: float | None = Field(
        default=None, ge=0, le=1, description="similar-rule fails scoring under this become `review`"
    )
    dictionary: list[str] = Field(default_factory=list, description="extra jieba words")
    rules: dict[str, Rule] = Field(default_factory=dict, description="named rules, used with `ref`")
    items: list[Item] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Rubric:
        ids = [i.id for i in self.items]
        dupes = {i for i in ids if ids.count(i) > 1}
        if dupes:
            raise ValueError(f"duplicate item ids: {sorted(dupes)}")
        for name, rule in self.rules.items():
            assign_ids(rule, name)
        for item in self.items:
            _assign_item_ids(item)
        self._check_refs()
        self._check_cycles()
        self._check_follows()
        return self

    def every_rule(self) -> list[RuleBase]:
        """Every rule of every item and every named rule, sub-rules included."""
        rules = [r for item in self.items for r in item.rules()]
        return rules + [r for named in self.rules.values() for r in walk(named)]

    def _check_refs(self) -> None:
        for rule in self.every_rule():
            for ref in _refers_to(rule):
                if ref not in self.rules:
                    raise ValueError(f"rule {rule.id!r} refers to unknown named rule {ref!r}")

    def _check_cycles(self) -> None:
        """A named rule that reaches itself through ``ref``, ``after`` or ``follows`` would recurse
        without end when a conversation is scored: refused here, naming the loop."""
        uses = {name: self._names_used(rule) for name, rule in self.rules.items()}
        for start in self.rules:
            path, pending = {start: [start]}, [start]
            while pending:
                name = pending.pop()
                for used in uses[name]:
                    if used == start:
                        loop = " -> ".join([*path[name], start])
                        raise ValueError(f"named rules refer to each other in a loop: {loop}; break the loop")
                    if used not in path:
                        path[used] = [*path[name], used]
                        pending.append(used)

    @staticmethod
    def _names_used(rule: RuleBase) -> set[str]:
        return {name for r in walk(rule) for name in _refers_to(r)}

    def _check_follows(self) -> None:
        """A model that runs only after a named rule's hits is run once that rule is decided: the rule
        must not read such a model itself."""
        for rule in self.every_rule():
            if rule.follows is None or not isinstance(rule, ClassifierRule):
                continue
            for read in self._reads(self.rules[rule.follows]):
                if read.follows is not None and isinstance(read, ClassifierRule):
                    raise ValueError(
                        f"rule {rule.id!r} follows {rule.follows!r}, which reads rule {read.id!r}, a model "
                        f"rule that itself follows {read.follows!r}: let one of them run on every turn"
                    )

    def _reads(self, rule: RuleBase) -> list[RuleBase]:
        """Every rule evaluated when ``rule`` is: its sub-rules and the named rules they refer to."""
        out: list[RuleBase] = []
        pending, seen = [rule], set[str]()
        while pending:
            current = pending.pop()
            out.extend(walk(current))
            for name in self._names_used(current) - seen:
                seen.add(name)
                pending.append(self.rules[name])
        return out

    @property
    def total_points(self) -> float:
        return sum(i.points for i in self.items)

    def item(self, item_id: str) -> Item:
        for it in self.items:
            if it.id == item_id:
                return it
        raise KeyError(item_id)


def _assign_item_ids(item: Item) -> None:
    if item.applies_if is not None:
        assign_ids(item.applies_if, f"{item.id}.applies_if")
    check = item.check
    for field_name in ("rule", "trigger", "expect", "expect_before", "event"):
        rule = getattr(check, field_name, None)
        if rule is not None:
            assign_ids(rule, f"{item.id}.{field_name}")


def _refers_to(rule: RuleBase) -> list[str]:
    """The named rules one rule refers to by itself (not through its sub-rules): ``ref``, ``after``,
    ``follows``."""
    return [n for n in (getattr(rule, "ref", None), rule.after, rule.follows) if n is not None]
