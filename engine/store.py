"""An archive on disk: tantivy index + Parquet columns + message bytes; one writer, many readers.

Layout of an archive folder::

    archive.json              ArchiveId, name, creation time, format version
    ingest-log.jsonl          append-only, one line per ingest run
    index/                    tantivy: folded 3-character chunks per string attribute, ts, flags
    columns/part-NNNNNN.parquet   every stored column of the messages of batch NNNNNN
    columns/pending/          a batch's Parquet file waits here until the index commit holds it
    blobs/part-NNNNNN.bin     the exact bytes of the messages of batch NNNNNN, back to back

A batch becomes visible in this order: bytes written, Parquet written to ``pending/``, index
commit, Parquet renamed into ``columns/``. Readers only see batches whose Parquet is in
``columns/`` and filter index hits to those batches, so they never see half a batch. A writer
that finds a pending Parquet file on opening finishes the rename when the index holds its batch,
and deletes it when it does not, so a crash at any moment leaves only whole batches.
"""

from __future__ import annotations

import array
import contextlib
import fcntl
import functools
import hashlib
import json
import os
import re
import secrets
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tantivy

from engine.errors import ArchiveBusyError, ArchiveFormatError, ResourceNotFoundException
from engine.lazy import LazyModule
from engine.rules import UNDATED_MS, fold
from engine.schema import COLUMNS, ROW_COLUMNS, SEARCH_COLUMNS, STRING_ATTRIBUTES, ColumnKind

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq
else:
    pa = LazyModule("pyarrow")
    pq = LazyModule("pyarrow.parquet")

FORMAT_VERSION = 2  # 2: positional 3-gram index and stored rows
OLDEST_FORMAT = 2  # older archives must be ingested again
ARCHIVE_FILE = "archive.json"
INGEST_LOG = "ingest-log.jsonl"
GRAM = 3  # every value is indexed as its overlapping 3-grams, each at its character offset
GRAM_TOKENIZER = "mm_gram3"
# Pads the last two grams of a value to 3 characters. A noncharacter: a needle that holds it is
# answered by the scan path (see engine/search.py), so padding never makes a false match.
FILLER = "\uffff"
ARCHIVE_ID_RE = re.compile(r"a-\w{1,64}", re.ASCII)


@functools.cache
def arrow_schema() -> pa.Schema:
    """The Parquet schema of every stored column (built on first use: pyarrow loads lazily)."""
    types: dict[ColumnKind, pa.DataType] = {
        "str": pa.string(),
        "str_list": pa.list_(pa.string()),
        "bool": pa.bool_(),
        "int": pa.int64(),
        "ts_ms": pa.int64(),
    }
    return pa.schema([pa.field(name, types[kind]) for name, kind in COLUMNS.items()])


@functools.cache
def search_schema() -> pa.Schema:
    """The columns a reader keeps in memory."""
    return pa.schema([arrow_schema().field(name) for name in SEARCH_COLUMNS])


# Crash points for the kill tests: MMARCHIVE_CRASH_AT=<point> makes the writer SIGKILL itself
# right after that step of the first batch it commits.
CRASH_POINTS = ("bytes-written", "parquet-pending", "index-committed", "parquet-renamed")


@dataclass(frozen=True, slots=True)
class ArchiveInfo:
    """What ``archive.json`` says about an archive."""

    path: Path
    archive_id: str
    name: str
    created: str  # ISO 8601 UTC
    format_version: int


class IntegrityError(Exception):
    """Stored message bytes are missing or their SHA-256 is not the recorded one."""


def build_index_schema() -> tantivy.Schema:
    """The tantivy schema, declared once."""
    sb = tantivy.SchemaBuilder()
    for attribute in STRING_ATTRIBUTES.values():
        sb.add_text_field(attribute.index_field, tokenizer_name=GRAM_TOKENIZER)
    sb.add_integer_field("ts", fast=True, indexed=True)
    sb.add_integer_field("batch", fast=True, indexed=True)
    sb.add_unsigned_field("rk", fast=True)
    sb.add_boolean_field("att", fast=True, indexed=True)
    sb.add_text_field("id", stored=True, tokenizer_name="raw", index_option="basic")
    sb.add_text_field("sha", stored=True, tokenizer_name="raw", index_option="basic")
    # The Row columns as compact JSON, so the index path projects rows without loading Parquet.
    sb.add_bytes_field("row", stored=True, indexed=False)
    return sb.build()


INDEX_SCHEMA = build_index_schema()


def count_matches(searcher: tantivy.Searcher, query: tantivy.Query) -> int:
    """How many documents match (limit=0 panics in tantivy-py, so ask for one hit)."""
    count = searcher.search(query, limit=1, count=True).count  # type: ignore[attr-defined]
    return int(count)


def row_key(batch: int, row: int) -> int:
    """The u64 that ties an index document to its Parquet row."""
    return (batch << 32) | row


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


def _write_json_atomic(path: Path, obj: object) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1, ensure_ascii=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def fsync_path(path: Path) -> None:
    """fsync a file or a folder by its name (a rename is durable once its folder is)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def is_archive(path: Path) -> bool:
    """True when ``path`` holds an ``archive.json``."""
    return (path / ARCHIVE_FILE).is_file()


def create_archive(path: Path, name: str | None = None) -> ArchiveInfo:
    """Make an empty archive in ``path`` (created, or existing and empty).

    Raises ArchiveFormatError when ``path`` exists and is not empty.
    """
    if path.exists():
        if not path.is_dir():
            raise ArchiveFormatError(f"{path}: exists and is not a folder")
        if any(path.iterdir()):
            raise ArchiveFormatError(
                f"{path}: exists, is not empty and is not an mmarchive archive (no {ARCHIVE_FILE})"
            )
    path.mkdir(parents=True, exist_ok=True)
    archive_id = "a-" + secrets.token_hex(12)
    info = {
        "ArchiveId": archive_id,
        "ArchiveName": name or path.resolve().name,
        "CreatedTimestamp": _now_iso(),
        "FormatVersion": FORMAT_VERSION,
    }
    for sub in ("index", "columns/pending", "blobs"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    _register(tantivy.Index(INDEX_SCHEMA, path=str(path / "index")))
    _write_json_atomic(path / ARCHIVE_FILE, info)
    return load_info(path)


def load_info(path: Path) -> ArchiveInfo:
    """Read ``archive.json``.

    Raises ResourceNotFoundException when there is no archive, ArchiveFormatError when it is
    unreadable or of a newer format.
    """
    file = path / ARCHIVE_FILE
    if not path.is_dir():
        raise ResourceNotFoundException(f"{path}: no such archive folder")
    if not file.is_file():
        raise ArchiveFormatError(f"{path}: not an mmarchive archive (no {ARCHIVE_FILE})")
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
        version = raw["FormatVersion"]
        archive_id = raw["ArchiveId"]
        name = raw["ArchiveName"]
        created = raw["CreatedTimestamp"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ArchiveFormatError(f"{file}: unreadable archive description ({exc})") from exc
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ArchiveFormatError(
            f"{path}: archive format {version} is newer than this mmarchive understands "
            f"(format {FORMAT_VERSION}); upgrade mmarchive"
        )
    if version < OLDEST_FORMAT:
        raise ArchiveFormatError(
            f"{path}: archive format {version} is older than this mmarchive reads "
            f"(formats {OLDEST_FORMAT} to {FORMAT_VERSION}); ingest the export again"
        )
    if not isinstance(archive_id, str) or not ARCHIVE_ID_RE.fullmatch(archive_id):
        raise ArchiveFormatError(f"{file}: invalid ArchiveId {archive_id!r}")
    return ArchiveInfo(path, archive_id, str(name), str(created), version)


def append_log(path: Path, entry: dict[str, Any]) -> None:
    """Append one line to the archive's ingest log."""
    with open(path / INGEST_LOG, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def gram_text(value: str) -> str:
    """The overlapping 3-grams of a folded value, concatenated, for the gram tokenizer.

    The tokenizer cuts this back into 3-character tokens at positions 0, 1, 2, ..., so the gram
    ``value[q:q+3]`` (padded with FILLER in the last two places) stands at position ``q``, its
    character offset. A needle of 3 or more characters then occurs at ``p`` exactly when its grams
    at offsets 0, 3, 6, ... and ``len - 3`` stand at ``p`` plus those offsets (engine/compiler.py).
    Building the text with string slicing keeps ingest fast; tokenizing happens inside tantivy.
    """
    n = len(value)
    if n == 0:
        return ""
    # Interleave value[q], value[q+1], value[q+2] as 32-bit code points: all in C, ~4x faster
    # than joining slices in Python (ingest calls this for every attribute of every message).
    source = array.array("I")
    source.frombytes((value + FILLER + FILLER).encode("utf-32-le", "surrogatepass"))
    grams = array.array("I", bytes(4 * GRAM * n))
    for shift in range(GRAM):
        grams[shift::GRAM] = source[shift : n + shift]
    return grams.tobytes().decode("utf-32-le", "surrogatepass")


def _register(index: tantivy.Index) -> None:
    # register_tokenizer holds for this Index object only (ENGINE-FACTS): do it on every open.
    analyzer = tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.regex(f"(?s).{{{GRAM}}}")).build()
    index.register_tokenizer(GRAM_TOKENIZER, analyzer)


def _open_index(path: Path) -> tantivy.Index:
    try:
        index = tantivy.Index.open(str(path / "index"))
    except ValueError as exc:
        raise ArchiveFormatError(f"{path}: the index cannot be opened ({exc})") from exc
    _register(index)
    return index


def _part_name(batch: int) -> str:
    return f"part-{batch:06d}"


def _visible_batches(path: Path) -> list[int]:
    batches = []
    for name in os.listdir(path / "columns"):
        if name.startswith("part-") and name.endswith(".parquet"):
            with contextlib.suppress(ValueError):
                batches.append(int(name[5:11]))
    return sorted(batches)


@dataclass(slots=True)
class _Snapshot:
    batches: tuple[int, ...]
    searcher: tantivy.Searcher
    table: pa.Table | None = None  # loaded on first use
    offsets: dict[int, int] | None = None


class Archive:
    """A reader over one archive: the visible rows as an Arrow table, and the index.

    Readers see the archive as of their last ``refresh()`` (a search calls it once at its start),
    so one search never mixes two states of the archive.
    """

    def __init__(self, path: Path) -> None:
        self.info = load_info(path)
        self.path = path
        self._lock = threading.Lock()
        self._index: tantivy.Index | None = None
        self._state: _Snapshot | None = None

    # -- snapshot -------------------------------------------------------------------------
    def refresh(self) -> _Snapshot:
        """Look for newly committed batches (one folder listing) and reload the index if any.

        The Parquet listing comes first and the index is reloaded after it: a batch's Parquet
        file appears only after its index commit, so the searcher holds every visible batch.
        """
        batches = tuple(_visible_batches(self.path))
        with self._lock:
            if self._state is None or self._state.batches != batches:
                if self._index is None:
                    self._index = _open_index(self.path)
                self._index.reload()
                self._state = _Snapshot(batches, self._index.searcher())
            return self._state

    def _snapshot(self) -> _Snapshot:
        state = self._state
        return self.refresh() if state is None else state

    def _load_table(self, state: _Snapshot) -> tuple[pa.Table, dict[int, int]]:
        # Loaded on first use only: the index path never needs it (rows come from the index).
        with self._lock:
            if state.table is None:
                tables = []
                offsets: dict[int, int] = {}
                start = 0
                for batch in state.batches:
                    table = pq.read_table(self._part(batch), columns=list(SEARCH_COLUMNS))
                    offsets[batch] = start
                    start += table.num_rows
                    tables.append(table.cast(search_schema()))
                table = pa.concat_tables(tables) if tables else search_schema().empty_table()
                # One chunk per column: take() on many chunks costs far more per call.
                state.table = table.combine_chunks()
                state.offsets = offsets
            assert state.offsets is not None
            return state.table, state.offsets

    def _part(self, batch: int) -> Path:
        return self.path / "columns" / f"{_part_name(batch)}.parquet"

    def table(self) -> pa.Table:
        """Every visible message, batch by batch, as one Arrow table of SEARCH_COLUMNS
        (as of the last ``refresh``; read from Parquet on first use)."""
        return self._load_table(self._snapshot())[0]

    def visible_batches(self) -> tuple[int, ...]:
        return self._snapshot().batches

    def table_loaded(self) -> bool:
        """True once ``table()`` has loaded the columns of the current snapshot."""
        return self._snapshot().table is not None

    def positions(self, row_keys: Sequence[object]) -> list[int]:
        """Row positions in ``table()`` of index row keys (all from visible batches)."""
        offsets = self._load_table(self._snapshot())[1]
        keys = [int(rk) for rk in row_keys]  # type: ignore[call-overload]
        return [offsets[rk >> 32] + (rk & 0xFFFFFFFF) for rk in keys]

    @property
    def num_messages(self) -> int:
        """How many messages are visible (counted in the index, without loading Parquet)."""
        state = self._snapshot()
        if not state.batches:
            return 0
        query = tantivy.Query.range_query(
            INDEX_SCHEMA, "batch", tantivy.FieldType.Integer, None, state.batches[-1]
        )
        return count_matches(state.searcher, query)

    def searcher(self) -> tantivy.Searcher:
        """A searcher holding at least every visible batch (as of the last ``refresh``)."""
        return self._snapshot().searcher

    # -- bytes ----------------------------------------------------------------------------
    def read_message(self, blob: str, offset: int, size: int, sha256: str) -> bytes:
        """The exact stored bytes of one message, checked against its SHA-256.

        Raises IntegrityError when they are missing or differ.
        """
        try:
            with open(self.path / "blobs" / blob, "rb") as f:
                f.seek(offset)
                data = f.read(size)
        except OSError as exc:
            raise IntegrityError(f"blobs/{blob}: {exc.strerror or exc}") from exc
        if len(data) != size or hashlib.sha256(data).hexdigest() != sha256:
            raise IntegrityError(
                f"blobs/{blob} at {offset}: bytes differ from the recorded SHA-256"
            )
        return data

    def iter_records(self, columns: Sequence[str] | None = None) -> Iterator[dict[str, Any]]:
        """Every visible record as a dict of stored columns, batch by batch, read from Parquet
        (for verify, export and tests; memory stays at one batch)."""
        wanted = list(columns) if columns is not None else None
        for batch in self.refresh().batches:
            table = pq.read_table(self._part(batch), columns=wanted)
            yield from table.to_pylist()

    def find_record(self, archived_message_id: str) -> dict[str, Any] | None:
        """Every stored column of one message, or None when the archive has no such id."""
        searcher = self.refresh().searcher
        query = tantivy.Query.term_query(INDEX_SCHEMA, "id", archived_message_id)
        hits = searcher.search(query, limit=1).hits
        if not hits:
            return None
        (key,) = searcher.fast_field_values("rk", [hits[0][1]])
        assert isinstance(key, int)
        batch, row = key >> 32, key & 0xFFFFFFFF
        if batch not in self.visible_batches():
            return None
        table = pq.read_table(self._part(batch))
        record: dict[str, Any] = table.slice(row, 1).to_pylist()[0]
        return record


class _IdFilter:
    """A Bloom filter of the ArchivedMessageIds stored so far: fixed memory (16 MiB) however
    many messages the archive holds, so most new ids skip the index lookup. A hit may be false
    (about 0.4 % at 10 million ids); the index then decides."""

    BITS = 1 << 27
    HASHES = 4

    def __init__(self) -> None:
        self._bits = bytearray(self.BITS // 8)

    def _positions(self, key: str) -> list[int]:
        digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        return [int.from_bytes(digest[i : i + 4], "little") % self.BITS for i in range(0, 16, 4)]

    def add(self, key: str) -> None:
        for position in self._positions(key):
            self._bits[position >> 3] |= 1 << (position & 7)

    def __contains__(self, key: str) -> bool:
        return all(self._bits[p >> 3] & (1 << (p & 7)) for p in self._positions(key))


class ArchiveWriter:
    """The one writer of an archive: add records with their bytes, commit them batch by batch.

    Holds an exclusive lock on the archive for its lifetime (ArchiveBusyError when another
    process has it).
    """

    def __init__(self, path: Path, *, heap_size: int = 128_000_000, threads: int = 1) -> None:
        self.info = load_info(path)
        self.path = path
        self._lock_file = open(path / ".writer.lock", "a+b")  # noqa: SIM115 - held until close()
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            self._lock_file.close()
            raise ArchiveBusyError(f"{path}: another process is writing to this archive") from exc
        (path / "columns" / "pending").mkdir(parents=True, exist_ok=True)
        (path / "blobs").mkdir(exist_ok=True)
        self._index = _open_index(path)
        self._recover()
        self._writer = self._index.writer(heap_size=heap_size, num_threads=threads)
        visible = _visible_batches(path)
        self._batch = (visible[-1] if visible else 0) + 1
        self._rows: dict[str, list[Any]] = {name: [] for name in COLUMNS}
        self._pending_ids: dict[str, str] = {}
        self._blob = bytearray()
        self._crash_at = os.environ.get("MMARCHIVE_CRASH_AT", "")
        self._index.reload()
        self._searcher = self._index.searcher()
        self._ids = _IdFilter()
        for batch in visible:
            part = path / "columns" / f"{_part_name(batch)}.parquet"
            ids = pq.read_table(part, columns=["archived_message_id"]).column(0).to_pylist()
            for archived_id in ids:
                self._ids.add(archived_id)

    # -- recovery -------------------------------------------------------------------------
    def _batch_in_index(self, batch: int) -> bool:
        self._index.reload()
        query = tantivy.Query.term_query(INDEX_SCHEMA, "batch", batch)
        return count_matches(self._index.searcher(), query) > 0

    def _recover(self) -> None:
        pending = self.path / "columns" / "pending"
        for entry in sorted(pending.iterdir()):
            name = entry.name
            is_part = name.startswith("part-") and name.endswith(".parquet")
            if is_part and self._batch_in_index(int(name[5:11])):
                os.replace(entry, self.path / "columns" / name)
                continue
            entry.unlink()
        fsync_path(self.path / "columns")
        visible = set(_visible_batches(self.path))
        for entry in (self.path / "blobs").iterdir():
            # Bytes of a batch whose commit never happened: nothing refers to them.
            if entry.name.endswith(".tmp") or int(entry.name[5:11]) not in visible:
                entry.unlink()

    # -- lookups --------------------------------------------------------------------------
    def stored_sha256(self, archived_message_id: str) -> str | None:
        """The SHA-256 of the message holding this id (committed or in this batch), or None."""
        pending = self._pending_ids.get(archived_message_id)
        if pending is not None:
            return pending
        if archived_message_id not in self._ids:
            return None
        query = tantivy.Query.term_query(INDEX_SCHEMA, "id", archived_message_id)
        hits = self._searcher.search(query, limit=1).hits
        if not hits:
            return None
        doc = self._searcher.doc(hits[0][1])
        sha = doc.get_first("sha")
        return str(sha) if sha is not None else None

    # -- writing --------------------------------------------------------------------------
    @property
    def pending_count(self) -> int:
        return len(self._pending_ids)

    @property
    def pending_bytes(self) -> int:
        return len(self._blob)

    def add(self, record: dict[str, Any], data: bytes) -> None:
        """Queue one message: ``record`` holds the stored columns that are not derived here
        (the folded columns, sha256, size and blob position are filled in)."""
        record = dict(record)
        record["sha256"] = sha = hashlib.sha256(data).hexdigest()
        record["size"] = len(data)
        record["blob"] = _part_name(self._batch) + ".bin"
        record["blob_offset"] = len(self._blob)
        for attribute in STRING_ATTRIBUTES.values():
            value = record.get(attribute.column)
            if attribute.is_list:
                record[attribute.folded_column] = (
                    None if value is None else [fold(v) for v in value]
                )
            else:
                record[attribute.folded_column] = None if value is None else fold(value)
        row = len(self._pending_ids)
        self._blob += data
        for name in COLUMNS:
            self._rows[name].append(record.get(name))
        self._pending_ids[record["archived_message_id"]] = sha
        self._ids.add(record["archived_message_id"])
        self._writer.add_document(self._document(record, row))

    def _document(self, record: dict[str, Any], row: int) -> tantivy.Document:
        doc = tantivy.Document()
        for attribute in STRING_ATTRIBUTES.values():
            folded = record[attribute.folded_column]
            if folded is None:
                continue
            # List elements are separate values: tantivy leaves a position gap between them, and
            # each element's last two (padded) grams keep any phrase from reaching across.
            for value in folded if attribute.is_list else (folded,):
                if value:
                    doc.add_text(attribute.index_field, gram_text(value))
        received = record.get("received_ms")
        doc.add_integer("ts", UNDATED_MS if received is None else received)
        doc.add_integer("batch", self._batch)
        doc.add_unsigned("rk", row_key(self._batch, row))
        doc.add_boolean("att", bool(record.get("has_attachments")))
        doc.add_text("id", record["archived_message_id"])
        doc.add_text("sha", record["sha256"])
        columns = {column: record.get(column) for column in ROW_COLUMNS}
        text = json.dumps(columns, ensure_ascii=False, separators=(",", ":"))
        doc.add_bytes("row", text.encode("utf-8", "surrogatepass"))
        return doc

    def _crash_point(self, point: str) -> None:
        if self._crash_at == point:
            os.kill(os.getpid(), 9)

    def commit(self) -> int:
        """Make the queued messages durable and visible; returns how many were committed."""
        count = len(self._pending_ids)
        if count == 0:
            return 0
        name = _part_name(self._batch)
        blob_tmp = self.path / "blobs" / f"{name}.bin.tmp"
        with open(blob_tmp, "wb") as f:
            f.write(self._blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(blob_tmp, self.path / "blobs" / f"{name}.bin")
        fsync_path(self.path / "blobs")
        self._crash_point("bytes-written")
        table = pa.table(
            {
                name: pa.array(values, type=arrow_schema().field(name).type)
                for name, values in self._rows.items()
            },
            schema=arrow_schema(),
        )
        pending = self.path / "columns" / "pending" / f"{name}.parquet"
        pq.write_table(table, pending, compression="zstd")
        with open(pending, "rb") as f:
            os.fsync(f.fileno())
        self._crash_point("parquet-pending")
        self._writer.commit()
        self._crash_point("index-committed")
        os.replace(pending, self.path / "columns" / f"{name}.parquet")
        fsync_path(self.path / "columns")
        self._crash_point("parquet-renamed")
        self._batch += 1
        self._rows = {name: [] for name in COLUMNS}
        self._pending_ids = {}
        self._blob = bytearray()
        self._index.reload()
        self._searcher = self._index.searcher()
        return count

    def close(self) -> None:
        """Release the writer (uncommitted messages are dropped) and the lock."""
        with contextlib.suppress(Exception):
            self._writer.rollback()
        with contextlib.suppress(Exception):
            self._writer.wait_merging_threads()
        fcntl.flock(self._lock_file, fcntl.LOCK_UN)
        self._lock_file.close()

    def __enter__(self) -> ArchiveWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """Chain of custody: every stored message re-hashed."""

    checked: int
    problems: tuple[dict[str, str], ...]  # {"ArchivedMessageId", "problem"}

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_archive(archive: Archive) -> VerifyReport:
    """Re-hash every stored message against the SHA-256 recorded at ingest."""
    problems = []
    checked = 0
    columns = ("archived_message_id", "blob", "blob_offset", "size", "sha256")
    for record in archive.iter_records(columns):
        checked += 1
        try:
            archive.read_message(
                record["blob"], record["blob_offset"], record["size"], record["sha256"]
            )
        except IntegrityError as exc:
            problems.append(
                {"ArchivedMessageId": record["archived_message_id"], "problem": str(exc)}
            )
    return VerifyReport(checked, tuple(problems))
