"""Load on loopback against a real ``qa serve``: the KPI pull's latency at fixed request rates, and
ingest throughput (chats/s, audio hours per hour) with 1 and 2 worker processes.

    python -m bench.load kpi    [--rates 250,500,1000] [--seconds 10] [--conversations 5000]
    python -m bench.load ingest [--chats 1000] [--processes 1,2] [--deployment embedded|dramatiq]
    python -m bench.load audio  [--calls 12] [--processes 1,2]
    python -m bench.load long   [--minutes 12] [--processes 1,2]
    python -m bench.load post   [--chats 400] [--clients 1,8] [--batch 1,32]
    python -m bench.load large  [--megabytes 4.4]

- ``kpi``: the store holds ``--conversations`` scored conversations of 100 agents over 30 days (real
  pipeline outputs of the dev dialogues, cloned, as in ``bench.kpi_latency``); ``qa serve --workers 2``.
  Per pull (``--pulls``: agent-day = each agent's daily figures, 100 agents in turn; team-month; team-day,
  a 2 MB answer), every answer is computed once and every server process warmed; then an open-loop
  client (raw asyncio HTTP/1.1 on keep-alive connections, each request started when due) sends the pull
  at each fixed rate and measures every latency from the moment the request was *due* (queueing in a
  stalled server is counted). Prints p50, p95, p99, the rate achieved, and when the requests over 50 ms
  were due. The client shares the 2 cores with the server.
- ``ingest``: ``POST /v1/batches`` of ``--chats`` conversations (dev dialogues and the tuning set,
  re-identified); ``qa serve`` runs no job itself, ``N`` embedded ``qa worker`` processes (SQLite) do;
  chats/s from submission to the last job done, per N. ``--deployment dramatiq``: ``qa serve`` only
  enqueues and one ``qa worker --processes N`` group runs the jobs on PostgreSQL and Redis
  (``--postgres``, ``--redis``, default ``QA_TEST_POSTGRES_URL`` / ``QA_TEST_REDIS_URL``; the database is
  emptied); one chat at a time is sent first until every process has taken one (loaded its models).
- ``audio``: the dev recordings uploaded (``--calls``, cycling), audio hours processed per hour per N.
- ``long``: one long stereo recording (the dev WAV calls joined to ``--minutes``) uploaded to workers
  that have each scored two short calls first (models loaded); with two workers, the second takes chunk
  shares (``QA_ASR_CHUNK_JOBS``) of the first one's call job. Time from upload to the stored result,
  and the speed in multiples of real time, per N.
- ``post``: the synchronous path, ``POST /v1/conversations`` (scored and stored in the request), from
  ``--clients`` concurrent clients on keep-alive connections, against ``qa serve`` (one process) with
  ``QA_AUDIT_BATCH`` = each of ``--batch`` (1: one audit at a time, the baseline); conversations/s.
- ``large``: one ``POST /v1/conversations`` of ``--megabytes`` of JSON (under the 5 MiB body limit),
  shaped two ways: many ordinary turns (the dev dialogues' turns, cycled) and a few very long ones
  (turns of 20,000 characters without punctuation, as an ASR run-on); each posted twice (new ids).
  Prints the time of each request and the server's resident memory before and a second after each
  (the growth a big request leaves behind).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
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
PULLS = {  # what a KPI system polls
    "agent-day": [
        f"/v1/indices?agent_id=A{i:03d}&from=2026-03-01&to=2026-03-31&period=day" for i in range(100)
    ],
    "team-month": ["/v1/indices?team=T1&from=2026-03-01&to=2026-03-31&period=month"],
    "team-day": [KPI_PATH],
}


# -- KPI latency -------------------------------------------------------------------------------------


class Connection:
    """One keep-alive HTTP/1.1 connection sending GETs one after another."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, token: str) -> None:
        self.reader, self.writer, self.token = reader, writer, token

    async def get(self, path: str) -> int:
        request = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {self.token}\r\n"
            "Accept: application/json\r\n\r\n"
        )
        self.writer.write(request.encode())
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        lines = head.split(b"\r\n")
        length = next(
            int(line.split(b":", 1)[1]) for line in lines if line.lower().startswith(b"content-length:")
        )
        await self.reader.readexactly(length)
        return status


async def _open(port: int, token: str, n: int) -> list[Connection]:
    out = []
    for _ in range(n):
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 22)
        out.append(Connection(reader, writer, token))
    return out


async def open_loop(
    port: int, token: str, rate: float, seconds: float, paths: list[str], connections: int = 64
) -> dict[str, float]:
    """Requests due every 1/rate s, each on a free connection; latency counted from the due time."""
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for conn in await _open(port, token, connections):
        pool.put_nowait(conn)
    latencies: list[float] = []
    slow: list[float] = []
    errors = 0
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.1

    async def one(due: float, path: str) -> None:
        nonlocal errors
        conn = await pool.get()
        try:
            errors += await conn.get(path) != 200
        finally:
            pool.put_nowait(conn)
        latencies.append(loop.time() - due)
        if latencies[-1] > 0.05:
            slow.append(due - start)

    total = int(rate * seconds)
    tasks = []
    for i in range(total):  # each request is started when it is due (open loop), never earlier
        due = start + i / rate
        if due > loop.time():
            await asyncio.sleep(due - loop.time())
        tasks.append(asyncio.create_task(one(due, paths[i % len(paths)])))
    await asyncio.gather(*tasks)
    elapsed = loop.time() - start
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    if slow:
        print(f"    {len(slow)} requests over 50 ms, due at {sorted({round(t, 1) for t in slow})[:12]} s")
    return {
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
        serve_args = ("--workers", str(args.server_processes))
        with LiveServer(folder, {"QA_JOB_WORKERS": "0"}, serve_args=serve_args) as server:
            print(f"qa serve --workers {args.server_processes}")
            for pull in args.pulls:
                paths = PULLS[pull]
                first = time.perf_counter()
                for path in paths:  # each answer computed once; then served from the KPI cache
                    r = httpx.get(server.url + path, headers=server.headers, timeout=120)
                    r.raise_for_status()
                first_ms = 1000 * (time.perf_counter() - first) / len(paths)
                size_kb = len(r.content) / 1000
                print(f"{pull}: {size_kb:.0f} kB an answer, first (computed) pull {first_ms:.0f} ms")
                for _ in range(args.server_processes * 3):  # every server process computes its own answers
                    asyncio.run(open_loop(server.port, server.token, 100, len(paths) / 100 + 0.5, paths))
                kpi_rates(server, paths, args)


def kpi_rates(server: LiveServer, paths: list[str], args: argparse.Namespace) -> None:
    print(f"{'rate/s':>8}{'achieved':>10}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for rate in args.rates:
        r = asyncio.run(open_loop(server.port, server.token, rate, args.seconds, paths))
        cells = f"{r['achieved']:>10.0f}{r['p50']:>9.1f}{r['p95']:>9.1f}{r['p99']:>9.1f}{r['errors']:>8.0f}"
        print(f"{rate:>8.0f}{cells}", flush=True)


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
    if args.deployment == "dramatiq":
        from bench.load_dramatiq import ingest_dramatiq

        ingest_dramatiq(args)
        return
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
                _stop(procs)


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
                _stop(procs)


def long_recording(folder: Path, minutes: float) -> tuple[Path, float]:
    """The dev WAV calls (stereo, same format) joined, over and over, into one file of ``minutes``."""
    import wave

    clips = sorted(DEV_AUDIO.glob("*.wav"))
    path = folder / "long-call.wav"
    with wave.open(str(clips[0])) as first:
        params = first.getparams()
    written, wanted = 0, int(minutes * 60 * params.framerate)
    with wave.open(str(path), "wb") as out:
        out.setparams(params)
        while written < wanted:
            for clip in clips:
                with wave.open(str(clip)) as src:
                    frames = src.readframes(min(src.getnframes(), wanted - written))
                out.writeframes(frames)
                written += len(frames) // (params.sampwidth * params.nchannels)
                if written >= wanted:
                    break
    return path, written / params.framerate


def _upload(client: httpx.Client, path: Path, conversation_id: str) -> None:
    meta = json.dumps({"id": conversation_id, "agent_id": "A01"})
    files = {"file": (path.name, path.read_bytes())}
    client.post("/v1/calls", files=files, data={"metadata": meta}).raise_for_status()


def long_call(args: argparse.Namespace) -> None:
    clips = sorted(DEV_AUDIO.glob("*.wav"))
    with tempfile.TemporaryDirectory() as tmp:
        path, seconds = long_recording(Path(tmp), args.minutes)
        for n in args.processes:
            env = {"QA_JOB_WORKERS": "0"}
            with tempfile.TemporaryDirectory() as store, LiveServer(Path(store), env) as server:
                procs = _workers(server, n)
                try:
                    url = server.env["QA_DATABASE_URL"]
                    with httpx.Client(base_url=server.url, headers=server.headers, timeout=300) as client:
                        for i in range(2 * n):  # warm-up: every worker loads its models
                            _upload(client, clips[i % len(clips)], f"warm-{i}")
                        _wait_done(url, 2 * n)
                        before = sum(job_counts(url).values())
                        started = time.monotonic()
                        _upload(client, path, "long-call")
                        elapsed = _wait_long(url, before, started)
                        client.get("/v1/conversations/long-call").raise_for_status()  # stored, not dead
                    shares = sum(job_counts(url, kind="asr_chunk").values())
                    print(
                        f"{n} worker process(es): a {seconds / 60:.1f} min stereo call in {elapsed:.1f} s = "
                        f"{seconds / elapsed:.1f}x real time ({shares} chunk share job(s))",
                        flush=True,
                    )
                finally:
                    _stop(procs)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """Stop every worker: SIGTERM, then SIGKILL for one that does not exit within a minute."""
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _wait_long(url: str, before: int, started: float, timeout: float = 3600) -> float:
    """Seconds from ``started`` until every job created after the ``before`` first ones has finished."""
    while time.monotonic() - started < timeout:
        counts = job_counts(url)
        total = sum(counts.values())
        if counts.get("dead", 0):
            raise RuntimeError(f"a job of the long call is dead: {counts}")
        if total > before and counts.get("done", 0) == total:
            return time.monotonic() - started
        time.sleep(0.2)
    raise RuntimeError(f"the long call was not done within {timeout} s: {job_counts(url)}")


def post(args: argparse.Namespace) -> None:
    records = many_chats(args.chats)
    for batch in args.batch:
        env = {"QA_JOB_WORKERS": "0", "QA_AUDIT_BATCH": str(batch)}
        with tempfile.TemporaryDirectory() as tmp, LiveServer(Path(tmp), env) as server:
            for clients in args.clients:
                rows = [{**r, "id": f"{r['id']}-b{batch}-c{clients}"} for r in records]
                elapsed = asyncio.run(_post_all(server, rows, clients))
                print(
                    f"QA_AUDIT_BATCH={batch}, {clients} client(s): {len(rows)} conversations in "
                    f"{elapsed:.1f} s = {len(rows) / elapsed:.1f} conversations/s"
                )


async def _post_all(server: LiveServer, rows: list[dict[str, object]], clients: int) -> float:
    todo = list(reversed(rows))
    limits = httpx.Limits(max_connections=clients)
    opts = {"base_url": server.url, "headers": server.headers, "limits": limits, "timeout": 300}
    async with httpx.AsyncClient(**opts) as c:  # type: ignore[arg-type]
        await c.post("/v1/conversations", json={**rows[0], "id": "warm-up"})

        async def client() -> None:
            while todo:
                (await c.post("/v1/conversations", json=todo.pop())).raise_for_status()

        started = time.monotonic()
        await asyncio.gather(*(client() for _ in range(clients)))
        return time.monotonic() - started


def large_bodies(megabytes: float) -> dict[str, dict[str, object]]:
    """Two conversations of about ``megabytes`` of JSON each, within the importer's limits (5,000 turns
    of at most 5,000 characters): turns of ~300 characters (dev turns run together), and turns of
    5,000 characters without punctuation (an ASR run-on)."""
    texts = [str(t["text"]) for r in chat_records(10_000) for t in r["turns"]]  # type: ignore[attr-defined]
    target = int(megabytes * 1_000_000)
    run_on = "".join(t.strip("。！？，") for t in texts)
    return {
        "turns of 300 chars": _sized("large-many", "".join(texts), 300, target),
        "turns of 5,000 chars": _sized("large-long", run_on, 5_000, target),
    }


def _sized(conversation_id: str, stream: str, chars: int, target: int) -> dict[str, object]:
    turns: list[dict[str, str]] = []
    size = 0
    while size < target and len(turns) < 5_000:
        start = (len(turns) * chars) % max(1, len(stream) - chars)
        speaker = ("agent", "customer")[len(turns) % 2]
        turns.append({"speaker": speaker, "text": stream[start : start + chars]})
        size += len(json.dumps(turns[-1], ensure_ascii=False).encode()) + 2
    return {"id": conversation_id, "channel": "chat", "turns": turns}


def large(args: argparse.Namespace) -> None:
    bodies = large_bodies(args.megabytes)
    env = {"QA_JOB_WORKERS": "0"}
    with tempfile.TemporaryDirectory() as tmp, LiveServer(Path(tmp), env) as server:
        client = httpx.Client(base_url=server.url, headers=server.headers, timeout=600)
        client.post("/v1/conversations", json={**many_chats(1)[0], "id": "warm-up"}).raise_for_status()
        print(f"server after a warm-up request: {server.rss_mb():.0f} MiB")
        for shape, body in bodies.items():
            for attempt in (1, 2):
                raw = json.dumps({**body, "id": f"{body['id']}-{attempt}"}, ensure_ascii=False).encode()
                started = time.monotonic()
                answer = client.post(
                    "/v1/conversations", content=raw, headers={"Content-Type": "application/json"}
                )
                took = time.monotonic() - started
                time.sleep(1.0)  # the server hands freed memory back once the answer is sent
                print(
                    f"{shape}: {len(raw) / 1e6:.1f} MB, {len(body['turns'])} turns "  # type: ignore[arg-type]
                    f"-> {answer.status_code} in {took:.1f} s; server {server.rss_mb():.0f} MiB"
                )


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    k = sub.add_parser("kpi")
    k.add_argument("--rates", type=_ints, default=[250, 500, 1000])
    k.add_argument("--seconds", type=float, default=10.0)
    k.add_argument("--conversations", type=int, default=5000)
    k.add_argument(
        "--server-processes", type=int, default=2, help="qa serve --workers (default 2 on 2 cores)"
    )
    k.add_argument("--pulls", type=lambda s: s.split(","), default=["agent-day", "team-month", "team-day"])
    i = sub.add_parser("ingest")
    i.add_argument("--chats", type=int, default=1000)
    i.add_argument("--processes", type=_ints, default=[1, 2])
    i.add_argument("--deployment", choices=["embedded", "dramatiq"], default="embedded")
    i.add_argument("--postgres", default=os.environ.get("QA_TEST_POSTGRES_URL"), help="dramatiq: database")
    i.add_argument("--redis", default=os.environ.get("QA_TEST_REDIS_URL"), help="dramatiq: Redis")
    a = sub.add_parser("audio")
    a.add_argument("--calls", type=int, default=12)
    a.add_argument("--processes", type=_ints, default=[1, 2])
    lc = sub.add_parser("long")
    lc.add_argument("--minutes", type=float, default=12.0)
    lc.add_argument("--processes", type=_ints, default=[1, 2])
    p = sub.add_parser("post")
    p.add_argument("--chats", type=int, default=400)
    p.add_argument("--clients", type=_ints, default=[1, 8])
    p.add_argument("--batch", type=_ints, default=[1, 32])
    lg = sub.add_parser("large")
    lg.add_argument("--megabytes", type=float, default=4.4)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    runs = {"kpi": kpi, "ingest": ingest, "audio": audio, "long": long_call, "post": post, "large": large}
    runs[args.what](args)


if __name__ == "__main__":
    main()
