"""``make bench SIZE=N MIX=default|small``: ingest and search figures, next to a DuckDB scan.

Generates (or reuses) a seeded export, ingests it in a child process (so its peak RSS is its own),
then runs a fixed suite of searches in-process, warm, with the mmarchive engine and with DuckDB
scanning the same Parquet columns (``contains(lower(col), lower(needle))``), checks that both
return the same rows, and prints a markdown table. Every figure goes to
``benchmarks/results/<size>-<mix>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SAMPLE = ROOT / "fixtures" / "sample-export"


def cache_root() -> Path:
    """Generated data lives outside git, keyed by (seed, size, mix)."""
    base = os.environ.get("MMARCHIVE_BENCH_CACHE") or Path.home() / ".cache" / "mmarchive-bench"
    return Path(base)


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# -- data -----------------------------------------------------------------------------------


def ensure_export(size: int, mix: str, seed: int) -> tuple[Path, dict[str, Any]]:
    from ingest.generate import generate_export

    folder = cache_root() / f"{seed}-{size}-{mix}"
    export = folder / "export"
    done = folder / "export.json"
    if done.is_file():
        return export, json.loads(done.read_text())
    if export.exists():
        import shutil

        shutil.rmtree(export)
    report = generate_export(export, size, seed=seed, mix=mix)
    figures = {
        "messages": report.messages,
        "bytes": report.bytes_written,
        "seconds": round(report.seconds, 2),
        "messages_per_s": round(report.messages / report.seconds, 1),
    }
    done.write_text(json.dumps(figures))
    return export, figures


def ensure_archive(export: Path) -> tuple[Path, dict[str, Any]]:
    archive = export.parent / "archive"
    done = export.parent / "ingest.json"
    if done.is_file():
        return archive, json.loads(done.read_text())
    if archive.exists():
        import shutil

        shutil.rmtree(archive)
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "cli", "ingest", str(export), str(archive), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    report = json.loads(result.stdout)
    export_bytes = folder_bytes(export)
    archive_bytes = folder_bytes(archive)
    figures = {
        "messages": report["messages_ingested"],
        "seconds": round(seconds, 2),
        "messages_per_s": round(report["messages_ingested"] / seconds, 1),
        "mb_per_s": round(report["bytes_ingested"] / seconds / 1e6, 2),
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "export_mb": round(export_bytes / 1e6, 1),
        "archive_mb": round(archive_bytes / 1e6, 1),
        "index_mb": round(folder_bytes(archive / "index") / 1e6, 1),
        "columns_mb": round(folder_bytes(archive / "columns") / 1e6, 1),
        "blobs_mb": round(folder_bytes(archive / "blobs") / 1e6, 1),
        "phases_s": report["seconds"],
    }
    done.write_text(json.dumps(figures))
    return archive, figures


# -- the search suite -----------------------------------------------------------------------


@dataclass
class Query:
    name: str
    filters: dict[str, Any] | None
    from_ms: int | None = None
    to_ms: int | None = None
    max_results: int = 100


def contains(attribute: str, *values: str) -> dict[str, Any]:
    return {
        "StringExpression": {
            "Evaluate": {"Attribute": attribute},
            "Operator": "CONTAINS",
            "Values": list(values),
        }
    }


COLUMN = {
    "SUBJECT": "subject",
    "FROM": "header_from",
    "TO": "header_to",
    "CC": "header_cc",
    "ENVELOPE_FROM": "envelope_from",
}


def duckdb_condition(condition: dict[str, Any], params: list[Any]) -> str:
    if "BooleanExpression" in condition:
        truth = condition["BooleanExpression"]["Operator"] == "IS_TRUE"
        return "has_attachments" if truth else "NOT has_attachments"
    expression = condition["StringExpression"]
    attribute = expression["Evaluate"]["Attribute"]
    parts = []
    for value in expression["Values"]:
        params.append(value)
        if attribute == "ENVELOPE_TO":
            parts.append(
                "list_bool_or(list_transform(envelope_to, lambda e: contains(lower(e), lower(?))))"
            )
        else:
            parts.append(f"contains(lower({COLUMN[attribute]}), lower(?))")
    return "coalesce(" + " OR ".join(parts) + ", false)"


def duckdb_sql(query: Query, columns: str) -> tuple[str, list[Any]]:
    params: list[Any] = []
    where = []
    filters = query.filters or {}
    for condition in filters.get("Include", []):
        where.append(duckdb_condition(condition, params))
    for condition in filters.get("Unless", []):
        where.append("NOT " + duckdb_condition(condition, params))
    if query.from_ms is not None:
        where.append("received_ms >= ?")
        params.append(query.from_ms)
    if query.to_ms is not None:
        where.append("received_ms < ?")
        params.append(query.to_ms)
    sql = (
        f"SELECT {columns} FROM messages WHERE {' AND '.join(where) or 'true'} "
        f"ORDER BY received_ms DESC NULLS LAST, archived_message_id LIMIT {query.max_results}"
    )
    return sql, params


def selectivity(con: Any, column: str, needle: str, sample: int) -> float:
    row = con.execute(
        f"SELECT avg(CASE WHEN contains(lower({column}), ?) THEN 1 ELSE 0 END) FROM "
        f"(SELECT {column} FROM messages USING SAMPLE {sample} ROWS (reservoir, 7))",
        [needle],
    ).fetchone()
    return float(row[0] or 0.0)


def pick_needle(con: Any, column: str, target: float, words: list[str], sample: int) -> str:
    """The candidate word whose share of matching rows is closest to ``target``."""
    best = min(words, key=lambda w: abs(selectivity(con, column, w, sample) - target))
    return best


def candidate_words(con: Any, column: str) -> list[str]:
    """Words and dotted names (``example.com``) seen in a sample of the column, ASCII only so
    that lower() and casefold agree on the needle."""
    import re

    rows = con.execute(
        f"SELECT {column} FROM messages USING SAMPLE 3000 ROWS (reservoir, 11)"
    ).fetchall()
    words: set[str] = set()
    for (value,) in rows:
        for word in re.findall(r"[a-z0-9][a-z0-9._-]*[a-z0-9]", (value or "").lower()):
            if 3 <= len(word) <= 16 and word.isascii():
                words.add(word)
    ordered = sorted(words)
    step = max(1, len(ordered) // 300)
    return ordered[::step]


def build_suite(con: Any, total: int) -> list[Query]:
    sample = min(total, 50_000)
    subject_words = candidate_words(con, "subject")
    from_words = candidate_words(con, "header_from")
    selective = pick_needle(con, "subject", 0.001, subject_words, sample)
    unselective = pick_needle(con, "header_from", 0.20, from_words, sample)
    near = sorted(subject_words, key=lambda w: abs(selectivity(con, "subject", w, sample) - 0.002))
    three = [w for w in near if w != selective][:3]
    unless = pick_needle(con, "subject", 0.05, subject_words, sample)
    env = con.execute(
        "SELECT e FROM (SELECT unnest(envelope_to) AS e FROM messages LIMIT 20000) "
        "GROUP BY e ORDER BY count(*) DESC, e LIMIT 1 OFFSET 40"
    ).fetchone()
    envelope = env[0].split("@")[0] if env else "a"
    newest = con.execute("SELECT max(received_ms) FROM messages").fetchone()[0] or 0
    thirty_days = 30 * 86_400_000
    return [
        Query("selective needle", {"Include": [contains("SUBJECT", selective)]}),
        Query("unselective needle", {"Include": [contains("FROM", unselective)]}),
        Query("3-value OR", {"Include": [contains("SUBJECT", *three)]}),
        Query(
            "Include + Unless",
            {"Include": [contains("FROM", unselective)], "Unless": [contains("SUBJECT", unless)]},
        ),
        Query(
            "HAS_ATTACHMENTS, 30 days",
            {
                "Include": [
                    {
                        "BooleanExpression": {
                            "Evaluate": {"Attribute": "HAS_ATTACHMENTS"},
                            "Operator": "IS_TRUE",
                        }
                    }
                ]
            },
            newest - thirty_days,
            newest + 1,
        ),
        Query("ENVELOPE_TO", {"Include": [contains("ENVELOPE_TO", envelope)]}),
        Query("2-character needle", {"Include": [contains("SUBJECT", "q4")]}),
        Query(
            "1,000-row projection", {"Include": [contains("FROM", unselective)]}, None, None, 1000
        ),
    ]


def timed(fn: Any, repeat: int) -> tuple[list[float], Any]:
    fn()  # warm
    times = []
    result = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    return times, result


def pct(times: list[float], q: float) -> float:
    ordered = sorted(times)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def run_suite(archive_path: Path, repeat: int) -> list[dict[str, Any]]:
    import duckdb

    from engine.rows import project_rows
    from engine.schema import ROW_COLUMNS
    from engine.search import search_archive
    from engine.store import Archive

    archive = Archive(archive_path)
    archive.table()
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE messages AS SELECT * EXCLUDE (fold_to, fold_from, fold_cc, fold_subject, "
        "fold_envelope_to, fold_envelope_from) "
        f"FROM read_parquet('{archive_path}/columns/*.parquet')"
    )
    total = archive.num_messages
    results = []
    for query in build_suite(con, total):
        figures: dict[str, Any] = {"query": query.name, "filters": query.filters}
        for path in ("auto", "index", "scan"):

            def engine_run(path: str = path, query: Query = query) -> Any:
                outcome = search_archive(
                    archive,
                    query.filters,
                    query.from_ms,
                    query.to_ms,
                    query.max_results,
                    path=path,  # type: ignore[arg-type]
                )
                return outcome, project_rows(outcome.records)

            times, (outcome, _rows) = timed(engine_run, repeat)
            figures[path] = {"p50_ms": pct(times, 0.5), "p95_ms": pct(times, 0.95)}
            if path == "auto":
                figures["matches"] = outcome.total
                figures["selectivity"] = round(outcome.total / max(total, 1), 5)
                figures["plan"] = outcome.plan.path
                ids = [r["archived_message_id"] for r in outcome.records]
        columns = ", ".join(f'"{c}"' for c in ROW_COLUMNS)
        sql, params = duckdb_sql(query, columns)
        times, rows = timed(
            lambda sql=sql, params=params: con.execute(sql, params).fetchall(), repeat
        )
        figures["duckdb"] = {"p50_ms": pct(times, 0.5), "p95_ms": pct(times, 0.95)}
        figures["same_rows"] = [r[0] for r in rows] == ids
        figures["ratio"] = round(
            figures["duckdb"]["p50_ms"] / max(figures["auto"]["p50_ms"], 1e-3), 1
        )
        results.append(figures)
    return results


# -- the server -----------------------------------------------------------------------------


def server_load(archive: Path, seconds: float, clients: int = 16) -> dict[str, Any]:
    """Full search flows against ``mmarchive serve`` (benchmarks/load_api.py, its own process)."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.load_api",
            str(archive),
            "--seconds",
            str(seconds),
            "--clients",
            str(clients),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return {"seconds": seconds, "clients": clients, "markdown": result.stdout.strip()}


# -- start-up -------------------------------------------------------------------------------


def cli_startup(repeat: int = 5) -> dict[str, float]:
    import tempfile

    exe = str(Path(sys.executable).with_name("mmarchive"))
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "archive"
        subprocess.run([exe, "ingest", str(SAMPLE), str(archive)], check=True, capture_output=True)
        figures = {}
        for name, args in (("help", ["--help"]), ("search", ["search", str(archive)])):
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                subprocess.run([exe, *args], check=True, capture_output=True)
                times.append((time.perf_counter() - started) * 1000)
            figures[f"{name}_ms"] = round(statistics.median(times), 1)
    return figures


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for package in ("tantivy", "pyarrow", "duckdb", "mmarchive"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "?"
    return out


def markdown(report: dict[str, Any]) -> str:
    ing = report["ingest"]
    lines = [
        f"### {report['size']:,} messages, mix `{report['mix']}`",
        "",
        "| ingest | msgs/s | MB/s | peak RSS | export | archive (index + columns + bytes) |",
        "|---|---:|---:|---:|---:|---:|",
        f"| {ing['messages']:,} msgs in {ing['seconds']} s | {ing['messages_per_s']:,} | "
        f"{ing['mb_per_s']} | {ing['peak_rss_mb']} MB | {ing['export_mb']} MB | "
        f"{ing['archive_mb']} MB ({ing['index_mb']} + {ing['columns_mb']} + {ing['blobs_mb']}) |",
        "",
        "| query | matches | plan | engine p50 / p95 ms | index p50 | scan p50 "
        "| DuckDB p50 / p95 ms | DuckDB ÷ engine | same rows |",
        "|---|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for q in report["search"]:
        lines.append(
            f"| {q['query']} | {q['matches']:,} ({q['selectivity'] * 100:.2f} %) | {q['plan']} | "
            f"{q['auto']['p50_ms']} / {q['auto']['p95_ms']} | {q['index']['p50_ms']} | "
            f"{q['scan']['p50_ms']} | {q['duckdb']['p50_ms']} / {q['duckdb']['p95_ms']} | "
            f"{q['ratio']}× | {'yes' if q['same_rows'] else 'NO'} |"
        )
    if "server" in report:
        lines += [
            "",
            "Server, full search flows (start, poll, results):",
            "",
            report["server"]["markdown"],
        ]
    if "cli" in report:
        cli = report["cli"]
        lines += [
            "",
            f"CLI start-up: `mmarchive --help` {cli['help_ms']} ms, "
            f"`mmarchive search` on the sample archive {cli['search_ms']} ms.",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--mix", choices=("default", "small"), default="default")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument(
        "--server-seconds", type=float, default=20, help="server load duration (0: skip)"
    )
    args = parser.parse_args(argv)
    export, generated = ensure_export(args.size, args.mix, args.seed)
    archive, ingested = ensure_archive(export)
    report: dict[str, Any] = {
        "size": args.size,
        "mix": args.mix,
        "seed": args.seed,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "versions": versions(),
        "generate": generated,
        "ingest": ingested,
        "search": run_suite(archive, args.repeat),
        "cli": cli_startup(),
    }
    if args.server_seconds > 0:
        report["server"] = server_load(archive, args.server_seconds)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.size}-{args.mix}.json").write_text(json.dumps(report, indent=1) + "\n")
    print(markdown(report))


if __name__ == "__main__":
    main()
