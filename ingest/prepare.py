"""The CPU-heavy, archive-free part of ingesting one message file, run in worker processes.

Reading the files, hashing, parsing the metadata document and the message need nothing from
the archive, so ``ingest.pipeline`` runs them here, in a pool, in chunks, while the main process
only chooses ids, checks for duplicates and writes to the store. This module imports no
tantivy or pyarrow, so a worker starts quickly.
"""

from __future__ import annotations

import hashlib
import signal
from dataclasses import dataclass

from ingest.discover import MessageFile
from ingest.message import NotAMessage, ParsedMessage, parse_message
from ingest.metadata import MessageMetadata, MetadataError, parse_metadata


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


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def prepare(item: MessageFile) -> Prepared:
    """Read, hash and parse one message file and its metadata document; never raises."""
    try:
        data = _read(str(item.path))
    except OSError as exc:
        return Prepared(unreadable=f"unreadable: {exc.strerror or exc}")
    if not data:
        return Prepared(data=data, unreadable="zero bytes")
    metadata = None
    problem = None
    if item.metadata_path is not None:
        try:
            metadata = parse_metadata(_read(str(item.metadata_path)))
        except OSError as exc:
            problem = f"unreadable metadata: {exc.strerror or exc}"
        except MetadataError as exc:
            problem = f"malformed metadata, message ingested without it: {exc}"
    sha = hashlib.sha256(data).hexdigest()
    try:
        parsed = parse_message(data)
    except NotAMessage as exc:
        return Prepared(data, None, sha, metadata, problem, None, f"not a message: {exc}")
    except Exception as exc:
        reason = f"could not be parsed ({type(exc).__name__}: {exc})"
        return Prepared(data, None, sha, metadata, problem, None, reason)
    return Prepared(data, None, sha, metadata, problem, parsed, None)


def prepare_many(items: list[MessageFile]) -> list[Prepared]:
    """A chunk of files at once: one round trip to a worker process per chunk."""
    return [prepare(item) for item in items]


def ignore_sigint() -> None:
    """Worker initializer: Ctrl-C is the main process's to handle (it stops after the batch)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
