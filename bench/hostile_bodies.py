"""Oversized and hostile request bodies against a real ``qa serve``: each must be refused (413/415/422)
within a second, and the server must not grow.

    python -m bench.hostile_bodies [--keep-limits]

Starts ``qa serve`` on loopback (a fresh SQLite file, the default pipeline), then sends, over a raw
socket so that the body stops the moment the server answers:

- a 2 GiB recording upload, declared (Content-Length) and streamed (chunked, no length);
- a 500 MB JSON conversation, declared and streamed; a 500 MB batch, streamed;
- JSON nested 100,000 deep, as a conversation and as a batch line;
- a multipart bomb (100,000 form fields) and a multipart part with a 4 MB header line.

Prints per probe: status, seconds to the answer, bytes the client had sent by then, and the server's
resident memory growth. ``tests/api/test_hostile_bodies.py`` asserts the status, that the body stopped at
the limit, and the growth; the seconds are this benchmark's figure.
"""

from __future__ import annotations

import argparse
import logging
import select
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.live_server import LiveServer

log = logging.getLogger("bench")

GIB = 1 << 30
MB = 1_000_000
CHUNK = 1 << 20
BOUNDARY = "qaBench7MA4YWxkTrZu0gW"


@dataclass
class Probe:
    name: str
    path: str
    content_type: str
    body: Callable[[], Iterator[bytes]]
    declared: int | None = None  # Content-Length to announce; None: chunked


@dataclass
class Outcome:
    name: str
    status: int
    seconds: float
    sent_mb: float
    rss_growth_mb: float


def _zeros(total: int, head: bytes = b"", tail: bytes = b"") -> Callable[[], Iterator[bytes]]:
    def gen() -> Iterator[bytes]:
        yield head
        block = b"\0" * CHUNK
        for _ in range(total // CHUNK):
            yield block
        yield tail

    return gen


def _text(total: int, head: bytes, unit: bytes, tail: bytes) -> Callable[[], Iterator[bytes]]:
    def gen() -> Iterator[bytes]:
        yield head
        block = unit * (CHUNK // len(unit))
        for _ in range(total // len(block)):
            yield block
        yield tail

    return gen


def _once(data: bytes) -> Callable[[], Iterator[bytes]]:
    return lambda: iter([data])


def _multipart_file_head() -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="huge.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    ).encode()


def _bomb() -> bytes:
    part = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="f"\r\n\r\nx\r\n'
    return (part * 100_000 + f"--{BOUNDARY}--\r\n").encode()


def _header_bomb() -> bytes:
    name = "a" * (4 * MB)
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\nx\r\n--{BOUNDARY}--\r\n'
    ).encode()


def probes() -> list[Probe]:
    multipart = f"multipart/form-data; boundary={BOUNDARY}"
    deep = b"[" * 100_000 + b"]" * 100_000
    conv_head = b'{"id": "huge", "turns": [{"speaker": "agent", "text": "'
    return [
        Probe("2 GiB recording, declared", "/v1/calls", multipart, _once(_multipart_file_head()), 2 * GIB),
        Probe("2 GiB recording, streamed", "/v1/calls", multipart, _zeros(2 * GIB, _multipart_file_head())),
        Probe("500 MB JSON, declared", "/v1/conversations", "application/json", _once(conv_head), 500 * MB),
        Probe(
            "500 MB JSON, streamed",
            "/v1/conversations",
            "application/json",
            _text(500 * MB, conv_head, "您好".encode(), b'"}]}'),
        ),
        Probe(
            "500 MB batch, streamed",
            "/v1/batches",
            "application/x-ndjson",
            _text(500 * MB, conv_head, "您好".encode(), b'"}]}\n'),
        ),
        Probe("JSON nested 100,000 deep", "/v1/conversations", "application/json", _once(deep), len(deep)),
        Probe(
            "batch line nested 100,000 deep", "/v1/batches", "application/x-ndjson", _once(deep), len(deep)
        ),
        Probe("multipart bomb (100,000 fields)", "/v1/calls", multipart, _once(_bomb()), len(_bomb())),
        Probe(
            "multipart 4 MB header line", "/v1/calls", multipart, _once(_header_bomb()), len(_header_bomb())
        ),
    ]


def _request_head(probe: Probe, port: int, token: str) -> bytes:
    length = (
        f"Content-Length: {probe.declared}" if probe.declared is not None else "Transfer-Encoding: chunked"
    )
    return (
        f"POST {probe.path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: {probe.content_type}\r\n{length}\r\nConnection: close\r\n\r\n"
    ).encode()


def _answered(sock: socket.socket) -> bool:
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)


def _status(sock: socket.socket, timeout: float) -> int:
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except (TimeoutError, ConnectionError):
        pass
    parts = data.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def send(probe: Probe, server: LiveServer, timeout: float = 30.0) -> Outcome:
    """Send ``probe``, stopping the body as soon as the server answers; the outcome with its timing."""
    before = server.rss_mb()
    sent = 0
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(_request_head(probe, server.port, server.token))
        try:
            for piece in probe.body():
                if _answered(sock):
                    break
                frame = piece if probe.declared is not None else b"%x\r\n%s\r\n" % (len(piece), piece)
                sock.sendall(frame)
                sent += len(piece)
            else:
                if probe.declared is None:
                    sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed while we were still sending
        status = _status(sock, timeout)
    seconds = time.monotonic() - started
    time.sleep(0.3)  # let the server release the request
    return Outcome(probe.name, status, seconds, sent / MB, server.rss_mb() - before)


def run_all(server: LiveServer) -> list[Outcome]:
    return [send(p, server) for p in probes()]


SERVER_ENV = {"QA_JOB_WORKERS": "0"}  # nothing runs in the background while memory is measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp, LiveServer(Path(tmp), SERVER_ENV) as server:
        start_rss = server.rss_mb()
        outcomes = run_all(server)
        print(f"{'probe':<34}{'status':>7}{'seconds':>9}{'sent MB':>9}{'RSS +MB':>9}")
        for o in outcomes:
            print(f"{o.name:<34}{o.status:>7}{o.seconds:>9.3f}{o.sent_mb:>9.1f}{o.rss_growth_mb:>9.1f}")
        print(f"server RSS {start_rss:.0f} MB at start, {server.rss_mb():.0f} MB after every probe")


if __name__ == "__main__":
    main()
