"""Load on ``mmarchive serve``: N concurrent boto3 clients running full search flows.

Each client loops for the given time: StartArchiveSearch (filters and a time window drawn from a
fixed, seeded pool), GetArchiveSearch until COMPLETED, GetArchiveSearchResults. Prints a markdown
table: requests/s, flows/s, p50/p95 latency per operation and per flow, errors (which must be 0).

    python -m benchmarks.load_api /tmp/b100k/archive --seconds 60 --clients 16

Without ``--endpoint-url`` it starts ``mmarchive serve ARCHIVE --port 0`` on a temporary home
and also reports the server's CPU time.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OPERATIONS = ("StartArchiveSearch", "GetArchiveSearch", "GetArchiveSearchResults")


def _string(attribute: str, *values: str) -> dict[str, Any]:
    return {
        "StringExpression": {
            "Evaluate": {"Attribute": attribute},
            "Operator": "CONTAINS",
            "Values": list(values),
        }
    }


ATTACHMENTS = {
    "BooleanExpression": {"Evaluate": {"Attribute": "HAS_ATTACHMENTS"}, "Operator": "IS_TRUE"}
}
FILTER_POOL: list[dict[str, Any] | None] = [
    None,
    {"Include": [_string("SUBJECT", "invoice")]},
    {"Include": [_string("SUBJECT", "re", "fw")], "Unless": [ATTACHMENTS]},
    {"Include": [_string("FROM", "example.com")]},
    {"Include": [_string("TO", "gmail"), ATTACHMENTS]},
    {"Include": [_string("ENVELOPE_TO", ".example")]},
    {"Include": [_string("CC", "smith")]},
    {"Include": [_string("SUBJECT", "meeting", "report", "update")]},
]


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    flows: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    rows: int = 0


def make_client(url: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "mailmanager",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(retries={"total_max_attempts": 1}, max_pool_connections=2),
    )


def one_flow(
    client: Any, archive_id: str, rng: random.Random, args: argparse.Namespace, tally: Tally
) -> bool:
    """Start, poll, fetch results; True when the flow completed without an error."""
    from botocore.exceptions import BotoCoreError, ClientError

    start = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=rng.randrange(0, 300))
    request: dict[str, Any] = {
        "ArchiveId": archive_id,
        "FromTimestamp": start,
        "ToTimestamp": start + timedelta(days=rng.choice((7, 30, 90, 400))),
        "MaxResults": args.max_results,
    }
    filters = rng.choice(FILTER_POOL)
    if filters is not None:
        request["Filters"] = filters

    def timed(operation: str, **params: Any) -> Any:
        began = time.perf_counter()
        try:
            return getattr(client, _snake(operation))(**params)
        finally:
            tally.latencies[operation].append(time.perf_counter() - began)

    began = time.perf_counter()
    try:
        search_id = timed("StartArchiveSearch", **request)["SearchId"]
        while True:
            state = timed("GetArchiveSearch", SearchId=search_id)["Status"]["State"]
            if state == "COMPLETED":
                break
            if state in ("FAILED", "CANCELLED"):
                tally.errors[f"search {state}"] += 1
                return False
            time.sleep(args.poll)
        rows = timed("GetArchiveSearchResults", SearchId=search_id)["Rows"]
    except ClientError as exc:
        tally.errors[exc.response["Error"]["Code"]] += 1
        return False
    except BotoCoreError as exc:
        tally.errors[type(exc).__name__] += 1
        return False
    tally.flows.append(time.perf_counter() - began)
    tally.rows += len(rows)
    return True


def _snake(operation: str) -> str:
    import re

    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def start_server(
    archive: Path, home: Path, workers: int | None
) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-c", "from cli.main import main; main()", "serve", str(archive)]
    command += ["--home", str(home), "--port", "0"]
    if workers:
        command += ["--workers", str(workers)]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("Serving on "):
        proc.kill()
        raise SystemExit(f"serve did not start: {line!r}")
    return proc, line.split()[-1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("archive", type=Path, help="the archive folder to serve and search")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--max-results", type=int, default=100)
    parser.add_argument("--poll", type=float, default=0.05, help="seconds between polls")
    parser.add_argument("--endpoint-url", help="an already running server (else one is started)")
    parser.add_argument("--workers", type=int, help="the server's search workers")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from engine.store import load_info

    archive_id = load_info(args.archive).archive_id
    home = Path(tempfile.mkdtemp(prefix="mmarchive-load-"))
    proc = None
    url = args.endpoint_url
    if url is None:
        proc, url = start_server(args.archive, home, args.workers)
    try:
        clients = [make_client(url) for _ in range(args.clients)]
        # One flow first: the server loads the archive's table then, not inside the clock.
        one_flow(clients[0], archive_id, random.Random(-1), args, Tally())
        cpu_before = cpu_seconds(proc.pid) if proc else 0.0
        own_before = _own_cpu()
        tallies = [Tally() for _ in clients]
        deadline = time.monotonic() + args.seconds
        began = time.monotonic()

        def worker(i: int) -> None:
            rng = random.Random(args.seed * 1000 + i)
            while time.monotonic() < deadline:
                one_flow(clients[i], archive_id, rng, args, tallies[i])

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - began
        cpu = (cpu_seconds(proc.pid) - cpu_before) if proc else None
        client_cpu = _own_cpu() - own_before
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)
    report(args, archive_id, tallies, elapsed, cpu, client_cpu)


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def report(
    args: argparse.Namespace,
    archive_id: str,
    tallies: list[Tally],
    elapsed: float,
    cpu: float | None,
    client_cpu: float,
) -> None:
    from engine.store import Archive

    latencies: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    flows: list[float] = []
    for tally in tallies:
        for operation, values in tally.latencies.items():
            latencies[operation] += values
        for code, n in tally.errors.items():
            errors[code] += n
        flows += tally.flows
    requests = sum(len(v) for v in latencies.values())
    messages = Archive(args.archive).num_messages
    print(
        f"{args.clients} clients, {elapsed:.1f} s, archive {archive_id} ({messages} messages), "
        f"MaxResults {args.max_results}, poll every {args.poll * 1000:.0f} ms, "
        f"{os.cpu_count()} CPUs"
    )
    print()
    print("| | requests | per second | p50 ms | p95 ms | max ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for operation in OPERATIONS:
        values = latencies.get(operation, [])
        print(
            f"| {operation} | {len(values)} | {len(values) / elapsed:.1f} | "
            f"{percentile(values, 0.5) * 1000:.1f} | {percentile(values, 0.95) * 1000:.1f} | "
            f"{max(values, default=0) * 1000:.1f} |"
        )
    all_values = [v for values in latencies.values() for v in values]
    print(
        f"| **all requests** | {requests} | {requests / elapsed:.1f} | "
        f"{percentile(all_values, 0.5) * 1000:.1f} | {percentile(all_values, 0.95) * 1000:.1f} | "
        f"{max(all_values, default=0) * 1000:.1f} |"
    )
    print(
        f"| **full flows** | {len(flows)} | {len(flows) / elapsed:.1f} | "
        f"{percentile(flows, 0.5) * 1000:.1f} | {percentile(flows, 0.95) * 1000:.1f} | "
        f"{max(flows, default=0) * 1000:.1f} |"
    )
    print()
    shown = ", ".join(f"{code}: {n}" for code, n in sorted(errors.items())) or "none"
    print(
        f"Errors: {sum(errors.values())} ({shown}). Rows fetched: {sum(t.rows for t in tallies)}."
    )
    # Clients and server share the machine: the clients' CPU shows how much the load costs them.
    server = f"server {cpu:.1f} s, " if cpu is not None else ""
    print(f"CPU in {elapsed:.1f} s: {server}clients {client_cpu:.1f} s.")


if __name__ == "__main__":
    main()
