"""The service model, read once from ``shapes.json``, a copy of the spec's shapes file.

Validation, error mapping and the wire layer all ask this module about operations and shapes, so
the botocore model is the one source of limits, patterns, enums and error statuses.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

from engine.export import S3_LOCATION_PATTERN

SHAPES_FILE = "shapes.json"
ERROR_TYPE_PREFIX = "com.amazonaws.mailmanager#"

# Patterns of the model that Python's backtracking matcher would run in exponential time,
# rewritten to match exactly the same strings in linear time. S3Location's
# ``s3://[a-zA-Z0-9.-]{3,63}(/[a-zA-Z0-9!_.*'()/-]*)*`` repeats a group whose own repeated class
# holds "/", so a long value that fails (``s3://bkt/a/a/.../a%``) is tried in every way of cutting
# it into groups: 5 s at 26 segments, twice that per segment more. A run of such groups is just
# "/" followed by class characters, or nothing. Every other pattern of the model is free of nested
# repetition (tests/test_api_validation.py checks both claims).
LINEAR_PATTERNS: dict[str, str] = {"S3Location": S3_LOCATION_PATTERN}


class ServiceModel:
    """Operations and shapes of the Mail Manager archive API."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.metadata: dict[str, Any] = raw["metadata"]
        self.operations: dict[str, dict[str, Any]] = raw["operations"]
        self.shapes: dict[str, dict[str, Any]] = raw["shapes"]
        self.paginators: dict[str, dict[str, Any]] = raw.get("paginators", {})
        self.target_prefix: str = self.metadata["targetPrefix"]
        self._patterns: dict[str, re.Pattern[str]] = {}

    def shape(self, name: str) -> dict[str, Any]:
        return self.shapes[name]

    def input_shape(self, operation: str) -> str:
        return str(self.operations[operation]["input"]["shape"])

    def output_shape(self, operation: str) -> str:
        return str(self.operations[operation]["output"]["shape"])

    def error_codes(self, operation: str) -> tuple[str, ...]:
        """The error shapes an operation may answer, as listed in the model."""
        return tuple(e["shape"] for e in self.operations[operation].get("errors", ()))

    def error_status(self, code: str) -> int | None:
        """The HTTP status of an error shape, or None for codes outside the model."""
        shape = self.shapes.get(code)
        if shape is None or "error" not in shape:
            return None
        return int(shape["error"]["httpStatusCode"])

    def pattern(self, shape_name: str) -> re.Pattern[str]:
        """The shape's pattern, compiled to match ASCII classes only (SEMANTICS: ASCII, whole);
        its linear-time equivalent where the model's own would backtrack exponentially."""
        compiled = self._patterns.get(shape_name)
        if compiled is None:
            source = LINEAR_PATTERNS.get(shape_name, self.shapes[shape_name]["pattern"])
            compiled = re.compile(source, re.ASCII)
            self._patterns[shape_name] = compiled
        return compiled


@cache
def load_model() -> ServiceModel:
    """The model shipped with the package (parsed once per process)."""
    text = resources.files("api").joinpath(SHAPES_FILE).read_text(encoding="utf-8")
    return ServiceModel(json.loads(text))
