"""Golden-set evaluation: exact figures on hand-built labels and predictions."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from qa_pipeline.errors import E, InputError
from qa_pipeline.evaluation import (
    ITEM_IDS,
    EvalReport,
    Thresholds,
    check,
    evaluate,
    gold_verdict,
    predicted_interruptions,
)
from qa_pipeline.types import (
    ConversationResult,
    ItemResult,
    Metrics,
    Overlap,
    PublicTurn,
    TurnSentiment,
    Versions,
)

ROOT = Path(__file__).resolve().parent.parent


def make_result(
    items: dict[str, str],
    *,
    cid: str = "x",
    speakers: str = "ac",
    sentiment: dict[int, str] | None = None,
    overlaps: list[Overlap] | None = None,
    channel: str = "call",
) -> ConversationResult:
    """A prediction: ``items`` maps item id -> verdict; ``speakers`` is a/c per turn."""
    turns = [
        PublicTurn(speaker="agent" if s == "a" else "customer", text=f"turn {i}", start=i, end=i + 0.5)
        for i, s in enumerate(speakers)
    ]
    return ConversationResult(
        id=cid,
        agent_id="A1",
        channel=channel,  # type: ignore[arg-type]
        turns=turns,
        quality_index=None,
        emotion_index=None,
        grade=None,
        items={k: ItemResult(verdict=v, points=0, max_points=5) for k, v in items.items()},  # type: ignore[arg-type]
        metrics=Metrics(overlaps=overlaps or []),
        customer_sentiment=[
            TurnSentiment(turn=t, label=lab, probs={lab: 1.0}) for t, lab in (sentiment or {}).items()
        ],
        flags=[],
        pii=[],
        versions=Versions(),
    )


def fp_pairs(gold: list[str], pred: list[str]) -> list[tuple[dict[str, Any], ConversationResult]]:
    return [
        (
            {"forbidden_phrase": {"verdict": g, "turns": [], "phrases": []}},
            make_result({"forbidden_phrase": p}),
        )
        for g, p in zip(gold, pred, strict=True)
    ]


# --------------------------------------------------------------------------- per-item figures


def test_fail_class_precision_recall_f1_and_confusion() -> None:
    report = evaluate(
        fp_pairs(["fail", "fail", "pass", "pass", "fail"], ["fail", "pass", "fail", "pass", "fail"])
    )
    r = report.items["forbidden_phrase"]
    assert (r.n, r.correct, r.tp, r.fp, r.fn) == (5, 3, 2, 1, 1)
    assert r.agreement == pytest.approx(0.6)
    assert r.precision == pytest.approx(2 / 3)
    assert r.recall == pytest.approx(2 / 3)
    assert r.f1 == pytest.approx(2 / 3)
    assert r.confusion["fail"] == {"pass": 1, "fail": 2, "na": 0}
    assert r.confusion["pass"] == {"pass": 1, "fail": 1, "na": 0}
    assert r.confusion["na"] == {"pass": 0, "fail": 0, "na": 0}
    assert report.forbidden_phrase_recall == pytest.approx(2 / 3)


def test_zero_division_gives_none_not_a_crash() -> None:
    all_pass = evaluate(fp_pairs(["pass", "pass"], ["pass", "pass"])).items["forbidden_phrase"]
    assert all_pass.agreement == 1.0
    assert (all_pass.precision, all_pass.recall, all_pass.f1) == (None, None, None)
    false_alarm = evaluate(fp_pairs(["pass", "pass"], ["fail", "pass"])).items["forbidden_phrase"]
    assert (false_alarm.precision, false_alarm.recall, false_alarm.f1) == (0.0, None, 0.0)
    all_missed = evaluate(fp_pairs(["fail"], ["pass"])).items["forbidden_phrase"]
    assert (all_missed.precision, all_missed.recall, all_missed.f1) == (None, 0.0, 0.0)


def test_unlabelled_items_have_no_agreement_and_are_left_out_of_macro() -> None:
    pairs = [
        ({"greeting": "pass", "closing": "fail"}, make_result({"greeting": "pass", "closing": "pass"})),
        ({"greeting": "fail", "closing": "fail"}, make_result({"greeting": "fail", "closing": "fail"})),
    ]
    report = evaluate(pairs)
    assert report.items["greeting"].agreement == 1.0
    assert report.items["closing"].agreement == 0.5
    assert report.items["empathy"].n == 0 and report.items["empathy"].agreement is None
    assert report.macro_agreement == pytest.approx(0.75)
    assert set(report.items) == set(ITEM_IDS)


def test_missing_prediction_counts_as_na_and_is_reported() -> None:
    report = evaluate([({"hold_etiquette": "na", "empathy": "fail"}, make_result({}))])
    assert report.items["hold_etiquette"].agreement == 1.0
    assert report.items["hold_etiquette"].missing == 1
    assert report.items["empathy"].confusion["fail"]["na"] == 1
    assert report.items["empathy"].recall == 0.0


# --------------------------------------------------------------------------- review policy


@pytest.mark.parametrize(
    ("policy", "agreement", "tp", "fp"),
    [("fail", 0.5, 1, 1), ("pass", 0.5, 0, 0), ("na", 0.0, 0, 0), ("keep", 0.0, 0, 0)],
)
def test_review_policy(policy: str, agreement: float, tp: int, fp: int) -> None:
    report = evaluate(fp_pairs(["fail", "pass"], ["review", "review"]), review_as=policy)  # type: ignore[arg-type]
    r = report.items["forbidden_phrase"]
    assert (r.agreement, r.tp, r.fp) == (agreement, tp, fp)
    assert ("review" in r.confusion["fail"]) is (policy == "keep")


def test_keep_policy_adds_a_review_column() -> None:
    r = evaluate(fp_pairs(["fail"], ["review"]), review_as="keep").items["forbidden_phrase"]
    assert r.confusion["fail"] == {"pass": 0, "fail": 0, "na": 0, "review": 1}
    assert r.recall == 0.0


def test_unknown_review_policy_is_a_typed_error() -> None:
    with pytest.raises(InputError) as err:
        evaluate(fp_pairs(["fail"], ["fail"]), review_as="maybe")  # type: ignore[arg-type]
    assert err.value.code is E.BAD_REQUEST


# --------------------------------------------------------------------------- sentiment and counts


def test_customer_sentiment_aligns_with_customer_turns_in_order() -> None:
    aligned = make_result({}, cid="ok", speakers="acacac", sentiment={1: "neg", 3: "neg", 5: "pos"})
    misaligned = make_result({}, cid="bad", speakers="acac", sentiment={1: "neg", 3: "neu"})
    unpredicted = make_result({}, cid="none", speakers="ac")
    report = evaluate(
        [
            ({"customer_sentiment": ["neg", "neu", "pos"]}, aligned),
            ({"customer_sentiment": ["neg", "neu", "neu"]}, misaligned),
            ({"customer_sentiment": ["neu"]}, unpredicted),
        ]
    )
    s = report.sentiment
    assert (s.n_turns, s.correct, s.conversations, s.misaligned) == (3, 2, 1, 1)
    assert s.agreement == pytest.approx(2 / 3)
    assert s.confusion["neu"]["neg"] == 1


def test_interruption_count_exact_match() -> None:
    overlaps = [
        Overlap(turn=2, over_turn=1, speaker="agent", start=3.0, end=4.5),  # 1.5 s: counts
        Overlap(turn=4, over_turn=3, speaker="agent", start=8.0, end=8.4),  # 0.4 s: too short
        Overlap(turn=3, over_turn=2, speaker="customer", start=6.0, end=8.0),  # customer: no
    ]
    call = make_result({"interruption": "fail"}, speakers="acaca", overlaps=overlaps)
    assert predicted_interruptions(call) == 1
    chat = make_result({"interruption": "na"}, channel="chat")
    report = evaluate(
        [
            ({"interruption": {"verdict": "fail", "count": 1}}, call),
            ({"interruption": {"verdict": "fail", "count": 3}}, call),
            ({"interruption": {"verdict": "na", "count": 0}}, chat),
        ]
    )
    c = report.interruption_count
    assert (c.n, c.exact, c.rate, c.mean_abs_error) == (2, 1, 0.5, 1.0)
    assert report.items["interruption"].agreement == 1.0


# --------------------------------------------------------------------------- bad input


def test_bad_gold_verdict_names_the_field_and_conversation() -> None:
    with pytest.raises(InputError) as err:
        evaluate([({"greeting": "ok"}, make_result({}, cid="c42"))])
    assert err.value.code is E.BAD_FIELD
    assert err.value.field == "labels.greeting" and err.value.record == "c42"
    with pytest.raises(InputError, match=r"labels\.objection_handling"):
        gold_verdict({"objection_handling": {"objections": []}}, "objection_handling")


def test_bad_labels_object_and_count() -> None:
    with pytest.raises(InputError) as err:
        evaluate([(["pass"], make_result({}))])  # type: ignore[list-item]
    assert err.value.field == "labels"
    with pytest.raises(InputError) as err:
        evaluate([({"interruption": {"verdict": "fail", "count": "two"}}, make_result({}))])
    assert err.value.field == "labels.interruption.count"


def test_no_pairs_is_labels_missing() -> None:
    with pytest.raises(InputError) as err:
        evaluate([])
    assert err.value.code is E.LABELS_MISSING


# --------------------------------------------------------------------------- thresholds


def test_thresholds_parse() -> None:
    t = Thresholds.parse(["macro=0.9", "min=0.8,forbidden_phrase.recall=0.95", " empathy=0.85 "])
    assert [r.spec for r in t.rules] == [
        "macro=0.9",
        "min=0.8",
        "forbidden_phrase.recall=0.95",
        "empathy=0.85",
    ]
    assert t.rules[2].metric == "recall" and t.rules[3].metric == "agreement"


@pytest.mark.parametrize(
    "spec", ["macro", "macro=high", "macro=90", "greting=0.9", "empathy.accuracy=0.9", "macro.recall=0.9"]
)
def test_bad_thresholds_are_typed_errors(spec: str) -> None:
    with pytest.raises(InputError) as err:
        Thresholds.parse([spec])
    assert err.value.code is E.BAD_REQUEST
    assert spec in str(err.value)


def _report_for_check() -> EvalReport:
    pairs = [
        (
            {"greeting": "pass", "empathy": "fail", "forbidden_phrase": "fail"},
            make_result({"greeting": "pass", "empathy": "pass", "forbidden_phrase": "fail"}),
        ),
        (
            {"greeting": "pass", "empathy": "pass", "forbidden_phrase": "pass"},
            make_result({"greeting": "pass", "empathy": "pass", "forbidden_phrase": "pass"}),
        ),
    ]
    return evaluate(pairs)


def test_check_reports_each_violation() -> None:
    report = _report_for_check()  # greeting 1.0, empathy 0.5, forbidden_phrase 1.0 -> macro 5/6
    assert check(report, Thresholds.parse(["macro=0.8", "forbidden_phrase.recall=1", "greeting=1"])) == []
    violations = check(report, Thresholds.parse(["macro=0.9", "min=0.8", "empathy.recall=0.5"]))
    assert violations == [
        "macro agreement 0.833 < 0.9 (macro=0.9)",
        "empathy agreement 0.500 < 0.8 (min=0.8)",
        "empathy recall 0.000 < 0.5 (empathy.recall=0.5)",
    ]


def test_check_treats_undefined_figures_as_violations() -> None:
    report = _report_for_check()
    violations = check(report, Thresholds.parse(["greeting.recall=0.9", "sentiment=0.5", "closing=0.5"]))
    assert len(violations) == 3
    assert all("undefined" in v for v in violations)


# --------------------------------------------------------------------------- output


def test_table_and_json() -> None:
    report = evaluate(fp_pairs(["fail", "pass"], ["fail", "review"]), review_as="keep")
    table = report.to_table()
    row = next(line for line in table.splitlines() if line.startswith("forbidden_phrase "))
    assert row.split() == ["forbidden_phrase", "2", "0.500", "0.00-1.00", "1.000", "1.000", "1.000", "0"]
    assert "kept as its own column" in table
    assert "review" in table.split("Confusion matrices")[1]
    assert "greeting" in table and "(key figure; 95% CI" in table
    data = json.loads(report.to_json())
    assert data["forbidden_phrase_recall"] == 1.0
    assert data["items"]["forbidden_phrase"]["confusion"]["pass"]["review"] == 1
    assert (
        data["items"]["greeting"]["agreement"] is None and data["items"]["greeting"]["agreement_ci"] is None
    )
    assert data["items"]["forbidden_phrase"]["agreement_ci"] == {"low": 0.0, "high": 1.0}


# --------------------------------------------------------------------------- real label files


def _perfect_prediction(record: dict[str, Any]) -> ConversationResult:
    """A prediction that copies the gold labels: every figure must come out perfect."""
    labels = record["labels"]
    items = {i: gold_verdict(labels, i) or "na" for i in ITEM_IDS}
    speakers = "".join("a" if t["speaker"] == "agent" else "c" for t in record["turns"])
    customer = [i for i, s in enumerate(speakers) if s == "c"]
    sentiment = dict(zip(customer, labels["customer_sentiment"], strict=True))
    count = labels["interruption"]["count"]
    overlaps = [Overlap(turn=0, over_turn=0, speaker="agent", start=0, end=2) for _ in range(count)]
    return make_result(
        items,
        cid=record["id"],
        speakers=speakers,
        sentiment=sentiment,
        overlaps=overlaps,
        channel=record["channel"],
    )


def _load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.data
def test_dev_labels_parse_and_a_perfect_prediction_scores_one(dialogues_path: Path) -> None:
    records = _load(dialogues_path)
    report = evaluate((r["labels"], _perfect_prediction(r)) for r in records)
    assert report.n_conversations == len(records) == 80
    assert all(r.n == 80 and r.agreement == 1.0 for r in report.items.values())
    assert report.forbidden_phrase_recall == 1.0
    assert report.sentiment.agreement == 1.0 and report.sentiment.misaligned == 0
    assert report.interruption_count.rate == 1.0 and report.interruption_count.n == 48


def test_example_labels_parse_and_a_perfect_prediction_scores_one() -> None:
    records = _load(ROOT / "examples" / "conversations.jsonl")
    report = evaluate((r["labels"], _perfect_prediction(r)) for r in records)
    assert report.macro_agreement == 1.0 and report.sentiment.misaligned == 0
    assert all(r.n == len(records) for r in report.items.values())
    assert report.items["forbidden_phrase"].tp >= 1


# --------------------------------------------------------------------------- the project's examples


def _example_records() -> list[dict[str, Any]]:
    return _load(ROOT / "examples" / "conversations.jsonl")


def _interruptions(turns: list[dict[str, Any]]) -> int:
    """Agent turns starting inside an earlier customer turn with more than 1 s of overlap."""
    count = 0
    for j, t in enumerate(turns):
        if t["speaker"] == "agent" and any(
            c["speaker"] == "customer"
            and c["start"] < t["start"]
            and min(c["end"], t["end"]) - t["start"] > 1.0
            for c in turns[:j]
        ):
            count += 1
    return count


def _has_hold(record: dict[str, Any]) -> bool:
    turns = record["turns"]
    for j in range(1, len(turns)):
        if turns[j]["speaker"] != "agent":
            continue
        if record["channel"] == "call" and turns[j]["start"] - max(t["end"] for t in turns[:j]) > 10:
            return True
        if record["channel"] == "chat" and turns[j]["start"] - turns[j - 1]["start"] > 60:
            return True
    return False


@pytest.mark.parametrize("record", _example_records(), ids=lambda r: r["id"])
def test_example_labels_agree_with_text_and_timing(record: dict[str, Any]) -> None:
    turns, labels = record["turns"], record["labels"]
    assert len(labels["customer_sentiment"]) == sum(t["speaker"] == "customer" for t in turns)
    for p in labels["pii"]:
        assert p["text"] in turns[p["turn"]]["text"] and turns[p["turn"]]["speaker"] == "customer"
    fp = labels["forbidden_phrase"]
    assert all(turns[i]["speaker"] == "agent" for i in fp["turns"])
    assert all(any(p in turns[i]["text"] for i in fp["turns"]) for p in fp["phrases"])
    assert (fp["verdict"] == "fail") is bool(fp["phrases"])
    assert all(turns[o["turn"]]["speaker"] == "customer" for o in labels["objection_handling"]["objections"])
    assert (labels["hold_etiquette"] != "na") is _has_hold(record)
    if record["channel"] == "chat":
        assert all(t["start"] == t["end"] for t in turns)
        assert labels["interruption"] == {"verdict": "na", "count": 0}
    else:
        assert all(t["start"] < t["end"] for t in turns)
        assert labels["interruption"]["count"] == _interruptions(turns)
        assert (labels["interruption"]["verdict"] == "fail") is (labels["interruption"]["count"] > 0)


def test_examples_cover_agents_teams_channels_and_two_weeks() -> None:
    records = _example_records()
    assert len({r["agent_id"] for r in records}) >= 3 and len({r["team"] for r in records}) >= 2
    assert {r["channel"] for r in records} == {"call", "chat"}
    dates = sorted(datetime.fromisoformat(r["started_at"]) for r in records)
    assert dates[0].year == dates[-1].year == 2026
    assert (dates[-1] - dates[0]).days >= 7
    assert {p["type"] for r in records for p in r["labels"]["pii"]} >= {"phone", "bank_card"}


def test_csv_example_is_gbk_with_the_documented_columns() -> None:
    raw = (ROOT / "examples" / "chat_export_gbk.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(raw.decode("gbk"))))
    assert list(rows[0]) == ["会话ID", "时间", "角色", "内容", "坐席工号"]
    assert {r["角色"] for r in rows} == {"客服", "客户"}
    assert len({r["会话ID"] for r in rows}) == 2
    mapping = "id=会话ID,time=时间,speaker=角色,text=内容,agent_id=坐席工号"
    assert mapping in (ROOT / "examples" / "README.md").read_text(encoding="utf-8")
