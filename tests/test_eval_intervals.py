"""Bootstrap intervals of ``qa eval``: they contain the point figure, narrow with more conversations,
and are reproducible."""

from __future__ import annotations

from qa_pipeline.eval_intervals import bootstrap


def _rows(n: int, wrong_every: int) -> list[dict[str, tuple[str, str]]]:
    return [
        {"a": ("fail", "pass" if i % wrong_every == 0 else "fail"), "b": ("pass", "pass")} for i in range(n)
    ]


def test_intervals_contain_the_point_figure_and_narrow_with_n() -> None:
    small, large = bootstrap(_rows(20, 5), ["a", "b"]), bootstrap(_rows(400, 5), ["a", "b"])
    for ci in (small.items["a"], large.items["a"]):
        assert ci is not None and ci.low <= 0.8 <= ci.high
    assert small.items["a"] is not None and large.items["a"] is not None
    assert (small.items["a"].high - small.items["a"].low) > 3 * (large.items["a"].high - large.items["a"].low)
    assert small.items["b"] is not None and (small.items["b"].low, small.items["b"].high) == (1.0, 1.0)


def test_recall_only_where_a_gold_fail_exists_and_unlabelled_items_have_none() -> None:
    ci = bootstrap(_rows(30, 3), ["a", "b", "c"])
    assert ci.recall["a"] is not None and ci.recall["b"] is None
    assert ci.items["c"] is None and ci.macro is not None


def test_reproducible() -> None:
    assert bootstrap(_rows(50, 4), ["a", "b"]) == bootstrap(_rows(50, 4), ["a", "b"])
