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
import logging
import os
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
from bench.netns import BRIDGE, MOUNT, NET, PREFIX, Node, Services, bridge_up, exclusive, sh, teardown
from qa_pipeline.settings import Settings
from qa_pipeline.store import make_engine

log = logging.getLogger("bench")
API_PORT = 8000
START_TIMEOUT_S, DONE_TIMEOUT_S = 180.0, 1800.0
HOLD_WAIT_S = 30.0  # how long the loss waits for worker-1 to hold jobs
BATCH = Settings.model_fields["job_batch_size"].default  # the nodes' setting (their QA_* come from here)


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
