"""The archive operations: one method each, plain arguments in, response shape dicts out.

``ArchiveService.call(operation, params)`` is the single entry of the server and of the CLI's
local mode: it validates the request against the model (api/validate.py), calls the operation's
method with snake_case arguments, and applies SEMANTICS §6's rule for unknown ids. Responses carry
timestamps as aware UTC datetimes; the wire turns them into epoch seconds, the CLI into ISO 8601.

Searches and exports are jobs (api/jobs.py). An export writes SEMANTICS §7's folder through
engine/export.py: ``s3://bucket/prefix`` stands for ``<export root>/bucket/prefix/`` on this
machine, and reaches a real bucket only when the operator started the service with ``s3_upload``.
A message is read through its archive's reader, which checks the stored bytes' SHA-256.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from api.archives import (
    ACTIVE,
    DEFAULT_RETENTION,
    PENDING_DELETION,
    ArchiveEntry,
    ArchiveRegistry,
    open_reader,
)
from api.jobs import (
    CANCELLED,
    COMPLETED,
    RELEASE_FILE,
    TERMINAL_STATES,
    Job,
    JobCancelled,
    JobContext,
    JobRunner,
    JobStore,
    ProcessLease,
)
from api.links import DEFAULT_LINK_TTL_SECONDS, LinkSigner
from api.paging import page_response, paginate
from api.shapes import load_model
from api.validate import validate_request
from engine.errors import (
    AccessDeniedException,
    ConflictException,
    MMArchiveError,
    ResourceNotFoundException,
    ServiceQuotaExceededException,
    ValidationException,
)
from engine.rows import datetime_to_ms, ms_to_datetime, project_envelope

SEARCH_RUNNING = "RUNNING"
EXPORT_PREPROCESSING = "PREPROCESSING"  # selecting the messages, as the search would
EXPORT_PROCESSING = "PROCESSING"  # writing them (and uploading, with s3_upload)
ROWS_RESULT = "rows"
DEFAULT_MAX_ACTIVE_SEARCHES = 64
DEFAULT_MAX_ACTIVE_EXPORTS = 16
DEFAULT_WORKERS = 4
# Exports are bound by the disk, not the CPU: two at once keep it busy without thrashing it.
DEFAULT_EXPORT_WORKERS = 2
SERVER_STOPPED = "The mmarchive server stopped before this {noun} finished; start it again"
S3_LOCATION = "ExportDestinationConfiguration.S3.S3Location"
NO_EXPORT_ROOT = (
    f"{S3_LOCATION}: no export root is set, so {{location}} leads nowhere: start "
    "`mmarchive serve` (or run `mmarchive start-archive-export`) with --export-root DIR "
    "(s3://bucket/prefix is then written to DIR/bucket/prefix/), or with --s3-upload to send "
    "the export to S3"
)
LINK_GONE = "The message of this download link is no longer served"
DOWNLOADS_DIR = "downloads"
STAGING_DIR = "exports-staging"

Progress = Callable[[int, int], None]

if TYPE_CHECKING:
    from engine.export import ExportSelection
    from engine.store import Archive

# The operations this service answers, by the name X-Amz-Target carries.
OPERATIONS: dict[str, str] = {
    name: re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
    for name in (
        "CreateArchive",
        "GetArchive",
        "ListArchives",
        "UpdateArchive",
        "DeleteArchive",
        "StartArchiveSearch",
        "GetArchiveSearch",
        "GetArchiveSearchResults",
        "StopArchiveSearch",
        "ListArchiveSearches",
        "StartArchiveExport",
        "GetArchiveExport",
        "StopArchiveExport",
        "ListArchiveExports",
        "GetArchiveMessage",
        "GetArchiveMessageContent",
    )
}
MUTATING = frozenset({"CreateArchive", "UpdateArchive", "DeleteArchive"})
# SEMANTICS §1, §4: the API always has a time range; the CLI mirror may export without one
# (undated messages included), so its local calls may leave these members out.
OPEN_TIME_RANGE = frozenset({"FromTimestamp", "ToTimestamp"})


def default_home() -> Path:
    """``$XDG_DATA_HOME/mmarchive``, else ``~/.local/share/mmarchive``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "mmarchive"


def _snake(member: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", member).lower()


def _ns_to_datetime(ns: int) -> datetime:
    return ms_to_datetime(ns // 1_000_000)


def _unknown_archive(archive_id: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"ArchiveId: no archive {archive_id!r}")


def _unknown_search(search_id: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"SearchId: no search {search_id!r}")


def _unknown_export(export_id: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"ExportId: no export {export_id!r}")


def _unknown_message(archived_message_id: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"ArchivedMessageId: no message {archived_message_id!r}")


class MessageUnreadable(MMArchiveError):
    """Stored bytes that fail their SHA-256: the archive's fault, never the caller's."""

    code = "InternalFailure"
    http_status = 500


def _write_bytes_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class ArchiveService:
    """The archive API over a state directory (``home``) and the archives it answers for.

    ``inline`` runs jobs before Start* returns (the CLI's local mode); ``read_only`` refuses
    CreateArchive, UpdateArchive and DeleteArchive with AccessDeniedException.

    Exports: ``export_root`` is the folder ``s3://bucket/prefix`` maps to (``export_root/bucket/
    prefix/``); without it an export FAILS, saying so. ``s3_upload`` sends exports to real S3
    instead (``s3_endpoint_url``, else the standard AWS configuration), written first to a
    staging folder under ``home``. ``progress(done, total)`` hears of every export's messages
    (the CLI's progress bar). Download links live ``link_ttl`` seconds.
    """

    def __init__(
        self,
        home: Path,
        archives: Sequence[Path] = (),
        *,
        inline: bool = False,
        workers: int | None = None,
        read_only: bool = False,
        max_active_searches: int = DEFAULT_MAX_ACTIVE_SEARCHES,
        max_active_exports: int = DEFAULT_MAX_ACTIVE_EXPORTS,
        export_root: Path | None = None,
        s3_upload: bool = False,
        s3_endpoint_url: str | None = None,
        link_ttl: int = DEFAULT_LINK_TTL_SECONDS,
        progress: Progress | None = None,
    ) -> None:
        if s3_upload and export_root is not None:
            # One destination per service, so that a reader of the config knows where evidence
            # goes: a local copy when uploading would be a second, silent one.
            raise ValidationException(
                "--export-root writes exports on this machine and --s3-upload sends them to S3: "
                "choose one"
            )
        self.registry = ArchiveRegistry(home, archives)
        self.home = home
        self.read_only = read_only
        self.max_active_searches = max_active_searches
        self.max_active_exports = max_active_exports
        self.export_root = export_root
        self.s3_upload = s3_upload
        self.s3_endpoint_url = s3_endpoint_url
        self.progress = progress
        self.links = LinkSigner(link_ttl)
        self.lease = ProcessLease(home)
        self.searches = JobStore(home, "searches", "search", self.lease)
        self.searches.fail_orphans()
        self.search_runner = JobRunner(
            self.searches,
            # Searches spend much of their time in tantivy and Arrow, outside the GIL: a few
            # more workers than cores keep the cores busy while others wait on the GIL.
            workers=workers or DEFAULT_WORKERS,
            inline=inline,
            hold_release=home / RELEASE_FILE,
            result_names=(ROWS_RESULT,),
        )
        self.exports = JobStore(home, "exports", "export", self.lease)
        self.exports.fail_orphans()
        self.export_runner = JobRunner(
            self.exports,
            workers=DEFAULT_EXPORT_WORKERS,
            inline=inline,
            hold_release=home / RELEASE_FILE,
        )
        self._clean_staging()

    def close(self) -> None:
        """Stop the workers; jobs of this process still unfinished become FAILED."""
        self.search_runner.shutdown(SERVER_STOPPED.format(noun="search"))
        self.export_runner.shutdown(SERVER_STOPPED.format(noun="export"))
        self.lease.close()

    def warm_up(self) -> None:
        """Load every archive's table and index now, so the first search is as fast as the rest."""
        for entry in self.registry.entries():
            reader = open_reader(entry.info.path)
            reader.table()
            reader.searcher()

    # -- the single entry ------------------------------------------------------------------
    def call(
        self,
        operation: str,
        params: object,
        *,
        link_base: str | None = None,
        open_time_range: bool = False,
    ) -> dict[str, Any]:
        """Validate ``params`` (the request's members) and run ``operation``.

        ``link_base`` is the URL the caller reached the server at (``http://host:port``):
        GetArchiveMessage's link leads back there; without one (the CLI's local mode) the link is
        a ``file://`` URI. ``open_time_range`` lets the CLI mirror export without a time range.
        Raises the MMArchiveError the operation answers (SEMANTICS §6).
        """
        optional = OPEN_TIME_RANGE if open_time_range else frozenset()
        checked = validate_request(operation, params, not_required=optional)
        if self.read_only and operation in MUTATING:
            raise AccessDeniedException(
                f"{operation}: this mmarchive serves its archives read-only (--read-only)"
            )
        method = getattr(self, OPERATIONS[operation])
        arguments = {_snake(k): v for k, v in checked.items()}
        if operation == "GetArchiveMessage":
            arguments["link_base"] = link_base  # not a member: where the request came in
        try:
            result: dict[str, Any] = method(**arguments)
        except ResourceNotFoundException as exc:
            # SEMANTICS §6: an unknown id is ResourceNotFound only where the model lists it.
            if "ResourceNotFoundException" in load_model().error_codes(operation):
                raise
            raise ValidationException(exc.message) from exc
        except PermissionError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            raise AccessDeniedException(f"{where}permission denied") from exc
        return result

    # -- archives --------------------------------------------------------------------------
    def _archive(self, archive_id: str) -> ArchiveEntry:
        entry = self.registry.find(archive_id)
        if entry is None:
            raise _unknown_archive(archive_id)
        return entry

    def _check_name_free(self, name: str, archive_id: str | None = None) -> None:
        for entry in self.registry.entries():
            if entry.name == name and entry.archive_id != archive_id:
                raise ConflictException(
                    f"ArchiveName: an archive named {name!r} exists already ({entry.archive_id})"
                )

    def _now_ms(self) -> int:
        return datetime_to_ms(datetime.now(UTC))

    def create_archive(
        self,
        archive_name: str,
        client_token: str | None = None,
        retention: dict[str, Any] | None = None,
        kms_key_arn: str | None = None,
        tags: list[dict[str, str]] | None = None,
    ) -> dict[str, Any]:
        """CreateArchive: an empty archive in ``<home>/archives/<name>``, for ingest to fill."""
        from engine.store import create_archive

        with self.registry.lock:
            if client_token is not None:
                for entry in self.registry.entries():
                    if entry.record.get("ClientToken") == client_token:
                        if entry.name != archive_name:
                            raise ConflictException(
                                "ClientToken: already used by a request for another archive"
                            )
                        return {"ArchiveId": entry.archive_id}  # a retry of the same request
            self._check_name_free(archive_name)
            info = create_archive(self.registry.new_folder(archive_name), archive_name)
            record: dict[str, Any] = {
                "ArchiveState": ACTIVE,
                "Retention": retention or DEFAULT_RETENTION,
                "LastUpdatedMs": self._now_ms(),
            }
            for key, value in (
                ("KmsKeyArn", kms_key_arn),
                ("Tags", tags),
                ("ClientToken", client_token),
            ):
                if value is not None:
                    record[key] = value
            self.registry.save_record(info.archive_id, record)
            self.registry.refresh()
        return {"ArchiveId": info.archive_id}

    def get_archive(self, archive_id: str) -> dict[str, Any]:
        """GetArchive."""
        entry = self._archive(archive_id)
        out: dict[str, Any] = {
            "ArchiveId": entry.archive_id,
            "ArchiveName": entry.name,
            "ArchiveArn": entry.arn,
            "ArchiveState": entry.state,
            "Retention": entry.record.get("Retention") or DEFAULT_RETENTION,
            "CreatedTimestamp": ms_to_datetime(entry.created_ms),
            "LastUpdatedTimestamp": ms_to_datetime(entry.updated_ms),
        }
        if "KmsKeyArn" in entry.record:
            out["KmsKeyArn"] = entry.record["KmsKeyArn"]
        return out

    def list_archives(
        self, next_token: str | None = None, page_size: int | None = None
    ) -> dict[str, Any]:
        """ListArchives: newest created first."""
        page, token = paginate(
            self.registry.entries(),
            lambda e: (e.created_ms, e.archive_id),
            scope="archives",
            page_size=page_size,
            next_token=next_token,
        )
        archives = [
            {
                "ArchiveId": e.archive_id,
                "ArchiveName": e.name,
                "ArchiveState": e.state,
                "LastUpdatedTimestamp": ms_to_datetime(e.updated_ms),
            }
            for e in page
        ]
        return page_response("Archives", archives, token)

    def update_archive(
        self,
        archive_id: str,
        archive_name: str | None = None,
        retention: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """UpdateArchive: name and retention, kept in the state directory."""
        with self.registry.lock:
            entry = self._archive(archive_id)
            if entry.state != ACTIVE:
                raise ConflictException(
                    f"ArchiveId: archive {archive_id!r} is {entry.state} and cannot be changed"
                )
            record = dict(entry.record)
            if archive_name is not None:
                self._check_name_free(archive_name, archive_id)
                record["ArchiveName"] = archive_name
            if retention is not None:
                record["Retention"] = retention
            record["LastUpdatedMs"] = self._now_ms()
            self.registry.save_record(archive_id, record)
        return {}

    def delete_archive(self, archive_id: str) -> dict[str, Any]:
        """DeleteArchive: marks PENDING_DELETION (again: nothing changes); no file is deleted."""
        with self.registry.lock:
            entry = self._archive(archive_id)
            if entry.state != PENDING_DELETION:
                now = self._now_ms()
                record = {
                    **entry.record,
                    "ArchiveState": PENDING_DELETION,
                    "DeletionRequestedMs": now,
                    "LastUpdatedMs": now,
                }
                self.registry.save_record(archive_id, record)
        return {}

    # -- searches --------------------------------------------------------------------------
    def _search(self, search_id: str) -> Job:
        job = self.searches.get(search_id)
        if job is None:
            raise _unknown_search(search_id)
        return job

    def start_archive_search(
        self,
        archive_id: str,
        from_timestamp: datetime,
        to_timestamp: datetime,
        max_results: int,
        filters: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """StartArchiveSearch: a QUEUED job; the pool runs it (at once when inline)."""
        from engine.filters import dump_filters, parse_filters

        entry = self._archive(archive_id)
        if entry.state != ACTIVE:
            raise ConflictException(
                f"ArchiveId: archive {archive_id!r} is {entry.state} and cannot be searched"
            )
        parsed = parse_filters(filters)
        if self.search_runner.active_count() >= self.max_active_searches:
            raise ServiceQuotaExceededException(
                f"StartArchiveSearch: {self.max_active_searches} searches are queued or running "
                "already, the most this server runs at once; start this one when one finishes"
            )
        echo: dict[str, Any] = {
            "ArchiveId": archive_id,
            "FromTimestamp": datetime_to_ms(from_timestamp),
            "ToTimestamp": datetime_to_ms(to_timestamp),
            "MaxResults": max_results,
        }
        if filters is not None:
            echo["Filters"] = dump_filters(parsed)
        job = self.searches.create(archive_id, echo)
        path = entry.info.path

        def work(ctx: JobContext) -> None:
            from engine.rows import project_rows
            from engine.search import search_archive

            ctx.enter(SEARCH_RUNNING)
            outcome = search_archive(
                open_reader(path),
                filters,
                echo["FromTimestamp"],
                echo["ToTimestamp"],
                max_results,
            )
            rows = project_rows(outcome.records)
            for row in rows:
                if "ReceivedTimestamp" in row:
                    row["ReceivedTimestamp"] = datetime_to_ms(row["ReceivedTimestamp"])
            ctx.check()
            ctx.save(ROWS_RESULT, {"Rows": rows})

        self.search_runner.submit(job, work)
        return {"SearchId": job.job_id}

    def _job_status(self, job: Job) -> dict[str, Any]:
        # Members in the order of the SearchStatus and ExportStatus shapes (the same four).
        status: dict[str, Any] = {"SubmissionTimestamp": _ns_to_datetime(job.submitted_ns)}
        if job.completed_ns is not None:
            status["CompletionTimestamp"] = _ns_to_datetime(job.completed_ns)
        status["State"] = job.state
        if job.error_message is not None:
            status["ErrorMessage"] = job.error_message
        return status

    def get_archive_search(self, search_id: str) -> dict[str, Any]:
        """GetArchiveSearch: the request echo and the status."""
        job = self._search(search_id)
        echo = job.request
        out: dict[str, Any] = {"ArchiveId": job.archive_id}
        if "Filters" in echo:
            out["Filters"] = echo["Filters"]
        out["FromTimestamp"] = ms_to_datetime(echo["FromTimestamp"])
        out["ToTimestamp"] = ms_to_datetime(echo["ToTimestamp"])
        out["MaxResults"] = echo["MaxResults"]
        out["Status"] = self._job_status(job)
        return out

    def get_archive_search_results(self, search_id: str) -> dict[str, Any]:
        """GetArchiveSearchResults: the rows of a COMPLETED search (ConflictException before)."""
        job = self._search(search_id)
        if job.state != COMPLETED:
            raise ConflictException(
                f"SearchId: search {search_id!r} is {job.state}; results exist once it is "
                f"{COMPLETED}"
            )
        rows: list[dict[str, Any]] = self.searches.read_result(search_id, ROWS_RESULT)["Rows"]
        for row in rows:
            if "ReceivedTimestamp" in row:
                row["ReceivedTimestamp"] = ms_to_datetime(row["ReceivedTimestamp"])
        return {"Rows": rows}

    def stop_archive_search(self, search_id: str) -> dict[str, Any]:
        """StopArchiveSearch: CANCELLED when unfinished; a finished search stays as it is."""
        job = self._search(search_id)
        if job.state not in TERMINAL_STATES:
            self.searches.finish(search_id, CANCELLED)
        return {}

    def list_archive_searches(
        self, archive_id: str, next_token: str | None = None, page_size: int | None = None
    ) -> dict[str, Any]:
        """ListArchiveSearches: newest submitted first."""
        return self._list_jobs(
            self.searches, archive_id, ("searches", "SearchId", "Searches"), next_token, page_size
        )

    # -- exports ---------------------------------------------------------------------------
    def _export(self, export_id: str) -> Job:
        from engine.export import check_path_name

        # An id that would name a path outside the job folder is refused as such, before any
        # lookup (the job store would not find it either).
        check_path_name(export_id, "ExportId")
        job = self.exports.get(export_id)
        if job is None:
            raise _unknown_export(export_id)
        return job

    def _clean_staging(self) -> None:
        """Remove staging folders of uploads whose export has finished (a crash leaves them)."""
        staging = self.home / STAGING_DIR
        if not staging.is_dir():
            return
        for folder in staging.iterdir():
            job = self.exports.get(folder.name)
            if job is None or job.finished:
                shutil.rmtree(folder, ignore_errors=True)

    def _check_destination(self, s3_location: str) -> None:
        """Refuse, at Start, a location that is malformed or would escape the export root."""
        from engine.export import parse_s3_location, resolve_s3_location

        if self.export_root is not None and not self.s3_upload:
            resolve_s3_location(s3_location, self.export_root)
        else:
            parse_s3_location(s3_location)

    def start_archive_export(
        self,
        archive_id: str,
        export_destination_configuration: dict[str, Any],
        from_timestamp: datetime | None = None,
        to_timestamp: datetime | None = None,
        filters: dict[str, Any] | None = None,
        max_results: int | None = None,
        include_metadata: bool | None = None,
    ) -> dict[str, Any]:
        """StartArchiveExport: a QUEUED job that selects (PREPROCESSING), then writes
        (PROCESSING) what the same search would find, to the export root or S3."""
        from engine.filters import dump_filters, parse_filters

        # The request's own faults first, then the archive it names.
        parsed = parse_filters(filters)
        if max_results is not None and max_results < 0:
            raise ValidationException(f"MaxResults: {max_results} must be 0 or more")
        s3_location = export_destination_configuration["S3"].get("S3Location")
        if s3_location is None:
            # The model makes no member of S3ExportDestinationConfiguration required, but an
            # export without a location has nowhere to go.
            raise ValidationException(f"{S3_LOCATION}: missing required member")
        self._check_destination(s3_location)
        entry = self._archive(archive_id)
        if entry.state != ACTIVE:
            # The model lists no ConflictException for this operation.
            raise ValidationException(
                f"ArchiveId: archive {archive_id!r} is {entry.state} and cannot be exported"
            )
        if self.export_runner.active_count() >= self.max_active_exports:
            raise ServiceQuotaExceededException(
                f"StartArchiveExport: {self.max_active_exports} exports are queued or running "
                "already, the most this server runs at once; start this one when one finishes"
            )
        from_ms = None if from_timestamp is None else datetime_to_ms(from_timestamp)
        to_ms = None if to_timestamp is None else datetime_to_ms(to_timestamp)
        echo: dict[str, Any] = {"ArchiveId": archive_id}
        if filters is not None:
            echo["Filters"] = dump_filters(parsed)
        if from_ms is not None:
            echo["FromTimestamp"] = from_ms
        if to_ms is not None:
            echo["ToTimestamp"] = to_ms
        if max_results is not None:
            echo["MaxResults"] = max_results
        echo["ExportDestinationConfiguration"] = {"S3": {"S3Location": s3_location}}
        echo["IncludeMetadata"] = bool(include_metadata)  # kept, though Get does not echo it
        job = self.exports.create(archive_id, echo)
        path = entry.info.path

        def work(ctx: JobContext) -> None:
            from engine.export import ExportError, select_messages

            if self.export_root is None and not self.s3_upload:
                # A job, not a refused request: the cloud accepts any bucket at Start, and
                # reports a destination it cannot write in the export's status.
                raise ExportError(NO_EXPORT_ROOT.format(location=s3_location))
            ctx.enter(EXPORT_PREPROCESSING)
            archive = open_reader(path)
            selection = select_messages(archive, filters, from_ms, to_ms, max_results)
            ctx.enter(EXPORT_PROCESSING)
            self._write_export(ctx, archive, selection, s3_location, bool(include_metadata))

        self.export_runner.submit(job, work)
        return {"ExportId": job.job_id}

    def _write_export(
        self,
        ctx: JobContext,
        archive: Archive,
        selection: ExportSelection,
        s3_location: str,
        include_metadata: bool,
    ) -> None:
        """Write the selection where the service sends exports. Raises JobCancelled when the
        export was stopped (its folder then holds whole files and a CANCELLED manifest)."""
        from engine.export import CANCELLED as EXPORT_CANCELLED
        from engine.export import resolve_s3_location, write_export

        export_id = ctx.job.job_id

        def write(dest: Path) -> Path:
            result = write_export(
                archive,
                selection,
                dest,
                export_id,
                include_metadata=include_metadata,
                progress=self.progress,
                should_stop=ctx.should_stop,
            )
            if result.state == EXPORT_CANCELLED:
                raise JobCancelled
            return result.folder

        if not self.s3_upload:
            assert self.export_root is not None
            write(resolve_s3_location(s3_location, self.export_root))
            return
        from api.s3_upload import upload_export

        staging = self.home / STAGING_DIR
        try:
            folder = write(staging)
            # Stopped meanwhile: nothing leaves the machine.
            if ctx.should_stop():
                raise JobCancelled
            upload_export(folder, s3_location, endpoint_url=self.s3_endpoint_url)
        finally:
            shutil.rmtree(staging / export_id, ignore_errors=True)

    def get_archive_export(self, export_id: str) -> dict[str, Any]:
        """GetArchiveExport: the request echo (time range and MaxResults when given) and the
        status."""
        job = self._export(export_id)
        echo = job.request
        out: dict[str, Any] = {"ArchiveId": job.archive_id}
        if "Filters" in echo:
            out["Filters"] = echo["Filters"]
        for member in ("FromTimestamp", "ToTimestamp"):
            if member in echo:
                out[member] = ms_to_datetime(echo[member])
        if "MaxResults" in echo:
            out["MaxResults"] = echo["MaxResults"]
        out["ExportDestinationConfiguration"] = echo["ExportDestinationConfiguration"]
        out["Status"] = self._job_status(job)
        return out

    def stop_archive_export(self, export_id: str) -> dict[str, Any]:
        """StopArchiveExport: CANCELLED when unfinished (the writer stops at its next message);
        a finished export stays as it is."""
        job = self._export(export_id)
        if job.state not in TERMINAL_STATES:
            self.exports.finish(export_id, CANCELLED)
            self.export_runner.signal_stop(export_id)
        return {}

    def list_archive_exports(
        self, archive_id: str, next_token: str | None = None, page_size: int | None = None
    ) -> dict[str, Any]:
        """ListArchiveExports: newest submitted first."""
        return self._list_jobs(
            self.exports, archive_id, ("exports", "ExportId", "Exports"), next_token, page_size
        )

    def _list_jobs(
        self,
        store: JobStore,
        archive_id: str,
        names: tuple[str, str, str],
        next_token: str | None,
        page_size: int | None,
    ) -> dict[str, Any]:
        """One page of an archive's jobs, newest first; ``names`` = (token scope, id member,
        list member) of the operation's shape."""
        scope, id_member, list_member = names
        jobs = [j for j in store.iter_jobs() if j.archive_id == archive_id]
        if not jobs and self.registry.find(archive_id) is None:
            raise _unknown_archive(archive_id)
        page, token = paginate(
            jobs,
            Job.sort_key,
            scope=f"{scope}:{archive_id}",
            page_size=page_size,
            next_token=next_token,
        )
        entries = [{id_member: j.job_id, "Status": self._job_status(j)} for j in page]
        return page_response(list_member, entries, token)

    # -- messages --------------------------------------------------------------------------
    def _find_message(self, archived_message_id: str) -> tuple[ArchiveEntry, dict[str, Any]]:
        """The ACTIVE archive holding the id (the first, in the registry's order) and the
        message's stored record. Raises ValidationException for an id that would escape a
        folder, ResourceNotFoundException when no served archive holds it."""
        from engine.export import check_path_name

        # The id names a file of exports and of local download links.
        check_path_name(archived_message_id, "ArchivedMessageId")
        for entry in self.registry.entries():
            if entry.state != ACTIVE:
                continue  # as for searches: an archive being deleted serves nothing
            record = open_reader(entry.info.path).find_record(archived_message_id)
            if record is not None:
                return entry, record
        raise _unknown_message(archived_message_id)

    def _message_bytes(self, entry: ArchiveEntry, record: dict[str, Any]) -> bytes:
        from engine.store import IntegrityError

        try:
            return open_reader(entry.info.path).read_message(
                record["blob"], record["blob_offset"], record["size"], record["sha256"]
            )
        except IntegrityError as exc:
            print(f"mmarchive: {entry.info.path}: {exc}", file=sys.stderr)
            raise MessageUnreadable(
                f"ArchivedMessageId: the stored bytes of {record['archived_message_id']!r} are "
                "missing or differ from the SHA-256 recorded at ingest; run mmarchive verify"
            ) from exc

    def _download_link(
        self, entry: ArchiveEntry, record: dict[str, Any], link_base: str | None
    ) -> str:
        archived_id: str = record["archived_message_id"]
        if link_base is not None:
            return link_base + self.links.path(entry.archive_id, archived_id)
        # No server to sign for: the bytes themselves, under the state directory (per archive,
        # since two archives may hold different messages under one id).
        folder = self.home / DOWNLOADS_DIR / entry.archive_id
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{archived_id}.eml"
        _write_bytes_atomic(path, self._message_bytes(entry, record))
        return path.resolve().as_uri()

    def get_archive_message(
        self, archived_message_id: str, link_base: str | None = None
    ) -> dict[str, Any]:
        """GetArchiveMessage: a download link to the original bytes, Metadata and Envelope."""
        from engine.export import project_metadata

        entry, record = self._find_message(archived_message_id)
        out: dict[str, Any] = {"MessageDownloadLink": self._download_link(entry, record, link_base)}
        metadata = project_metadata(record)
        if metadata is not None:
            out["Metadata"] = metadata
        envelope = project_envelope(record)
        if envelope is not None:
            out["Envelope"] = envelope
        return out

    def get_archive_message_content(self, archived_message_id: str) -> dict[str, Any]:
        """GetArchiveMessageContent: the message's text and HTML bodies (ingest/content.py)."""
        from ingest.content import message_content

        entry, record = self._find_message(archived_message_id)
        return {"Body": message_content(self._message_bytes(entry, record))}

    def read_download(self, archive_id: str, archived_message_id: str) -> bytes:
        """The bytes behind a download link the caller has verified (LinkSigner.verify).

        Raises ResourceNotFoundException (LINK_GONE, no id) when the archive no longer serves
        the message; MessageUnreadable when its bytes fail their SHA-256.
        """
        entry = self.registry.find(archive_id)
        record = None
        if entry is not None and entry.state == ACTIVE:
            record = open_reader(entry.info.path).find_record(archived_message_id)
        if entry is None or record is None:
            raise ResourceNotFoundException(LINK_GONE)
        return self._message_bytes(entry, record)
