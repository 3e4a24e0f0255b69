"""Filters JSON -> a small typed tree, validated against the API's limits.

Every ValidationException names the JSON path of the offending member, for example
``Filters.Include[2].StringExpression.Values[0]``.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.errors import ValidationException
from engine.schema import BOOLEAN_ATTRIBUTES, BOOLEAN_OPERATORS, STRING_ATTRIBUTES, STRING_OPERATORS

MAX_CONDITIONS = 10  # ArchiveFilterConditions max
MAX_VALUES = 10  # StringValueList max
MAX_VALUE_LENGTH = 2048  # StringValue max


@dataclass(frozen=True, slots=True)
class StringCondition:
    """``attribute CONTAINS any of values``."""

    attribute: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BooleanCondition:
    """``attribute IS_TRUE`` (value True) or ``IS_FALSE`` (value False)."""

    attribute: str
    value: bool


Condition = StringCondition | BooleanCondition


@dataclass(frozen=True, slots=True)
class Filters:
    """All of ``include`` must hold and none of ``unless`` (SEMANTICS §3)."""

    include: tuple[Condition, ...] = ()
    unless: tuple[Condition, ...] = ()


def parse_filters(raw: object, path: str = "Filters") -> Filters:
    """Validate the API's ``Filters`` object; ``None`` means no filter.

    Raises ValidationException naming the JSON path of the first problem found.
    """
    if raw is None:
        return Filters()
    obj = _expect_object(raw, path)
    _reject_unknown(obj, ("Include", "Unless"), path)
    return Filters(
        include=_parse_conditions(obj.get("Include"), f"{path}.Include"),
        unless=_parse_conditions(obj.get("Unless"), f"{path}.Unless"),
    )


def dump_filters(filters: Filters) -> dict[str, object]:
    """The API's JSON form of a Filters tree (what GetArchiveSearch echoes)."""
    out: dict[str, object] = {}
    if filters.include:
        out["Include"] = [_dump_condition(c) for c in filters.include]
    if filters.unless:
        out["Unless"] = [_dump_condition(c) for c in filters.unless]
    return out


def _dump_condition(condition: Condition) -> dict[str, object]:
    if isinstance(condition, StringCondition):
        return {
            "StringExpression": {
                "Evaluate": {"Attribute": condition.attribute},
                "Operator": "CONTAINS",
                "Values": list(condition.values),
            }
        }
    operator = "IS_TRUE" if condition.value else "IS_FALSE"
    return {
        "BooleanExpression": {"Evaluate": {"Attribute": condition.attribute}, "Operator": operator}
    }


def _parse_conditions(raw: object, path: str) -> tuple[Condition, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ValidationException(f"{path}: expected a list of conditions")
    if len(raw) > MAX_CONDITIONS:
        raise ValidationException(
            f"{path}: at most {MAX_CONDITIONS} conditions are allowed, got {len(raw)}"
        )
    return tuple(_parse_condition(item, f"{path}[{i}]") for i, item in enumerate(raw))


def _parse_condition(raw: object, path: str) -> Condition:
    obj = _expect_object(raw, path)
    _reject_unknown(obj, ("StringExpression", "BooleanExpression"), path)
    present = [k for k in ("StringExpression", "BooleanExpression") if obj.get(k) is not None]
    if len(present) != 1:
        raise ValidationException(
            f"{path}: exactly one of StringExpression or BooleanExpression must be set, "
            f"got {len(present)}"
        )
    if present[0] == "StringExpression":
        return _parse_string_expression(obj["StringExpression"], f"{path}.StringExpression")
    return _parse_boolean_expression(obj["BooleanExpression"], f"{path}.BooleanExpression")


def _parse_string_expression(raw: object, path: str) -> StringCondition:
    obj = _expect_object(raw, path)
    _reject_unknown(obj, ("Evaluate", "Operator", "Values"), path)
    attribute = _parse_evaluate(obj.get("Evaluate"), f"{path}.Evaluate", tuple(STRING_ATTRIBUTES))
    _parse_enum(obj.get("Operator"), f"{path}.Operator", STRING_OPERATORS)
    values_path = f"{path}.Values"
    values = obj.get("Values")
    if values is None:
        raise ValidationException(f"{values_path}: missing required member")
    if not isinstance(values, list):
        raise ValidationException(f"{values_path}: expected a list of strings")
    if not 1 <= len(values) <= MAX_VALUES:
        raise ValidationException(
            f"{values_path}: expected 1 to {MAX_VALUES} values, got {len(values)}"
        )
    for i, value in enumerate(values):
        value_path = f"{values_path}[{i}]"
        if not isinstance(value, str):
            raise ValidationException(f"{value_path}: expected a string")
        if not value.isascii() and not _is_unicode_text(value):
            raise ValidationException(f"{value_path}: not valid Unicode text (lone surrogate)")
        if not 1 <= len(value) <= MAX_VALUE_LENGTH:
            raise ValidationException(
                f"{value_path}: length must be 1 to {MAX_VALUE_LENGTH} characters, got {len(value)}"
            )
    return StringCondition(attribute, tuple(values))


def _parse_boolean_expression(raw: object, path: str) -> BooleanCondition:
    obj = _expect_object(raw, path)
    _reject_unknown(obj, ("Evaluate", "Operator"), path)
    attribute = _parse_evaluate(obj.get("Evaluate"), f"{path}.Evaluate", tuple(BOOLEAN_ATTRIBUTES))
    operator = _parse_enum(obj.get("Operator"), f"{path}.Operator", tuple(BOOLEAN_OPERATORS))
    return BooleanCondition(attribute, BOOLEAN_OPERATORS[operator])


def _parse_evaluate(raw: object, path: str, allowed: tuple[str, ...]) -> str:
    obj = _expect_object(raw, path)
    _reject_unknown(obj, ("Attribute",), path)
    return _parse_enum(obj.get("Attribute"), f"{path}.Attribute", allowed)


def _parse_enum(raw: object, path: str, allowed: tuple[str, ...]) -> str:
    if raw is None:
        raise ValidationException(f"{path}: missing required member")
    if not isinstance(raw, str) or raw not in allowed:
        raise ValidationException(f"{path}: value {raw!r} is not one of {', '.join(allowed)}")
    return raw


def _is_unicode_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _expect_object(raw: object, path: str) -> dict[str, object]:
    if raw is None:
        raise ValidationException(f"{path}: missing required member")
    if not isinstance(raw, dict):
        raise ValidationException(f"{path}: expected an object")
    return raw


def _reject_unknown(obj: dict[str, object], known: tuple[str, ...], path: str) -> None:
    for key in obj:
        if key not in known:
            raise ValidationException(f"{path}.{key}: unknown member")
