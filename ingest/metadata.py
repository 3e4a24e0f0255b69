"""Metadata JSON document -> envelope and Metadata values (SEMANTICS §1).

A metadata document is a JSON object in one of two forms, which may be mixed:

* ``{"ArchivedMessageId": str, "Envelope": {"From": str, "To": [str], "Helo": str},
  "Metadata": {...the 13 members of the Metadata shape...}}``;
* the flat members of the ``Row`` shape at the top level: ``ReceivedTimestamp``, ``Envelope``,
  ``IngressPointId``, ``SenderHostname``, ``SenderIpAddress``, ``SourceArn``.

Where both forms give a value, the ``Metadata`` one wins; ``ReceivedTimestamp`` stands for
``Metadata.Timestamp``.

Choices made here where SEMANTICS is silent:

* Key names match ASCII case-insensitively (``timestamp``, ``TIMESTAMP``); a non-ASCII key never
  matches a known name, even if Unicode case folding would make it equal (the shapes are ASCII).
* A known member given twice with a value (``{"Timestamp": 1, "timestamp": 2}``, or an exact
  duplicate key) is an error: guessing which one was meant would be silent data loss. A second
  occurrence that is ``null`` is simply absent.
* Types are strict: ``Envelope.To`` must be a list of strings (a bare string is an error, and so is
  a ``null`` element); string members must be strings (a number is an error).
* An empty string for a string member of ``Envelope`` or ``Metadata`` counts as absent, because a
  row never carries ``""`` (SEMANTICS §5) and the shapes give those ids ``min: 1``. ``To`` elements
  are kept as given, and ``ArchivedMessageId`` is kept raw: its validity is judged elsewhere.
* Unknown keys are kept by name only, nested ones with their parent's name (``Metadata.Foo``).
* A leading UTF-8 byte order mark is ignored (RFC 8259 allows it); other encodings are errors.
  ``NaN`` / ``Infinity`` are not JSON and are errors; a lone surrogate escape in a known string is
  an error (it could not be stored as UTF-8).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_FLOOR, Decimal

from engine.schema import METADATA_COLUMNS

# The Metadata shape's members in its order: the field registry (engine/schema.py) holds them.
METADATA_MEMBERS: tuple[str, ...] = tuple(METADATA_COLUMNS)
ENVELOPE_MEMBERS: tuple[str, ...] = ("From", "To", "Helo")
# Row members that may stand at the top level, and the Metadata member each one feeds.
ROW_MEMBERS: dict[str, str] = {
    "ReceivedTimestamp": "Timestamp",
    "IngressPointId": "IngressPointId",
    "SenderHostname": "SenderHostname",
    "SenderIpAddress": "SenderIpAddress",
    "SourceArn": "SourceArn",
}
TOP_LEVEL_MEMBERS: tuple[str, ...] = ("ArchivedMessageId", "Envelope", "Metadata", *ROW_MEMBERS)

# A number above this is epoch milliseconds, at or below it epoch seconds (SEMANTICS §1).
EPOCH_MS_THRESHOLD = 10**11
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_MS_PER_DAY = 86_400_000
# Years 1..9999 inclusive, in epoch milliseconds.
MIN_TIMESTAMP_MS = (date(1, 1, 1).toordinal() - _EPOCH_ORDINAL) * _MS_PER_DAY
MAX_TIMESTAMP_MS = (date(9999, 12, 31).toordinal() - _EPOCH_ORDINAL + 1) * _MS_PER_DAY - 1

# ISO 8601 calendar date, extended (2024-05-01) or basic (20240501), optionally followed by a time
# (hh:mm[:ss[.f]] or hhmm[ss[.f]], separator T, t or space) and an offset (Z, ±hh, ±hh:mm, ±hhmm).
# Own grammar rather than datetime.fromisoformat, whose leniency varies between Python versions.
_ISO_RE = re.compile(
    r"(?P<year>[0-9]{4})(?P<ds>-?)(?P<month>[0-9]{2})(?P=ds)(?P<day>[0-9]{2})"
    r"(?:[Tt ](?P<hour>[0-9]{2})(?P<ts>:?)(?P<minute>[0-9]{2})"
    r"(?:(?P=ts)(?P<second>[0-9]{2})(?:[.,](?P<fraction>[0-9]+))?)?"
    r"(?P<offset>[Zz]|(?P<sign>[+-])(?P<oh>[0-9]{2})(?::?(?P<om>[0-9]{2}))?)?)?",
    re.ASCII,
)


class MetadataError(ValueError):
    """A metadata document that cannot be used: ``key`` names the member at fault (or is None)."""

    def __init__(self, problem: str, key: str | None = None) -> None:
        self.problem = problem
        self.key = key
        super().__init__(f"{key}: {problem}" if key else problem)


@dataclass(frozen=True, slots=True)
class MessageMetadata:
    """One document's values; None (or a missing ``metadata`` entry) means the document lacks it.

    ``metadata`` holds Metadata-shape members in the shape's order: ``Timestamp`` as epoch
    milliseconds, the others as strings. ``unknown_keys`` are kept for the ingest report only.
    """

    archived_message_id: str | None
    envelope_from: str | None
    envelope_to: tuple[str, ...] | None
    envelope_helo: str | None
    metadata: dict[str, str | int]
    unknown_keys: tuple[str, ...]

    @property
    def timestamp_ms(self) -> int | None:
        value = self.metadata.get("Timestamp")
        return value if isinstance(value, int) else None


class _JsonObject(tuple[tuple[str, object], ...]):
    """A JSON object as its key/value pairs, so duplicate keys stay visible."""

    __slots__ = ()


def parse_metadata(data: bytes) -> MessageMetadata:
    """Parse the bytes of one metadata document.

    Raises MetadataError for invalid UTF-8, invalid JSON, a top level that is not an object, or a
    known key whose value has the wrong type; the error's ``key`` names the member.
    """
    document = _parse_json(data)
    if not isinstance(document, _JsonObject):
        raise MetadataError(f"expected a JSON object at the top level, got {_type_name(document)}")
    top, unknown = _pick_members(document, TOP_LEVEL_MEMBERS, parent=None)
    envelope_from, envelope_to, envelope_helo = None, None, None
    if "Envelope" in top:
        envelope, envelope_unknown = _parse_object(top["Envelope"], ENVELOPE_MEMBERS, "Envelope")
        unknown += envelope_unknown
        envelope_from = _parse_member_string(envelope, "From", "Envelope.From")
        envelope_to = _parse_string_list(envelope, "To", "Envelope.To")
        envelope_helo = _parse_member_string(envelope, "Helo", "Envelope.Helo")
    metadata = _parse_row_members(top)
    if "Metadata" in top:
        members, metadata_unknown = _parse_object(top["Metadata"], METADATA_MEMBERS, "Metadata")
        unknown += metadata_unknown
        metadata.update(_parse_metadata_members(members))  # the Metadata form wins
    archived_message_id = None
    if "ArchivedMessageId" in top:
        archived_message_id = _parse_string(top["ArchivedMessageId"], "ArchivedMessageId")
    return MessageMetadata(
        archived_message_id=archived_message_id,
        envelope_from=envelope_from,
        envelope_to=envelope_to,
        envelope_helo=envelope_helo,
        metadata={name: metadata[name] for name in METADATA_MEMBERS if name in metadata},
        unknown_keys=tuple(unknown),
    )


def parse_timestamp(value: object) -> int:
    """Epoch milliseconds from an ISO 8601 string or an epoch number.

    Strings: a calendar date, optionally with a time and an offset (none means UTC); fractional
    seconds are truncated to the millisecond. Numbers: epoch seconds, or epoch milliseconds when
    above 10**11 (negative numbers are always seconds); sub-millisecond parts are floored, which is
    the same truncation as for strings. ``bool`` is not a number.
    Raises MetadataError (without a key) for any other value or a time outside years 1..9999.
    """
    if isinstance(value, str):
        ms = _parse_iso_timestamp(value)
    elif isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        ms = _parse_epoch_number(value)
    else:
        raise MetadataError(f"expected a timestamp, got {_type_name(value)}")
    if not MIN_TIMESTAMP_MS <= ms <= MAX_TIMESTAMP_MS:
        raise MetadataError(f"timestamp {_show(value)} lies outside years 1..9999")
    return ms


def _parse_json(data: bytes) -> object:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MetadataError(f"not valid UTF-8: {exc}") from exc
    try:
        # parse_float=Decimal keeps "1714557600.123" exact: no float rounding moves a millisecond.
        return json.loads(
            text,
            object_pairs_hook=_JsonObject,
            parse_float=Decimal,
            parse_constant=_reject_constant,
        )
    except RecursionError as exc:
        raise MetadataError("invalid JSON: nested too deeply") from exc
    except ValueError as exc:  # JSONDecodeError, and ints past Python's digit limit
        raise MetadataError(f"invalid JSON: {exc}") from exc


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON value")


def _pick_members(
    obj: _JsonObject, names: Iterable[str], parent: str | None
) -> tuple[dict[str, object], list[str]]:
    """Known members by canonical name (nulls dropped) and the unknown keys, named for reports."""
    canonical = {name.lower(): name for name in names}
    found: dict[str, object] = {}
    spelled: dict[str, str] = {}
    unknown: list[str] = []
    for key, value in obj:
        name = canonical.get(key.lower()) if key.isascii() else None
        if name is None:
            unknown.append(f"{parent}.{key}" if parent else key)
            continue
        if value is None:  # JSON null means absent
            continue
        if name in found:
            problem = f"given more than once (as {spelled[name]!r} and {key!r})"
            raise MetadataError(problem, _join(parent, name))
        found[name] = value
        spelled[name] = key
    return found, unknown


def _parse_object(
    value: object, names: Iterable[str], key: str
) -> tuple[dict[str, object], list[str]]:
    if not isinstance(value, _JsonObject):
        raise MetadataError(f"expected an object, got {_type_name(value)}", key)
    return _pick_members(value, names, parent=key)


def _parse_row_members(top: dict[str, object]) -> dict[str, str | int]:
    values: dict[str, str | int] = {}
    for row_name, member in ROW_MEMBERS.items():
        if row_name not in top:
            continue
        parsed = _parse_member_value(top[row_name], member, row_name)
        if parsed is not None:
            values[member] = parsed
    return values


def _parse_metadata_members(members: dict[str, object]) -> dict[str, str | int]:
    values: dict[str, str | int] = {}
    for name, value in members.items():
        parsed = _parse_member_value(value, name, f"Metadata.{name}")
        if parsed is not None:
            values[name] = parsed
    return values


def _parse_member_value(value: object, member: str, key: str) -> str | int | None:
    if member == "Timestamp":
        try:
            return parse_timestamp(value)
        except MetadataError as exc:
            raise MetadataError(exc.problem, key) from exc
    return _parse_string(value, key) or None  # "" is no value (module docstring)


def _parse_member_string(members: dict[str, object], name: str, key: str) -> str | None:
    if name not in members:
        return None
    return _parse_string(members[name], key) or None  # "" is no value (module docstring)


def _parse_string_list(members: dict[str, object], name: str, key: str) -> tuple[str, ...] | None:
    if name not in members:
        return None
    value = members[name]
    if not isinstance(value, list):
        raise MetadataError(f"expected a list of strings, got {_type_name(value)}", key)
    return tuple(_parse_string(item, f"{key}[{index}]") for index, item in enumerate(value))


def _parse_string(value: object, key: str) -> str:
    if not isinstance(value, str):
        raise MetadataError(f"expected a string, got {_type_name(value)}", key)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise MetadataError("not valid Unicode (a lone surrogate escape)", key) from exc
    return value


def _parse_iso_timestamp(text: str) -> int:
    match = _ISO_RE.fullmatch(text)
    if match is None:
        raise MetadataError(f"expected an ISO 8601 timestamp, got {text!r}")
    year, month, day = (int(match[name]) for name in ("year", "month", "day"))
    hour, minute, second = (int(match[name] or 0) for name in ("hour", "minute", "second"))
    try:
        # Only to check the fields (month 13, Feb 30, hour 24, year 0 are refused).
        datetime(year, month, day, hour, minute, second)
    except ValueError as exc:
        raise MetadataError(f"expected an ISO 8601 timestamp, got {text!r} ({exc})") from exc
    days = date(year, month, day).toordinal() - _EPOCH_ORDINAL
    ms = days * _MS_PER_DAY + ((hour * 60 + minute) * 60 + second) * 1000
    ms += int((match["fraction"] or "0")[:3].ljust(3, "0"))  # truncated to the millisecond
    return ms - _parse_offset_ms(match, text)


def _parse_offset_ms(match: re.Match[str], text: str) -> int:
    if match["sign"] is None:  # "Z", or no offset at all: UTC
        return 0
    hours, minutes = int(match["oh"]), int(match["om"] or 0)
    if hours > 23 or minutes > 59:
        raise MetadataError(f"expected an ISO 8601 timestamp, got {text!r} (bad offset)")
    sign = -1 if match["sign"] == "-" else 1
    return sign * (hours * 60 + minutes) * 60_000


def _parse_epoch_number(value: int | float | Decimal) -> int:
    if isinstance(value, int):
        return value if value > EPOCH_MS_THRESHOLD else value * 1000
    # Decimal(repr(float)) is the shortest text that gives the float back: what the author wrote.
    number = value if isinstance(value, Decimal) else Decimal(repr(value))
    if not number.is_finite():
        raise MetadataError(f"expected a timestamp, got {_show(value)}")
    if number.adjusted() > 20:  # far beyond year 9999 in any unit; spares exact work on 1e999999
        raise MetadataError(f"timestamp {_show(value)} lies outside years 1..9999")
    return _floor_scaled(number, 0 if number > EPOCH_MS_THRESHOLD else 3)


def _floor_scaled(number: Decimal, digits: int) -> int:
    """floor(number * 10**digits), exactly: shifting the exponent avoids context rounding."""
    sign, coefficient, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # finite, checked by the caller
    shifted = Decimal((sign, coefficient, exponent + digits))
    return int(shifted.to_integral_value(rounding=ROUND_FLOOR))


def _join(parent: str | None, name: str) -> str:
    return f"{parent}.{name}" if parent else name


def _show(value: object) -> str:
    """A value as JSON would spell it (no ``Decimal('...')`` noise)."""
    return repr(value) if isinstance(value, str) else str(value)


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float | Decimal):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, _JsonObject | dict):
        return "an object"
    return f"a {type(value).__name__}"
