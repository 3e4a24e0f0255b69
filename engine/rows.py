"""Stored columns -> Row dicts exactly as the API's ``Row`` shape (absent members omitted)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from engine.schema import ENVELOPE_MEMBERS, ROW_MEMBERS

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ms_to_datetime(ms: int) -> datetime:
    """Epoch milliseconds -> aware UTC datetime (works for years 1..9999)."""
    return _EPOCH + timedelta(milliseconds=ms)


def datetime_to_ms(value: datetime) -> int:
    """Aware datetime -> epoch milliseconds (naive means UTC), truncated to the millisecond."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _has_value(value: Any) -> bool:
    return value is not None and value != "" and value != []


def project_envelope(record: dict[str, Any]) -> dict[str, Any] | None:
    """The ``Envelope`` shape from the envelope columns, or None when none is known."""
    envelope = {
        member: record[column]
        for member, column in ENVELOPE_MEMBERS
        if _has_value(record.get(column))
    }
    return envelope or None


# The Row shape's members in order, each with its column and how it is read (precomputed: a
# search projects up to 1,000 rows and this loop is most of that time).
_PLAIN, _TIMESTAMP, _FLAG, _ENVELOPE = range(4)
_PLAN = tuple(
    (
        member,
        column,
        {"ReceivedTimestamp": _TIMESTAMP, "HasAttachments": _FLAG, "Envelope": _ENVELOPE}.get(
            member, _PLAIN
        ),
    )
    for member, column in ROW_MEMBERS
)


def project_row(record: dict[str, Any]) -> dict[str, Any]:
    """One Row: the shape's members in its order; ReceivedTimestamp as an aware datetime.

    Members without a value (None, "" or an empty list) are omitted; HasAttachments is always
    present.
    """
    row: dict[str, Any] = {}
    for member, column, kind in _PLAN:
        if kind == _PLAIN:
            value = record.get(column)
            if value:  # str or list: None, "" and [] are no value
                row[member] = value
        elif kind == _TIMESTAMP:
            ms = record.get(column)
            if ms is not None:
                row[member] = _EPOCH + timedelta(milliseconds=ms)
        elif kind == _FLAG:
            row[member] = bool(record.get(column))
        else:
            envelope = project_envelope(record)
            if envelope is not None:
                row[member] = envelope
    return row


def project_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows for a list of records, in the same order."""
    return [project_row(r) for r in records]
