"""``qa reviews`` / ``qa agreement`` / ``qa eval --stored`` on a review set made from the dev dialogues
(their labels taken as the human decisions), and ``qa users``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qa_pipeline.cli import app
from qa_pipeline.review.agreement import AgreementReport

runner = CliRunner()


def _ok(*args: str, input: str | None = None) -> str:
    result = runner.invoke(app, list(args), input=input)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.slow
@pytest.mark.data
def test_a_review_set_from_the_dev_labels(env: Path, dialogues_path: Path) -> None:
    _ok("audit", str(dialogues_path))
    assert "recorded labels of 80 conversations" in _ok("reviews", "import-labels", str(dialogues_path))
    _ok("reviews", "export", "review-set.jsonl")
    exported = [
        json.loads(line) for line in (env / "review-set.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert len(exported) == 80 and all(r["labels"] and r["turns"] for r in exported)
    # read back against the stored results (human verdicts in force): the humans agree with themselves
    stored = runner.invoke(app, ["eval", "review-set.jsonl", "--stored", "--json", "stored.json"])
    assert json.loads((env / "stored.json").read_text())["macro_agreement"] == 1.0, stored.output
    # the agreement report's per-item figures are what qa eval prints for the machine
    runner.invoke(app, ["eval", str(dialogues_path), "--json", "machine.json"])
    machine = json.loads((env / "machine.json").read_text())["items"]
    _ok("agreement", "--json", "agreement.json")
    report = AgreementReport.model_validate_json((env / "agreement.json").read_text())
    assert {i.item for i in report.items} == set(machine)
    for item in report.items:
        assert item.agreement == pytest.approx(machine[item.item]["agreement"])
        assert item.precision == pytest.approx(machine[item.item]["precision"])
        assert item.recall == pytest.approx(machine[item.item]["recall"])
        assert (
            item.agreement_ci is not None
            and item.agreement_ci.low <= item.agreement <= item.agreement_ci.high
        )


def test_users_add_prints_the_token_last_and_lists(env: Path) -> None:
    out = runner.invoke(
        app,
        ["users", "add", "sup1", "--role", "supervisor", "--team", "T1", "--password-stdin"],
        input="s3cret-pass\n",
    )
    assert out.exit_code == 0, out.output
    token = out.stdout.strip().splitlines()[-1]
    assert token.startswith("qa_")
    listed = _ok("users", "list")
    assert "sup1\tsupervisor\tT1" in listed
    assert _ok("users", "token", "sup1").strip().splitlines()[-1].startswith("qa_")
    assert "revoked 2 token(s)" in _ok("users", "revoke", "sup1")
    bad = runner.invoke(app, ["users", "add", "x", "--role", "boss"])
    assert bad.exit_code == 2 and "role" in bad.output
    log = [json.loads(line) for line in _ok("audit-log").splitlines() if line.startswith("{")]
    assert [e["action"] for e in log][:3] == ["user_revoke", "token_issue", "user_add"]
