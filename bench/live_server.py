"""A real ``qa serve`` process on loopback for benchmarks and black-box tests.

    with LiveServer(tmp, env={"QA_PIPELINE_CONFIG": "..."}) as server:
        httpx.get(server.url + "/health")
        server.rss_mb()      # the server process's resident memory

The server gets a fresh SQLite database in ``folder`` (unless ``QA_DATABASE_URL`` is in ``env``), its
own storage folder, and an admin whose token is :attr:`LiveServer.token`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

START_TIMEOUT_S = 120.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


class LiveServer:
    def __init__(
        self,
        folder: Path,
        env: dict[str, str] | None = None,
        *,
        log_level: str = "WARNING",
        log_file: Path | None = None,
        serve_args: tuple[str, ...] = (),
    ) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "QA_DATABASE_URL": f"sqlite:///{folder / 'qa.db'}",
            "QA_AUDIO_DIR": str(folder / "store"),
            "QA_LOG_LEVEL": log_level,
            **(env or {}),
        }
        self.token = ""
        self.log_file = log_file
        self.serve_args = serve_args
        self.proc: subprocess.Popen[bytes] | None = None

    def _qa(self, *args: str) -> str:
        cmd = [sys.executable, "-m", "qa_pipeline.cli", *args]
        done = subprocess.run(cmd, env=self.env, capture_output=True, check=True, timeout=120)
        return done.stdout.decode().strip()

    def start(self) -> LiveServer:
        """Start the server (again, after :meth:`kill`) and wait until it answers /health."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if not self.token:
            self.token = self._qa("users", "add", "bench-admin", "--role", "admin").splitlines()[-1]
        cmd = [sys.executable, "-m", "qa_pipeline.cli", "serve", "--port", str(self.port), *self.serve_args]
        out = self.log_file.open("ab") if self.log_file is not None else None
        self.proc = subprocess.Popen(cmd, env=self.env, stdout=out, stderr=out)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"qa serve exited with {self.proc.returncode}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"qa serve did not answer within {START_TIMEOUT_S} s")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def rss_mb(self) -> float:
        return rss_mb(self.pid)

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs (a crash)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.stop()
