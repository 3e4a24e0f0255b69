"""Formatting of rows and reports for the terminal: JSON, JSON lines, a table, CSV."""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from datetime import datetime
from typing import Any

ROW_FORMATS = ("json", "jsonl", "table", "csv")
TABLE_COLUMNS = (
    "ArchivedMessageId",
    "ReceivedTimestamp",
    "From",
    "To",
    "Subject",
    "HasAttachments",
)


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


def display_width(text: str) -> int:
    """Terminal columns: East Asian wide and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` columns (with an ellipsis) and padded to exactly that."""
    if display_width(text) > width:
        out, used = [], 0
        for c in text:
            w = display_width(c)
            if used + w > width - 1:
                break
            out.append(c)
            used += w
        text = "".join(out) + "…"
    return text + " " * (width - display_width(text))


def format_table(rows: list[dict[str, Any]], width: int = 40) -> str:
    """A plain fixed-width table of the most useful members."""
    cells = [[_cell(row.get(c)) for c in TABLE_COLUMNS] for row in rows]
    widths = [
        min(width, max([len(c)] + [display_width(r[i]) for r in cells]))
        for i, c in enumerate(TABLE_COLUMNS)
    ]

    def line(values: list[str] | tuple[str, ...]) -> str:
        return "  ".join(_fit(v, w) for v, w in zip(values, widths, strict=True)).rstrip()

    return "\n".join(
        [line(TABLE_COLUMNS), line(["-" * w for w in widths])] + [line(r) for r in cells]
    )
