"""The Dramatiq worker module's two actors (no Redis needed: the broker connects on first use), and the
queues ``qa worker`` consumes."""

from __future__ import annotations

from qa_pipeline.cli_worker import dramatiq_command
from qa_pipeline.jobs.dramatiq_queue import FIRST_QUEUE, QUEUE


def test_the_actor_of_jobs_taken_up_again_outranks_the_one_of_new_jobs() -> None:
    from qa_pipeline.jobs import dramatiq_worker

    first, new = dramatiq_worker.qa_job_first, dramatiq_worker.qa_job
    assert (first.queue_name, new.queue_name) == (FIRST_QUEUE, QUEUE)
    assert first.priority < new.priority  # a worker takes the lower number first among what it holds


def test_qa_worker_consumes_both_queues() -> None:
    cmd = dramatiq_command(2, 1)
    queues = cmd[cmd.index("--queues") + 1 :]
    assert sorted(queues) == sorted([QUEUE, FIRST_QUEUE]) and "qa_pipeline.jobs.dramatiq_worker" in cmd
