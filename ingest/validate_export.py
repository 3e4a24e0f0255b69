"""``validate-export``: does an export folder hold every message the cloud's results list, and
does each give the row the cloud reported?

The export is ingested into a throwaway archive with the real pipeline, so every message becomes
exactly the row ``ingest`` would make (ids, metadata, header reading, collisions): a second,
lighter reading of the folder could only drift from it. The cost is a temporary copy of the
messages' bytes (under ``work_dir``, else the system's temporary folder).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.store import Archive
from engine.validate import Row, ValidationReport, validate_archive_rows
from ingest.pipeline import IngestReport, ingest_export


@dataclass(slots=True)
class ExportValidation:
    """The comparison, and what reading the export found (rejected files may explain a miss)."""

    report: ValidationReport
    ingest: IngestReport

    def as_dict(self) -> dict[str, Any]:
        out = self.report.as_dict()
        out["export"] = {
            "files_seen": self.ingest.files_seen,
            "messages": self.ingest.messages_ingested + self.ingest.messages_already_present,
            "rejected": self.ingest.rejected,
        }
        return out


def validate_export(
    export: Path,
    cloud_rows: Sequence[Row],
    *,
    work_dir: Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> ExportValidation:
    """Compare the cloud's rows (as engine.validate.parse_cloud_rows gives them) with the
    messages of the export folder ``export``.

    Raises IngestError when ``export`` is not a readable folder.
    """
    with tempfile.TemporaryDirectory(prefix="mmarchive-validate-", dir=work_dir) as scratch:
        archive_path = Path(scratch) / "archive"
        ingest = ingest_export(export, archive_path, progress=progress)
        report = validate_archive_rows(Archive(archive_path), cloud_rows)
    _note_rejected(report, ingest)
    return ExportValidation(report, ingest)


def _note_rejected(report: ValidationReport, ingest: IngestReport) -> None:
    # A cloud row missing from the export may be a file that is there but was rejected
    # (zero bytes, not a message): say so, since "absent" would send the user looking for it.
    rejected_by_stem = {
        Path(entry["path"]).name[: -len(".eml")]: entry for entry in ingest.rejected
    }
    for difference in report.differences:
        archived_id = difference.row.get("ArchivedMessageId")
        if difference.kind == "missing_locally" and archived_id in rejected_by_stem:
            entry = rejected_by_stem[archived_id]
            difference.note = f"{entry['path']} is in the export but was rejected: "
            difference.note += entry["reason"]
