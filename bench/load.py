"""Load on loopback against a real ``qa serve``: the KPI pull's latency at fixed request rates, and
ingest throughput (chats/s, audio hours per hour) with 1 and 2 worker processes.

    python -m bench.load kpi    [--rates 250,500,1000] [--seconds 10] [--conversations 5000]
    python -m bench.load ingest [--chats 1000] [--processes 1,2]
    python -m bench.load audio  [--calls 12] [--processes 1,2]

- ``kpi``: the store holds ``--conversations`` scored conversations of 100 agents over 30 days (real
  pipeline outputs of the dev dialogues, cloned, as in ``bench.kpi_latency``). An open-loop client
  (raw asyncio HTTP/1.1 on keep-alive connections, little CPU of its own) sends
  ``GET /v1/indices?team=T1&from=..&to=..&period=day`` at each fixed rate and measures every latency
  from the moment the request was *due* (so a stalled server cannot hide queueing). Prints p50, p95,
  p99 and the rate achieved. The client shares the 2 cores with the server.
- ``ingest``: ``POST /v1/batches`` of ``--chats`` conversations (dev dialogues and the tuning set,
  re-identified); ``qa serve`` runs no job itself, ``N`` embedded ``qa worker`` processes (SQLite) do;
  chats/s from submission to the last job done, per N.
- ``audio``: the dev recordings uploaded (``--calls``, cycling), audio hours processed per hour per N.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.chaos import chat_records, job_counts
from bench.live_server import LiveServer
from qa_pipeline.settings import PROJECT_DIR, Settings

log = logging.getLogger("bench")
DEV_AUDIO = PROJECT_DIR.parent / "shared" / "data" / "conversations_dev" / "audio"
KPI_PATH = "/v1/indices?team=T1&from=2026-03-01&to=2026-03-31&period=day"


# -- KPI latency -------------------------------------------------------------------------------------


class Connection:
    """One keep-alive HTTP/1.1 connection sending GETs one after another."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> None:
        self.reader, self.writer, self.request = reader, writer, request

    async def get(self) -> int:
        self.writer.write(self.request)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        await self.reader.readexactly(length)
        return status


async def _open(port: int, token: str, n: int) -> list[Connection]:
    request = (
        f"GET {KPI_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        "Accept: application/json\r\n\r\n"
    ).encode()
    out = []
    for _ in range(n):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        out.append(Connection(reader, writer, request))
    return out


async def open_loop(
    port: int, token: str, rate: float, seconds: float, connections: int = 64
) -> dict[str, float]:
    """Requests due every 1/rate s, each on a free connection; latency counted from the due time."""
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for conn in await _open(port, token, connections):
        pool.put_nowait(conn)
    latencies: list[float] = []
    errors = 0
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.1

    async def one(due: float) -> None:
        nonlocal errors
        await asyncio.sleep(max(0.0, due - loop.time()))
        conn = await pool.get()
        try:
            status = await conn.get()
            errors += status != 200
        finally:
            pool.put_nowait(conn)
        latencies.append(loop.time() - due)

    total = int(rate * seconds)
    await asyncio.gather(*(one(start + i / rate) for i in range(total)))
    elapsed = loop.time() - start
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    return {
        "rate": rate,
        "achieved": total / elapsed,
        "p50": pct(0.5),
        "p95": pct(0.95),
        "p99": pct(0.99),
        "errors": errors,
    }


def kpi(args: argparse.Namespace) -> None:
    from bench.kpi_latency import populate, templates
    from qa_pipeline.store import init_db

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        settings = Settings(database_url=f"sqlite:///{folder / 'qa.db'}")
        engine = init_db(settings.database_url)
        populate(engine, templates(settings), args.conversations, agents=100, days=30)
        engine.dispose()
        with LiveServer(folder, {"QA_JOB_WORKERS": "0"}) as server:
            first = time.perf_counter()
            httpx.get(server.url + KPI_PATH, headers=server.headers, timeout=120).raise_for_status()
            first_ms = 1000 * (time.perf_counter() - first)
            print(f"first (computed) pull: {first_ms:.0f} ms; then from the KPI cache")
            print(f"{'rate/s':>8}{'achieved':>10}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}")
            for rate in args.rates:
                r = asyncio.run(open_loop(server.port, server.token, rate, args.seconds))
                print(
                    f"{rate:>8.0f}{r['achieved']:>10.0f}{r['p50']:>9.1f}{r['p95']:>9.1f}{r['p99']:>9.1f}{r['errors']:>8.0f}"
                )


# -- ingest -------------------------------------------------------------------------------------------


def _workers(server: LiveServer, n: int) -> list[subprocess.Popen[bytes]]:
    cmd = [sys.executable, "-m", "qa_pipeline.cli", "worker", "--threads", "1"]
    return [subprocess.Popen(cmd, env=server.env) for _ in range(n)]


def _wait_done(url: str, total: int, timeout: float = 3600) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        counts = job_counts(url)
        if counts.get("done", 0) + counts.get("dead", 0) >= total:
            return time.monotonic() - started
        time.sleep(0.2)
    raise RuntimeError(f"jobs not done within {timeout} s: {job_counts(url)}")


def _warm(server: LiveServer, n: int) -> list[subprocess.Popen[bytes]]:
    """Start ``n`` worker processes and let each load its models on a throw-away job first."""
    procs = _workers(server, n)
    body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in chat_records(n * 2)).encode()
    headers = {**server.headers, "Content-Type": "application/x-ndjson", "Idempotency-Key": f"warm-{n}"}
    httpx.post(server.url + "/v1/batches", content=body, headers=headers, timeout=120).raise_for_status()
    _wait_done(server.env["QA_DATABASE_URL"], n * 2)
    return procs


def many_chats(n: int) -> list[dict[str, object]]:
    """``n`` conversations: the dev dialogues and the tuning set over and over, each with its own id."""
    base = chat_records(10_000)
    return [{**base[i % len(base)], "id": f"load-{i:06d}"} for i in range(n)]


def ingest(args: argparse.Namespace) -> None:
    records = many_chats(args.chats)
    for n in args.processes:
        with tempfile.TemporaryDirectory() as tmp, LiveServer(Path(tmp), {"QA_JOB_WORKERS": "0"}) as server:
            procs = _warm(server, n)
            try:
                body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()
                headers = {**server.headers, "Content-Type": "application/x-ndjson"}
                started = time.monotonic()
                httpx.post(
                    server.url + "/v1/batches", content=body, headers=headers, timeout=600
                ).raise_for_status()
                total = len(records) + n * 2
                elapsed = time.monotonic() - started
                elapsed += _wait_done(server.env["QA_DATABASE_URL"], total)
                rate = len(records) / elapsed
                print(f"{n} worker process(es): {len(records)} chats in {elapsed:.1f} s = {rate:.1f} chats/s")
            finally:
                for p in procs:
                    p.terminate()
                    p.wait(timeout=60)


def audio(args: argparse.Namespace) -> None:
    import av

    clips = sorted(p for p in DEV_AUDIO.iterdir() if p.suffix in (".wav", ".flac", ".mp3"))
    seconds = {p: float(av.open(str(p)).duration or 0) / 1e6 for p in clips}
    for n in args.processes:
        with tempfile.TemporaryDirectory() as tmp, LiveServer(Path(tmp), {"QA_JOB_WORKERS": "0"}) as server:
            procs = _workers(server, n)
            try:
                with httpx.Client(base_url=server.url, headers=server.headers, timeout=300) as client:
                    audio_s = 0.0
                    started = time.monotonic()
                    for i in range(args.calls):
                        clip = clips[i % len(clips)]
                        meta = json.dumps({"id": f"load-call-{i}", "agent_id": "A01"})
                        files = {"file": (clip.name, clip.read_bytes())}
                        client.post("/v1/calls", files=files, data={"metadata": meta}).raise_for_status()
                        audio_s += seconds[clip]
                elapsed = time.monotonic() - started + _wait_done(server.env["QA_DATABASE_URL"], args.calls)
                print(
                    f"{n} worker process(es): {audio_s / 60:.1f} min of audio in {elapsed:.0f} s = "
                    f"{audio_s / elapsed:.1f} audio hours per hour (model loading included)"
                )
            finally:
                for p in procs:
                    p.terminate()
                    p.wait(timeout=60)


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    k = sub.add_parser("kpi")
    k.add_argument("--rates", type=_ints, default=[250, 500, 1000])
    k.add_argument("--seconds", type=float, default=10.0)
    k.add_argument("--conversations", type=int, default=5000)
    i = sub.add_parser("ingest")
    i.add_argument("--chats", type=int, default=1000)
    i.add_argument("--processes", type=_ints, default=[1, 2])
    a = sub.add_parser("audio")
    a.add_argument("--calls", type=int, default=12)
    a.add_argument("--processes", type=_ints, default=[1, 2])
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    {"kpi": kpi, "ingest": ingest, "audio": audio}[args.what](args)


if __name__ == "__main__":
    main()
