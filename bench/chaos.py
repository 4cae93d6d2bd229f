"""Chaos: 200 jobs (short recordings and chat batches) while workers, and in the embedded deployment the
server too, are SIGKILLed at random; every job must end ``done``, none lost, no result stored twice.

    python -m bench.chaos [--deployment embedded|dramatiq|both] [--calls 20] [--chats 180]
                          [--kills 8] [--kill-after 4,14] [--postgres URL] [--redis URL]

- ``embedded``: ``qa serve`` (one in-process job worker) and one ``qa worker`` on a SQLite file; each
  kill picks one of the two at random, SIGKILLs it and starts it again.
- ``dramatiq``: ``qa serve`` only enqueues (PostgreSQL, Redis); two ``qa worker`` process groups run the
  jobs; each kill SIGKILLs a whole worker group (the ``qa worker`` parent and its Dramatiq processes).

The next kill comes ``--kill-after`` seconds (uniform) after the victim is up again (a server answers
/health; a worker has started). After ``--kills`` kills the processes are left to finish. Prints, per
deployment: jobs done / submitted, lost jobs, conversations with more than one stored result, the
recovery time after each kill (kill → the next job finished), and the wall time.
Recordings come from ``../shared/data/speech``, chats from the dev dialogues and the tuning set.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import Engine, func, select

from bench.live_server import LiveServer
from qa_pipeline.settings import PROJECT_DIR
from qa_pipeline.store import make_engine
from qa_pipeline.store.models import JobRow, ResultRow

log = logging.getLogger("bench")
SPEECH = PROJECT_DIR.parent / "shared" / "data" / "speech"
CHAT_SOURCES = [
    PROJECT_DIR.parent / "shared" / "data" / "conversations_dev" / "dialogues.jsonl",
    *sorted((PROJECT_DIR / "tests" / "data" / "tuning").glob("*.jsonl")),
]
BATCH_SIZE = 30
DONE_TIMEOUT_S = 1800.0


@dataclass
class Worker:
    """A ``qa worker`` process group that can be killed and started again."""

    env: dict[str, str]
    args: list[str]
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cmd = [sys.executable, "-m", "qa_pipeline.cli", "worker", *self.args]
        self.proc = subprocess.Popen(cmd, env=self.env, start_new_session=True)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Report:
    deployment: str
    submitted: int = 0
    done: int = 0
    dead: int = 0
    lost: int = 0
    duplicated: int = 0
    kills: list[str] = field(default_factory=list)
    recovery_s: list[float] = field(default_factory=list)
    interrupted_s: list[float] = field(default_factory=list)
    wall_s: float = 0.0

    def lines(self) -> list[str]:
        rec = sorted(self.recovery_s)
        median = rec[len(rec) // 2] if rec else float("nan")
        cut = sorted(self.interrupted_s)
        cut_median = cut[len(cut) // 2] if cut else float("nan")
        tag = f"[{self.deployment}]"
        return [
            f"{tag} jobs done {self.done}/{self.submitted}, dead {self.dead}, lost {self.lost}, "
            f"conversations with >1 result {self.duplicated}; wall {self.wall_s:.0f} s",
            f"{tag} {len(self.kills)} kills ({', '.join(self.kills)}); kill -> next job done: "
            f"median {median:.1f} s, max {max(rec, default=float('nan')):.1f} s",
            f"{tag} {len(cut)} jobs cut off by a kill, each done again after: "
            f"median {cut_median:.1f} s, max {max(cut, default=float('nan')):.1f} s",
        ]


def chat_records(n: int) -> list[dict[str, object]]:
    rows = [
        json.loads(line)
        for p in CHAT_SOURCES
        if p.is_file()
        for line in p.read_text("utf-8").splitlines()
        if line.strip()
    ]
    out = []
    for i, row in enumerate(rows[:n]):
        row = {k: v for k, v in row.items() if k != "labels"}
        row["id"] = f"chaos-chat-{i:04d}"
        out.append(row)
    return out


def submit(server: LiveServer, calls: int, chats: int) -> int:
    """Queue the work through the API; how many jobs that makes."""
    clips = sorted(SPEECH.glob("*.wav"))
    jobs = 0
    with httpx.Client(base_url=server.url, headers=server.headers, timeout=120) as client:
        for i in range(calls):
            clip = clips[i % len(clips)]
            meta = json.dumps({"id": f"chaos-call-{i:03d}", "agent_id": f"A0{i % 9 + 1}"})
            r = client.post(
                "/v1/calls",
                files={"file": (clip.name, clip.read_bytes(), "audio/wav")},
                data={"metadata": meta},
            )
            r.raise_for_status()
            jobs += 1
        records = chat_records(chats)
        for start in range(0, len(records), BATCH_SIZE):
            part = records[start : start + BATCH_SIZE]
            body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in part).encode()
            r = client.post("/v1/batches", content=body, headers={"Content-Type": "application/x-ndjson"})
            r.raise_for_status()
            jobs += len(part) - r.json()["invalid"]
    return jobs


def job_counts(url: str, kind: str | None = None) -> dict[str, int]:
    """Jobs per state (of one ``kind``, or all)."""
    stmt = select(JobRow.state, func.count()).group_by(JobRow.state)
    if kind is not None:
        stmt = stmt.where(JobRow.kind == kind)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {str(s): int(n) for s, n in conn.execute(stmt)}
    finally:
        engine.dispose()


def finished_after(url: str, when: datetime) -> datetime | None:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            first = conn.scalar(select(func.min(JobRow.finished_at)).where(JobRow.finished_at > when))
    finally:
        engine.dispose()
    if first is None:
        return None
    return first if first.tzinfo else first.replace(tzinfo=UTC)


def duplicated_results(url: str) -> int:
    engine = make_engine(url)
    per_conv = select(ResultRow.conversation_id).group_by(ResultRow.conversation_id).having(func.count() > 1)
    try:
        with engine.connect() as conn:
            return len(conn.execute(per_conv).all())
    finally:
        engine.dispose()


def all_final(url: str, submitted: int) -> bool:
    counts = job_counts(url)
    return counts.get("done", 0) + counts.get("dead", 0) >= submitted


def group_pids(pgid: int) -> set[int]:
    """Pids of the processes in process group ``pgid`` (Linux /proc)."""
    pids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            pids.add(int(stat.parent.name))
    return pids


def running_leases(engine: Engine) -> list[tuple[str, str]]:
    """(job id, lease owner) of every running job; owners are ``[prefix]host:pid:suffix``."""
    stmt = select(JobRow.id, JobRow.lease_owner).where(JobRow.state == "running")
    with engine.connect() as conn:
        return [(job_id, owner) for job_id, owner in conn.execute(stmt) if owner]


def owner_pid(owner: str) -> int:
    return int(owner.rsplit(":", 2)[1])


def running_owned_by(url: str, pids: set[int]) -> list[str]:
    """Ids of the running jobs leased to one of ``pids``."""
    engine = make_engine(url)
    try:
        return [job_id for job_id, owner in running_leases(engine) if owner_pid(owner) in pids]
    finally:
        engine.dispose()


def victim_pids(victim: object) -> set[int]:
    if isinstance(victim, Worker) and victim.proc is not None:
        return group_pids(victim.proc.pid)
    return {victim.pid} if isinstance(victim, LiveServer) else set()


def _pause(bounds: tuple[float, float], rng: random.Random) -> None:
    time.sleep(rng.uniform(*bounds))


def chaos_loop(
    victims: dict[str, object], url: str, submitted: int, args: argparse.Namespace, report: Report
) -> list[tuple[datetime, list[str]]]:
    """Kill a random victim, restart it, wait, repeat ``--kills`` times or until everything is final.
    Returns each kill's time and the jobs it cut off."""
    rng = random.Random(args.seed)
    kill_times: list[tuple[datetime, list[str]]] = []
    for _ in range(args.kills):
        _pause(args.kill_after, rng)
        if all_final(url, submitted):
            break
        name = rng.choice(sorted(victims))
        victim = victims[name]
        cut_off = running_owned_by(url, victim_pids(victim))
        kill_times.append((datetime.now(UTC), cut_off))
        victim.kill()  # type: ignore[attr-defined]
        report.kills.append(name)
        log.warning("SIGKILL %s", name)
        victim.start()  # type: ignore[attr-defined]
    return kill_times


def wait_final(url: str, submitted: int) -> None:
    deadline = time.monotonic() + DONE_TIMEOUT_S
    while time.monotonic() < deadline and not all_final(url, submitted):
        time.sleep(1)


def finished_at(url: str, job_id: str) -> datetime | None:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            when = conn.scalar(select(JobRow.finished_at).where(JobRow.id == job_id))
    finally:
        engine.dispose()
    return None if when is None else when if when.tzinfo else when.replace(tzinfo=UTC)


def conclude(
    report: Report, url: str, kill_times: list[tuple[datetime, list[str]]], started: float
) -> Report:
    counts = job_counts(url)
    report.done, report.dead = counts.get("done", 0), counts.get("dead", 0)
    report.lost = report.submitted - sum(counts.values())
    report.duplicated = duplicated_results(url)
    report.wall_s = time.monotonic() - started
    for when, cut_off in kill_times:
        nxt = finished_after(url, when)
        if nxt is not None:
            report.recovery_s.append((nxt - when).total_seconds())
        for job_id in cut_off:
            again = finished_at(url, job_id)
            if again is not None:
                report.interrupted_s.append((again - when).total_seconds())
    return report


def run_embedded(folder: Path, args: argparse.Namespace) -> Report:
    report = Report("embedded")
    env = {"QA_JOB_RETRY_BASE_S": "1", "QA_JOB_LEASE_S": "10", "QA_JOB_MAX_ATTEMPTS": "20"}
    server = LiveServer(folder, env).start()
    worker = Worker(server.env, ["--threads", "1"])
    worker.start()
    started = time.monotonic()
    try:
        report.submitted = submit(server, args.calls, args.chats)
        kill_times = chaos_loop(
            {"server": server, "worker": worker},
            server.env["QA_DATABASE_URL"],
            report.submitted,
            args,
            report,
        )
        wait_final(server.env["QA_DATABASE_URL"], report.submitted)
    finally:
        worker.stop()
        server.stop()
    return conclude(report, server.env["QA_DATABASE_URL"], kill_times, started)


def run_dramatiq(folder: Path, args: argparse.Namespace) -> Report:
    report = Report("dramatiq")
    env = {
        "QA_QUEUE": "dramatiq",
        "QA_DATABASE_URL": args.postgres,
        "QA_REDIS_URL": args.redis,
        "QA_JOB_RETRY_BASE_S": "1",
        "QA_JOB_LEASE_S": "10",
        "QA_JOB_MAX_ATTEMPTS": "20",
        "QA_JOB_SWEEP_S": "2",
    }
    from bench.scratch_db import reset_postgres

    reset_postgres(args.postgres)
    import redis

    redis.Redis.from_url(args.redis).flushdb()
    server = LiveServer(folder, env).start()
    workers = {f"worker-{i}": Worker(server.env, ["--processes", "1", "--threads", "1"]) for i in (1, 2)}
    for w in workers.values():
        w.start()
    started = time.monotonic()
    try:
        report.submitted = submit(server, args.calls, args.chats)
        kill_times = chaos_loop(dict(workers), args.postgres, report.submitted, args, report)
        wait_final(args.postgres, report.submitted)
    finally:
        for w in workers.values():
            w.stop()
        server.stop()
    return conclude(report, args.postgres, kill_times, started)


def _bounds(text: str) -> tuple[float, float]:
    low, _, high = text.partition(",")
    return float(low), float(high or low)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployment", choices=["embedded", "dramatiq", "both"], default="both")
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--chats", type=int, default=180)
    parser.add_argument("--kills", type=int, default=8)
    parser.add_argument("--kill-after", type=_bounds, default=(4.0, 14.0))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--postgres", default=os.environ.get("QA_TEST_POSTGRES_URL"))
    parser.add_argument("--redis", default=os.environ.get("QA_TEST_REDIS_URL"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    reports = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.deployment in ("embedded", "both"):
            reports.append(run_embedded(Path(tmp) / "embedded", args))
        if args.deployment in ("dramatiq", "both"):
            if not (args.postgres and args.redis):
                parser.error("the dramatiq deployment needs --postgres and --redis (or QA_TEST_*_URL)")
            reports.append(run_dramatiq(Path(tmp) / "dramatiq", args))
    for report in reports:
        print("\n".join(report.lines()))


if __name__ == "__main__":
    main()
