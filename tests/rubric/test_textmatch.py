"""Text-matching helpers: the indexed best cosine is the plain maximum; pinyin search finds every start."""

from __future__ import annotations

import random

import pytest

from qa_pipeline.rubric.textmatch import (
    GramIndex,
    cosine,
    find_pinyin,
    joined_syllables,
    ngrams,
    phrase_joined,
    phrase_pinyin,
    pinyin_seq,
)

SENTENCES = [
    "这个不归我管",
    "你自己去查吧",
    "我也没办法",
    "您好请问有什么可以帮您",
    "非常抱歉给您添麻烦了",
    "不知道",
    "这个问题我们这边处理不了你找别人吧",
]


@pytest.mark.parametrize("floor", [0.0, 0.3, 0.6, 0.9])
def test_best_cosine_is_the_maximum_above_the_floor(floor: float) -> None:
    rng = random.Random(7)
    examples = [ngrams(s) for s in SENTENCES]
    index = GramIndex(examples)
    for _ in range(200):
        # up to four sentences: some clauses far longer than any example (skipped by the size bound)
        text = "".join(rng.choice(SENTENCES)[rng.randrange(3) :] for _ in range(rng.randint(1, 4)))
        grams = ngrams(text[: rng.randint(1, len(text))])
        plain = max(cosine(grams, e) for e in examples)
        assert index.best_cosine(grams, floor) == (plain if plain >= floor else 0.0)


def test_best_cosine_of_nothing_is_zero() -> None:
    assert GramIndex([ngrams("你好")]).best_cosine(frozenset()) == 0.0
    assert GramIndex([]).best_cosine(ngrams("你好")) == 0.0
    assert GramIndex([frozenset()]).best_cosine(ngrams("你好")) == 0.0


def test_find_pinyin_finds_every_start_including_homophones() -> None:
    haystack = pinyin_seq("发货了吗，发火了，还没发货", fuzzy=True)
    assert find_pinyin(haystack, phrase_pinyin("发货", True)) == [0, 5, 11]
    assert find_pinyin(haystack, phrase_pinyin("没发货", True)) == [10]
    assert find_pinyin(haystack, phrase_pinyin("退款", True)) == []
    assert find_pinyin(haystack[:1], phrase_pinyin("发货", True)) == []
    assert find_pinyin(haystack, ()) == []


def test_joined_view_is_a_necessary_condition_for_a_pinyin_match() -> None:
    rng = random.Random(3)
    pool = "发货火了吗还没身份证工号公耗 ，a b"
    for _ in range(300):
        text = "".join(rng.choice(pool) for _ in range(rng.randint(0, 12)))
        phrase = "".join(rng.choice(pool) for _ in range(rng.randint(1, 3)))
        for fuzzy in (True, False):
            found = find_pinyin(pinyin_seq(text, fuzzy), phrase_pinyin(phrase, fuzzy))
            if found:
                assert phrase_joined(phrase, fuzzy) in joined_syllables(pinyin_seq(text, fuzzy))


def test_the_size_bound_never_skips_a_match_at_its_exact_floor() -> None:
    """An example of 625 grams holding all 196 grams of a clause: cosine 196/350 = 0.56 exactly, while
    sqrt(196/625) rounds a step lower; the bound must not skip it."""
    example = frozenset(f"g{i}" for i in range(625))
    clause = frozenset(f"g{i}" for i in range(196))
    assert GramIndex([example]).best_cosine(clause, cosine(clause, example)) == cosine(clause, example)


@pytest.mark.parametrize("floor", [0.05, 0.5, 0.66, 0.8, 1.0])
def test_best_cosine_on_the_shipped_examples_equals_brute_force(floor: float) -> None:
    """The candidates (examples sharing a rare gram) never miss the best example above the floor."""
    import yaml

    from qa_pipeline.settings import PROJECT_DIR

    rubric = yaml.safe_load((PROJECT_DIR / "rubrics" / "default.yaml").read_text(encoding="utf-8"))
    sentences = list(rubric["rules"]["banned_similar"]["examples"])
    examples = [ngrams(s) for s in sentences]
    index = GramIndex(examples)
    rng = random.Random(int(floor * 100))
    for _ in range(1_500):
        # pieces of examples, cut and joined, with some filler: near, partial and far matches
        parts = [
            rng.choice(sentences)[rng.randrange(4) :][: rng.randint(2, 14)] for _ in range(rng.randint(1, 3))
        ]
        text = "您".join(parts) + rng.choice(["", "好的", "麻烦您稍等"])
        grams = ngrams(text)
        plain = max(cosine(grams, e) for e in examples)
        assert index.best_cosine(grams, floor) == (plain if plain >= floor else 0.0), text
