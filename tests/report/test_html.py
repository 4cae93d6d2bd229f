"""The HTML report: structure checked by parsing it with the standard library's html.parser."""

from __future__ import annotations

from datetime import datetime
from html.parser import HTMLParser

import pytest
from pydantic import BaseModel

from qa_pipeline.report import render_html
from qa_pipeline.types import (
    ConversationResult,
    Evidence,
    ItemResult,
    Metrics,
    Overlap,
    PiiSpan,
    PublicTurn,
    Silence,
    SpeakerValue,
    TurnSentiment,
    Verdict,
    Versions,
)

GENERATED = datetime(2026, 3, 16, 8, 30)
XSS_TURN = "<script>alert(1)</script>你们这什么服务！"
IMG = "<img src=x onerror=alert(2)>"


class Page(HTMLParser):
    """Collects what the tests look at: tags, ids, links, marks (with their turn) and table cells."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.ids: set[str] = set()
        self.hrefs: list[str] = []
        self.attrs: list[tuple[str, str]] = []
        self.marks: list[dict[str, str]] = []
        self.tables: dict[str, list[list[list[str]]]] = {}
        """table class -> tables of that class, in order -> rows -> cell texts."""
        self.text: list[str] = []
        self._turn = ""
        self._mark: dict[str, str] | None = None
        self._table = ""
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.append(tag)
        self.attrs += a.items()
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "a" and "href" in a:
            self.hrefs.append(a["href"])
        if tag == "div" and "turn" in a.get("class", "").split():
            self._turn = a["id"]
        if tag == "mark":
            self._mark = {
                "turn": self._turn,
                "class": a.get("class", ""),
                "title": a.get("title", ""),
                "text": "",
            }
        if tag == "table":
            self._table = a.get("class", "")
            self.tables.setdefault(self._table, []).append([])
        if tag == "tr" and self._table:
            self.tables[self._table][-1].append([])
        if tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "mark" and self._mark is not None:
            self.marks.append(self._mark)
            self._mark = None
        if tag in ("td", "th") and self._cell is not None and self._table:
            self.tables[self._table][-1][-1].append("".join(self._cell).strip())
            self._cell = None
        if tag == "table":
            self._table = ""

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._mark is not None:
            self._mark["text"] += data
        if self._cell is not None:
            self._cell.append(data)


def _result(
    cid: str,
    agent: str,
    team: str,
    grade: str,
    qi: float | None,
    ei: float | None,
    turns: list[tuple[str, str]],
    items: dict[str, ItemResult],
    *,
    metrics: Metrics | None = None,
    sentiment: list[TurnSentiment] | None = None,
    flags: list[str] | None = None,
    pii: list[PiiSpan] | None = None,
) -> ConversationResult:
    return ConversationResult(
        id=cid,
        agent_id=agent,
        team=team,
        channel="call",
        started_at=datetime(2026, 3, 2, 9, 0),
        turns=[
            PublicTurn(speaker=s, text=t, start=i * 5.0, end=i * 5.0 + 4.0)  # type: ignore[arg-type]
            for i, (s, t) in enumerate(turns)
        ],
        quality_index=qi,
        emotion_index=ei,
        grade=grade,
        items=items,
        metrics=metrics or Metrics(),
        customer_sentiment=sentiment or [],
        flags=flags or [],
        pii=pii or [],
        versions=Versions(rubric="default-1"),
    )


def _item(
    verdict: Verdict, points: float, max_points: float, *evidence: Evidence, fatal: bool = False
) -> ItemResult:
    return ItemResult(
        verdict=verdict, points=points, max_points=max_points, evidence=list(evidence), fatal=fatal
    )


@pytest.fixture(scope="module")
def results() -> list[ConversationResult]:
    good = _result(
        "c-good",
        "K1",
        "T1",
        "优秀",
        95.0,
        80.0,
        [("agent", "您好，青禾客服，工号幺零幺。"), ("customer", "谢谢，问题解决了。")],
        {
            "greeting": _item(
                "pass", 5, 5, Evidence(turn=0, start=0.0, end=4.0, text="您好", rule="greeting.words")
            ),
            "forbidden_phrase": _item("pass", 15, 15, fatal=True),
            "hold_etiquette": _item("na", 0, 10),
        },
        sentiment=[TurnSentiment(turn=1, label="pos", probs={"neg": 0.05, "neu": 0.15, "pos": 0.8})],
    )
    bad = _result(
        "c-bad",
        "K2",
        "T2",
        "待改进",
        0.0,
        30.0,
        [
            ("agent", "喂？"),
            ("customer", XSS_TURN + IMG),
            ("agent", "那你自己看短信，你自己看不懂吗"),
            ("customer", "我手机号138****5678"),
        ],
        {
            "greeting": _item("fail", 0, 5),
            "forbidden_phrase": _item(
                "fail",
                0,
                15,
                Evidence(turn=2, text="你自己看", rule="banned.lexicon", note="打发客户、让客户自己解决"),
                fatal=True,
            ),
            "empathy": _item(
                "review", 0, 15, Evidence(turn=9, text="不存在的轮次", rule="empathy.next_turn")
            ),
        },
        flags=["fatal:forbidden_phrase", "review"],
        pii=[PiiSpan(turn=3, type="phone", start_char=4, end_char=15)],
        metrics=Metrics(
            negative_words=[Evidence(turn=1, text=IMG, rule="neg.lexicon")],
            silences=[Silence(start=9.0, end=21.5, before_turn=2, speaker_after="agent")],
            overlaps=[Overlap(turn=2, over_turn=1, speaker="agent", start=9.0, end=10.5)],
            negative_word_ratio=SpeakerValue(agent=0.125, customer=0.05),
        ),
    )
    mid = _result(
        "c-mid", "K1", "T1", "良好", 85.0, None, [("agent", "您好")], {"greeting": _item("pass", 5, 5)}
    )
    return [good, bad, mid]


@pytest.fixture(scope="module")
def html(results: list[ConversationResult]) -> str:
    return render_html(results, title="质检报告 <周报>", rubric_version="default-1", generated_at=GENERATED)


@pytest.fixture(scope="module")
def page(html: str) -> Page:
    parsed = Page()
    parsed.feed(html)
    return parsed


def test_evidence_text_is_inside_a_mark_in_its_turn(page: Page) -> None:
    forbidden = [m for m in page.marks if m["text"] == "你自己看"]
    assert len(forbidden) == 1
    mark = forbidden[0]
    assert mark["turn"] == "conv-1-t2"
    assert "ev-fail" in mark["class"].split()
    assert (
        "forbidden_phrase" in mark["title"]
        and "服务禁语" in mark["title"]
        and "banned.lexicon" in mark["title"]
    )
    greeting = next(m for m in page.marks if m["turn"] == "conv-0-t0")
    assert {m["turn"] for m in page.marks if m["turn"]} == {
        "conv-0-t0",
        "conv-1-t1",
        "conv-1-t2",
        "conv-1-t3",
    }
    assert greeting["text"] == "您好" and "ev-pass" in greeting["class"]


def test_untrusted_transcript_is_escaped(html: str, page: Page) -> None:
    assert "script" not in page.tags and "img" not in page.tags
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert XSS_TURN in "".join(page.text)  # shown to the reader as text
    neg = next(m for m in page.marks if "ev-neg" in m["class"] and m["turn"])
    assert neg["text"] == IMG and neg["turn"] == "conv-1-t1"


def test_title_is_escaped(html: str) -> None:
    assert "<title>质检报告 &lt;周报&gt;</title>" in html


def test_pii_span_is_marked_as_masked(page: Page) -> None:
    pii = next(m for m in page.marks if "ev-pii" in m["class"] and m["turn"])
    assert pii == {
        "turn": "conv-1-t3",
        "class": "ev ev-pii",
        "title": "已脱敏 · 手机号",
        "text": "138****5678",
    }


def test_every_internal_link_has_a_target(page: Page) -> None:
    internal = [h[1:] for h in page.hrefs if h.startswith("#")]
    assert "conv-1-t2" in internal  # evidence -> turn
    assert (
        "conv-9-t9" not in internal and "conv-1-t9" not in internal
    )  # no link for a turn that does not exist
    assert set(internal) <= page.ids


def test_agent_summary_counts(page: Page) -> None:
    header, *rows = page.tables["agent-summary"][0]
    assert header[:5] == ["坐席工号", "班组", "会话数", "平均质检分", "平均情绪指数"]
    assert header[5:8] == ["优秀", "良好", "待改进"]
    by_agent = {r[0]: dict(zip(header, r, strict=True)) for r in rows}
    assert by_agent["K1"] == {
        "坐席工号": "K1", "班组": "T1", "会话数": "2", "平均质检分": "90.0", "平均情绪指数": "80.0",
        "优秀": "1", "良好": "1", "待改进": "0", "致命项": "0", "待复核": "0",
    }  # fmt: skip
    assert (
        by_agent["K2"]["会话数"] == "1"
        and by_agent["K2"]["致命项"] == "1"
        and by_agent["K2"]["待复核"] == "1"
    )


def test_scorecard_rows_show_verdicts_points_and_evidence(page: Page) -> None:
    good, bad, mid = page.tables["scorecard"]
    assert [r[0] for r in good[1:]] == [
        "开场问候greeting",
        "服务禁语 致命forbidden_phrase",
        "等待规范hold_etiquette",
    ]
    assert good[3][1:3] == ["不适用", "— / 10"]
    rows = {r[0]: r for r in bad[1:]}
    assert rows["服务禁语 致命forbidden_phrase"][1:3] == ["不通过", "0 / 15"]
    evidence = rows["服务禁语 致命forbidden_phrase"][3]
    assert "第 3 轮" in evidence and "「你自己看」" in evidence and "0:10.0–0:14.0" in evidence
    assert "打发客户、让客户自己解决" in evidence  # the rule's Chinese name; the id stays in small print
    assert rows["情绪安抚empathy"][1] == "待复核" and "未在原文中定位" in rows["情绪安抚empathy"][3]
    assert mid[1:] == [["开场问候greeting", "通过", "5 / 5", ""]]


def test_bad_conversation_header_metrics_and_transcript(html: str, page: Page) -> None:
    section = html.split('id="conv-1"')[1].split('id="conv-2"')[0]
    assert "is-fatal" in html.split('id="conv-1"')[0].rsplit("<section", 1)[1]
    assert "致命项不通过" in section and "fatal:forbidden_phrase" in section
    assert "静默 12.5 秒" in section and "抢话 1.5 秒" in section
    metrics = {row[0]: row[1] for row in page.tables["metrics"][1]}
    assert metrics["负面词占比 坐席 / 客户"] == "12.5% / 5.0%"
    customer_turn = html.split('id="conv-0-t1"')[1].split('class="text"')[0]
    assert "s-pos" in customer_turn and "正面 0.80" in customer_turn


def test_agent_scores_of_any_shape(results: list[ConversationResult]) -> None:
    class Score(BaseModel):
        agent_id: str
        agent_score: float | None
        grade: str
        period_from: datetime | None = None
        components: dict[str, float | None]

    scores = [
        Score(agent_id="K1", agent_score=88.04, grade="良好", components={"quality": 90.0, "emotion": None})
    ]
    page = Page()
    page.feed(
        render_html(results, title="t", rubric_version="1", generated_at=GENERATED, agent_scores=scores)
    )
    header, row = page.tables["agent-scores"][0]
    assert header == ["坐席工号", "综合评分", "等级", "分项得分"]  # the empty period column is left out
    assert row == ["K1", "88.0", "良好", "quality 90.0\nemotion —"]


def test_self_contained(html: str, page: Page) -> None:
    assert "link" not in page.tags and "script" not in page.tags
    assert not [(k, v) for k, v in page.attrs if k == "src" or "://" in v or v.startswith("javascript:")]
    assert "@import" not in html and "url(" not in html
    assert "<style>" in html


def test_empty_report_renders() -> None:
    page = Page()
    page.feed(render_html([], title="空", rubric_version="", generated_at=GENERATED))
    assert page.tables["agent-summary"][0] == [
        ["坐席工号", "班组", "会话数", "平均质检分", "平均情绪指数", "致命项", "待复核"]
    ]
