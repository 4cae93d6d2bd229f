"""Highlighting evidence inside untrusted text: escaped first, marks by raw positions."""

from __future__ import annotations

from qa_pipeline.report.highlight import Mark, highlight, locate


def test_locate_finds_raw_substring_and_falls_back_to_case_insensitive() -> None:
    assert locate("您好，工号K102", "工号") == (3, 5)
    assert locate("工号k102为您服务", "K102") == (2, 6)
    assert locate("您好", "再见") is None
    assert locate("您好", "") is None


def test_text_is_escaped_and_the_mark_wraps_the_span() -> None:
    text = "<b>x</b> 你自己看 & 走"
    start, end = locate(text, "你自己看") or (0, 0)
    html = str(highlight(text, [Mark(start, end, "fail", 'forbidden "禁语" <rule>')]))
    assert html == (
        "&lt;b&gt;x&lt;/b&gt; "
        '<mark class="ev ev-fail" title="forbidden &#34;禁语&#34; &lt;rule&gt;">你自己看</mark>'
        " &amp; 走"
    )


def test_marks_inside_text_that_needs_escaping_keep_their_positions() -> None:
    # the evidence sits after characters that grow when escaped: positions must be raw ones
    text = "<<<&&& 没办法"
    html = str(highlight(text, [Mark(7, 10, "fail", "t")]))
    assert html.endswith('<mark class="ev ev-fail" title="t">没办法</mark>')
    assert html.startswith("&lt;&lt;&lt;&amp;&amp;&amp; ")


def test_overlapping_marks_never_nest_and_the_most_severe_kind_wins() -> None:
    text = "abcdefgh"
    html = str(highlight(text, [Mark(1, 5, "pass", "p"), Mark(3, 7, "fail", "f")]))
    assert html == (
        'a<mark class="ev ev-pass" title="p">bc</mark>'
        '<mark class="ev ev-fail" title="p；f">de</mark>'
        '<mark class="ev ev-fail" title="f">fg</mark>h'
    )


def test_out_of_range_and_empty_marks_are_ignored_or_clipped() -> None:
    assert str(highlight("abc", [Mark(2, 2, "fail", "x"), Mark(5, 9, "fail", "y")])) == "abc"
    assert str(highlight("abc", [Mark(1, 99, "pii", "z")])) == 'a<mark class="ev ev-pii" title="z">bc</mark>'
