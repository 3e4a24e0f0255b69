"""The CPU-heavy, archive-free part of ingesting one message file, run in worker processes.

Reading the files, hashing, parsing the metadata document and the message need nothing from
the archive, so ``ingest.pipeline`` runs them here, in a pool, in chunks, while the main process
only chooses ids, checks for duplicates and writes to the store. This module imports no
tantivy or pyarrow, so a worker starts quickly.
"""

from __future__ import annotations

import hashlib
import signal
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ingest.discover import MessageFile
from ingest.message import NotAMessage, ParsedMessage, parse_message
from ingest.metadata import MessageMetadata, MetadataError, parse_metadata

READ_THREADS = 4


@dataclass(frozen=True, slots=True)
class Prepared:
    """What a worker learned about one message file (exactly one of the outcomes is set)."""

    data: bytes | None = None
    unreadable: str | None = None  # why the message file could not be read
    sha256: str | None = None
    metadata: MessageMetadata | None = None
    metadata_problem: str | None = None  # why the metadata document was not attached
    parsed: ParsedMessage | None = None
    not_a_message: str | None = None


def _read(path: str) -> bytes | OSError:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        return exc


def _read_both(item: MessageFile) -> tuple[bytes | OSError, bytes | OSError | None]:
    metadata = None if item.metadata_path is None else _read(str(item.metadata_path))
    return _read(str(item.path)), metadata


def prepare(
    item: MessageFile, loaded: tuple[bytes | OSError, bytes | OSError | None] | None = None
) -> Prepared:
    """Hash and parse one message file and its metadata document (read here unless ``loaded``
    brings their bytes); never raises."""
    data, document = _read_both(item) if loaded is None else loaded
    if isinstance(data, OSError):
        return Prepared(unreadable=f"unreadable: {data.strerror or data}")
    if not data:
        return Prepared(data=data, unreadable="zero bytes")
    metadata = None
    problem = None
    if isinstance(document, OSError):
        problem = f"unreadable metadata: {document.strerror or document}"
    elif document is not None:
        try:
            metadata = parse_metadata(document)
        except MetadataError as exc:
            problem = f"malformed metadata, message ingested without it: {exc}"
    sha = hashlib.sha256(data).hexdigest()
    try:
        parsed = parse_message(data)
    except NotAMessage as exc:
        return Prepared(data, None, sha, metadata, problem, None, f"not a message: {exc}")
    except Exception as exc:
        # One file must never sink the run: whatever the parser trips on rejects this file only.
        reason = f"could not be parsed ({type(exc).__name__}: {exc})"
        return Prepared(data, None, sha, metadata, problem, None, reason)
    return Prepared(data, None, sha, metadata, problem, parsed, None)


_READERS: ThreadPoolExecutor | None = None


def prepare_many(items: list[MessageFile]) -> list[Prepared]:
    """A chunk of files at once: one round trip to a worker process per chunk. The chunk's
    files are read by a few threads first (reads release the GIL), so parsing never waits on
    the disk one file at a time."""
    global _READERS
    if _READERS is None:
        _READERS = ThreadPoolExecutor(READ_THREADS)
    loaded = list(_READERS.map(_read_both, items))
    return [prepare(item, pair) for item, pair in zip(items, loaded, strict=True)]


def ignore_sigint() -> None:
    """Worker initializer: Ctrl-C is the main process's to handle (it stops after the batch)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
