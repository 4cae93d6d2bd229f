"""The machinery of :mod:`bench.multihost`: "machines" as Linux network namespaces on one bridge, and
PostgreSQL and Redis on the bridge's host address, each with a password.

Needs root, ``ip`` (iproute2), ``unshare`` (util-linux), PostgreSQL and redis-server.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("bench")
NET, BRIDGE, PREFIX = "10.231.0", "qamh0", "qamh-"
LOCK = Path("/var/tmp/qa-multihost.lock")
MOUNT = Path("/mnt/qa-multihost-storage")  # QA_AUDIO_DIR on every node (the shared volume's mount point)
PG_PORT, REDIS_PORT = 5433, 6380
# inside a node: its hostname, a private /tmp, the shared folder at MOUNT, then the command
NODE_SHELL = 'hostname "$0" && mount -t tmpfs tmpfs /tmp && mount --bind "$1" "$2" && shift 2 && exec "$@"'


def sh(*cmd: str, check: bool = True) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr.strip()}")
    return done.stdout


@dataclass
class Node:
    """A machine: a network namespace with one address, its own hostname and /tmp."""

    name: str
    ip: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def ns(self) -> str:
        return PREFIX + self.name

    def create(self) -> None:
        host_end = f"{PREFIX}{self.name}"[:15]
        sh("ip", "netns", "add", self.ns)
        sh("ip", "link", "add", host_end, "type", "veth", "peer", "name", "eth0", "netns", self.ns)
        sh("ip", "link", "set", host_end, "master", BRIDGE, "up")
        for args in (["addr", "add", f"{self.ip}/24", "dev", "eth0"], ["link", "set", "eth0", "up"]):
            sh("ip", "-n", self.ns, *args)
        sh("ip", "-n", self.ns, "link", "set", "lo", "up")

    def command(self, storage: Path, *cmd: str) -> list[str]:
        inner = [self.name, str(storage), str(MOUNT), *cmd]
        return ["ip", "netns", "exec", self.ns, "unshare", "--uts", "--mount", "sh", "-c", NODE_SHELL, *inner]

    def run(self, storage: Path, env: dict[str, str], *cmd: str) -> str:
        done = subprocess.run(
            self.command(storage, *cmd), env=env, capture_output=True, text=True, timeout=300
        )
        if done.returncode != 0:
            raise RuntimeError(f"{self.name}: {' '.join(cmd)} failed: {done.stderr.strip()[-2000:]}")
        return done.stdout

    def start(self, storage: Path, env: dict[str, str], log_file: Path, *cmd: str) -> None:
        out = log_file.open("ab")
        self.procs.append(subprocess.Popen(self.command(storage, *cmd), env=env, stdout=out, stderr=out))

    def check(self) -> None:
        """Raise when a process of this machine ended by itself (a worker that could not start)."""
        for proc in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"a process of {self.name} exited with {proc.returncode}: see its log")

    def _signal_all(self, sig: signal.Signals) -> None:
        for pid in sh("ip", "netns", "pids", self.ns, check=False).split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), sig)

    def lose(self) -> None:
        """Every process of the machine SIGKILLed at once (a power cut), leases left behind."""
        self._signal_all(signal.SIGKILL)
        for proc in self.procs:
            proc.wait()

    def stop(self) -> None:
        self._signal_all(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.lose()

    def remove(self) -> None:
        self.lose()
        sh("ip", "netns", "del", self.ns, check=False)


@dataclass
class Services:
    """PostgreSQL and Redis on the bridge's host address, each in a folder of its own, each with a
    password: Redis refuses clients from other machines without one (protected mode), and a database
    open to a subnet without one would be a hole (found by this bench's first run)."""

    folder: Path
    secret: str = field(default_factory=lambda: secrets.token_hex(16))
    pg_bin: Path = field(init=False)

    def start(self) -> None:
        """The secret goes through files only the service's user reads (never a command line)."""
        self.pg_bin = Path(sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1])
        data = self.folder / "pg"
        self.folder.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.folder, "postgres")
        pwfile = self._secret_file("pgpass", "postgres")
        self._as_postgres(f"{self.pg_bin}/initdb -D {data} -A scram-sha-256 -U qa --pwfile {pwfile}")
        with (data / "pg_hba.conf").open("a") as hba:
            hba.write(f"host all all {NET}.0/24 scram-sha-256\n")
        opts = f"-p {PG_PORT} -k {self.folder} -c listen_addresses={NET}.1 -c unix_socket_permissions=0700"
        self._as_postgres(f"{self.pg_bin}/pg_ctl -D {data} -o '{opts}' -l {self.folder}/pg.log -w start")
        env = {**os.environ, "PGPASSWORD": self.secret}
        psql = [f"{self.pg_bin}/psql", "-h", f"{NET}.1", "-p", str(PG_PORT), "-U", "qa", "-d", "postgres"]
        subprocess.run([*psql, "-qc", "create database qa"], env=env, check=True, capture_output=True)
        conf = self._secret_file("redis.conf", "root", self._redis_conf())
        sh("redis-server", str(conf))

    def _redis_conf(self) -> str:
        lines = [
            f"port {REDIS_PORT}", f"bind {NET}.1", f"dir {self.folder}", 'save ""', "appendonly no",
            "daemonize yes", f"pidfile {self.folder}/redis.pid", f"logfile {self.folder}/redis.log",
            f"requirepass {self.secret}",
        ]  # fmt: skip
        return "\n".join(lines) + "\n"

    def _secret_file(self, name: str, user: str, text: str | None = None) -> Path:
        path = self.folder / name
        path.touch(mode=0o600)
        path.write_text(self.secret + "\n" if text is None else text)
        shutil.chown(path, user)
        return path

    def _as_postgres(self, cmd: str) -> None:
        sh("su", "postgres", "-s", "/bin/bash", "-c", cmd)

    @property
    def database_url(self) -> str:
        return f"postgresql+psycopg://qa:{self.secret}@{NET}.1:{PG_PORT}/qa"

    @property
    def redis_url(self) -> str:
        return f"redis://:{self.secret}@{NET}.1:{REDIS_PORT}/0"

    def stop(self) -> None:
        """Each service stopped on its own (a failure is logged; the other is still stopped)."""
        pid_file = self.folder / "redis.pid"
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
        if (self.folder / "pg" / "postmaster.pid").is_file():
            try:
                self._as_postgres(f"{self.pg_bin}/pg_ctl -D {self.folder / 'pg'} -m immediate stop")
            except RuntimeError as exc:
                log.warning("PostgreSQL did not stop: %s", exc)


def bridge_up() -> None:
    sh("ip", "link", "add", BRIDGE, "type", "bridge")
    sh("ip", "addr", "add", f"{NET}.1/24", "dev", BRIDGE)
    sh("ip", "link", "set", BRIDGE, "up")


def teardown(nodes: list[Node], services: Services) -> None:
    """Everything the run made, each step on its own, so one failure leaves nothing else behind."""
    for node in nodes:
        node.remove()
    services.stop()
    sh("ip", "link", "del", BRIDGE, check=False)
    with contextlib.suppress(OSError):
        MOUNT.rmdir()


@contextlib.contextmanager
def exclusive() -> Iterator[None]:
    """One run at a time on a machine: the names, addresses and ports are fixed, and a second run's
    teardown would take the first one's namespaces down."""
    with LOCK.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"another bench.multihost run holds {LOCK}; wait for it to end") from None
        yield
