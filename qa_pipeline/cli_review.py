"""``qa reviews …`` and ``qa agreement``: the human loop from the command line (the operator acts on
the whole store, as the ``system`` admin in the audit log unless a reviewer is named)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from qa_pipeline.access.principal import SYSTEM, Principal
from qa_pipeline.cli_support import errors, settings_from_env
from qa_pipeline.errors import NotFoundError, QAError
from qa_pipeline.evaluation import gold_verdict
from qa_pipeline.review.agreement import report_table
from qa_pipeline.review.config import load_review_config
from qa_pipeline.review.service import ItemVerdictCreate, ReviewCreate, ReviewService
from qa_pipeline.rubric import load_rubric
from qa_pipeline.scoring import load_scoring_config
from qa_pipeline.settings import Settings
from qa_pipeline.store import Repository, init_db
from qa_pipeline.types import ConversationResult

reviews_app = typer.Typer(no_args_is_help=True, help="Reviews: export, import labels, sample.")


@contextmanager
def review_service(settings: Settings) -> Iterator[ReviewService]:
    """A review service on ``QA_DATABASE_URL`` (migrated), disposed after use."""
    engine = init_db(settings.database_url)
    try:
        config = load_review_config(settings.review_config)
        repo = Repository(engine, config)
        yield ReviewService(
            repo, load_scoring_config(settings.scoring_config), config, load_rubric(settings.rubric)
        )
    finally:
        engine.dispose()


@reviews_app.command("export")
def export(out: Annotated[Path, typer.Argument(help="labelled conversations (.jsonl) to write")]) -> None:
    """Every human decision as labelled conversations, in the format `qa eval` and training read."""
    with errors():
        settings = settings_from_env()
        with review_service(settings) as service:
            records = service.export(SYSTEM, client="cli")
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", encoding="utf-8") as fh:
            for rec in records:
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    typer.echo(f"exported {len(records)} reviewed conversations to {out}", err=True)


def _labels(line: str) -> tuple[str, dict[str, Any]] | None:
    try:
        data: Any = json.loads(line)
    except (json.JSONDecodeError, RecursionError):
        typer.echo("skipped: a line that is not JSON", err=True)
        return None
    labels = data.get("labels") if isinstance(data, dict) else None
    if not isinstance(labels, dict) or not isinstance(data.get("id"), str):
        return None
    return data["id"], labels


@reviews_app.command("import-labels")
def import_labels(
    labelled: Annotated[Path, typer.Argument(help="labelled conversations (.jsonl) already audited")],
    reviewer: Annotated[
        str, typer.Option(help="the name the decisions are recorded under")
    ] = "labels-import",
) -> None:
    """Record a labelled set's labels as human decisions on the stored conversations (a review set)."""
    who = Principal(user_id=0, name=reviewer, role="qa")
    done = skipped = 0
    with errors():
        settings = settings_from_env()
        with review_service(settings) as service:
            for line in labelled.read_text(encoding="utf-8-sig").splitlines():
                parsed = _labels(line) if line.strip() else None
                if parsed is None:
                    continue
                ok = _import_one(service, who, *parsed)
                done, skipped = done + ok, skipped + (not ok)
    typer.echo(f"recorded labels of {done} conversations as reviews; skipped {skipped}", err=True)


def _import_one(service: ReviewService, who: Principal, conv_id: str, labels: dict[str, Any]) -> bool:
    """Labels of the scorecard's items become one review (other label keys, e.g. sentiment, are not items)."""
    try:
        current = service.final_result(None, conv_id)
        verdicts = {k: gold_verdict(labels, k, record=conv_id) for k in labels if k in current.items}
        items = {k: ItemVerdictCreate(verdict=v) for k, v in verdicts.items() if v is not None}  # type: ignore[arg-type]
        if not items:
            typer.echo(f"skipped: conversation {conv_id!r} has no label for a scorecard item", err=True)
            return False
        service.review(who, conv_id, ReviewCreate(items=items, comment="labels import"), client="cli")
    except QAError as exc:
        typer.echo(f"skipped: {exc.message}", err=True)
        return False
    return True


@reviews_app.command("sample")
def sample(
    from_: Annotated[str | None, typer.Option("--from", help="first local date, e.g. 2026-04-01")] = None,
    to: Annotated[str | None, typer.Option("--to", help="local date after the last one")] = None,
) -> None:
    """Queue the least certain unflagged conversations: review config sampling.per_agent per agent and
    sampling.period (uncertainty sampling). Safe to run again: nothing is queued twice."""
    from sqlalchemy.orm import Session

    from qa_pipeline.periods import check_order, parse_bound
    from qa_pipeline.store.sampling import sample_uncertain

    with errors():
        settings = settings_from_env()
        start, end = parse_bound(from_, "--from", settings.tz), parse_bound(to, "--to", settings.tz)
        check_order(start, end)
        with review_service(settings) as service, Session(service.engine) as session, session.begin():
            added = sample_uncertain(session, service.config, settings.tz, start, end)
    typer.echo(f"queued {added} conversations for review by uncertainty sampling", err=True)


def agreement(
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the report as JSON")] = None,
) -> None:
    """Per item and rule: how often humans confirmed the machine, precision/recall of fail, kappa."""
    with errors():
        settings = settings_from_env()
        with review_service(settings) as service:
            report = service.agreement(SYSTEM, settings.tz)
        if json_out is not None:
            json_out.write_text(report.model_dump_json(indent=2), encoding="utf-8")
    typer.echo(report_table(report))


def stored_pairs(
    labelled: list[tuple[str, dict[str, Any]]], settings: Settings
) -> tuple[list[tuple[dict[str, Any], ConversationResult]], list[str]]:
    """(labels, stored result with human verdicts in force) for ``qa eval --stored``; ids not stored."""
    pairs, missing = [], []
    with review_service(settings) as service:
        for conv_id, labels in labelled:
            try:
                pairs.append((labels, service.final_result(None, conv_id)))
            except NotFoundError:
                missing.append(conv_id)
    return pairs, missing
