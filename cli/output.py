"""Formatting of rows and reports for the terminal: JSON, JSON lines, a table, CSV."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any

ROW_FORMATS = ("json", "jsonl", "table", "csv")
TABLE_COLUMNS = ("ReceivedTimestamp", "From", "To", "Subject", "HasAttachments")


def _default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(obj: object, *, indent: int | None = 2) -> str:
    """JSON with non-ASCII unescaped and datetimes as ISO 8601 (SEMANTICS §5 for the CLI)."""
    return json.dumps(obj, indent=indent, ensure_ascii=False, default=_default)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, dict)):
        return dumps(value, indent=None)
    return str(value)


def format_rows(rows: list[dict[str, Any]], fmt: str, members: tuple[str, ...]) -> str:
    """Rows in one of ROW_FORMATS; ``members`` gives the CSV header (the Row shape's order)."""
    if fmt == "json":
        return dumps({"Rows": rows})
    if fmt == "jsonl":
        return "\n".join(dumps(row, indent=None) for row in rows)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(members)
        for row in rows:
            writer.writerow([_cell(row.get(m)) for m in members])
        return out.getvalue().rstrip("\n")
    return format_table(rows)


def format_table(rows: list[dict[str, Any]], width: int = 40) -> str:
    """A plain fixed-width table of the most useful members."""
    cells = [[_cell(row.get(c)) for c in TABLE_COLUMNS] for row in rows]
    widths = [
        min(width, max([len(c)] + [len(r[i]) for r in cells])) for i, c in enumerate(TABLE_COLUMNS)
    ]

    def line(values: list[str] | tuple[str, ...]) -> str:
        parts = []
        for value, w in zip(values, widths, strict=True):
            shown = value if len(value) <= w else value[: w - 1] + "…"
            parts.append(shown.ljust(w))
        return "  ".join(parts).rstrip()

    return "\n".join(
        [line(TABLE_COLUMNS), line(["-" * w for w in widths])] + [line(r) for r in cells]
    )
