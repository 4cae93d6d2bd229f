"""``python -m bench.load ingest --deployment dramatiq``: chat ingest on the distributed deployment
(``qa serve`` enqueues; one ``qa worker --processes N`` group runs the jobs on PostgreSQL and Redis)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import redis
from sqlalchemy import Engine

from bench.chaos import chat_records, job_counts, owner_pid, running_leases
from bench.live_server import LiveServer
from bench.load import _stop, _wait_done, many_chats
from qa_pipeline.store import make_engine

WARM_TIMEOUT_S = 300.0  # a warm-up job loads the models (about 20 s on 2 cores)


def ingest_dramatiq(args: argparse.Namespace) -> None:
    """As :func:`ingest`, on the distributed deployment: ``qa serve`` enqueues, one ``qa worker
    --processes N`` group runs the jobs (PostgreSQL, Redis); each process warmed first."""
    from bench.scratch_db import reset_postgres

    if not (args.postgres and args.redis):
        raise SystemExit("--deployment dramatiq needs --postgres and --redis (or QA_TEST_*_URL)")
    records = many_chats(args.chats)
    env = {"QA_QUEUE": "dramatiq", "QA_DATABASE_URL": args.postgres, "QA_REDIS_URL": args.redis}
    for n in args.processes:
        reset_postgres(args.postgres)
        redis.Redis.from_url(args.redis).flushdb()
        with tempfile.TemporaryDirectory() as tmp, LiveServer(Path(tmp), env) as server:
            cmd = [sys.executable, "-m", "qa_pipeline.cli", "worker", "--processes", str(n), "--threads", "1"]
            group = subprocess.Popen(cmd, env=server.env)
            try:
                warmed = _warm_each(server, n, group)
                elapsed = _timed_batch(server, records, warmed)
                rate = len(records) / elapsed
                print(
                    f"dramatiq, {n} process(es): {len(records)} chats in {elapsed:.1f} s = {rate:.1f} chats/s"
                )
            finally:
                _stop([group])


def _warm_each(server: LiveServer, n: int, group: subprocess.Popen[bytes], rounds: int = 30) -> int:
    """One chat at a time until ``n`` different worker processes have each held a job (each loaded
    its models); returns how many jobs that took."""
    engine = make_engine(server.env["QA_DATABASE_URL"])
    try:
        return _warm_rounds(server, n, group, engine, rounds)
    finally:
        engine.dispose()


def _warm_rounds(
    server: LiveServer, n: int, group: subprocess.Popen[bytes], engine: Engine, rounds: int
) -> int:
    url, pids = server.env["QA_DATABASE_URL"], set[int]()
    for i in range(rounds):
        body = json.dumps({**chat_records(1)[0], "id": f"warm-{i}"}, ensure_ascii=False).encode() + b"\n"
        headers = {**server.headers, "Content-Type": "application/x-ndjson"}
        httpx.post(server.url + "/v1/batches", content=body, headers=headers, timeout=120).raise_for_status()
        deadline = time.monotonic() + WARM_TIMEOUT_S
        while sum(job_counts(url).get(s, 0) for s in ("done", "dead")) < i + 1:
            if group.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"warm-up job {i} not done (worker group exit code {group.poll()})")
            pids |= {owner_pid(owner) for _, owner in running_leases(engine)}
            time.sleep(0.05)
        if len(pids) >= n:
            return i + 1
    raise RuntimeError(f"only {len(pids)} of {n} worker processes took a job in {rounds} rounds")


def _timed_batch(server: LiveServer, records: list[dict[str, object]], before: int) -> float:
    body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()
    headers = {**server.headers, "Content-Type": "application/x-ndjson"}
    started = time.monotonic()
    httpx.post(server.url + "/v1/batches", content=body, headers=headers, timeout=600).raise_for_status()
    _wait_done(server.env["QA_DATABASE_URL"], len(records) + before)
    return time.monotonic() - started
