"""Several machines on one: the distributed deployment run across Linux network namespaces.

    sudo python -m bench.multihost [--calls 16] [--chats 240] [--lose-after 0.25] [--keep]

Each "machine" is a network namespace with its own address, hostname (UTS namespace) and private
``/tmp`` (mount namespace), so nothing can pass between them except what a real deployment shares:
PostgreSQL and Redis on the host side of a bridge (``10.231.0.1``, reached over TCP, never loopback),
and one storage folder mounted at the same ``QA_AUDIO_DIR`` on every node (what NFS would be). The nodes:
``api-1`` runs ``qa db upgrade`` and ``qa serve`` (it only enqueues); ``worker-1`` and ``worker-2`` run
``qa worker``. The client, outside every node, submits short recordings and chat batches to the API
node. When ``--lose-after`` of the jobs are done, ``worker-1`` is lost (every process in its namespace
SIGKILLed at once: a machine gone) and ``worker-3`` is added (README: "to add capacity, start
``qa worker`` on another machine"). Prints: jobs done / submitted, dead, lost, conversations with more
than one result, the jobs each host was seen running, the jobs cut off by the loss and when each was
done again, and whether the API node serves every call's recording (written by whichever worker node
transcribed it) and the spool is empty (uploads written by the API node, deleted by the worker nodes).

Needs root, ``ip`` (iproute2), ``unshare`` (util-linux), PostgreSQL and redis-server (Debian packages,
as ``.ci/postgres.sh`` and ``.ci/redis.sh`` install them). Everything it creates is removed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import Engine

from bench.chaos import duplicated_results, finished_at, job_counts, running_leases, submit
from qa_pipeline.settings import Settings
from qa_pipeline.store import make_engine

log = logging.getLogger("bench")
NET, BRIDGE, PREFIX = "10.231.0", "qamh0", "qamh-"
LOCK = Path("/var/tmp/qa-multihost.lock")
MOUNT = Path("/mnt/qa-multihost-storage")  # QA_AUDIO_DIR on every node (the shared volume's mount point)
PG_PORT, REDIS_PORT, API_PORT = 5433, 6380, 8000
START_TIMEOUT_S, DONE_TIMEOUT_S = 180.0, 1800.0
HOLD_WAIT_S = 30.0  # how long the loss waits for worker-1 to hold jobs
BATCH = Settings.model_fields["job_batch_size"].default  # the nodes' setting (their QA_* come from here)
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


@dataclass
class Api:
    """What :func:`bench.chaos.submit` needs of a server: its address and an admin's headers."""

    url: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Report:
    submitted: int = 0
    done: int = 0
    dead: int = 0
    lost: int = 0
    duplicated: int = 0
    hosts: dict[str, set[str]] = field(default_factory=dict)  # host -> job ids seen running there
    cut_off: list[str] = field(default_factory=list)
    redone_s: list[float] = field(default_factory=list)
    most_held: int = 0
    recordings: tuple[int, int] = (0, 0)  # served by the API node / calls
    spool_left: int = 0
    wall_s: float = 0.0

    def lines(self) -> list[str]:
        redone = sorted(self.redone_s)
        per_host = ", ".join(f"{h} {len(ids)}" for h, ids in sorted(self.hosts.items()))
        return [
            f"jobs done {self.done}/{self.submitted}, dead {self.dead}, lost {self.lost}, "
            f"conversations with >1 result {self.duplicated}; wall {self.wall_s:.0f} s",
            f"jobs seen running per host: {per_host}; the most one worker's pass held at once: "
            f"{self.most_held} (QA_JOB_BATCH_SIZE {BATCH})",
            f"worker-1 lost with {len(self.cut_off)} jobs running; each done again after: "
            f"median {redone[len(redone) // 2] if redone else float('nan'):.1f} s, "
            f"max {max(redone, default=float('nan')):.1f} s",
            f"recordings served by api-1: {self.recordings[0]}/{self.recordings[1]}; "
            f"uploads left in the spool: {self.spool_left}",
        ]


def host_of(owner: str) -> str:
    """The host of a lease owner (``[prefix]host:pid:suffix``, the Dramatiq actors' prefix ``dq:``)."""
    return owner.rsplit(":", 2)[0].rpartition(":")[2]


class OwnerSampler(threading.Thread):
    """Which host each running job is leased to, read from the jobs table twice a second (a finished
    job's owner is cleared, so the lease is the only trace of where it ran)."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.halt = url, threading.Event()
        self.hosts: dict[str, set[str]] = {}
        self.most_held = 0  # the most jobs one lease owner (one worker's pass) held at once

    def run(self) -> None:
        engine = make_engine(self.url)
        try:
            while not self.halt.wait(0.5):
                self.sample(engine)
        finally:
            engine.dispose()

    def sample(self, engine: Engine) -> list[tuple[str, str]]:
        leases = running_leases(engine)
        held = Counter(owner for _, owner in leases)
        self.most_held = max(self.most_held, *held.values(), 0)
        rows = [(job, host_of(owner)) for job, owner in leases]
        for job, host in rows:
            self.hosts.setdefault(host, set()).add(job)
        return rows


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


def node_env(services: Services) -> dict[str, str]:
    """The same settings on every node (README: a multi-machine deployment)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    return env | {
        "QA_QUEUE": "dramatiq",
        "QA_DATABASE_URL": services.database_url,
        "QA_REDIS_URL": services.redis_url,
        "QA_AUDIO_DIR": str(MOUNT),
        "QA_LOG_LEVEL": "WARNING",
        "QA_JOB_LEASE_S": "10",
        "QA_JOB_SWEEP_S": "2",
        "QA_JOB_RETRY_BASE_S": "1",
        "QA_JOB_MAX_ATTEMPTS": "20",
    }


QA = (sys.executable, "-m", "qa_pipeline.cli")


def start_api(node: Node, storage: Path, env: dict[str, str], logs: Path) -> Api:
    node.run(storage, env, *QA, "db", "upgrade")
    token = node.run(storage, env, *QA, "users", "add", "multihost-admin", "--role", "admin").splitlines()[-1]
    node.start(
        storage, env, logs / f"{node.name}.log", *QA, "serve", "--host", node.ip, "--port", str(API_PORT)
    )
    api = Api(f"http://{node.ip}:{API_PORT}", token.strip())
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            if httpx.get(api.url + "/health", timeout=1).status_code == 200:
                return api
        except httpx.HTTPError:
            time.sleep(0.5)
    raise RuntimeError(f"qa serve on {node.name} did not answer within {START_TIMEOUT_S:.0f} s")


def start_worker(node: Node, storage: Path, env: dict[str, str], logs: Path) -> None:
    node.start(storage, env, logs / f"{node.name}.log", *QA, "worker", "--processes", "1", "--threads", "1")


def wait_done_share(url: str, submitted: int, share: float, nodes: list[Node]) -> None:
    deadline = time.monotonic() + DONE_TIMEOUT_S
    while time.monotonic() < deadline:
        for node in nodes:
            node.check()
        counts = job_counts(url)
        if counts.get("done", 0) + counts.get("dead", 0) >= share * submitted:
            return
        time.sleep(0.5)
    raise RuntimeError(f"fewer than {share:.0%} of {submitted} jobs final after {DONE_TIMEOUT_S:.0f} s")


def recordings_served(api: Api, calls: int) -> int:
    """How many of the calls' recordings the API node serves from the shared folder."""
    served = 0
    with httpx.Client(base_url=api.url, headers=api.headers, timeout=60) as client:
        for i in range(calls):
            r = client.get(f"/v1/conversations/chaos-call-{i:03d}/audio")
            served += r.status_code == 200 and r.content[:4] == b"RIFF"
    return served


def lose_and_add(
    nodes: dict[str, Node], sampler: OwnerSampler, engine_url: str, report: Report, start_new: object
) -> datetime:
    """worker-1 lost with the jobs it holds (the loss waits, up to :data:`HOLD_WAIT_S`, for a moment
    when it holds some, so the recovery is measured); worker-3 started in its place. Returns when
    worker-1 was lost."""
    engine = make_engine(engine_url)
    deadline = time.monotonic() + HOLD_WAIT_S
    try:
        while True:
            report.cut_off = [job for job, host in sampler.sample(engine) if host == "worker-1"]
            if report.cut_off or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    finally:
        engine.dispose()
    when = datetime.now(UTC)
    nodes["worker-1"].lose()
    log.warning("worker-1 lost with %d running jobs; worker-3 added", len(report.cut_off))
    start_new()  # type: ignore[operator]
    return when


def conclude(report: Report, url: str, lost_at: datetime, api: Api, args: argparse.Namespace) -> None:
    counts = job_counts(url)
    report.done, report.dead = counts.get("done", 0), counts.get("dead", 0)
    report.lost = report.submitted - sum(counts.values())
    report.duplicated = duplicated_results(url)
    for job in report.cut_off:
        again = finished_at(url, job)
        if again is not None:
            report.redone_s.append((again - lost_at).total_seconds())
    report.recordings = (recordings_served(api, args.calls), args.calls)


def run(folder: Path, args: argparse.Namespace) -> Report:
    storage, logs = folder / "storage", folder / "logs"
    for path in (storage, logs):
        path.mkdir(parents=True)
    MOUNT.mkdir(parents=True, exist_ok=True)
    names = {"api-1": 2, "worker-1": 3, "worker-2": 4, "worker-3": 5}
    nodes = {name: Node(name, f"{NET}.{n}") for name, n in names.items()}
    services = Services(folder / "services")
    report = Report()
    try:
        bridge_up()
        for node in nodes.values():
            node.create()
        services.start()
        env = node_env(services)
        api = start_api(nodes["api-1"], storage, env, logs)
        for name in ("worker-1", "worker-2"):
            start_worker(nodes[name], storage, env, logs)
        report = drive(nodes, api, storage, env, logs, services.database_url, args)
        report.spool_left = len(list((storage / "spool").glob("*")))
    finally:
        for node in nodes.values():
            node.stop()
        teardown(list(nodes.values()), services)
    return report


def drive(
    nodes: dict[str, Node],
    api: Api,
    storage: Path,
    env: dict[str, str],
    logs: Path,
    url: str,
    args: argparse.Namespace,
) -> Report:
    report = Report()
    sampler = OwnerSampler(url)
    sampler.start()
    started = time.monotonic()
    report.submitted = submit(api, args.calls, args.chats)  # type: ignore[arg-type]
    wait_done_share(url, report.submitted, args.lose_after, list(nodes.values()))
    lost_at = lose_and_add(
        nodes, sampler, url, report, lambda: start_worker(nodes["worker-3"], storage, env, logs)
    )
    wait_done_share(url, report.submitted, 1.0, [n for name, n in nodes.items() if name != "worker-1"])
    report.wall_s = time.monotonic() - started
    sampler.halt.set()
    sampler.join()
    report.hosts, report.most_held = sampler.hosts, sampler.most_held
    conclude(report, url, lost_at, api, args)
    return report


def preflight() -> str | None:
    """Why this machine cannot run the bench, or None."""
    if os.geteuid() != 0:
        return "run it as root: it creates network namespaces, a bridge and mounts"
    for tool in ("ip", "unshare", "redis-server", "su"):
        if shutil.which(tool) is None:
            return f"{tool} is missing (iproute2, util-linux, redis-server)"
    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        return "PostgreSQL is missing (apt-get install postgresql, or bash .ci/postgres.sh)"
    if subprocess.run(["ip", "netns", "add", f"{PREFIX}probe"], capture_output=True).returncode != 0:
        return "cannot create a network namespace here (a container without CAP_SYS_ADMIN / CAP_NET_ADMIN?)"
    sh("ip", "netns", "del", f"{PREFIX}probe", check=False)
    if sh("ip", "link", "show", BRIDGE, check=False):
        return f"{BRIDGE} exists (a run was interrupted?): ip link del {BRIDGE}; ip netns del each {PREFIX}*"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=16, help="short recordings (../shared/data/speech)")
    parser.add_argument("--chats", type=int, default=240, help="chats, in batches of 30")
    parser.add_argument(
        "--lose-after", type=float, default=0.25, help="share of jobs done when worker-1 is lost"
    )
    parser.add_argument("--keep", action="store_true", help="keep the folder (logs, storage) afterwards")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a CI timeout: the teardown still runs
    with exclusive():
        reason = preflight()
        if reason is not None:
            parser.error(reason)
        with scratch(keep=args.keep) as folder:
            report = run(folder, args)
    print("\n".join(report.lines()))
    if args.keep:
        print(f"logs and storage kept in {folder}")


@contextlib.contextmanager
def scratch(keep: bool = False) -> Iterator[Path]:
    """A folder outside /tmp (each node mounts a /tmp of its own over it) that the postgres user can
    enter; removed afterwards unless ``keep``."""
    folder = Path(tempfile.mkdtemp(prefix="qa-multihost-", dir="/var/tmp"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
