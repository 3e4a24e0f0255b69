"""The ``mmarchive`` command: thin click front ends over the library.

Heavy modules (tantivy, pyarrow, duckdb) are imported inside the commands, so ``--help`` and
argument errors answer at once.
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from cli.timestamps import parse_cli_timestamp

F = TypeVar("F", bound=Callable[..., Any])


class Context:
    debug = False


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option("0.1.0", prog_name="mmarchive")
@click.option("--debug", is_flag=True, help="Show the full traceback when a command fails.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Search exported Amazon SES Mail Manager archives offline, as the cloud's archive search
    does: ingest an export, then search it with the same Include/Unless filters."""
    ctx.obj = Context()
    ctx.obj.debug = debug


@contextmanager
def user_errors() -> Iterator[None]:
    """A library error becomes ``Error: ...`` and exit 1 (traceback only with --debug)."""
    from engine.errors import MMArchiveError

    try:
        yield
    except MMArchiveError as exc:
        if _debug():
            traceback.print_exc()
        raise click.ClickException(exc.message) from exc
    except OSError as exc:
        if _debug():
            traceback.print_exc()
        where = f"{exc.filename}: " if exc.filename else ""
        raise click.ClickException(f"{where}{exc.strerror or exc}") from exc


def _debug() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx and isinstance(ctx.find_root().obj, Context) and ctx.find_root().obj.debug)


@contextmanager
def progress_bar(label: str, enabled: bool, stream: Any = None) -> Iterator[Callable[[int], None]]:
    """A live count on stderr when it is a terminal (the total is not known in advance: walking
    a million-file export twice would cost more than the count is worth); a no-op otherwise or
    with --silent."""
    out = sys.stderr if stream is None else stream
    if not enabled or not out.isatty():
        yield lambda _n: None
        return
    started = time.monotonic()
    shown = 0.0

    def update(n: int) -> None:
        nonlocal shown
        now = time.monotonic()
        if now - shown >= 0.2:  # at most five redraws a second
            shown = now
            rate = n / max(now - started, 1e-9)
            out.write(f"\r{label}: {n:,} files ({rate:,.0f}/s)")
            out.flush()

    try:
        yield update
    finally:
        out.write("\r\033[K")
        out.flush()


def open_archive(path: Path) -> Any:
    from engine.store import Archive

    return Archive(path)


@main.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.argument("archive", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the ingest report as one JSON object.")
@click.option("--silent", is_flag=True, help="No progress bar.")
@click.option(
    "--batch-size",
    default=5000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Messages per committed batch (memory grows with it).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=None,
    help="Processes that read and parse ahead (default: one per core; 0: none).",
)
def ingest(
    source: Path, archive: Path, as_json: bool, silent: bool, batch_size: int, workers: int | None
) -> None:
    """Ingest the export folder SOURCE into the archive folder ARCHIVE (created when missing).

    SOURCE is never written to. Rerunning adds only what is new; a killed run can be rerun.
    """
    from cli.output import dumps
    from ingest.pipeline import ingest_export

    with user_errors(), progress_bar("Ingesting", not (silent or as_json)) as update:
        report = ingest_export(
            source, archive, progress=update, batch_messages=batch_size, workers=workers
        )
    if as_json:
        click.echo(dumps(report.as_dict()))
        return
    click.echo(
        f"{report.files_seen} files seen: {report.messages_ingested} messages ingested, "
        f"{report.messages_already_present} already present, {len(report.rejected)} rejected, "
        f"{len(report.not_messages)} not messages, "
        f"{report.metadata_attached} metadata documents attached, "
        f"{report.metadata_warned} not attached"
    )
    click.echo(
        f"Archive {report.archive_id}; {report.messages_without_metadata} of the new messages "
        f"have no metadata (ENVELOPE_FROM/ENVELOPE_TO cannot match them), "
        f"{report.messages_undated} have no timestamp."
    )
    for entry in report.rejected:
        click.echo(f"rejected: {entry['path']}: {entry['reason']}", err=True)
    for path in report.not_messages[:20]:
        click.echo(f"not a message: {path}", err=True)
    for entry in report.warnings[:20]:
        click.echo(f"warning: {entry['path']}: {entry['reason']}", err=True)
    if len(report.warnings) > 20:
        click.echo(f"... and {len(report.warnings) - 20} more warnings (see --json)", err=True)
    if report.interrupted:
        click.echo("Interrupted: rerun the same command to finish.", err=True)
        sys.exit(130)


def load_json_option(value: str | None, option: str = "--filters") -> Any:
    """An option's JSON, inline or ``file://PATH``, as the AWS CLI takes it.

    Raises ValidationException naming the option.
    """
    import json

    from engine.errors import ValidationException

    if value is None:
        return None
    text = value
    if value.startswith("file://"):
        path = Path(value[len("file://") :])
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValidationException(f"{option}: cannot read {path}: {exc.strerror}") from exc
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValidationException(f"{option}: not valid JSON ({exc})") from exc


@main.command()
@click.argument("archive", type=click.Path(path_type=Path))
@click.option("--filters", help="ArchiveFilters JSON (Include/Unless), inline or file://PATH.")
@click.option("--from-timestamp", "from_ts", help="Start, inclusive: ISO 8601 or epoch seconds.")
@click.option("--to-timestamp", "to_ts", help="End, exclusive: ISO 8601 or epoch seconds.")
@click.option(
    "--max-results",
    default=100,
    show_default=True,
    type=click.IntRange(min=0),
    help="At most this many rows (may exceed the API's 1000 here).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "jsonl", "table", "csv"]),
    default="json",
    show_default=True,
)
@click.option("--explain", is_flag=True, help="Print the compiled plan instead of rows.")
@click.option(
    "--path",
    "path_choice",
    type=click.Choice(["auto", "index", "scan"]),
    default="auto",
    show_default=True,
    help="Force the index or the scan path (both are exact; see README).",
)
def search(
    archive: Path,
    filters: str | None,
    from_ts: str | None,
    to_ts: str | None,
    max_results: int,
    fmt: str,
    explain: bool,
    path_choice: str,
) -> None:
    """Search ARCHIVE as StartArchiveSearch does; print GetArchiveSearchResults' rows.

    With no time range every message is searched, undated ones included.
    """
    from cli.output import dumps, format_rows

    with user_errors():
        raw_filters = load_json_option(filters)
        from_ms = parse_cli_timestamp(from_ts, "--from-timestamp")
        to_ms = parse_cli_timestamp(to_ts, "--to-timestamp")
        from engine.rows import project_rows
        from engine.schema import ROW_MEMBERS
        from engine.search import plan_search, search_archive, validate_time_range

        store = open_archive(archive)
        if explain:
            from engine.filters import parse_filters

            validate_time_range(from_ms, to_ms)
            plan, _ = plan_search(
                store,
                parse_filters(raw_filters),
                from_ms,
                to_ms,
                path=path_choice,  # type: ignore[arg-type]
            )
            click.echo(dumps(plan.as_dict()))
            return
        outcome = search_archive(
            store,
            raw_filters,
            from_ms,
            to_ms,
            max_results,
            path=path_choice,  # type: ignore[arg-type]
        )
    rows = project_rows(outcome.records)
    click.echo(format_rows(rows, fmt, tuple(m for m, _ in ROW_MEMBERS)))
    if outcome.total > len(rows):
        click.echo(
            f"Showing {len(rows)} of {outcome.total} matching messages; "
            f"use --max-results {outcome.total} to see them all.",
            err=True,
        )


@main.command()
@click.argument("archive", type=click.Path(path_type=Path))
def verify(archive: Path) -> None:
    """Re-hash every stored message of ARCHIVE; exit 1 when any differs or is missing."""
    from engine.store import verify_archive

    with user_errors():
        report = verify_archive(open_archive(archive))
    for problem in report.problems:
        click.echo(f"{problem['ArchivedMessageId']}: {problem['problem']}")
    click.echo(f"{report.checked} messages checked, {len(report.problems)} problems")
    if not report.ok:
        sys.exit(1)


@main.command()
@click.argument("dest", type=click.Path(path_type=Path))
@click.option("--count", default=1000, show_default=True, type=click.IntRange(min=0))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option(
    "--mix", type=click.Choice(["default", "small"]), default="default", show_default=True
)
@click.option("--silent", is_flag=True, help="No progress bar.")
def generate(dest: Path, count: int, seed: int, mix: str, silent: bool) -> None:
    """Write a seeded, realistic synthetic export of COUNT messages to DEST."""
    from ingest.generate import generate_export

    with user_errors(), progress_bar("Generating", not silent) as update:
        report = generate_export(dest, count, seed=seed, mix=mix, progress=update)
    click.echo(
        f"{report.messages} messages, {report.metadata_files} metadata files, "
        f"{report.bytes_written} bytes in {report.seconds:.1f} s"
    )


import cli.validate_commands  # noqa: E402,F401  (registers validate, validate-export)
from cli import aws_commands  # noqa: E402,F401  (registers the aws-style commands)
