"""Shared test helpers: the shared folder's location, and archives built from plain records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.store import Archive, ArchiveWriter, create_archive

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def shared_dir(name: str) -> Path:
    """A folder of ../shared, or a clean skip when it is absent."""
    path = SHARED / name
    if not path.is_dir():
        pytest.skip(f"{path} is absent")
    return path


def build_archive(path: Path, records: list[dict[str, Any]], batch_size: int = 7) -> Archive:
    """An archive holding ``records`` (stored columns), committed in small batches."""
    create_archive(path)
    with ArchiveWriter(path) as writer:
        for i, record in enumerate(records):
            data = f"Subject: {i}\r\n\r\nbody {i}\r\n".encode()
            writer.add(record, data)
            if writer.pending_count >= batch_size:
                writer.commit()
        writer.commit()
    return Archive(path)
