"""Background jobs: call recordings and chat batches audited off the request path.

The ``jobs`` table is the truth; workers lease jobs, renew the lease by heartbeat and store each
result exactly once. Two deployments share this code (``QA_QUEUE``):

- ``embedded`` (default): :class:`JobWorker` threads inside ``qa serve`` claim due jobs themselves;
- ``dramatiq``: ``qa serve`` only enqueues job ids on Redis; ``qa worker`` runs the Dramatiq actor
  (:mod:`qa_pipeline.jobs.dramatiq_queue`) on any number of machines.

Typical use (embedded)::

    runner = JobRunner(engine, {CALL_JOB: CallHandler(settings)}, Repository(engine))
    worker = JobWorker(runner).start()
    ...
    worker.stop(timeout=30)
"""

from qa_pipeline.jobs.batches import CHAT_JOB, Batch, ChatHandler, batch_dir, get_batch, ingest_batch
from qa_pipeline.jobs.calls import (
    AUDIO_PIPELINE,
    CALL_JOB,
    CallHandler,
    CallPayload,
    ChunkHandler,
    ConversationSource,
    PipelineFactory,
    call_handlers,
    content_key,
    digest_letters,
    new_spool_name,
    sha256_file,
    spool_dir,
    upload_conversation_id,
)
from qa_pipeline.jobs.chunks import CHUNK_JOB
from qa_pipeline.jobs.queue import EmbeddedQueue, JobQueue
from qa_pipeline.jobs.retry import RetryPolicy, is_permanent, job_error
from qa_pipeline.jobs.worker import JobHandler, JobRunner, JobWorker, new_owner

__all__ = [
    "AUDIO_PIPELINE",
    "CALL_JOB",
    "CHAT_JOB",
    "CHUNK_JOB",
    "Batch",
    "CallHandler",
    "CallPayload",
    "ChatHandler",
    "ChunkHandler",
    "ConversationSource",
    "EmbeddedQueue",
    "JobHandler",
    "JobQueue",
    "JobRunner",
    "JobWorker",
    "PipelineFactory",
    "RetryPolicy",
    "batch_dir",
    "call_handlers",
    "content_key",
    "digest_letters",
    "get_batch",
    "ingest_batch",
    "is_permanent",
    "job_error",
    "new_owner",
    "new_spool_name",
    "sha256_file",
    "spool_dir",
    "upload_conversation_id",
]
