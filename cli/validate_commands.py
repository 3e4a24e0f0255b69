"""``validate`` and ``validate-export``: compare with the cloud's answer and say why they differ.

Exit 0 when the answers are identical, 1 when they differ, 2 on bad input (unreadable or
malformed files, an archive that is not one, a search the service cannot give): exit 1 already
means "they differ" here, so a user's mistake cannot share it as it does elsewhere.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from cli.main import main, open_archive, progress_bar, user_errors

EXIT_DIFFER = 1
EXIT_BAD_INPUT = 2
# boto3 needs a region even for a local endpoint, where any will do.
ENDPOINT_REGION = "us-east-1"


class BadInput(click.ClickException):
    """``Error: ...`` with exit 2."""

    exit_code = EXIT_BAD_INPUT


@contextmanager
def bad_input() -> Iterator[None]:
    """user_errors (``Error: ...``, traceback with --debug), with exit 2 instead of 1."""
    try:
        with user_errors():
            yield
    except click.ClickException as exc:
        raise BadInput(exc.message) from exc


def load_json_file(path: Path, option: str) -> object:
    """The JSON document in ``path``. Raises MalformedInputError naming the option."""
    from engine.validate import MalformedInputError

    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM is harmless: editors add one
    except OSError as exc:
        raise MalformedInputError(f"{option}: cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise MalformedInputError(f"{option}: {path} is not UTF-8 text") from exc
    try:
        return json.loads(text)
    except ValueError as exc:
        raise MalformedInputError(f"{option}: {path} is not valid JSON ({exc})") from exc


def fetch_search(search_id: str, endpoint_url: str | None, region: str | None) -> tuple[Any, Any]:
    """GetArchiveSearch and GetArchiveSearchResults of ``search_id`` through boto3.

    Raises click.ClickException when boto3 is missing or the service refuses.
    """
    try:
        import boto3
        import botocore
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError as exc:
        raise click.ClickException("--search-id needs boto3: pip install boto3") from exc

    session = boto3.session.Session()
    config = Config(retries={"mode": "standard"})
    if session.get_credentials() is None and endpoint_url is not None:
        # mmarchive serve checks no signature; without credentials boto3 would refuse to send.
        config = config.merge(Config(signature_version=botocore.UNSIGNED))
    fallback = ENDPOINT_REGION if endpoint_url is not None else None
    operation = "GetArchiveSearch"
    try:
        client = session.client(
            "mailmanager",
            endpoint_url=endpoint_url,
            region_name=region or session.region_name or fallback,
            config=config,
        )
        search = client.get_archive_search(SearchId=search_id)
        state = search.get("Status", {}).get("State")
        if state != "COMPLETED":
            raise click.ClickException(
                f"search {search_id} is {state}; validate it once it is COMPLETED"
            )
        operation = "GetArchiveSearchResults"
        results = client.get_archive_search_results(SearchId=search_id)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "Unknown"), error.get("Message", "")
        raise click.ClickException(f"{operation}: {code}: {message}") from exc
    except BotoCoreError as exc:
        raise click.ClickException(f"{operation}: {exc}") from exc
    search.pop("ResponseMetadata", None)
    results.pop("ResponseMetadata", None)
    return search, results


@main.command()
@click.argument("archive", type=click.Path(path_type=Path))
@click.option(
    "--search-request",
    type=click.Path(path_type=Path),
    help="StartArchiveSearch input or GetArchiveSearch output (JSON file).",
)
@click.option(
    "--cloud-results",
    type=click.Path(path_type=Path),
    help='GetArchiveSearchResults output, {"Rows": [...]} (JSON file).',
)
@click.option("--search-id", help="Fetch the request and results of this search instead.")
@click.option(
    "--endpoint-url", help="With --search-id: the service's URL (mmarchive serve, or AWS)."
)
@click.option("--region", help="With --search-id: the AWS region [default: AWS configuration].")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def validate(
    archive: Path,
    search_request: Path | None,
    cloud_results: Path | None,
    search_id: str | None,
    endpoint_url: str | None,
    region: str | None,
    fmt: str,
) -> None:
    """Run the cloud's search on ARCHIVE and compare, row by row, with the cloud's results.

    Give the two JSON files, or --search-id (with --endpoint-url or the AWS configuration) to
    fetch both through boto3. Each difference is explained by the first cause of a fixed list
    that makes it disappear (see the README). Exit 0 identical, 1 different, 2 bad input.
    """
    if search_id is not None and (search_request or cloud_results):
        raise click.UsageError("give --search-id or the two files, not both")
    if search_id is None and not (search_request and cloud_results):
        raise click.UsageError("give --search-request and --cloud-results (or --search-id)")
    if search_id is None and (endpoint_url or region):
        raise click.UsageError("--endpoint-url and --region go with --search-id")
    with bad_input():
        from engine.validate import parse_cloud_rows, parse_search_request, validate_search

        if search_id is not None:
            raw_request, raw_results = fetch_search(search_id, endpoint_url, region)
            request = parse_search_request(raw_request, f"GetArchiveSearch {search_id}")
            cloud = parse_cloud_rows(raw_results, f"GetArchiveSearchResults {search_id}")
        else:
            assert search_request is not None and cloud_results is not None
            request = parse_search_request(
                load_json_file(search_request, "--search-request"), str(search_request)
            )
            cloud = parse_cloud_rows(
                load_json_file(cloud_results, "--cloud-results"), str(cloud_results)
            )
        report = validate_search(open_archive(archive), request, cloud)
    _print(report.as_dict(), fmt)
    if not report.identical:
        raise SystemExit(EXIT_DIFFER)


@main.command("validate-export")
@click.argument("export", type=click.Path(path_type=Path))
@click.option(
    "--cloud-results",
    type=click.Path(path_type=Path),
    required=True,
    help='GetArchiveSearchResults output, {"Rows": [...]} (JSON file).',
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option("--silent", is_flag=True, help="No progress bar.")
def validate_export(export: Path, cloud_results: Path, fmt: str, silent: bool) -> None:
    """Check that the export folder EXPORT holds every message the cloud's results list, and
    that each gives the row the cloud reported. Exit 0 identical, 1 different, 2 bad input.

    The export is read as `ingest` reads it, into a temporary archive (deleted afterwards).
    """
    with bad_input():
        from engine.validate import parse_cloud_rows
        from ingest.validate_export import validate_export as run_validate_export

        cloud = parse_cloud_rows(
            load_json_file(cloud_results, "--cloud-results"), str(cloud_results)
        )
        with progress_bar("Reading the export", not (silent or fmt == "json")) as update:
            outcome = run_validate_export(export, cloud, progress=update)
    _print(outcome.as_dict(), fmt)
    if not outcome.report.identical:
        raise SystemExit(EXIT_DIFFER)


def _print(report: dict[str, Any], fmt: str) -> None:
    from cli.output import dumps

    click.echo(dumps(report) if fmt == "json" else format_report(report))


def format_report(report: dict[str, Any]) -> str:
    """The text form of a validate report (the dict of ValidationReport.as_dict)."""
    counts = report["counts"]
    lines = []
    local = f"{counts['local_rows']} local rows"
    if "export" in report:
        export = report["export"]
        local = f"{export['messages']} messages in the export"
        if export["rejected"]:
            local += f" ({len(export['rejected'])} files rejected)"
    elif "local_matches_before_max_results" in counts:
        local += f" ({counts['local_matches_before_max_results']} matched before MaxResults)"
    lines.append(f"{counts['cloud_rows']} cloud rows, {local}.")
    parts = [f"{counts['matched']} matched", f"{counts['differing']} differing"]
    if "export" in report:
        parts.append(f"{counts['missing_locally']} missing from the export")
    else:
        parts.append(f"{counts['missing_locally']} missing locally")
        parts.append(f"{counts['extra_locally']} extra locally")
    summary = ", ".join(parts)
    if counts["order_differs"]:
        summary += "; the order differs"
    lines.append(summary + ".")
    if counts["paired_by"]:
        keys = ", ".join(f"{n} by {key}" for key, n in counts["paired_by"].items())
        lines.append(f"Paired {keys}.")
    titles = dict(_KIND_TITLES)
    if "export" in report:
        titles["missing_locally"] = "missing from the export"
    for difference in report["differences"]:
        lines.append("")
        lines.extend(_format_difference(difference, titles))
    lines.append("")
    if report["identical"]:
        lines.append("Identical.")
    else:
        causes = ", ".join(f"{cause} {n}" for cause, n in counts["causes"].items())
        lines.append(f"{counts['differences']} differences: {causes}.")
    return "\n".join(lines)


_KIND_TITLES = {
    "missing_locally": "missing locally",
    "extra_locally": "extra locally",
    "member": "differs",
    "order": "order differs",
}


def _format_difference(difference: dict[str, Any], titles: dict[str, str]) -> list[str]:
    row = difference["row"]
    head = [titles[difference["kind"]] + ":"]
    head += [str(row[m]) for m in ("ArchivedMessageId", "ReceivedTimestamp") if m in row]
    if "Subject" in row:
        head.append(json.dumps(row["Subject"], ensure_ascii=False))
    if difference["kind"] == "member":
        head.append(f"[{difference['values'][0]['member']}]")
    if difference.get("paired_by") not in (None, "ArchivedMessageId"):
        head.append(f"(paired by {difference['paired_by']})")
    lines = [" ".join(head)]
    for value in difference.get("values", []):
        for side in ("cloud", "local"):
            shown = value[side]
            if isinstance(shown, list) and difference["kind"] == "order":
                shown = ", ".join(str(v) for v in shown)
            else:
                shown = "(absent)" if shown is None else json.dumps(shown, ensure_ascii=False)
            label = value["member"] if difference["kind"] != "order" else "order"
            lines.append(f"  {side} {label}: {shown}")
    cause = difference["cause_text"]
    if difference["cause"] == "header-read-differently":
        cause += ": " + ", ".join(v["member"] for v in difference["values"])
    lines.append(f"  cause: {cause} [{difference['cause']}]")
    if difference.get("also_explained_by"):
        lines.append(f"  also explained by: {', '.join(difference['also_explained_by'])}")
    if difference.get("note"):
        lines.append(f"  note: {difference['note']}")
    return lines
