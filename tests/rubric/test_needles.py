"""needles(): every text a pattern matches holds one of its needles (checked on texts drawn from the
patterns themselves, on the shipped rubric's patterns and on hand-made corner cases)."""

from __future__ import annotations

import random
import re
from pathlib import Path
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as parser  # type: ignore[attr-defined]

import pytest
import yaml

from qa_pipeline.rubric.needles import needles

ROOT = Path(__file__).resolve().parents[2]
FILLER = "您好的我你是不这边了吗？，。！ab1"


def _rubric_patterns() -> list[str]:
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "regex":
                found.append(node["pattern"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in sorted((ROOT / "rubrics").glob("*.yaml")):
        walk(yaml.safe_load(path.read_text(encoding="utf-8")))
    return found


def _draw(items: list, rng: random.Random, groups: dict[int, str]) -> str:
    """A random string shaped by a parsed pattern (most of them match it)."""
    out = []
    for op, av in items:
        if op is sre.LITERAL:
            out.append(chr(av))
        elif op is sre.IN:
            out.append(_draw_class(av, rng))
        elif op in (sre.ANY, sre.NOT_LITERAL):
            out.append(rng.choice(FILLER))
        elif op is sre.BRANCH:
            out.append(_draw(list(rng.choice(av[1])), rng, groups))
        elif op is sre.SUBPATTERN:
            text = _draw(list(av[3]), rng, groups)
            if av[0] is not None:
                groups[av[0]] = text
            out.append(text)
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
            low, high, body = av
            count = rng.randint(low, min(high, low + 3))
            out.extend(_draw(list(body), rng, groups) for _ in range(count))
        elif op is sre.GROUPREF:
            out.append(groups.get(av, ""))
    return "".join(out)


def _draw_class(items: list, rng: random.Random) -> str:
    op, av = rng.choice(items)
    if op is sre.LITERAL:
        return chr(av)
    if op is sre.RANGE:
        return chr(rng.randint(*av))
    return rng.choice(FILLER)  # a negated class or a category: filler (may not match; then unchecked)


def _check(pattern: str, rng: random.Random, draws: int) -> int:
    found = needles(pattern)
    if found is None:
        return 0
    compiled, tree, checked = re.compile(pattern), list(parser.parse(pattern)), 0
    for _ in range(draws):
        core = _draw(tree, rng, {})
        before = "".join(rng.choice(FILLER) for _ in range(rng.randint(0, 3)))
        text = before + core + rng.choice(["", "。", "好的"])
        if compiled.search(text):
            checked += 1
            assert any(n in text for n in found), (pattern, text, sorted(found))
    return checked


def test_every_rubric_pattern_match_holds_a_needle() -> None:
    rng = random.Random(11)
    patterns = _rubric_patterns()
    assert len(patterns) > 30
    checked = sum(_check(p, rng, 400) for p in patterns)
    assert checked > 5_000
    with_needles = sum(needles(p) is not None for p in patterns)
    assert with_needles >= len(patterns) - 8  # the rest are searched without a shortcut


CORNERS = [
    "(我|这边|我们)[^，。？！]{0,4}(不知道|不清楚)",
    "爱(?P<v>\\S)不(?P=v)",
    "^(不知道|不清楚)",
    "(你|您)?(自己)?都知道了?还问",
    "a(?=bc)bcd",
    "(?<!不)满意",
    "(?:好的){2,3}再见",
    "x+y",
    "(?>原子)组",
    "[子瓜]傻",
    "傻[子瓜]",
    "(你|您|)说",
    "(a|b)*c?d",
]


@pytest.mark.parametrize("pattern", CORNERS)
def test_corner_cases(pattern: str) -> None:
    _check(pattern, random.Random(3), 2_000)


def test_what_has_no_needles() -> None:
    assert needles(".") is None  # anything
    assert needles("(?i)abc") is None  # case-insensitive: literals match more than themselves
    assert needles("(?i:ab)c") == frozenset({"c"})  # the case-insensitive part is passed over
    assert needles("(好|.)") is None  # one branch matches any character
    assert needles("a?") is None  # can match the empty string
    assert needles("(") is None  # invalid: re.compile reports it


def test_needles_are_the_rare_parts() -> None:
    assert needles("(我|这边|我们)[^，。？！]{0,4}(不知道|不清楚)") == frozenset({"不知道", "不清楚"})
    assert needles("欢迎(您)?来电") == frozenset({"欢迎来电", "欢迎您来电"})
    assert needles("(对不起|抱歉|不好意思)") == frozenset({"对不起", "抱歉", "不好意思"})
