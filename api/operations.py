"""The archive operations: one method each, plain arguments in, response shape dicts out.

``ArchiveService.call(operation, params)`` is the single entry of the server and of the CLI's
local mode: it validates the request against the model (api/validate.py), calls the operation's
method with snake_case arguments, and applies SEMANTICS §6's rule for unknown ids. Responses carry
timestamps as aware UTC datetimes; the wire turns them into epoch seconds, the CLI into ISO 8601.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
    JobContext,
    JobRunner,
    JobStore,
    ProcessLease,
)
from api.paging import page_response, paginate
from api.shapes import load_model
from api.validate import validate_request
from engine.errors import (
    AccessDeniedException,
    ConflictException,
    ResourceNotFoundException,
    ServiceQuotaExceededException,
    ValidationException,
)
from engine.rows import datetime_to_ms, ms_to_datetime

SEARCH_RUNNING = "RUNNING"
ROWS_RESULT = "rows"
DEFAULT_MAX_ACTIVE_SEARCHES = 64
DEFAULT_WORKERS = 4
SERVER_STOPPED = "The mmarchive server stopped before this search finished; start it again"

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
    )
}
MUTATING = frozenset({"CreateArchive", "UpdateArchive", "DeleteArchive"})


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


class ArchiveService:
    """The archive API over a state directory (``home``) and the archives it answers for.

    ``inline`` runs jobs before Start* returns (the CLI's local mode); ``read_only`` refuses
    CreateArchive, UpdateArchive and DeleteArchive with AccessDeniedException.
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
    ) -> None:
        self.registry = ArchiveRegistry(home, archives)
        self.home = home
        self.read_only = read_only
        self.max_active_searches = max_active_searches
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

    def close(self) -> None:
        """Stop the workers; searches of this process still unfinished become FAILED."""
        self.search_runner.shutdown(SERVER_STOPPED)
        self.lease.close()

    def warm_up(self) -> None:
        """Load every archive's table and index now, so the first search is as fast as the rest."""
        for entry in self.registry.entries():
            reader = open_reader(entry.info.path)
            reader.table()
            reader.searcher()

    # -- the single entry ------------------------------------------------------------------
    def call(self, operation: str, params: object) -> dict[str, Any]:
        """Validate ``params`` (the request's members) and run ``operation``.

        Raises the MMArchiveError the operation answers (SEMANTICS §6).
        """
        checked = validate_request(operation, params)
        if self.read_only and operation in MUTATING:
            raise AccessDeniedException(
                f"{operation}: this mmarchive serves its archives read-only (--read-only)"
            )
        method = getattr(self, OPERATIONS[operation])
        try:
            result: dict[str, Any] = method(**{_snake(k): v for k, v in checked.items()})
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

    def _search_status(self, job: Job) -> dict[str, Any]:
        # Members in the SearchStatus shape's order.
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
        out["Status"] = self._search_status(job)
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
        jobs = [j for j in self.searches.iter_jobs() if j.archive_id == archive_id]
        if not jobs and self.registry.find(archive_id) is None:
            raise _unknown_archive(archive_id)
        page, token = paginate(
            jobs,
            Job.sort_key,
            scope=f"searches:{archive_id}",
            page_size=page_size,
            next_token=next_token,
        )
        searches = [{"SearchId": j.job_id, "Status": self._search_status(j)} for j in page]
        return page_response("Searches", searches, token)
