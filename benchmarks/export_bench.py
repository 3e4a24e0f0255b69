"""Export throughput: N generated messages exported to a local folder, messages/s and MB/s.

``python -m benchmarks.export_bench [--size N] [--mix default|small] [--seed S] [--no-metadata]``

Reuses the archive that ``benchmarks/run.py`` caches under
``~/.cache/mmarchive-bench/<seed>-<size>-<mix>/archive`` (or ``$MMARCHIVE_BENCH_CACHE``) when it is
complete; otherwise generates the export and ingests it under ``<cache>/export-bench/`` (kept for
the next run). The export itself goes to a fresh folder beside it and is deleted afterwards
(``--keep`` keeps it). Prints one markdown table line; ``--json`` prints the figures instead.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from engine.export import select_messages, write_export
from engine.store import Archive


def cache_root() -> Path:
    """The same cache folder as benchmarks/run.py."""
    base = os.environ.get("MMARCHIVE_BENCH_CACHE") or Path.home() / ".cache" / "mmarchive-bench"
    return Path(base)


def ensure_archive(size: int, mix: str, seed: int) -> Path:
    """run.py's cached archive when complete, else one built (once) with generate + ingest."""
    shared = cache_root() / f"{seed}-{size}-{mix}"
    if (shared / "ingest.json").is_file() and (shared / "archive").is_dir():
        return shared / "archive"
    from ingest.generate import generate_export
    from ingest.pipeline import ingest_export

    own = cache_root() / "export-bench" / f"{seed}-{size}-{mix}"
    archive = own / "archive"
    if (own / "done").is_file():
        return archive
    if own.exists():
        shutil.rmtree(own)
    own.mkdir(parents=True)
    print(f"generating {size} messages ({mix}) ...", file=sys.stderr)
    generate_export(own / "export", size, seed=seed, mix=mix)
    print("ingesting ...", file=sys.stderr)
    ingest_export(own / "export", archive)
    shutil.rmtree(own / "export")  # the archive holds the bytes; halve the disk used
    (own / "done").write_text("ok\n")
    return archive


def run(archive_path: Path, include_metadata: bool, keep: bool) -> dict[str, Any]:
    archive = Archive(archive_path)
    dest = archive_path.parent / "export-out"
    if dest.exists():
        shutil.rmtree(dest)
    started = time.perf_counter()
    selection = select_messages(archive, None, None, None, None)
    selected = time.perf_counter()
    result = write_export(archive, selection, dest, "bench", include_metadata=include_metadata)
    finished = time.perf_counter()
    if not keep:
        shutil.rmtree(dest)
    total = finished - started
    return {
        "messages": result.messages_exported,
        "mb": round(result.bytes_exported / 1e6, 1),
        "include_metadata": include_metadata,
        "select_s": round(selected - started, 2),
        "write_s": round(finished - selected, 2),
        "total_s": round(total, 2),
        "messages_per_s": round(result.messages_exported / total, 1),
        "mb_per_s": round(result.bytes_exported / 1e6 / total, 2),
    }


def markdown(figures: dict[str, Any], mix: str) -> str:
    metadata = "with metadata" if figures["include_metadata"] else "no metadata"
    return (
        f"| export {figures['messages']:,} ({mix}, {metadata}) | {figures['mb']} MB "
        f"| select {figures['select_s']} s | write {figures['write_s']} s "
        f"| {figures['messages_per_s']:,} messages/s | {figures['mb_per_s']} MB/s |"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--mix", choices=("default", "small"), default="default")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-metadata", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the exported folder")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    archive = ensure_archive(args.size, args.mix, args.seed)
    figures = run(archive, not args.no_metadata, args.keep)
    print(json.dumps(figures) if args.json else markdown(figures, args.mix))


if __name__ == "__main__":
    main()
