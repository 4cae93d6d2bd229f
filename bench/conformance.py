"""The API against its own OpenAPI schema: schemathesis, every phase, with a token for each role.

    python -m bench.conformance [--examples 100] [--workers 2] [--seed 1] [--out out/conformance]

Starts ``qa serve`` on loopback (fresh SQLite file, the default pipeline), creates one user per role
(admin, qa, supervisor of T1, agent A01, kpi), stores the example conversations so that reads find
data, then runs ``st run`` once per role with ``--checks all`` over the phases examples, coverage,
fuzzing and stateful. Prints the requests the server answered (its access log) by status class,
the server errors (5xx, must be 0) and, per role, schemathesis' failures by check. The check
``positive_data_acceptance`` (ST202: a request the schema allows was refused) is reported apart: the
schema cannot say everything the server checks (that an upload is audio, that a CSV has the columns).
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

from bench.live_server import LiveServer
from qa_pipeline.settings import PROJECT_DIR

ROLES = {
    "admin": None,
    "qa": {"role": "qa"},
    "supervisor": {"role": "supervisor", "team": "T1"},
    "agent": {"role": "agent", "agent_id": "A01", "team": "T1"},
    "kpi": {"role": "kpi"},
}
PHASES = "examples,coverage,fuzzing,stateful"
ACCESS = re.compile(r'"(GET|POST|PUT|DELETE|PATCH|OPTIONS|HEAD|TRACE) [^"]*" (\d{3})')
FAILURE = re.compile(r"❌ (ST\d+) ([^:]+): (\d+)")


def seed(server: LiveServer) -> dict[str, str]:
    """Users per role (their tokens) and the example conversations."""
    tokens = {"admin": server.token}
    with httpx.Client(base_url=server.url, headers=server.headers, timeout=120) as client:
        for name, fields in ROLES.items():
            if fields is None:
                continue
            r = client.post("/v1/users", json={"name": f"st-{name}", **fields})
            r.raise_for_status()
            tokens[name] = r.json()["token"]
        lines = (PROJECT_DIR / "examples" / "conversations.jsonl").read_text("utf-8").splitlines()
        for line in lines:
            if line.strip():
                client.post("/v1/conversations", json=json.loads(line)).raise_for_status()
    return tokens


def run_role(server: LiveServer, role: str, token: str, args: argparse.Namespace) -> dict[str, int]:
    cmd = [
        "st", "run", f"{server.url}/openapi.json",
        "-H", f"Authorization: Bearer {token}",
        "--checks", "all",
        "--phases", PHASES,
        "-n", str(args.examples),
        "--workers", str(args.workers),
        "--seed", str(args.seed),
        "--output-truncate", "false",
    ]  # fmt: skip
    if role == "admin":  # the admin must not revoke the token the run uses (the API refuses self-revocation)
        cmd += ["--exclude-path-regex", "revoke"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    (args.out / f"st-{role}.txt").write_text(done.stdout + done.stderr, encoding="utf-8")
    return {f"{code} {name.strip()}": int(n) for code, name, n in FAILURE.findall(done.stdout)}


def access_counts(log: Path) -> collections.Counter[str]:
    counts: collections.Counter[str] = collections.Counter()
    for _method, status in ACCESS.findall(log.read_text(encoding="utf-8", errors="replace")):
        counts[status] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=PROJECT_DIR / "out" / "conformance")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "server.log"
    log.unlink(missing_ok=True)
    failures: dict[str, dict[str, int]] = {}
    env = {"QA_LOG_LEVEL": "INFO"}
    with tempfile.TemporaryDirectory() as tmp, LiveServer(Path(tmp), env, log_file=log) as server:
        tokens = seed(server)
        for role, token in tokens.items():
            failures[role] = run_role(server, role, token, args)
            print(f"{role:<11} {failures[role] or 'no failures'}", flush=True)
    counts = access_counts(log)
    total = sum(counts.values())
    by_class = collections.Counter(f"{s[0]}xx" for s in counts.elements())
    print(f"requests answered: {total}  by class: {dict(sorted(by_class.items()))}")
    print(f"server errors (5xx): {by_class.get('5xx', 0)}")
    gating = {r: {k: v for k, v in f.items() if not k.startswith("ST202")} for r, f in failures.items()}
    other = sum(sum(f.values()) for f in gating.values())
    refused = sum(n for f in failures.values() for k, n in f.items() if k.startswith("ST202"))
    print(f"schema violations and other failures (all but ST202): {other}")
    print(f"ST202 schema-valid requests refused: {refused}")
    sys.exit(1 if by_class.get("5xx", 0) or any(gating.values()) else 0)


if __name__ == "__main__":
    main()
