"""The ``qa`` command line: thin — parse arguments, call the library, print.

qa audit PATH... [--rubric R] [--json OUT.jsonl] [--html OUT.html]   (recordings: pipeline.audio.yaml)
qa eval LABELLED.jsonl [--rubric R] [--threshold macro=0.9 ...]
qa classify sentiment --input FILE [--output OUT.jsonl]
qa serve [--host H] [--port P]
qa db upgrade
qa stages
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any

import typer
from tqdm import tqdm

from qa_pipeline.audit import Auditor, AuditSummary
from qa_pipeline.batch import AudioProgress, ByInputPipeline
from qa_pipeline.cli_access import audit_log, users_app
from qa_pipeline.cli_review import agreement, reviews_app
from qa_pipeline.cli_support import EXIT_PROBLEMS
from qa_pipeline.cli_support import errors as _errors
from qa_pipeline.cli_support import settings_from_env as _settings
from qa_pipeline.cli_worker import worker
from qa_pipeline.errors import E, InputError, QAError
from qa_pipeline.evaluation import ReviewPolicy
from qa_pipeline.pipeline import (
    Pipeline,
    registry,
)
from qa_pipeline.settings import Settings
from qa_pipeline.store import Repository
from qa_pipeline.types import Conversation, ConversationResult

if TYPE_CHECKING:
    from qa_pipeline.evaluation_audio import AudioComparison

log = logging.getLogger("qa")
app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Quality inspection for Chinese customer service."
)
db_app = typer.Typer(no_args_is_help=True, help="Database maintenance.")
classify_app = typer.Typer(no_args_is_help=True, help="Run a text classifier over one text per line.")
app.add_typer(db_app, name="db")
app.add_typer(classify_app, name="classify")
app.add_typer(users_app, name="users")
app.add_typer(reviews_app, name="reviews")
app.command()(worker)
app.command("audit-log")(audit_log)
app.command("agreement")(agreement)


RubricOpt = Annotated[
    Path | None, typer.Option("--rubric", help="rubric YAML (default: QA_RUBRIC or rubrics/default.yaml)")
]
CsvMapOpt = Annotated[
    str | None, typer.Option("--csv-map", help="CSV columns, e.g. id=会话ID,time=时间,speaker=角色,text=内容")
]
EncodingOpt = Annotated[
    str | None, typer.Option("--encoding", help="force an input encoding (default: detect)")
]
SpeakerMapOpt = Annotated[
    str | None, typer.Option("--speaker-map", help="extra CSV speaker values, e.g. 坐席=agent,访客=customer")
]


def _check_output(path: Path | None, option: str) -> None:
    """Fail before any work when ``path`` cannot be written as a file (a folder, a file as parent)."""
    if path is None:
        return
    if path.is_dir():
        raise InputError(E.BAD_REQUEST, f"{path} is a folder; give a file name", field=option)
    parent = next((p for p in path.absolute().parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise InputError(E.BAD_REQUEST, f"cannot create {path}: {parent} is a file", field=option)
    target = path if path.exists() else parent
    if target is not None and not os.access(target, os.W_OK):
        raise InputError(E.BAD_REQUEST, f"{target} is not writable", field=option)


def _read(
    paths: list[Path],
    settings: Settings,
    csv_map: str | None,
    encoding: str | None,
    speaker_map: str | None = None,
) -> Iterator[Conversation | QAError]:
    from qa_pipeline.sources import read_conversations
    from qa_pipeline.sources.csv_chat import CsvMapping

    mapping = None
    if csv_map or speaker_map:
        mapping = CsvMapping.parse(csv_map or "", speaker_map=speaker_map)
    return read_conversations(paths, settings=settings, csv_mapping=mapping, encoding=encoding)


def _report_problems(summary: AuditSummary) -> None:
    for p in summary.problems:
        typer.echo(f"skipped: {p.error.message}", err=True)


@app.command()
def audit(
    paths: Annotated[
        list[Path],
        typer.Argument(help="conversations (.jsonl/.json/.csv), recordings (.wav/.mp3/...) or folders"),
    ],
    rubric: RubricOpt = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="write one JSON object per conversation")
    ] = None,
    html_out: Annotated[
        Path | None, typer.Option("--html", help="write a human-readable HTML report")
    ] = None,
    csv_map: CsvMapOpt = None,
    speaker_map: SpeakerMapOpt = None,
    encoding: EncodingOpt = None,
    store: Annotated[bool, typer.Option(help="store results in QA_DATABASE_URL")] = True,
) -> None:
    """Audit conversations: score, store and report them.

    Exit status: 0 when every conversation was audited; 2 on a bad argument, setting or output
    path (nothing is audited); 3 when some records were skipped (reported on stderr) or when no
    conversation was found at all (an empty file or folder, a CSV with only a header).
    """
    with _errors():
        settings = _settings(rubric)
        _check_output(json_out, "--json")
        _check_output(html_out, "--html")
        items = _read(paths, settings, csv_map, encoding, speaker_map)
        summary, results = _audit(items, settings, store, json_out)
        if html_out is not None:
            _write_html(results, settings, html_out)
    _report_problems(summary)
    if summary.audited == 0 and summary.ok:
        typer.echo(
            f"no conversations found in {', '.join(map(str, paths))} (an empty file or folder, or a CSV "
            "with only its header): nothing audited (exit 3)",
            err=True,
        )
        raise typer.Exit(EXIT_PROBLEMS)
    stored = ", ".join(f"{k} {v}" for k, v in sorted(summary.stored.items())) or "not stored"
    typer.echo(
        f"audited {summary.audited} conversations ({stored}); skipped {len(summary.problems)}", err=True
    )
    if not summary.ok:
        raise typer.Exit(EXIT_PROBLEMS)


def audit_batch_size(settings: Settings) -> int:
    """Conversations per audit batch: ``batch_size`` for each worker process (at most 4,096)."""
    return min(4096, settings.batch_size * settings.workers)


def _audit(
    items: Iterator[Conversation | QAError], settings: Settings, store: bool, json_out: Path | None
) -> tuple[AuditSummary, list[ConversationResult]]:
    first = next(items, None)
    if first is None:  # nothing to audit: no models to load, no database to open
        with _open_out(json_out, "--json"):
            return AuditSummary(), []
    pipeline = ByInputPipeline(settings)
    results: list[ConversationResult] = []
    with (
        closing(pipeline),
        _repository(settings, store) as repository,
        _open_out(json_out, "--json") as out,
        tqdm(desc="auditing", unit="conv", disable=None) as bar,
    ):
        audio = AudioProgress(bar)

        def done(conv: Conversation) -> None:
            audio.add(conv)
            result = conv.to_result()
            results.append(result)
            if out is not None:
                out.write(result.model_dump_json() + "\n")

        auditor = Auditor(pipeline, repository, audit_batch_size(settings))
        summary = auditor.run(chain([first], items), on_done=done, on_item=bar.update)
    return summary, results


@contextmanager
def _repository(settings: Settings, store: bool) -> Iterator[Repository | None]:
    """The result store (migrated to head), or None with ``--no-store``; its engine is disposed after."""
    if not store:
        yield None
        return
    from qa_pipeline.store import describe_database, init_db

    typer.echo(f"storing results in {describe_database(settings.database_url)}", err=True)
    engine = init_db(settings.database_url)
    try:
        yield Repository(engine)
    finally:
        engine.dispose()


@contextmanager
def _open_out(path: Path | None, option: str) -> Iterator[IO[str] | None]:
    if path is None:
        yield None
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = path.open("w", encoding="utf-8")
    except OSError as exc:
        raise _write_error(path, option, exc) from exc
    with fh:
        yield fh


def _write_text(path: Path, text: str, option: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise _write_error(path, option, exc) from exc


def _write_error(path: Path, option: str, exc: OSError) -> InputError:
    return InputError(E.BAD_REQUEST, f"cannot write {path}: {exc.strerror or exc}", field=option)


def _write_html(results: list[ConversationResult], settings: Settings, path: Path) -> None:
    from qa_pipeline.report.html import render_html
    from qa_pipeline.scoring import agent_score, load_scoring_config

    config = load_scoring_config(settings.scoring_config)
    agents = sorted({r.agent_id for r in results if r.agent_id})
    scores = [
        agent_score([r for r in results if r.agent_id == a], config=config, agent_id=a, period=(None, None))
        for a in agents
    ]
    version = results[0].versions.rubric if results else ""
    html = render_html(
        results,
        title="质检报告 Quality report",
        rubric_version=version,
        generated_at=datetime.now(UTC),
        agent_scores=scores,
    )
    _write_text(path, html, "--html")
    typer.echo(f"report written to {path}", err=True)


LabelledResult = tuple[dict[str, Any], ConversationResult]


@dataclass
class LabelledResults:
    """Collects ``(gold labels, result)`` pairs for :func:`~qa_pipeline.evaluation.evaluate`.

    Use as the auditor's ``on_done``. Conversations without labels are left out; labels that are
    not an object are kept, so that evaluate() reports them as a typed error.
    """

    pairs: list[LabelledResult] = field(default_factory=list)

    def __call__(self, conv: Conversation) -> None:
        labels: Any = conv.metadata.get("labels")
        if labels:
            self.pairs.append((labels, conv.to_result()))


def _scored_labelled(labelled: list[Path], settings: Settings) -> LabelledResults:
    collected = LabelledResults()
    pipeline = Pipeline.from_config(settings=settings)
    summary = Auditor(pipeline, None, settings.batch_size).run(
        _read(labelled, settings, None, None), on_done=collected
    )
    _report_problems(summary)
    return collected


def _stored_labelled(labelled: list[Path], settings: Settings) -> LabelledResults:
    from qa_pipeline.cli_review import stored_pairs

    wanted = [
        (item.id, item.metadata["labels"])
        for item in _read(labelled, settings, None, None)
        if isinstance(item, Conversation) and isinstance(item.metadata.get("labels"), dict)
    ]
    pairs, missing = stored_pairs(wanted, settings)
    for conv_id in missing:
        typer.echo(f"skipped: conversation {conv_id!r} is not stored (audit it first)", err=True)
    return LabelledResults(pairs)


@app.command("eval")
def eval_(
    labelled: Annotated[
        list[Path], typer.Argument(help="labelled conversations (.jsonl with a 'labels' object)")
    ],
    rubric: RubricOpt = None,
    threshold: Annotated[
        list[str] | None,
        typer.Option(
            "--threshold", "-t", help="minimum, e.g. macro=0.9, min=0.8, forbidden_phrase.recall=0.95"
        ),
    ] = None,
    review_as: Annotated[ReviewPolicy, typer.Option(help="count 'review' verdicts as")] = "fail",
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the report as JSON")] = None,
    errors_out: Annotated[
        Path | None,
        typer.Option("--errors", help="also write each disagreement with its evidence (JSON Lines)"),
    ] = None,
    audio: Annotated[
        Path | None,
        typer.Option("--audio", help="folder of recordings <id>.wav|mp3|...: also score them, show the gap"),
    ] = None,
    max_gap: Annotated[
        float | None,
        typer.Option("--max-gap", help="with --audio: fail if an item's text-audio gap is larger"),
    ] = None,
    stored: Annotated[
        bool,
        typer.Option(
            "--stored", help="compare with the stored results (human verdicts in force) instead of re-scoring"
        ),
    ] = False,
) -> None:
    """Golden-set regression: per-item agreement, fail precision/recall/F1, confusion matrices.

    With ``--audio DIR`` the labelled conversations that have a recording there are also scored from
    the recording (speech recognition first): per-item agreement on text vs audio, and the CER.
    """
    from qa_pipeline.evaluation import Thresholds, check, evaluate

    with _errors():
        settings = _settings(rubric)
        limits = Thresholds.parse(threshold or [])
        _check_output(json_out, "--json")
        _check_output(errors_out, "--errors")
        labelled_results = (
            _stored_labelled(labelled, settings) if stored else _scored_labelled(labelled, settings)
        )
        report = evaluate(labelled_results.pairs, review_as=review_as)
        typer.echo(report.to_table())
        if json_out is not None:
            _write_text(json_out, report.to_json(), "--json")
        if errors_out is not None:
            _write_disagreements(errors_out, labelled_results.pairs, review_as)
        comparison = None
        if audio is not None:
            comparison = _eval_audio(labelled, audio, settings, labelled_results.pairs, review_as)
            typer.echo(comparison.to_table())
    violations = check(report, limits)
    if comparison is not None and max_gap is not None and comparison.max_gap() > max_gap:
        violations.append(f"text-audio gap {comparison.max_gap():.3f} > {max_gap}")
    for v in violations:
        typer.echo(f"below threshold: {v}", err=True)
    if violations:
        raise typer.Exit(1)


def _write_disagreements(path: Path, pairs: list[LabelledResult], review_as: ReviewPolicy) -> None:
    from qa_pipeline.evaluation_errors import disagreements, to_jsonl

    rows = disagreements(pairs, review_as=review_as)
    _write_text(path, to_jsonl(rows), "--errors")
    typer.echo(f"{len(rows)} disagreements with their evidence written to {path}")


def _eval_audio(
    labelled: list[Path],
    audio_dir: Path,
    settings: Settings,
    text_pairs: list[LabelledResult],
    review_as: ReviewPolicy,
) -> AudioComparison:
    from qa_pipeline.evaluation_audio import AudioResults, audio_twins, compare

    if not audio_dir.is_dir():
        raise InputError(E.FILE_NOT_FOUND, f"--audio {audio_dir} is not a folder", file=str(audio_dir))
    texts = (c for c in _read(labelled, settings, None, None) if isinstance(c, Conversation))
    twins = audio_twins(texts, audio_dir, settings)
    for problem in twins.problems:
        typer.echo(f"skipped recording: {problem}", err=True)
    collected = AudioResults(twins.references)
    summary = Auditor(ByInputPipeline(settings), None, audit_batch_size(settings)).run(
        iter(twins.conversations), on_done=collected
    )
    _report_problems(summary)
    return compare(text_pairs, collected.pairs, collected.cer_rows, review_as)


InputOpt = Annotated[Path, typer.Option("--input", "-i", help="one text per line")]
OutputOpt = Annotated[Path | None, typer.Option("--output", "-o", help="JSON lines (default: stdout)")]
ModelOpt = Annotated[str | None, typer.Option(help="model folder under QA_MODELS_DIR, or a path")]


@classify_app.command("sentiment")
def classify_sentiment(input_: InputOpt, output: OutputOpt = None, model: ModelOpt = None) -> None:
    """Write {"text", "label", "probs": {"neg","neu","pos"}} per input line."""
    _classify(input_, output, model or "sentiment")


@classify_app.command("emotion")
def classify_emotion(input_: InputOpt, output: OutputOpt = None, model: ModelOpt = None) -> None:
    """Write {"text", "label", "probs": {"angry","happy","neutral","sad","surprise","fear"}} per line."""
    _classify(input_, output, model or "emotion")


def _classify(input_: Path, output: Path | None, model: str) -> None:
    from qa_pipeline.classifiers import load_classifier
    from qa_pipeline.classifiers.cli_support import classify_file

    with _errors():
        settings = _settings()
        _check_output(output, "--output")
        classifier = load_classifier(model, models_dir=settings.models_dir)
        with _open_out(output, "--output") as out:
            n = classify_file(input_, classifier, out or sys.stdout)
    typer.echo(f"classified {n} texts", err=True)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="server processes on the port (each loads the pipeline)")
    ] = 1,
) -> None:
    """Start the FastAPI service (OpenAPI docs at /docs)."""
    with _errors():
        settings = _settings()  # before importing the app, which reads the settings on import
    import uvicorn

    from qa_pipeline.store import describe_database, init_db

    typer.echo(f"database: {describe_database(settings.database_url)} (QA_DATABASE_URL)", err=True)
    level = settings.log_level.lower()
    if workers == 1:
        from api.main import create_app

        uvicorn.run(create_app(settings), host=host, port=port, log_level=level)
        return
    with _errors():  # migrate once here, not in every process at the same moment
        init_db(settings.database_url).dispose()
    uvicorn.run("api.main:app", host=host, port=port, workers=workers, log_level=level)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations (QA_DATABASE_URL) up to the latest version."""
    from qa_pipeline.store import init_db

    with _errors():
        settings = _settings()
        engine = init_db(settings.database_url)
    url = engine.url.render_as_string(hide_password=True)
    engine.dispose()
    typer.echo(f"database at {url} is up to date", err=True)


@app.command()
def stages() -> None:
    """List the registered pipeline stages."""
    for name in registry.names():
        typer.echo(name)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
