"""``qa eval --errors``: each disagreement between the labels and the scorecard, with its evidence."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from qa_pipeline.cli import app
from qa_pipeline.evaluation_errors import disagreements, to_jsonl
from qa_pipeline.types import Evidence
from tests.test_evaluation import make_result

ROOT = Path(__file__).resolve().parent.parent


def test_only_the_items_that_disagree_are_listed_with_their_evidence() -> None:
    result = make_result({"greeting": "pass", "empathy": "fail", "forbidden_phrase": "review"}, cid="c1")
    result.items["empathy"].evidence = [Evidence(turn=1, text="太慢了", rule="negative_customer.0")]
    labels = {
        "greeting": "pass",  # agrees: not listed
        "empathy": "pass",
        "forbidden_phrase": {"verdict": "pass", "turns": [], "phrases": []},  # review counted as fail
        "objection_handling": {"verdict": "fail", "objections": []},  # no prediction: read as na
    }
    rows = disagreements([(labels, result)])
    assert [(r.item, r.gold, r.predicted) for r in rows] == [
        ("forbidden_phrase", "pass", "fail"),
        ("empathy", "pass", "fail"),
        ("objection_handling", "fail", "na"),
    ]
    assert rows[1].evidence[0].text == "太慢了" and rows[1].conversation == "c1"
    # a review verdict counted as pass agrees with the label
    assert "forbidden_phrase" not in {r.item for r in disagreements([(labels, result)], review_as="pass")}
    lines = to_jsonl(rows).splitlines()
    assert len(lines) == 3 and json.loads(lines[1])["evidence"][0]["text"] == "太慢了"
    assert "太慢了" in lines[1]  # Chinese kept as is


def test_eval_writes_the_disagreements_of_the_labelled_file(tmp_path: Path) -> None:
    """The example conversations with every greeting label flipped: each one disagrees on greeting."""
    source = ROOT / "examples" / "conversations.jsonl"
    rows = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
    for row in rows:
        row["labels"]["greeting"] = "fail" if row["labels"]["greeting"] == "pass" else "pass"
    flipped = tmp_path / "flipped.jsonl"
    flipped.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "errors.jsonl"
    result = CliRunner().invoke(app, ["eval", str(flipped), "--errors", str(out)])
    assert result.exit_code == 0, result.output
    listed = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    greeting = {r["conversation"] for r in listed if r["item"] == "greeting"}
    assert greeting == {r["id"] for r in rows}
    assert "disagreements with their evidence written to" in result.output
