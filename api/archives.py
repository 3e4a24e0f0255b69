"""Which archives a service answers for, and what the API says about each beyond its files.

An archive is a folder made by ``mmarchive ingest`` (or by CreateArchive), known by the ArchiveId
in its ``archive.json``. A service answers for the folders it was given and for every archive
under ``<home>/archives/``; CreateArchive makes new ones there, for ``mmarchive ingest`` to fill.

What the API can change (name, state, retention, KMS key, tags) lives in the state directory,
``<home>/state/archives/<ArchiveId>.json``, never inside the archive: archives may sit on
read-only media, and DeleteArchive only marks an archive PENDING_DELETION (SEMANTICS §6).
"""

from __future__ import annotations

import json
import re
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from api.jobs import write_json_atomic
from api.shapes import load_model
from engine.errors import ArchiveFormatError, ValidationException
from engine.rows import datetime_to_ms
from engine.store import Archive, ArchiveInfo, is_archive, load_info

ACTIVE = "ACTIVE"
PENDING_DELETION = "PENDING_DELETION"
# [CHOSEN] an archive nobody gave a retention keeps its mail for good: mmarchive never deletes.
DEFAULT_RETENTION = {"RetentionPeriod": "PERMANENT"}
# [CHOSEN] mmarchive is no AWS account or region; ARNs say so with placeholders.
ARN_TEMPLATE = "arn:aws:ses:local:000000000000:mailmanager-archive/{archive_id}"

# One reader per archive folder per process: it caches the Arrow table and refreshes itself.
_readers: dict[Path, Archive] = {}
_readers_lock = threading.Lock()


def open_reader(path: Path) -> Archive:
    """The process's shared reader of the archive at ``path``."""
    key = path.resolve()
    with _readers_lock:
        reader = _readers.get(key)
        if reader is None:
            reader = Archive(key)
            _readers[key] = reader
        return reader


@dataclass(frozen=True, slots=True)
class ArchiveEntry:
    """A known archive: its folder, its ``archive.json`` and its state record."""

    info: ArchiveInfo
    record: dict[str, Any]

    @property
    def archive_id(self) -> str:
        return self.info.archive_id

    @property
    def name(self) -> str:
        """The name the API shows: the one UpdateArchive gave, else the archive's own."""
        return str(self.record.get("ArchiveName") or wire_name(self.info.name, self.archive_id))

    @property
    def state(self) -> str:
        return str(self.record.get("ArchiveState", ACTIVE))

    @property
    def created_ms(self) -> int:
        return datetime_to_ms(datetime.fromisoformat(self.info.created))

    @property
    def updated_ms(self) -> int:
        """The last change: of the state record, or the last batch an ingest made visible."""
        try:
            ingested = int((self.info.path / "columns").stat().st_mtime_ns // 1_000_000)
        except OSError:
            ingested = 0
        return max(self.created_ms, int(self.record.get("LastUpdatedMs", 0)), ingested)

    @property
    def arn(self) -> str:
        return ARN_TEMPLATE.format(archive_id=self.archive_id)


def wire_name(name: str, archive_id: str) -> str:
    """An ArchiveNameString for a folder's name (folders may be named anything)."""
    pattern = load_model().pattern("ArchiveNameString")
    if len(name) <= 64 and pattern.fullmatch(name):
        return name
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-_")[:64].strip("-_")
    return cleaned if pattern.fullmatch(cleaned) else archive_id


class ArchiveRegistry:
    """The archives of one service, found on disk, with their state records."""

    def __init__(self, home: Path, paths: Sequence[Path] = ()) -> None:
        for path in paths:
            if not is_archive(path):
                raise ArchiveFormatError(f"{path}: not an mmarchive archive (no archive.json)")
            if home.resolve().is_relative_to(path.resolve()):
                # Archives may be read-only media, and must stay exactly what ingest wrote.
                raise ValidationException(
                    f"{home}: the state directory lies inside the archive {path}; "
                    "choose a --home outside it"
                )
        self.home = home
        self.archives_dir = home / "archives"
        self.records_dir = home / "state" / "archives"
        self.records_dir.mkdir(parents=True, exist_ok=True)
        self._given = [p.resolve() for p in paths]
        self._infos: dict[str, ArchiveInfo] = {}
        self.lock = threading.RLock()  # around read-modify-write of records
        self.refresh()

    def refresh(self) -> None:
        """Look again under ``<home>/archives`` (another process may have created one)."""
        candidates = list(self._given)
        if self.archives_dir.is_dir():
            candidates += sorted(p for p in self.archives_dir.iterdir() if is_archive(p))
        infos: dict[str, ArchiveInfo] = {}
        for path in candidates:
            try:
                info = load_info(path)
            except ArchiveFormatError as exc:
                print(f"mmarchive: skipping {path}: {exc.message}", file=sys.stderr)
                continue
            seen = infos.get(info.archive_id)
            if seen is not None and seen.path.resolve() != path.resolve():
                print(
                    f"mmarchive: {path} has the ArchiveId of {seen.path} ({info.archive_id}); "
                    "serving the first only",
                    file=sys.stderr,
                )
                continue
            infos.setdefault(info.archive_id, info)
        self._infos = infos

    def find(self, archive_id: str) -> ArchiveEntry | None:
        """The archive with this id, or None."""
        info = self._infos.get(archive_id)
        if info is None:
            self.refresh()
            info = self._infos.get(archive_id)
        return None if info is None else ArchiveEntry(info, self.load_record(archive_id))

    def entries(self) -> list[ArchiveEntry]:
        self.refresh()
        return [ArchiveEntry(info, self.load_record(i)) for i, info in self._infos.items()]

    def _record_path(self, archive_id: str) -> Path:
        return self.records_dir / f"{archive_id}.json"

    def load_record(self, archive_id: str) -> dict[str, Any]:
        try:
            raw = json.loads(self._record_path(archive_id).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        return raw if isinstance(raw, dict) else {}

    def save_record(self, archive_id: str, record: dict[str, Any]) -> None:
        write_json_atomic(self._record_path(archive_id), record)

    def new_folder(self, name: str) -> Path:
        """A fresh folder for CreateArchive: ``archives/<name>``, or ``<name>-2``... if taken
        (a renamed archive keeps its folder)."""
        self.archives_dir.mkdir(parents=True, exist_ok=True)
        folder = self.archives_dir / name
        n = 1
        while folder.exists():
            n += 1
            folder = self.archives_dir / f"{name}-{n}"
        return folder
