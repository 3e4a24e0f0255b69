"""``aws mailmanager``'s archive commands, mirrored, and ``serve``, the same API over HTTP.

The commands take the AWS CLI's option names and print its JSON output (timestamps in ISO 8601).
Without ``--endpoint-url`` they run in this process against a state directory (``--home``), and
``start-archive-search`` finishes the search before it returns; with ``--endpoint-url`` they send
the same request through boto3 to ``mmarchive serve`` or to AWS itself.
"""

from __future__ import annotations

import base64
import binascii
import json
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from cli.main import main, user_errors
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


def _local_call(
    home: Path | None, archive_paths: tuple[Path, ...]
) -> tuple[Call, Callable[[], None]]:
    from api.operations import ArchiveService, default_home
    from engine.errors import MMArchiveError

    with user_errors():
        service = ArchiveService(home or default_home(), archive_paths, inline=True)

    def call(operation: str, params: dict[str, Any]) -> dict[str, Any]:
        try:
            return service.call(operation, params)
        except MMArchiveError as exc:
            raise _error(exc.code, operation, exc.message) from exc

    return call, service.close


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
    from engine.errors import ValidationException

    if value is None:
        return None
    text = value
    with user_errors():
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
def serve(
    archives: tuple[Path, ...],
    home: Path | None,
    host: str,
    port: int,
    workers: int | None,
    max_active_searches: int,
    max_requests_per_second: float | None,
    read_only: bool,
) -> None:
    """Serve the archive API (AWS JSON 1.0, as boto3 speaks it) for ARCHIVE folders and every
    archive under HOME/archives. Prints `Serving on http://HOST:PORT` once it accepts requests.
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
