"""The FastAPI app. ``create_app(settings)`` builds it; the lifespan migrates the database and loads
the pipeline once. Run with ``uvicorn api.main:app`` (settings from ``QA_*`` environment variables).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api import access_log, pages
from api.deps import get_settings
from api.errors import install_error_handlers
from api.kpi_fastpath import KpiFastPath
from api.pages.handlers import STATIC_DIR, install_page_handlers
from api.routes import (
    agents,
    audit_log,
    batches,
    conversations,
    health,
    indices,
    jobs,
    reports,
    review,
    users,
    webhooks,
)
from api.state import AppState
from qa_pipeline import __version__
from qa_pipeline.access.token_cache import TokenCache
from qa_pipeline.jobs import (
    CALL_JOB,
    CHAT_JOB,
    ChatHandler,
    EmbeddedQueue,
    JobHandler,
    JobQueue,
    JobRunner,
    JobWorker,
    RetryPolicy,
    call_handlers,
)
from qa_pipeline.pipeline import Pipeline, settle_heap
from qa_pipeline.review.config import load_review_config
from qa_pipeline.review.service import ReviewService
from qa_pipeline.rubric import load_rubric
from qa_pipeline.scoring import load_scoring_config
from qa_pipeline.settings import Settings
from qa_pipeline.store import Repository, current_revision, init_db
from qa_pipeline.webhooks import Sender

log = logging.getLogger(__name__)

WORKER_STOP_S = 10.0
"""How long shutdown waits for a running job; one still running runs again once its lease lapses."""


def _build_state(settings: Settings, pipeline: Pipeline | None) -> AppState:
    engine = init_db(settings.database_url)
    try:
        review = load_review_config(settings.review_config)
        scoring = load_scoring_config(settings.scoring_config)
        repository = Repository(engine, review)
        return AppState(
            settings=settings,
            engine=engine,
            repository=repository,
            pipeline=pipeline or Pipeline.from_config(settings=settings),
            scoring=scoring,
            reviews=ReviewService(repository, scoring, review, load_rubric(settings.rubric)),
            schema_revision=current_revision(engine),
            tokens=TokenCache(settings.auth_cache_s),
        )
    except BaseException:
        engine.dispose()
        raise


def _runner(state: AppState, call_handler: JobHandler | None) -> JobRunner:
    """One worker's runner: recordings (the audio pipeline is built on the first one) and batch chats
    (scored with the app's own pipeline)."""
    settings = state.settings
    calls = {CALL_JOB: call_handler} if call_handler else call_handlers(settings, state.engine)
    handlers: dict[str, JobHandler] = {
        **calls,
        CHAT_JOB: ChatHandler(state.engine, settings, state.score, state.score_many),
    }
    policy = RetryPolicy.from_settings(settings)
    return JobRunner(
        state.engine, handlers, state.repository, policy, settings.job_lease_s, settings.job_batch_size
    )


def _start_queue(state: AppState, call_handler: JobHandler | None) -> JobQueue:
    """``QA_QUEUE=embedded``: ``QA_JOB_WORKERS`` worker threads here; ``dramatiq``: enqueue only."""
    if state.settings.queue == "dramatiq":
        from qa_pipeline.jobs.dramatiq_queue import DramatiqQueue

        return DramatiqQueue.connect(state.settings)
    workers = [JobWorker(_runner(state, call_handler)) for _ in range(state.settings.job_workers)]
    return EmbeddedQueue(workers).start()


def create_app(
    settings: Settings | None = None,
    *,
    pipeline: Pipeline | None = None,
    job_handler: JobHandler | None = None,
) -> FastAPI:
    """The app for ``settings`` (default: the environment's). ``pipeline`` skips building one;
    ``job_handler`` replaces the recording handler of the background worker."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = _build_state(settings, pipeline)
        settle_heap()
        app.state.qa = state
        stages = [s.name for s in state.pipeline.stages]
        log.info("serving pipeline %s with stages %s", state.pipeline.version, stages)
        sender = Sender(state.engine).start()  # webhook deliveries
        try:
            state.queue = _start_queue(state, job_handler)
            yield
        finally:
            sender.stop()
            if not state.queue.close(timeout=WORKER_STOP_S):
                log.warning("a job is still running at shutdown; it runs again once its lease lapses")
            state.engine.dispose()

    app = FastAPI(
        title="qa-pipeline",
        version=__version__,
        summary="Quality inspection and sentiment scoring for Chinese customer-service conversations",
        lifespan=lifespan,
    )
    app.add_middleware(KpiFastPath)
    install_error_handlers(app)
    install_page_handlers(app)
    access_log.install()
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for router in pages.ROUTERS:
        app.include_router(router)
    routers = (
        conversations,
        agents,
        health,
        jobs,
        batches,
        users,
        review,
        indices,
        reports,
        audit_log,
        webhooks,
    )
    for module in routers:
        app.include_router(module.router)
    return app


app = create_app()
