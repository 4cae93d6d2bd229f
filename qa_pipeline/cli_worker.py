"""``qa worker``: run background jobs outside ``qa serve``.

- ``QA_QUEUE=dramatiq``: starts ``dramatiq qa_pipeline.jobs.dramatiq_worker`` with ``--processes`` and
  ``--threads`` (models load once per process) plus a sweeper thread here (expired leases, lost
  messages). Run it on as many machines as needed; they share PostgreSQL, Redis and the storage folder.
- ``QA_QUEUE=embedded``: ``--threads`` job workers in this process on the same database as ``qa serve``
  (SQLite in WAL mode, or PostgreSQL): more workers on one machine without Redis.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
from types import FrameType
from typing import Annotated

import typer

from qa_pipeline.cli_support import errors as _errors
from qa_pipeline.cli_support import settings_from_env as _settings
from qa_pipeline.settings import Settings

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def worker(
    processes: Annotated[int, typer.Option(min=1, max=64, help="worker processes (dramatiq)")] = 1,
    threads: Annotated[int, typer.Option(min=1, max=64, help="threads per process (embedded: workers)")] = 1,
) -> None:
    """Run background jobs (recordings, chat batches) until stopped (Ctrl-C or SIGTERM)."""
    with _errors():
        settings = _settings()
        if settings.queue == "dramatiq":
            code = _run_dramatiq(settings, processes, threads)
        else:
            code = _run_embedded(settings, threads)
    raise typer.Exit(code)


def dramatiq_command(processes: int, threads: int) -> list[str]:
    """The ``dramatiq`` command line of ``qa worker``: the actors' module and both queues."""
    from qa_pipeline.jobs.dramatiq_queue import QUEUES

    cmd = [sys.executable, "-m", "dramatiq", "qa_pipeline.jobs.dramatiq_worker"]
    return [*cmd, "--processes", str(processes), "--threads", str(threads), "--queues", *QUEUES]


def _run_dramatiq(settings: Settings, processes: int, threads: int) -> int:
    from qa_pipeline.jobs.dramatiq_queue import Sweeper, make_broker
    from qa_pipeline.jobs.retry import RetryPolicy
    from qa_pipeline.store import init_db

    engine = init_db(settings.database_url)
    sweeper = Sweeper(
        engine,
        make_broker(settings.redis_url),
        RetryPolicy.from_settings(settings),
        every_s=settings.job_sweep_s,
        overdue_s=2 * settings.job_sweep_s,
    ).start()
    child = subprocess.Popen(dramatiq_command(processes, threads))
    typer.echo(f"dramatiq worker: {processes} process(es) x {threads} thread(s), pid {child.pid}", err=True)

    def forward(signum: int, _frame: FrameType | None) -> None:
        child.send_signal(signum)

    for sig in STOP_SIGNALS:
        signal.signal(sig, forward)
    code = child.wait()
    sweeper.stop(timeout=10)
    engine.dispose()
    return code


def _run_embedded(settings: Settings, threads: int) -> int:
    from qa_pipeline.jobs import (
        CHAT_JOB,
        ChatHandler,
        JobRunner,
        JobWorker,
        RetryPolicy,
        call_handlers,
    )
    from qa_pipeline.jobs.batches import TextScorer
    from qa_pipeline.store import Repository, init_db

    engine = init_db(settings.database_url)
    scorer = TextScorer(settings)
    workers = [
        JobWorker(
            JobRunner(
                engine,
                {
                    **call_handlers(settings, engine),
                    CHAT_JOB: ChatHandler(engine, settings, scorer, scorer.many),
                },
                Repository(engine),
                RetryPolicy.from_settings(settings),
                settings.job_lease_s,
                settings.job_batch_size,
            )
        ).start()
        for _ in range(threads)
    ]
    typer.echo(
        f"embedded job workers: {threads} on {engine.url.render_as_string(hide_password=True)}", err=True
    )
    stop = threading.Event()
    for sig in STOP_SIGNALS:
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    for w in workers:
        w.stop(timeout=30)
    engine.dispose()
    return 0
