"""Background jobs: audit uploaded call recordings off the request path.

Typical use::

    requeue_interrupted(engine)                       # once, at start-up
    worker = JobWorker(engine, CallHandler(settings), kind=CALL_JOB).start()
    ...
    worker.stop(timeout=30)
"""

from qa_pipeline.jobs.calls import (
    AUDIO_PIPELINE,
    CALL_JOB,
    CallHandler,
    CallPayload,
    ConversationSource,
    PipelineFactory,
    content_key,
    digest_letters,
    new_spool_name,
    sha256_file,
    spool_dir,
    upload_conversation_id,
)
from qa_pipeline.jobs.worker import (
    JobHandler,
    JobWorker,
    find_job_by_key,
    job_error,
    requeue_interrupted,
    run_job,
)

__all__ = [
    "AUDIO_PIPELINE",
    "CALL_JOB",
    "CallHandler",
    "CallPayload",
    "ConversationSource",
    "JobHandler",
    "JobWorker",
    "PipelineFactory",
    "content_key",
    "digest_letters",
    "find_job_by_key",
    "job_error",
    "new_spool_name",
    "requeue_interrupted",
    "run_job",
    "sha256_file",
    "spool_dir",
    "upload_conversation_id",
]
