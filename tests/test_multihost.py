"""The distributed deployment across three "machines" (network namespaces with their own address,
hostname and /tmp; PostgreSQL and Redis with passwords over the bridge; one shared storage folder):
a worker machine lost mid-run, another added, every job done once, recordings served by the API node.
Needs root and iproute2 (as CI has); skipped, with the reason, where namespaces cannot be made."""

from __future__ import annotations

import argparse

import pytest

from bench.multihost import exclusive, preflight, run, scratch

pytestmark = [pytest.mark.slow, pytest.mark.data]


def test_a_worker_machine_lost_and_one_added_loses_nothing() -> None:
    with exclusive():
        reason = preflight()
        if reason is not None:
            pytest.skip(reason)
        with scratch() as folder:
            report = run(folder, argparse.Namespace(calls=2, chats=60, lose_after=0.3))
    assert (report.done, report.dead, report.lost, report.duplicated) == (report.submitted, 0, 0, 0)
    assert report.submitted == 62
    assert {"worker-1", "worker-2"} <= set(report.hosts)  # both shared the work
    assert 0 < report.most_held <= 16  # a worker's pass leases at most QA_JOB_BATCH_SIZE jobs
    assert report.recordings == (2, 2)  # written by a worker machine, served by the API machine
    assert report.spool_left == 0
