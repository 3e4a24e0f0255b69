"""A brute-force evaluator that reads spec/SEMANTICS.md literally: the oracle for tests.

It walks every record and applies §3-4 in the plainest way. It shares no code with the compiler
or the scan path (folding, matching and ordering are written out again here on purpose), so a bug
in one is not hidden by the same bug in the other.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Any

from engine.filters import BooleanCondition, Condition, Filters, StringCondition

_VALUE_COLUMNS = {
    "TO": "header_to",
    "FROM": "header_from",
    "CC": "header_cc",
    "SUBJECT": "subject",
    "ENVELOPE_TO": "envelope_to",
    "ENVELOPE_FROM": "envelope_from",
}


def _fold(s: str) -> str:
    # §3: fold(s) = NFC(casefold(NFC(s)))
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", s).casefold())


def _contains(value: str, needle: str) -> bool:
    return _fold(needle) in _fold(value)


def _holds(record: dict[str, Any], condition: Condition) -> bool:
    if isinstance(condition, BooleanCondition):
        # §2: HAS_ATTACHMENTS; IS_TRUE / IS_FALSE
        return bool(record["has_attachments"]) is condition.value
    assert isinstance(condition, StringCondition)
    value = record.get(_VALUE_COLUMNS[condition.attribute])
    if value is None:
        return False  # §2: an attribute the message lacks has no value
    elements = value if condition.attribute == "ENVELOPE_TO" else [value]
    # §3: any value of the expression; ENVELOPE_TO: any element contains it
    return any(_contains(element, needle) for needle in condition.values for element in elements)


def _in_range(received: int | None, from_ms: int | None, to_ms: int | None) -> bool:
    if from_ms is None and to_ms is None:
        return True
    if received is None:
        return False  # §1: any time bound excludes an undated message
    if from_ms is not None and not from_ms <= received:
        return False
    return not (to_ms is not None and not received < to_ms)


def reference_search(
    records: Iterable[dict[str, Any]],
    filters: Filters,
    from_ms: int | None,
    to_ms: int | None,
    max_results: int,
) -> tuple[list[str], int]:
    """ArchivedMessageIds of the answer in order, and how many matched in all."""
    matched = []
    for record in records:
        if not _in_range(record["received_ms"], from_ms, to_ms):
            continue
        if not all(_holds(record, c) for c in filters.include):
            continue
        if any(_holds(record, c) for c in filters.unless):
            continue
        matched.append(record)
    dated = [r for r in matched if r["received_ms"] is not None]
    undated = [r for r in matched if r["received_ms"] is None]
    # §4: newest first, ties by id ascending (code points); undated after all dated, by id.
    dated.sort(key=lambda r: r["archived_message_id"])
    dated.sort(key=lambda r: r["received_ms"], reverse=True)
    undated.sort(key=lambda r: r["archived_message_id"])
    ordered = dated + undated
    return [r["archived_message_id"] for r in ordered[:max_results]], len(matched)
