"""Export: the messages a search selects -> SEMANTICS §7's folder, every file written atomically.

Layout of ``<destination>/<ExportId>/``::

    <ArchivedMessageId>.eml            the original bytes, read through ``Archive.read_message``
                                       (so their SHA-256 is checked against the ingested one)
    <ArchivedMessageId>.metadata.json  with include_metadata: {"ArchivedMessageId", "Envelope",
                                       "Metadata"} (see ``project_metadata_document``)
    manifest.json                      written last (see below)

Every file is written to ``<name>.tmp`` beside its final name, fsynced, then renamed, so a final
name only ever holds a whole, durable file. Messages go in batches (BATCH_MESSAGES): the batch's
files are written aside, fsynced together by a few threads, then renamed in the search's order
(SEMANTICS §4: newest first, undated last); the folder is fsynced before the manifest is written.

``manifest.json`` (``"Format": "mmarchive-export/1"``)::

    {"Format", "ExportId", "ArchiveId",
     "State": "COMPLETED" | "CANCELLED" | "FAILED", "ErrorMessage" (FAILED only),
     "Request": {"Filters", "FromTimestamp"?, "ToTimestamp"?, "MaxResults"?, "IncludeMetadata"},
     "StartTimestamp", "CompletionTimestamp",
     "MessagesMatched", "MessagesExported", "BytesExported",
     "Messages": [{"ArchivedMessageId", "File", "Sha256", "Size",
                   "MetadataFile"?, "MetadataSha256"?, "MetadataSize"?}, ...]}

``Messages`` lists exactly the message files in the folder, in export order; ``Sha256`` and
``Size`` are those recorded at ingest (and checked on the read). Timestamps are ISO 8601 UTC
(``Z``, milliseconds when there are some); a member with no value is omitted. None of the top-level
keys is a key a metadata document may hold, so a later ``ingest`` of the folder warns about the
manifest as orphan metadata and otherwise ignores it.

A stop (``should_stop`` returns True; it is asked before each message) starts no further message,
finishes the ones already started (at most one batch), and writes the manifest with
``"State": "CANCELLED"`` listing exactly the messages in the folder: the evidence already copied is
whole and verified, and the manifest tells a reader the folder is partial (no manifest at all would
leave files that nothing accounts for). A failure (unwritable destination, bytes that fail their
hash) removes the batch's temporary files, writes a manifest with ``"State": "FAILED"`` and the
ErrorMessage when the folder is still writable, and raises ExportError. A process killed mid-way
leaves whole files, perhaps some ``*.tmp``, and no manifest: only a manifest whose State is
COMPLETED marks a complete export.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.errors import MMArchiveError, ValidationException
from engine.filters import dump_filters, parse_filters
from engine.rows import ms_to_datetime, project_envelope
from engine.schema import ENVELOPE_MEMBERS, METADATA_COLUMNS
from engine.search import search_archive
from engine.store import Archive, IntegrityError, fsync_path

MANIFEST_FORMAT = "mmarchive-export/1"
MANIFEST_NAME = "manifest.json"
MESSAGE_SUFFIX = ".eml"
METADATA_SUFFIX = ".metadata.json"
TMP_SUFFIX = ".tmp"
# A batch: this many messages, or bytes, written aside before one fsync round and the renames.
BATCH_MESSAGES = 256
BATCH_BYTES = 32 * 1024 * 1024
FSYNC_THREADS = 16
COMPLETED = "COMPLETED"
CANCELLED = "CANCELLED"
FAILED = "FAILED"
S3_LOCATION_MEMBER = "ExportDestinationConfiguration.S3.S3Location"
# The longest file name an export writes for a message: <id>.metadata.json.tmp (NAME_MAX is 255).
_NAME_MAX = 255 - len(METADATA_SUFFIX + TMP_SUFFIX)

# The stored columns an export reads for each message.
EXPORT_COLUMNS: tuple[str, ...] = tuple(
    dict.fromkeys(
        [
            "archived_message_id",
            "received_ms",
            "blob",
            "blob_offset",
            "size",
            "sha256",
            *(column for _, column in ENVELOPE_MEMBERS),
            *(column for member, column in METADATA_COLUMNS.items() if member != "Timestamp"),
        ]
    )
)

# The S3Location shape's pattern, s3://[a-zA-Z0-9.-]{3,63}(/[a-zA-Z0-9!_.*'()/-]*)*, written
# without the nested repetition: the class holds "/", so the shape's form is ambiguous and
# backtracks exponentially on a long value that fails (the same language, matched in linear time).
S3_LOCATION_PATTERN = r"s3://[a-zA-Z0-9.-]{3,63}(?:/[a-zA-Z0-9!_.*'()/-]*)?"
_S3_LOCATION_RE = re.compile(S3_LOCATION_PATTERN, re.ASCII)
# C0 controls and DEL: never part of a file name this module writes.
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")

Progress = Callable[[int, int], None]
ShouldStop = Callable[[], bool]


class ExportError(MMArchiveError):
    """An export that cannot be written: destination not writable or not empty, stored bytes that
    fail their SHA-256. The message is meant for a job's ErrorMessage."""


@dataclass(frozen=True, slots=True)
class ExportSelection:
    """What an export will write: the selected records in export order, and the request echo."""

    records: tuple[dict[str, Any], ...]  # EXPORT_COLUMNS of each message, in the search's order
    matched: int  # messages the filters and time range select (before MaxResults)
    request: dict[str, Any]  # the manifest's "Request" (write_export adds IncludeMetadata)


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What one export wrote."""

    export_id: str
    folder: Path
    state: str  # COMPLETED or CANCELLED (a failure raises ExportError)
    messages_matched: int
    messages_exported: int
    bytes_exported: int  # bytes of the .eml files
    metadata_files: int
    seconds: float
    manifest: Path

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["folder"] = str(self.folder)
        out["manifest"] = str(self.manifest)
        return out


# -- names and destinations ---------------------------------------------------------------


def check_path_name(value: object, member: str) -> str:
    """``value`` when it is one plain path component; it names a file or folder of an export.

    Raises ValidationException naming ``member`` when it is empty, ``.`` or ``..``, holds ``/``,
    ``\\``, NUL or another control character, or is too long for a file name.
    """
    if not isinstance(value, str) or not value:
        raise ValidationException(f"{member}: must be a non-empty string")
    if value in (".", ".."):
        raise ValidationException(f"{member}: {value!r} would reach outside the export folder")
    for char in ("/", "\\"):
        if char in value:
            raise ValidationException(
                f"{member}: {value!r} holds {char!r} and would reach outside the export folder"
            )
    if _CONTROL_RE.search(value):
        raise ValidationException(f"{member}: {value!r} holds a control character")
    if len(value.encode("utf-8", "surrogatepass")) > _NAME_MAX:
        raise ValidationException(f"{member}: longer than a file name may be ({_NAME_MAX} bytes)")
    return value


def parse_s3_location(s3_location: object) -> tuple[str, tuple[str, ...]]:
    """``s3://bucket/prefix`` -> (bucket, prefix segments); empty and ``.`` segments dropped.

    Raises ValidationException naming ExportDestinationConfiguration.S3.S3Location when the value
    does not match the shape's pattern, or when the bucket or a segment is ``..`` (or ``.`` for the
    bucket): such a location would reach outside the export root. Percent-escapes are not decoded
    (the pattern admits no ``%`` anyway).
    """
    member = S3_LOCATION_MEMBER
    if not isinstance(s3_location, str) or not s3_location:
        raise ValidationException(f"{member}: must be a non-empty string s3://bucket[/prefix]")
    if "\\" in s3_location or "\x00" in s3_location:
        raise ValidationException(
            f"{member}: {s3_location!r} holds a backslash or NUL and would reach outside the "
            "export root"
        )
    if not s3_location.startswith("s3://"):
        raise ValidationException(f"{member}: {s3_location!r} does not start with s3://")
    bucket, _, rest = s3_location[len("s3://") :].partition("/")
    if not bucket:
        raise ValidationException(f"{member}: {s3_location!r} names no bucket")
    segments = rest.split("/")
    if bucket in (".", "..") or ".." in segments:
        raise ValidationException(
            f"{member}: {s3_location!r} holds a '..' segment and would reach outside the "
            "export root"
        )
    if not _S3_LOCATION_RE.fullmatch(s3_location):
        raise ValidationException(
            f"{member}: {s3_location!r} does not match s3://[a-zA-Z0-9.-]{{3,63}}"
            "(/[a-zA-Z0-9!_.*'()/-]*)*"
        )
    return bucket, tuple(s for s in segments if s not in ("", "."))


def resolve_s3_location(s3_location: str, export_root: Path) -> Path:
    """The local folder standing for ``s3://bucket/prefix``: ``export_root/bucket/prefix``.

    The export itself goes to ``<that folder>/<ExportId>/``. Symbolic links the operator placed
    under the export root are followed. Raises ValidationException naming
    ExportDestinationConfiguration.S3.S3Location when the location is malformed or would reach
    outside ``export_root`` (see parse_s3_location).
    """
    bucket, segments = parse_s3_location(s3_location)
    root = os.path.normpath(os.path.abspath(export_root))
    target = os.path.normpath(os.path.join(root, bucket, *segments))
    # Belt and braces: parse_s3_location already refused every '..'.
    if os.path.commonpath([root, target]) != root or target == root:
        raise ValidationException(
            f"{S3_LOCATION_MEMBER}: {s3_location!r} would reach outside the export root"
        )
    return Path(target)


def format_timestamp(ms: int) -> str:
    """Epoch milliseconds -> ISO 8601 UTC with ``Z``, and ``.fff`` when there are milliseconds."""
    stamp = ms_to_datetime(ms)
    spec = "milliseconds" if ms % 1000 else "seconds"
    return stamp.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def _now() -> str:
    return datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


# -- what the files hold ------------------------------------------------------------------


def project_metadata(record: dict[str, Any]) -> dict[str, Any] | None:
    """The ``Metadata`` shape of one stored record, or None when it would be empty.

    ``Timestamp`` is the message's ReceivedTimestamp as an aware UTC datetime (what
    GetArchiveMessage sends as epoch seconds); every other member is the archive's stored value.
    A member the archive lacks is omitted: nothing is invented.
    """
    metadata: dict[str, Any] = {}
    for member, column in METADATA_COLUMNS.items():
        if member == "Timestamp":
            received = record.get("received_ms")
            if received is not None:
                metadata[member] = ms_to_datetime(received)
            continue
        value = record.get(column)
        if value is not None and value != "":
            metadata[member] = value
    return metadata or None


def project_metadata_document(record: dict[str, Any]) -> dict[str, Any]:
    """SEMANTICS §7: ``{"ArchivedMessageId", "Envelope", "Metadata"}`` for one stored record.

    As project_metadata, with ``Metadata.Timestamp`` written by format_timestamp; Envelope and
    Metadata are omitted when they would be empty.
    """
    document: dict[str, Any] = {"ArchivedMessageId": record["archived_message_id"]}
    envelope = project_envelope(record)
    if envelope is not None:
        document["Envelope"] = envelope
    metadata = project_metadata(record)
    if metadata is not None:
        if "Timestamp" in metadata:
            metadata["Timestamp"] = format_timestamp(record["received_ms"])
        document["Metadata"] = metadata
    return document


def _request_echo(
    filters_json: object,
    from_ms: int | None,
    to_ms: int | None,
    max_results: int | None,
) -> dict[str, Any]:
    request: dict[str, Any] = {"Filters": dump_filters(parse_filters(filters_json))}
    if from_ms is not None:
        request["FromTimestamp"] = format_timestamp(from_ms)
    if to_ms is not None:
        request["ToTimestamp"] = format_timestamp(to_ms)
    if max_results is not None:
        request["MaxResults"] = max_results
    return request


# -- selecting ----------------------------------------------------------------------------


def select_messages(
    archive: Archive,
    filters_json: object,
    from_ms: int | None,
    to_ms: int | None,
    max_results: int | None,
) -> ExportSelection:
    """The messages an export writes: exactly what the same search selects, in its order, cut
    at ``max_results`` (None: all of them). Time bounds may be None (the CLI mirror's export
    without a time range, which includes undated messages).

    Raises ValidationException for a bad filter, time range or MaxResults; ExportError when a
    selected message's stored record cannot be found.
    """
    if max_results is not None and max_results < 0:
        raise ValidationException("MaxResults: must be 0 or more")
    limit = archive.num_messages if max_results is None else max_results
    outcome = search_archive(archive, filters_json, from_ms, to_ms, limit)
    while max_results is None and outcome.total > len(outcome.records):
        # A batch was committed between counting and searching: ask again for all of them.
        outcome = search_archive(archive, filters_json, from_ms, to_ms, outcome.total)
    ids = [record["archived_message_id"] for record in outcome.records]
    matched = outcome.total
    del outcome  # the Row columns of every hit: drop them before reading the export columns
    wanted = set(ids)
    found: dict[str, dict[str, Any]] = {}
    for record in archive.iter_records(EXPORT_COLUMNS):
        if record["archived_message_id"] in wanted:
            found[record["archived_message_id"]] = record
    missing = [i for i in ids if i not in found]
    if missing:
        raise ExportError(f"{missing[0]}: selected by the search but its record is missing")
    request = _request_echo(filters_json, from_ms, to_ms, max_results)
    return ExportSelection(tuple(found[i] for i in ids), matched, request)


# -- writing ------------------------------------------------------------------------------


def _tmp(path: Path) -> Path:
    return path.with_name(path.name + TMP_SUFFIX)


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


def _rename_new(tmp: Path, path: Path) -> None:
    """Rename ``tmp`` to ``path``, which must not exist yet."""
    if os.path.lexists(path):
        # The folder started empty: the same name twice means ids that differ only in case on a
        # case-insensitive file system. Never overwrite evidence.
        raise ExportError(
            f"{path}: already written by this export (ArchivedMessageIds that differ only in "
            "case, on a case-insensitive file system?)"
        )
    os.replace(tmp, path)


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``<path>.tmp``, fsync, rename to ``path`` (which must not exist)."""
    tmp = _tmp(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        _rename_new(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _json_bytes(obj: object) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def _prepare_folder(dest: Path, export_id: str) -> Path:
    folder = dest / export_id
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if any(folder.iterdir()):
            raise ExportError(f"{folder}: the export folder exists and is not empty")
    except OSError as exc:
        raise ExportError(f"cannot write the export to {folder}: {exc.strerror or exc}") from exc
    return folder


@dataclass(slots=True)
class _Staged:
    """One message written to temporary names, waiting for its batch's fsync and rename."""

    entry: dict[str, Any]
    files: list[Path]  # final names; each one's data sits at _tmp(name)


class _BatchWriter:
    """Writes messages in batches: every file of a batch to ``*.tmp``, then all of them fsynced
    together (by a few threads: fsyncs that wait on the disk together cost little more than one),
    then renamed in export order. A final name therefore only ever holds a whole, durable file,
    and a failure or interrupt removes the batch's temporary files."""

    def __init__(self, archive: Archive, folder: Path, include_metadata: bool) -> None:
        self.archive = archive
        self.folder = folder
        self.include_metadata = include_metadata
        self.entries: list[dict[str, Any]] = []  # of the messages under their final names
        self.staged: list[_Staged] = []
        self.staged_bytes = 0
        self.pool = ThreadPoolExecutor(FSYNC_THREADS, thread_name_prefix="mmarchive-export")

    def stage(self, record: dict[str, Any]) -> None:
        """Read one message (its SHA-256 checked) and write it, and its metadata, aside."""
        archived_id: str = record["archived_message_id"]
        try:
            data = self.archive.read_message(
                record["blob"], record["blob_offset"], record["size"], record["sha256"]
            )
        except IntegrityError as exc:
            raise ExportError(
                f"{archived_id}: the stored message is missing or differs from the SHA-256 "
                f"recorded at ingest ({exc}); run mmarchive verify"
            ) from exc
        name = archived_id + MESSAGE_SUFFIX
        entry: dict[str, Any] = {
            "ArchivedMessageId": archived_id,
            "File": name,
            "Sha256": record["sha256"],
            "Size": record["size"],
        }
        staged = _Staged(entry, [])
        self.staged.append(staged)  # before writing: a failure removes what was written
        staged.files.append(self.folder / name)
        _write_file(_tmp(self.folder / name), data)
        self.staged_bytes += len(data)
        if self.include_metadata:
            meta_name = archived_id + METADATA_SUFFIX
            document = _json_bytes(project_metadata_document(record))
            staged.files.append(self.folder / meta_name)
            _write_file(_tmp(self.folder / meta_name), document)
            entry["MetadataFile"] = meta_name
            entry["MetadataSha256"] = hashlib.sha256(document).hexdigest()
            entry["MetadataSize"] = len(document)

    @property
    def full(self) -> bool:
        return len(self.staged) >= BATCH_MESSAGES or self.staged_bytes >= BATCH_BYTES

    def commit(self) -> None:
        """fsync the staged messages, then rename them one by one onto ``entries``."""
        tmps = [_tmp(path) for staged in self.staged for path in staged.files]
        # list() re-raises the first fsync failure here, after every fsync has run.
        list(self.pool.map(fsync_path, tmps))
        while self.staged:
            staged = self.staged[0]
            done: list[Path] = []
            try:
                for path in staged.files:
                    _rename_new(_tmp(path), path)
                    done.append(path)
            except BaseException:
                for path in done:  # no message without its metadata document
                    with contextlib.suppress(OSError):
                        os.unlink(path)
                raise
            self.entries.append(staged.entry)
            self.staged_bytes -= staged.entry["Size"]
            del self.staged[0]

    def discard(self) -> None:
        """Remove the temporary files of messages not renamed yet."""
        for staged in self.staged:
            for path in staged.files:
                with contextlib.suppress(OSError):
                    os.unlink(_tmp(path))
        self.staged = []
        self.staged_bytes = 0

    def close(self) -> None:
        self.discard()
        self.pool.shutdown(wait=True)


def write_export(
    archive: Archive,
    selection: ExportSelection,
    dest: Path,
    export_id: str,
    *,
    include_metadata: bool,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
) -> ExportResult:
    """Write the selected messages to ``dest/<export_id>/`` (see the module's docstring).

    ``should_stop()`` is asked before each message; once it says True, no further message is
    started, those already started are finished, and the result is CANCELLED. ``progress(done,
    total)`` is called as messages reach their final names (in bursts of up to BATCH_MESSAGES).
    Both run on the caller's thread; keep them cheap.
    Raises ValidationException for an ExportId or ArchivedMessageId that is not a plain name
    (before anything is written); ExportError when the destination cannot be written (or is a
    non-empty folder) or stored bytes fail their SHA-256.
    """
    started = time.perf_counter()
    start_stamp = _now()
    check_path_name(export_id, "ExportId")
    for record in selection.records:
        check_path_name(record["archived_message_id"], "ArchivedMessageId")
    folder = _prepare_folder(dest, export_id)
    total = len(selection.records)
    writer = _BatchWriter(archive, folder, include_metadata)
    entries = writer.entries
    state = COMPLETED

    def manifest(state: str, error: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "Format": MANIFEST_FORMAT,
            "ExportId": export_id,
            "ArchiveId": archive.info.archive_id,
            "State": state,
        }
        if error is not None:
            out["ErrorMessage"] = error
        out |= {
            "Request": {**selection.request, "IncludeMetadata": include_metadata},
            "StartTimestamp": start_stamp,
            "CompletionTimestamp": _now(),
            "MessagesMatched": selection.matched,
            "MessagesExported": len(entries),
            "BytesExported": sum(entry["Size"] for entry in entries),
            "Messages": entries,
        }
        return out

    def commit() -> None:
        if writer.staged:
            writer.commit()
            if progress is not None:
                progress(len(entries), total)

    try:
        try:
            for record in selection.records:
                if should_stop is not None and should_stop():
                    state = CANCELLED
                    break
                writer.stage(record)
                if writer.full:
                    commit()
            commit()
        finally:
            writer.close()
        fsync_path(folder)
        _write_atomic(folder / MANIFEST_NAME, _json_bytes(manifest(state)))
        fsync_path(folder)
    except OSError as exc:
        error = f"cannot write the export to {folder}: {exc.strerror or exc}"
        _write_failed_manifest(folder, manifest(FAILED, error))
        raise ExportError(error) from exc
    except ExportError as exc:
        _write_failed_manifest(folder, manifest(FAILED, exc.message))
        raise
    return ExportResult(
        export_id=export_id,
        folder=folder,
        state=state,
        messages_matched=selection.matched,
        messages_exported=len(entries),
        bytes_exported=sum(entry["Size"] for entry in entries),
        metadata_files=len(entries) if include_metadata else 0,
        seconds=round(time.perf_counter() - started, 4),
        manifest=folder / MANIFEST_NAME,
    )


def _write_failed_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Best effort: a failed export says so in its folder when the folder is still writable."""
    try:
        _write_atomic(folder / MANIFEST_NAME, _json_bytes(manifest))
        fsync_path(folder)
    except (OSError, ExportError):
        pass


def export_messages(
    archive: Archive,
    filters_json: object,
    from_ms: int | None,
    to_ms: int | None,
    max_results: int | None,
    dest: Path,
    export_id: str,
    *,
    include_metadata: bool,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
) -> ExportResult:
    """Export what a search selects to ``dest/<export_id>/`` (SEMANTICS §7): select_messages,
    then write_export. A job that reports PREPROCESSING and PROCESSING calls the two itself.

    Raises ValidationException (filters, time range, MaxResults, ExportId, ArchivedMessageId),
    ExportError (destination, integrity).
    """
    check_path_name(export_id, "ExportId")
    selection = select_messages(archive, filters_json, from_ms, to_ms, max_results)
    return write_export(
        archive,
        selection,
        dest,
        export_id,
        include_metadata=include_metadata,
        progress=progress,
        should_stop=should_stop,
    )


def exported_names(manifest: dict[str, Any]) -> Sequence[str]:
    """Every file a manifest accounts for (its own name last)."""
    names: list[str] = []
    for entry in manifest.get("Messages", ()):
        names.append(entry["File"])
        if "MetadataFile" in entry:
            names.append(entry["MetadataFile"])
    names.append(MANIFEST_NAME)
    return names
