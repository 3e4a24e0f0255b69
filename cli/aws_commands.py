"""``aws mailmanager``'s archive commands, mirrored, and ``serve``, the same API over HTTP.

The commands take the AWS CLI's option names and print its JSON output (timestamps in ISO 8601).
Without ``--endpoint-url`` they run in this process against a state directory (``--home``), and
``start-archive-search`` and ``start-archive-export`` finish their job before they return; with
``--endpoint-url`` they send the same request through boto3 to ``mmarchive serve`` or to AWS
itself.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click

from api.links import DEFAULT_LINK_TTL_SECONDS
from cli.main import load_json_option, main, user_errors
from cli.timestamps import parse_cli_timestamp

F = TypeVar("F", bound=Callable[..., Any])
Call = Callable[[str, dict[str, Any]], dict[str, Any]]
DEFAULT_PORT = 8787
DEFAULT_REGION = "us-east-1"


def _error(code: str, operation: str, message: str) -> click.ClickException:
    # The AWS CLI's wording, so scripts that read its errors read ours.
    return click.ClickException(
        f"An error occurred ({code}) when calling the {operation} operation: {message}"
    )


def target_options(f: F) -> F:
    """Where the request goes: a local state directory, or an endpoint through boto3."""
    f = click.option(
        "--archive",
        "archive_paths",
        multiple=True,
        type=click.Path(path_type=Path, file_okay=False),
        help="Local mode: also answer for this archive folder (as `serve ARCHIVE`). Repeatable.",
    )(f)
    f = click.option("--region", help="With --endpoint-url: the region to sign for.")(f)
    f = click.option(
        "--endpoint-url",
        help="Send the request through boto3 to this endpoint (mmarchive serve, or AWS).",
    )(f)
    f = click.option(
        "--home",
        type=click.Path(path_type=Path, file_okay=False),
        help="Local mode: the state directory [default: $XDG_DATA_HOME/mmarchive].",
    )(f)
    return f


def _local_service(home: Path | None, archive_paths: tuple[Path, ...], **options: Any) -> Any:
    """An in-process ArchiveService that runs jobs at once; ``options`` go to its constructor."""
    from api.operations import ArchiveService, default_home

    with user_errors():
        return ArchiveService(home or default_home(), archive_paths, inline=True, **options)


def _call_service(service: Any, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    """One local call; the CLI mirror may leave out an export's time range."""
    from engine.errors import MMArchiveError

    try:
        result: dict[str, Any] = service.call(operation, params, open_time_range=True)
    except MMArchiveError as exc:
        raise _error(exc.code, operation, exc.message) from exc
    return result


def _local_call(
    home: Path | None, archive_paths: tuple[Path, ...]
) -> tuple[Call, Callable[[], None]]:
    service = _local_service(home, archive_paths)
    return (lambda operation, params: _call_service(service, operation, params)), service.close


def _remote_call(endpoint_url: str, region: str | None) -> Call:
    try:
        import boto3
        import botocore
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError as exc:
        raise click.ClickException("--endpoint-url needs boto3: pip install boto3") from exc
    from api.operations import OPERATIONS

    session = boto3.session.Session()
    config = Config(retries={"mode": "standard"})
    if session.get_credentials() is None:
        # mmarchive does not check signatures; AWS answers unsigned requests itself.
        config = config.merge(Config(signature_version=botocore.UNSIGNED))
    client = session.client(
        "mailmanager",
        endpoint_url=endpoint_url,
        region_name=region or session.region_name or DEFAULT_REGION,
        config=config,
    )

    def call(operation: str, params: dict[str, Any]) -> dict[str, Any]:
        try:
            response: dict[str, Any] = getattr(client, OPERATIONS[operation])(**params)
        except ClientError as exc:
            err = exc.response.get("Error", {})
            raise _error(err.get("Code", "Unknown"), operation, err.get("Message", "")) from exc
        except BotoCoreError as exc:
            raise click.ClickException(str(exc)) from exc
        response.pop("ResponseMetadata", None)
        return response

    return call


def _run(options: dict[str, Any], operation: str, params: dict[str, Any]) -> dict[str, Any]:
    """Send one request where the options say; `Error: ...` and exit 1 on failure."""
    request = {k: v for k, v in params.items() if v is not None}
    if options["endpoint_url"]:
        return _remote_call(options["endpoint_url"], options["region"])(operation, request)
    call, close = _local_call(options["home"], options["archive_paths"])
    try:
        return call(operation, request)
    finally:
        close()


def _print(result: dict[str, Any]) -> None:
    from cli.output import dumps

    click.echo(dumps(result))


def _target(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: kwargs.pop(k) for k in ("home", "endpoint_url", "region", "archive_paths")}


# -- paging as the AWS CLI does it ------------------------------------------------------------


def paging_options(f: F) -> F:
    f = click.option("--no-paginate", is_flag=True, help="Make one request only.")(f)
    f = click.option("--starting-token", help="A NextToken printed by an earlier call.")(f)
    f = click.option("--max-items", type=click.IntRange(min=1), help="Print at most this many.")(f)
    f = click.option("--page-size", type=int, help="Items per request (1-50).")(f)
    return f


def _encode_token(next_token: str | None, skip: int) -> str:
    # botocore's resume token: base64 of {"NextToken": ..., "boto_truncate_amount": n}.
    raw: dict[str, Any] = {"NextToken": next_token}
    if skip:
        raw["boto_truncate_amount"] = skip
    return base64.b64encode(json.dumps(raw).encode()).decode()


def _decode_token(token: str) -> tuple[str | None, int]:
    try:
        raw = json.loads(base64.b64decode(token, validate=True))
        return raw["NextToken"], int(raw.get("boto_truncate_amount", 0))
    except (ValueError, KeyError, TypeError, binascii.Error):
        return token, 0  # a service token as such


def _paginate(
    options: dict[str, Any],
    operation: str,
    params: dict[str, Any],
    result_key: str,
    paging: dict[str, Any],
) -> dict[str, Any]:
    """Every page merged (up to --max-items), with a NextToken to resume when cut short."""
    page_size, max_items = paging["page_size"], paging["max_items"]
    token, skip = _decode_token(paging["starting_token"]) if paging["starting_token"] else (None, 0)
    if paging["no_paginate"]:
        return _run(options, operation, {**params, "PageSize": page_size, "NextToken": token})
    items: list[Any] = []
    while True:
        response = _run(options, operation, {**params, "PageSize": page_size, "NextToken": token})
        page = response.get(result_key, [])[skip:]
        room = None if max_items is None else max_items - len(items)
        if room is not None and len(page) > room:
            items += page[:room]
            return {result_key: items, "NextToken": _encode_token(token, skip + room)}
        items += page
        skip = 0
        token = response.get("NextToken")
        if token is None:
            return {result_key: items}
        if room is not None and len(page) == room:
            return {result_key: items, "NextToken": _encode_token(token, 0)}


def _paging(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: kwargs.pop(k) for k in ("page_size", "max_items", "starting_token", "no_paginate")}


# -- structure options: JSON, file://, or the AWS CLI's Key=Value shorthand --------------------


def _load_json(value: str | None, option: str) -> Any:
    """An option's JSON, inline or ``file://PATH``, as the AWS CLI takes it."""
    with user_errors():
        return load_json_option(value, option)


def _structure(value: str | None, option: str) -> Any:
    """JSON, ``file://PATH``, or the AWS CLI's shorthand ``Key=Value,Key2=Value2``."""
    from engine.errors import ValidationException

    if value is None:
        return None
    if value.lstrip().startswith(("{", "[", "file://")):
        return _load_json(value.strip(), option)
    pairs = {}
    for part in value.split(","):
        key, sep, val = part.partition("=")
        if not sep or not key.strip():
            with user_errors():
                raise ValidationException(f"{option}: expected JSON or Key=Value,... ({value!r})")
        pairs[key.strip()] = val.strip()
    return pairs


# -- the commands ---------------------------------------------------------------------------


@main.command("start-archive-search")
@click.option("--archive-id", required=True)
@click.option("--filters", help="ArchiveFilters JSON (Include/Unless), inline or file://PATH.")
@click.option("--from-timestamp", required=True, help="ISO 8601 or epoch seconds (inclusive).")
@click.option("--to-timestamp", required=True, help="ISO 8601 or epoch seconds (exclusive).")
@click.option("--max-results", required=True, type=int, help="0 to 1000 rows.")
@target_options
def start_archive_search(**kwargs: Any) -> None:
    """StartArchiveSearch; locally the search has finished when this returns."""
    from engine.rows import ms_to_datetime

    options = _target(kwargs)
    with user_errors():
        filters = _load_json(kwargs["filters"], "--filters")
        from_ms = parse_cli_timestamp(kwargs["from_timestamp"], "--from-timestamp")
        to_ms = parse_cli_timestamp(kwargs["to_timestamp"], "--to-timestamp")
    assert from_ms is not None and to_ms is not None  # required options
    params = {
        "ArchiveId": kwargs["archive_id"],
        "Filters": filters,
        "FromTimestamp": ms_to_datetime(from_ms),
        "ToTimestamp": ms_to_datetime(to_ms),
        "MaxResults": kwargs["max_results"],
    }
    _print(_run(options, "StartArchiveSearch", params))


@main.command("get-archive-search")
@click.option("--search-id", required=True)
@target_options
def get_archive_search(**kwargs: Any) -> None:
    """GetArchiveSearch: the search's request and status."""
    options = _target(kwargs)
    _print(_run(options, "GetArchiveSearch", {"SearchId": kwargs["search_id"]}))


@main.command("get-archive-search-results")
@click.option("--search-id", required=True)
@target_options
def get_archive_search_results(**kwargs: Any) -> None:
    """GetArchiveSearchResults: the rows of a COMPLETED search."""
    options = _target(kwargs)
    _print(_run(options, "GetArchiveSearchResults", {"SearchId": kwargs["search_id"]}))


@main.command("stop-archive-search")
@click.option("--search-id", required=True)
@target_options
def stop_archive_search(**kwargs: Any) -> None:
    """StopArchiveSearch: cancels a search that has not finished."""
    options = _target(kwargs)
    _print(_run(options, "StopArchiveSearch", {"SearchId": kwargs["search_id"]}))


@main.command("list-archive-searches")
@click.option("--archive-id", required=True)
@paging_options
@target_options
def list_archive_searches(**kwargs: Any) -> None:
    """ListArchiveSearches: the archive's searches, newest first, every page."""
    options, paging = _target(kwargs), _paging(kwargs)
    params = {"ArchiveId": kwargs["archive_id"]}
    _print(_paginate(options, "ListArchiveSearches", params, "Searches", paging))


@main.command("list-archives")
@paging_options
@target_options
def list_archives(**kwargs: Any) -> None:
    """ListArchives: every archive, newest first, every page."""
    options, paging = _target(kwargs), _paging(kwargs)
    _print(_paginate(options, "ListArchives", {}, "Archives", paging))


@main.command("get-archive")
@click.option("--archive-id", required=True)
@target_options
def get_archive(**kwargs: Any) -> None:
    """GetArchive: name, state, retention and timestamps of an archive."""
    options = _target(kwargs)
    _print(_run(options, "GetArchive", {"ArchiveId": kwargs["archive_id"]}))


@main.command("create-archive")
@click.option("--archive-name", required=True)
@click.option("--retention", help='JSON or shorthand, e.g. "RetentionPeriod=ONE_YEAR".')
@click.option("--kms-key-arn")
@click.option("--tags", help='JSON list, e.g. \'[{"Key": "team", "Value": "ops"}]\'.')
@click.option("--client-token", help="Idempotency token: a retry with it creates nothing new.")
@target_options
def create_archive(**kwargs: Any) -> None:
    """CreateArchive: locally an empty archive in HOME/archives/NAME, for `ingest` to fill."""
    options = _target(kwargs)
    params = {
        "ArchiveName": kwargs["archive_name"],
        "Retention": _structure(kwargs["retention"], "--retention"),
        "KmsKeyArn": kwargs["kms_key_arn"],
        "Tags": _structure(kwargs["tags"], "--tags"),
        "ClientToken": kwargs["client_token"],
    }
    _print(_run(options, "CreateArchive", params))


@main.command("update-archive")
@click.option("--archive-id", required=True)
@click.option("--archive-name")
@click.option("--retention", help='JSON or shorthand, e.g. "RetentionPeriod=ONE_YEAR".')
@target_options
def update_archive(**kwargs: Any) -> None:
    """UpdateArchive: a new name or retention (kept in the state directory)."""
    options = _target(kwargs)
    params = {
        "ArchiveId": kwargs["archive_id"],
        "ArchiveName": kwargs["archive_name"],
        "Retention": _structure(kwargs["retention"], "--retention"),
    }
    _print(_run(options, "UpdateArchive", params))


@main.command("delete-archive")
@click.option("--archive-id", required=True)
@target_options
def delete_archive(**kwargs: Any) -> None:
    """DeleteArchive: marks the archive PENDING_DELETION; no file is deleted."""
    options = _target(kwargs)
    _print(_run(options, "DeleteArchive", {"ArchiveId": kwargs["archive_id"]}))


# -- exports and messages ----------------------------------------------------------------------


@contextlib.contextmanager
def export_progress() -> Iterator[Callable[[int, int], None]]:
    """A bar of messages written, on stderr when it is a terminal (a no-op otherwise).

    The bar appears with the first report, once the export knows how many messages it writes.
    """
    if not sys.stderr.isatty():
        yield lambda _done, _total: None
        return
    with contextlib.ExitStack() as stack:
        bars: list[Any] = []

        def update(done: int, total: int) -> None:
            if not bars:
                bars.append(
                    stack.enter_context(
                        click.progressbar(length=total, label="Exporting", file=sys.stderr)
                    )
                )
            bars[0].update(done - bars[0].pos)

        yield update


def destination_options(f: F) -> F:
    """Where exports go: the options of ``serve``, for start-archive-export's local mode."""
    f = click.option(
        "--s3-endpoint-url",
        help="With --s3-upload: the S3 endpoint [default: the standard AWS configuration].",
    )(f)
    f = click.option(
        "--s3-upload",
        is_flag=True,
        help="Send exports to the real S3 bucket of their S3Location (written to a staging "
        "folder under HOME first). Without it nothing leaves this machine.",
    )(f)
    f = click.option(
        "--export-root",
        type=click.Path(path_type=Path, file_okay=False),
        help="Write exports on this machine: S3Location s3://bucket/prefix becomes "
        "DIR/bucket/prefix/<ExportId>/.",
    )(f)
    return f


def _service_destination(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: kwargs.pop(k) for k in ("export_root", "s3_upload", "s3_endpoint_url")}


@main.command("start-archive-export")
@click.option("--archive-id", required=True)
@click.option("--filters", help="ArchiveFilters JSON (Include/Unless), inline or file://PATH.")
@click.option(
    "--from-timestamp",
    help="ISO 8601 or epoch seconds (inclusive). Locally optional: with no time range, undated "
    "messages are exported too.",
)
@click.option("--to-timestamp", help="ISO 8601 or epoch seconds (exclusive).")
@click.option("--max-results", type=int, help="At most this many messages [default: all].")
@click.option(
    "--include-metadata/--no-include-metadata",
    default=None,
    help="Also write <ArchivedMessageId>.metadata.json beside each message.",
)
@click.option(
    "--export-destination-configuration",
    required=True,
    help='JSON, inline or file://PATH: {"S3": {"S3Location": "s3://bucket/prefix"}}.',
)
@destination_options
@target_options
def start_archive_export(**kwargs: Any) -> None:
    """StartArchiveExport; locally the export has finished when this returns (exit 1 when it
    did not complete), with a progress bar on a terminal."""
    from engine.rows import ms_to_datetime

    options, destination = _target(kwargs), _service_destination(kwargs)
    with user_errors():
        filters = _load_json(kwargs["filters"], "--filters")
        config = _load_json(
            kwargs["export_destination_configuration"], "--export-destination-configuration"
        )
        from_ms = parse_cli_timestamp(kwargs["from_timestamp"], "--from-timestamp")
        to_ms = parse_cli_timestamp(kwargs["to_timestamp"], "--to-timestamp")
    params = {
        "ArchiveId": kwargs["archive_id"],
        "Filters": filters,
        "FromTimestamp": None if from_ms is None else ms_to_datetime(from_ms),
        "ToTimestamp": None if to_ms is None else ms_to_datetime(to_ms),
        "MaxResults": kwargs["max_results"],
        "ExportDestinationConfiguration": config,
        "IncludeMetadata": kwargs["include_metadata"],
    }
    if options["endpoint_url"]:
        if from_ms is None or to_ms is None:
            raise click.UsageError(
                "--from-timestamp and --to-timestamp are required with --endpoint-url "
                "(the API always has a time range)"
            )
        if destination["export_root"] or destination["s3_upload"]:
            raise click.UsageError(
                "--export-root and --s3-upload are for local mode; the server at "
                "--endpoint-url exports where it was started to"
            )
        _print(_run(options, "StartArchiveExport", params))
        return
    _print(_export_locally(options, destination, params))


def _export_locally(
    options: dict[str, Any], destination: dict[str, Any], params: dict[str, Any]
) -> dict[str, Any]:
    """Run the export in this process; ClickException unless it COMPLETED."""
    request = {k: v for k, v in params.items() if v is not None}
    with export_progress() as progress:
        service = _local_service(
            options["home"], options["archive_paths"], progress=progress, **destination
        )
        # Ctrl-C stops the export as StopArchiveExport would: the messages already written stay,
        # whole, with a manifest that says CANCELLED.
        previous = signal.signal(signal.SIGINT, lambda *_: service.export_runner.signal_stop_all())
        try:
            started = _call_service(service, "StartArchiveExport", request)
            export_id = {"ExportId": started["ExportId"]}
            status = _call_service(service, "GetArchiveExport", export_id)["Status"]
        finally:
            signal.signal(signal.SIGINT, previous)
            service.close()
    if status["State"] != "COMPLETED":
        reason = status.get("ErrorMessage", "stopped before it finished")
        _print(started)  # the id, to look the export up later, as the AWS CLI prints it
        raise click.ClickException(f"export {started['ExportId']} {status['State']}: {reason}")
    return started


@main.command("get-archive-export")
@click.option("--export-id", required=True)
@target_options
def get_archive_export(**kwargs: Any) -> None:
    """GetArchiveExport: the export's request and status."""
    options = _target(kwargs)
    _print(_run(options, "GetArchiveExport", {"ExportId": kwargs["export_id"]}))


@main.command("stop-archive-export")
@click.option("--export-id", required=True)
@target_options
def stop_archive_export(**kwargs: Any) -> None:
    """StopArchiveExport: cancels an export that has not finished (whole files stay)."""
    options = _target(kwargs)
    _print(_run(options, "StopArchiveExport", {"ExportId": kwargs["export_id"]}))


@main.command("list-archive-exports")
@click.option("--archive-id", required=True)
@paging_options
@target_options
def list_archive_exports(**kwargs: Any) -> None:
    """ListArchiveExports: the archive's exports, newest first, every page."""
    options, paging = _target(kwargs), _paging(kwargs)
    params = {"ArchiveId": kwargs["archive_id"]}
    _print(_paginate(options, "ListArchiveExports", params, "Exports", paging))


@main.command("get-archive-message")
@click.option("--archived-message-id", required=True)
@target_options
def get_archive_message(**kwargs: Any) -> None:
    """GetArchiveMessage: Envelope, Metadata and a download link; locally the link is a
    file:// URI to a copy of the original bytes under HOME/downloads/."""
    options = _target(kwargs)
    params = {"ArchivedMessageId": kwargs["archived_message_id"]}
    _print(_run(options, "GetArchiveMessage", params))


@main.command("get-archive-message-content")
@click.option("--archived-message-id", required=True)
@target_options
def get_archive_message_content(**kwargs: Any) -> None:
    """GetArchiveMessageContent: the message's text and HTML bodies."""
    options = _target(kwargs)
    params = {"ArchivedMessageId": kwargs["archived_message_id"]}
    _print(_run(options, "GetArchiveMessageContent", params))


@main.command()
@click.argument("archives", nargs=-1, type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--home",
    type=click.Path(path_type=Path, file_okay=False),
    help="State directory: jobs, results, archives made by CreateArchive "
    "[default: $XDG_DATA_HOME/mmarchive].",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--port",
    default=DEFAULT_PORT,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="0 picks a free port.",
)
@click.option("--workers", type=click.IntRange(min=1), help="Searches run at once [default: 4].")
@click.option(
    "--max-active-searches",
    default=64,
    show_default=True,
    type=click.IntRange(min=1),
    help="Queued or running searches before ServiceQuotaExceededException.",
)
@click.option(
    "--max-requests-per-second",
    type=click.FloatRange(min=0, min_open=True),
    help="Answer ThrottlingException above this rate [default: no limit].",
)
@click.option(
    "--read-only",
    is_flag=True,
    help="Refuse CreateArchive, UpdateArchive, DeleteArchive (AccessDeniedException).",
)
@destination_options
@click.option(
    "--link-ttl",
    default=DEFAULT_LINK_TTL_SECONDS,
    show_default=True,
    type=click.IntRange(min=1),
    help="Seconds a GetArchiveMessage download link stays valid.",
)
def serve(
    archives: tuple[Path, ...],
    home: Path | None,
    host: str,
    port: int,
    workers: int | None,
    max_active_searches: int,
    max_requests_per_second: float | None,
    read_only: bool,
    export_root: Path | None,
    s3_upload: bool,
    s3_endpoint_url: str | None,
    link_ttl: int,
) -> None:
    """Serve the archive API (AWS JSON 1.0, as boto3 speaks it) for ARCHIVE folders and every
    archive under HOME/archives. Prints `Serving on http://HOST:PORT` once it accepts requests.

    Exports go to --export-root (s3://bucket/prefix -> DIR/bucket/prefix/), or to S3 with
    --s3-upload; with neither, StartArchiveExport's jobs fail, saying so.
    """
    from api.operations import ArchiveService, default_home
    from api.server import make_server

    with user_errors():
        service = ArchiveService(
            home or default_home(),
            archives,
            workers=workers,
            read_only=read_only,
            max_active_searches=max_active_searches,
            export_root=export_root,
            s3_upload=s3_upload,
            s3_endpoint_url=s3_endpoint_url,
            link_ttl=link_ttl,
        )
    try:
        server = make_server(service, host, port, rate_limit=max_requests_per_second)
    except OSError as exc:
        service.close()
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    threading.Thread(target=_warm_up, args=(service,), daemon=True).start()
    click.echo(f"Serving on {server.url}")
    sys.stdout.flush()
    while not stop.wait(0.5):
        pass
    server.shutdown()
    server.server_close()
    service.close()


def _warm_up(service: Any) -> None:
    # Loading a large archive's table takes seconds: pay it now, not in the first search.
    try:
        service.warm_up()
    except Exception as exc:
        click.echo(f"mmarchive: warm-up failed: {exc}", err=True)
