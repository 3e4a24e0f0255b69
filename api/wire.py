"""AWS JSON 1.0 (awsJson1_0), the protocol boto3 picks for this model: decode requests, encode
answers, and serialise every error, in this one place.

A request is ``POST /`` with ``X-Amz-Target: MailManagerSvc.<Operation>`` and
``Content-Type: application/x-amz-json-1.0``; its body is the input shape as JSON, timestamps as
epoch seconds. An answer is the output shape as JSON, or an error body
``{"__type": "com.amazonaws.mailmanager#<Code>", "Message": ...}`` with the status the model
gives that error. Mistakes in the envelope itself (another protocol, a bad body, an unknown
operation) get 4xx errors of their own codes, in the same envelope.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from api.operations import OPERATIONS
from api.shapes import ERROR_TYPE_PREFIX, load_model
from engine.errors import MMArchiveError
from engine.rows import datetime_to_ms

JSON_CONTENT_TYPE = "application/x-amz-json-1.0"
MAX_BODY_BYTES = 1024 * 1024  # no valid request of these operations comes near 1 MiB
PROTOCOL_HINT = (
    "this endpoint speaks the awsJson1_0 protocol only: POST / with "
    "'X-Amz-Target: MailManagerSvc.<Operation>' and 'Content-Type: application/x-amz-json-1.0'"
)


class Headers(Protocol):
    """Case-insensitive header lookup (http.server's message objects)."""

    def get(self, name: str, failobj: None = None) -> str | None: ...


class ProtocolError(MMArchiveError):
    """A request this server cannot read as an AWS JSON 1.0 call; carries its own code."""

    def __init__(self, code: str, http_status: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.http_status = http_status


class InternalFailure(MMArchiveError):
    """A fault of the server itself (a bug), never a client's mistake."""

    code = "InternalFailure"
    http_status = 500


def unknown_operation(message: str) -> ProtocolError:
    return ProtocolError("UnknownOperationException", 400, message)


def other_protocol(what: str) -> ProtocolError:
    return ProtocolError("UnsupportedProtocolException", 415, f"{what}; {PROTOCOL_HINT}")


def method_not_allowed(method: str) -> ProtocolError:
    return ProtocolError(
        "MethodNotAllowedException", 405, f"{method} is not served; {PROTOCOL_HINT}"
    )


def malformed_http(message: str) -> ProtocolError:
    return ProtocolError("BadRequestException", 400, message)


def detect_other_protocol(path: str, headers: Headers) -> None:
    """Raises ProtocolError for a request in another protocol, e.g. smithy-rpc-v2-cbor, which the
    model lists first and some newer SDKs prefer."""
    smithy = headers.get("smithy-protocol")
    content_type = (headers.get("content-type") or "").split(";")[0].strip().lower()
    if smithy or content_type == "application/cbor" or path.startswith("/service/"):
        used = f"smithy-protocol: {smithy}" if smithy else content_type or path
        raise other_protocol(f"this request uses another protocol ({used})")
    if path.split("?")[0] != "/":
        raise unknown_operation(f"no such path {path!r}; {PROTOCOL_HINT}")
    if content_type != JSON_CONTENT_TYPE:
        shown = content_type or "no Content-Type"
        raise ProtocolError(
            "UnsupportedMediaTypeException",
            415,
            f"unsupported content type ({shown}); " + PROTOCOL_HINT,
        )


def parse_target(target: str | None) -> str:
    """The operation named by ``X-Amz-Target``. Raises ProtocolError when it names none we serve."""
    model = load_model()
    prefix = model.target_prefix + "."
    if not target:
        raise unknown_operation(f"missing X-Amz-Target header; {PROTOCOL_HINT}")
    if not target.startswith(prefix):
        raise unknown_operation(f"X-Amz-Target {target!r} does not start with {prefix!r}")
    operation = target[len(prefix) :]
    if operation not in OPERATIONS:
        if operation in model.operations:
            raise unknown_operation(f"{operation} is not served by this mmarchive version")
        raise unknown_operation(f"unknown operation {operation!r}")
    return operation


def check_length(content_length: str | None, transfer_encoding: str | None) -> int:
    """The body's size from the headers. Raises ProtocolError when absent or too large."""
    if transfer_encoding:
        raise ProtocolError(
            "LengthRequiredException", 411, "send the body with a Content-Length, not chunked"
        )
    if content_length is None:
        return 0
    try:
        length = int(content_length)
    except ValueError:
        raise malformed_http(f"Content-Length {content_length!r} is not a number") from None
    if length < 0:
        raise malformed_http(f"Content-Length {content_length!r} is not a number")
    if length > MAX_BODY_BYTES:
        raise ProtocolError(
            "RequestEntityTooLargeException",
            413,
            f"request body of {length} bytes exceeds the limit of {MAX_BODY_BYTES} bytes",
        )
    return length


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def decode_body(body: bytes) -> dict[str, Any]:
    """The request's members. Raises ProtocolError when the body is not one JSON object."""
    if not body.strip():
        return {}  # botocore sends "{}", but an empty body means the same
    try:
        params = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ProtocolError(
            "SerializationException", 400, f"request body is not valid JSON in UTF-8 ({exc})"
        ) from None
    if not isinstance(params, dict):
        raise ProtocolError("SerializationException", 400, "request body must be a JSON object")
    return params


def _wire_value(value: object) -> object:
    if isinstance(value, datetime):
        ms = datetime_to_ms(value)
        return ms // 1000 if ms % 1000 == 0 else ms / 1000
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def encode_response(result: Mapping[str, Any]) -> bytes:
    """The output shape as JSON, timestamps as epoch seconds (milliseconds as a fraction)."""
    return json.dumps(result, default=_wire_value, separators=(",", ":")).encode("ascii")


def encode_error(exc: MMArchiveError) -> tuple[int, bytes]:
    """(status, body) of an error: the one place errors are serialised."""
    status = load_model().error_status(exc.code) or exc.http_status
    body = {"__type": ERROR_TYPE_PREFIX + exc.code, "Message": exc.message}
    return status, json.dumps(body).encode("ascii")


def new_request_id() -> str:
    return str(uuid.uuid4())
