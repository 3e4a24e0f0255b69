"""Timestamps given on the command line: ISO 8601 (no offset = UTC) or epoch seconds."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_cli_timestamp(value: str | None, option: str) -> int | None:
    """Epoch milliseconds, or None when not given.

    Raises engine.errors.ValidationException naming the option.
    """
    from engine.errors import ValidationException

    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if seconds != seconds or seconds in (float("inf"), float("-inf")):
            raise ValidationException(f"{option}: {value!r} is not a timestamp")
        return round(seconds * 1000)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise ValidationException(
            f"{option}: {value!r} is neither ISO 8601 nor epoch seconds"
        ) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    from engine.rows import datetime_to_ms

    return datetime_to_ms(parsed)
