"""Requests checked against the service model, generically, before any operation runs.

One walk over the input shape checks every constraint kind the model uses: required members,
unknown members, JSON types, string lengths, patterns (whole value, ASCII classes, in linear
time: see api/shapes.py), enums,
integer ranges, list lengths, unions with exactly one member, and timestamps. Then a few rules
that span members (FromTimestamp before ToTimestamp). Every message starts with the member's
path, e.g. ``Filters.Include[0].StringExpression.Values[0]: ...``.

JSON ``null`` means absent, as botocore treats it. Timestamps are accepted as epoch seconds (the
wire form) or as datetimes (what boto3 callers and the CLI pass), and come out as aware UTC
datetimes cut to the millisecond, the precision the archive keeps.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from api.shapes import ServiceModel, load_model
from engine.errors import ValidationException
from engine.rows import datetime_to_ms, ms_to_datetime

# Years 1..9999: the range of a Python datetime, and of the timestamps the archive stores.
MIN_TIMESTAMP_MS = -62_135_596_800_000
MAX_TIMESTAMP_MS = 253_402_300_799_999
REQUEST = "request body"
SHOWN_VALUE_CHARS = 60

MESSAGES = {
    "required": "{path}: missing required member",
    "unknown": "{path}: unknown member",
    "type": "{path}: expected {expected}, got {got}",
    "union": "{path}: exactly one of {members} must be set, got {count}",
    "length": "{path}: length must be {bounds} characters, got {length}",
    "pattern": "{path}: {value} does not match the pattern {pattern}",
    "enum": "{path}: {value} is not one of {allowed}",
    "range": "{path}: {value} is outside the range {bounds}",
    "items": "{path}: must hold {bounds} items, got {count}",
    "timestamp": "{path}: {value} is not a timestamp between years 1 and 9999 (epoch seconds)",
    "unicode": "{path}: not valid Unicode text (lone surrogate)",
}


def _fail(kind: str, **fields: object) -> ValidationException:
    return ValidationException(MESSAGES[kind].format(**fields))


def _shown(value: object) -> str:
    text = repr(value)
    if len(text) > SHOWN_VALUE_CHARS:
        text = text[: SHOWN_VALUE_CHARS - 1] + "…"
    return text


def _bounds(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"{low} to {high}" if low != high else str(low)
    if low is not None:
        return f"at least {low}"
    return f"at most {high}"


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _join(path: str, member: str) -> str:
    return f"{path}.{member}" if path else member


class _Walker:
    def __init__(self, model: ServiceModel, not_required: frozenset[str] = frozenset()) -> None:
        self.model = model
        self.not_required = not_required  # top-level members required by the model, not here

    def value(self, shape_name: str, value: object, path: str) -> Any:
        shape = self.model.shape(shape_name)
        check: Callable[[str, dict[str, Any], Any, str], Any] = getattr(self, "_" + shape["type"])
        return check(shape_name, shape, value, path)

    def _structure(self, name: str, shape: dict[str, Any], value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            raise _fail("type", path=path or REQUEST, expected="an object", got=_json_type(value))
        members: dict[str, Any] = shape["members"]
        for key in value:
            if key not in members:
                raise _fail("unknown", path=_join(path, str(key)))
        given = {k: v for k, v in value.items() if v is not None}
        for required in shape.get("required", ()):
            if required not in given and not (not path and required in self.not_required):
                raise _fail("required", path=_join(path, required))
        if shape.get("union") and len(given) != 1:
            names = " or ".join(members)
            raise _fail("union", path=path or REQUEST, members=names, count=len(given))
        return {
            member: self.value(members[member]["shape"], given[member], _join(path, member))
            for member in members
            if member in given
        }

    def _list(self, name: str, shape: dict[str, Any], value: Any, path: str) -> Any:
        if not isinstance(value, list):
            raise _fail("type", path=path, expected="a list", got=_json_type(value))
        low, high = shape.get("min"), shape.get("max")
        if (low is not None and len(value) < low) or (high is not None and len(value) > high):
            raise _fail("items", path=path, bounds=_bounds(low, high), count=len(value))
        member = shape["member"]["shape"]
        return [self.value(member, item, f"{path}[{i}]") for i, item in enumerate(value)]

    def _string(self, name: str, shape: dict[str, Any], value: Any, path: str) -> Any:
        if not isinstance(value, str):
            raise _fail("type", path=path, expected="a string", got=_json_type(value))
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise _fail("unicode", path=path) from None
        if "enum" in shape:
            if value not in shape["enum"]:
                allowed = ", ".join(shape["enum"])
                raise _fail("enum", path=path, value=_shown(value), allowed=allowed)
            return value
        low, high = shape.get("min"), shape.get("max")
        if (low is not None and len(value) < low) or (high is not None and len(value) > high):
            raise _fail("length", path=path, bounds=_bounds(low, high), length=len(value))
        if "pattern" in shape and not self.model.pattern(name).fullmatch(value):
            raise _fail("pattern", path=path, value=_shown(value), pattern=shape["pattern"])
        return value

    def _integer(self, name: str, shape: dict[str, Any], value: Any, path: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail("type", path=path, expected="an integer", got=_json_type(value))
        low, high = shape.get("min"), shape.get("max")
        if (low is not None and value < low) or (high is not None and value > high):
            raise _fail("range", path=path, value=value, bounds=_bounds(low, high))
        return value

    def _boolean(self, name: str, shape: dict[str, Any], value: Any, path: str) -> Any:
        if not isinstance(value, bool):
            raise _fail("type", path=path, expected="a boolean", got=_json_type(value))
        return value

    def _timestamp(self, name: str, shape: dict[str, Any], value: Any, path: str) -> Any:
        if isinstance(value, datetime):
            ms = datetime_to_ms(value if value.tzinfo else value.replace(tzinfo=UTC))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise _fail("timestamp", path=path, value=_shown(value))
            ms = round(value * 1000)
        else:
            raise _fail("type", path=path, expected="epoch seconds", got=_json_type(value))
        if not MIN_TIMESTAMP_MS <= ms <= MAX_TIMESTAMP_MS:
            raise _fail("timestamp", path=path, value=_shown(value))
        return ms_to_datetime(ms)


def _time_range(params: dict[str, Any]) -> None:
    from engine.search import validate_time_range  # pulls in pyarrow: only when needed

    if "FromTimestamp" in params and "ToTimestamp" in params:
        validate_time_range(
            datetime_to_ms(params["FromTimestamp"]), datetime_to_ms(params["ToTimestamp"])
        )


# Rules that span members, per operation (the model cannot say these).
CROSS_MEMBER_RULES: dict[str, tuple[Callable[[dict[str, Any]], None], ...]] = {
    "StartArchiveSearch": (_time_range,),
    "StartArchiveExport": (_time_range,),
}


def validate_request(
    operation: str, params: object, *, not_required: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """The request's members checked against the operation's input shape.

    ``not_required`` names top-level members the model requires that this caller may omit
    (the CLI mirror's export without a time range). Returns the members with nulls dropped and
    timestamps as aware UTC datetimes. Raises ValidationException naming the offending member.
    """
    model = load_model()
    walker = _Walker(model, not_required)
    checked: dict[str, Any] = walker.value(model.input_shape(operation), params, "")
    for rule in CROSS_MEMBER_RULES.get(operation, ()):
        rule(checked)
    return checked
