"""Server-side validation over raw HTTP (botocore would refuse many of these before sending):
every constraint kind of the model, the envelope's own mistakes, and no 5xx for any input."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.operations import OPERATIONS, ArchiveService
from api.shapes import load_model
from api.validate import validate_request
from engine.errors import MMArchiveError, ValidationException
from tests.test_api_support import Answer, archive_id, post, shared_archive, thread_server

AID = "a-0000"  # a well-formed id: validation answers before any lookup
FROM, TO = 1_700_000_000, 1_800_000_000


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with thread_server(tmp_path_factory.mktemp("home"), (shared_archive(),)) as (_, base):
        yield base


def condition(**string_expression: Any) -> dict[str, Any]:
    expression = {"Evaluate": {"Attribute": "SUBJECT"}, "Operator": "CONTAINS", "Values": ["x"]}
    expression.update(string_expression)
    return {"StringExpression": {k: v for k, v in expression.items() if v is not None}}


def start(**members: Any) -> dict[str, Any]:
    body = {"ArchiveId": AID, "FromTimestamp": FROM, "ToTimestamp": TO, "MaxResults": 10}
    body.update(members)
    return body


def export(location: object = "s3://bucket/x", **members: Any) -> dict[str, Any]:
    body = {
        "ArchiveId": AID,
        "FromTimestamp": FROM,
        "ToTimestamp": TO,
        "ExportDestinationConfiguration": {"S3": {"S3Location": location}},
    }
    body.update(members)
    return body


BOOL = {"BooleanExpression": {"Evaluate": {"Attribute": "HAS_ATTACHMENTS"}, "Operator": "IS_TRUE"}}
CASES: list[tuple[str, str, Any, str]] = [
    # required members (JSON null means absent)
    (
        "required",
        "StartArchiveSearch",
        start(MaxResults=None),
        "MaxResults: missing required member",
    ),
    ("required", "GetArchiveSearch", {}, "SearchId: missing required member"),
    ("required", "CreateArchive", {"Tags": [{"Key": "k"}]}, "ArchiveName: missing required member"),
    (
        "required",
        "CreateArchive",
        {"ArchiveName": "ab", "Tags": [{"Key": "k"}]},
        "Tags[0].Value: missing required member",
    ),
    (
        "required",
        "StartArchiveSearch",
        start(Filters={"Include": [condition(Values=None)]}),
        "Filters.Include[0].StringExpression.Values: missing required member",
    ),
    # unknown members
    ("unknown", "StartArchiveSearch", start(Bogus=1), "Bogus: unknown member"),
    (
        "unknown",
        "StartArchiveSearch",
        start(Filters={"Exclude": []}),
        "Filters.Exclude: unknown member",
    ),
    # JSON types
    (
        "type",
        "StartArchiveSearch",
        start(MaxResults="5"),
        "MaxResults: expected an integer, got a string",
    ),
    (
        "type",
        "StartArchiveSearch",
        start(MaxResults=5.5),
        "MaxResults: expected an integer, got a number",
    ),
    (
        "type",
        "StartArchiveSearch",
        start(MaxResults=True),
        "MaxResults: expected an integer, got a boolean",
    ),
    ("type", "GetArchive", {"ArchiveId": 7}, "ArchiveId: expected a string, got a number"),
    ("type", "StartArchiveSearch", start(Filters=[]), "Filters: expected an object, got a list"),
    (
        "type",
        "StartArchiveSearch",
        start(Filters={"Include": {}}),
        "Filters.Include: expected a list, got an object",
    ),
    (
        "type",
        "StartArchiveSearch",
        start(FromTimestamp="2024-01-01"),
        "FromTimestamp: expected epoch seconds, got a string",
    ),
    # string lengths
    (
        "length",
        "GetArchiveSearch",
        {"SearchId": ""},
        "SearchId: length must be 1 to 64 characters, got 0",
    ),
    (
        "length",
        "GetArchiveSearch",
        {"SearchId": "s" * 65},
        "SearchId: length must be 1 to 64 characters, got 65",
    ),
    (
        "length",
        "GetArchive",
        {"ArchiveId": ""},
        "ArchiveId: length must be 1 to 66 characters, got 0",
    ),
    (
        "length",
        "CreateArchive",
        {"ArchiveName": "n" * 65},
        "ArchiveName: length must be 1 to 64 characters, got 65",
    ),
    (
        "length",
        "StartArchiveSearch",
        start(Filters={"Include": [condition(Values=[""])]}),
        "Filters.Include[0].StringExpression.Values[0]: length must be 1 to 2048 characters, got 0",
    ),
    (
        "length",
        "StartArchiveSearch",
        start(Filters={"Include": [condition(Values=["v" * 2049])]}),
        "Filters.Include[0].StringExpression.Values[0]: length must be 1 to 2048 characters, "
        "got 2049",
    ),
    (
        "length",
        "ListArchives",
        {"NextToken": ""},
        "NextToken: length must be 1 to 2048 characters, got 0",
    ),
    # patterns: the whole value, ASCII classes
    (
        "pattern",
        "StartArchiveSearch",
        start(ArchiveId="b-123"),
        "ArchiveId: 'b-123' does not match the pattern a-[\\w]{1,64}",
    ),
    (
        "pattern",
        "StartArchiveSearch",
        start(ArchiveId="xa-123"),
        "ArchiveId: 'xa-123' does not match the pattern a-[\\w]{1,64}",
    ),
    (
        "pattern",
        "StartArchiveSearch",
        start(ArchiveId="a-123 "),
        "ArchiveId: 'a-123 ' does not match the pattern a-[\\w]{1,64}",
    ),
    (
        "pattern",
        "ListArchiveSearches",
        {"ArchiveId": "a-é"},
        "ArchiveId: 'a-é' does not match the pattern a-[\\w]{1,64}",
    ),
    (
        "pattern",
        "CreateArchive",
        {"ArchiveName": "-bad"},
        "ArchiveName: '-bad' does not match the pattern [a-zA-Z0-9][a-zA-Z0-9_-]*[a-zA-Z0-9]",
    ),
    (
        "pattern",
        "UpdateArchive",
        {"ArchiveId": AID, "ArchiveName": "x"},
        "ArchiveName: 'x' does not match the pattern [a-zA-Z0-9][a-zA-Z0-9_-]*[a-zA-Z0-9]",
    ),
    (
        "pattern",
        "CreateArchive",
        {"ArchiveName": "ab", "KmsKeyArn": "arn:aws:kms:us-east-1:123:key/k"},
        "KmsKeyArn: 'arn:aws:kms:us-east-1:123:key/k' does not match the pattern "
        "arn:aws(|-cn|-us-gov|-eusc):kms:[a-z0-9-]{1,20}:[0-9]{12}:(key|alias)/.+",
    ),
    (
        "pattern",
        "CreateArchive",
        {"ArchiveName": "ab", "Tags": [{"Key": "bad key", "Value": ""}]},
        "Tags[0].Key: 'bad key' does not match the pattern [a-zA-Z0-9/_\\+=\\.:@\\-]+",
    ),
    # enums
    (
        "enum",
        "StartArchiveSearch",
        start(Filters={"Include": [condition(Operator="EQUALS")]}),
        "Filters.Include[0].StringExpression.Operator: 'EQUALS' is not one of CONTAINS",
    ),
    (
        "enum",
        "StartArchiveSearch",
        start(Filters={"Unless": [condition(Evaluate={"Attribute": "BODY"})]}),
        "Filters.Unless[0].StringExpression.Evaluate.Attribute: 'BODY' is not one of TO, FROM, "
        "CC, SUBJECT, ENVELOPE_TO, ENVELOPE_FROM",
    ),
    (
        "enum",
        "UpdateArchive",
        {"ArchiveId": AID, "Retention": {"RetentionPeriod": "FOREVER"}},
        "Retention.RetentionPeriod: 'FOREVER' is not one of THREE_MONTHS, SIX_MONTHS, "
        "NINE_MONTHS, ONE_YEAR, EIGHTEEN_MONTHS, TWO_YEARS, THIRTY_MONTHS, THREE_YEARS, "
        "FOUR_YEARS, FIVE_YEARS, SIX_YEARS, SEVEN_YEARS, EIGHT_YEARS, NINE_YEARS, TEN_YEARS, "
        "PERMANENT",
    ),
    # integer ranges
    (
        "range",
        "StartArchiveSearch",
        start(MaxResults=-1),
        "MaxResults: -1 is outside the range 0 to 1000",
    ),
    (
        "range",
        "StartArchiveSearch",
        start(MaxResults=1001),
        "MaxResults: 1001 is outside the range 0 to 1000",
    ),
    ("range", "ListArchives", {"PageSize": 0}, "PageSize: 0 is outside the range 1 to 50"),
    (
        "range",
        "ListArchiveSearches",
        {"ArchiveId": AID, "PageSize": 51},
        "PageSize: 51 is outside the range 1 to 50",
    ),
    # list lengths
    (
        "items",
        "StartArchiveSearch",
        start(Filters={"Include": [condition(Values=[])]}),
        "Filters.Include[0].StringExpression.Values: must hold 1 to 10 items, got 0",
    ),
    (
        "items",
        "StartArchiveSearch",
        start(Filters={"Include": [condition(Values=["v"] * 11)]}),
        "Filters.Include[0].StringExpression.Values: must hold 1 to 10 items, got 11",
    ),
    (
        "items",
        "StartArchiveSearch",
        start(Filters={"Include": [BOOL] * 11}),
        "Filters.Include: must hold 0 to 10 items, got 11",
    ),
    (
        "items",
        "CreateArchive",
        {"ArchiveName": "ab", "Tags": [{"Key": "k", "Value": "v"}] * 201},
        "Tags: must hold 0 to 200 items, got 201",
    ),
    # unions: exactly one member
    (
        "union",
        "StartArchiveSearch",
        start(Filters={"Include": [{}]}),
        "Filters.Include[0]: exactly one of StringExpression or BooleanExpression must be set, "
        "got 0",
    ),
    (
        "union",
        "StartArchiveSearch",
        start(Filters={"Include": [{**condition(), **BOOL}]}),
        "Filters.Include[0]: exactly one of StringExpression or BooleanExpression must be set, "
        "got 2",
    ),
    (
        "union",
        "StartArchiveSearch",
        start(Filters={"Include": [condition(Evaluate={})]}),
        "Filters.Include[0].StringExpression.Evaluate: exactly one of Attribute must be set, got 0",
    ),
    (
        "union",
        "CreateArchive",
        {"ArchiveName": "ab", "Retention": {}},
        "Retention: exactly one of RetentionPeriod must be set, got 0",
    ),
    # timestamps
    (
        "timestamp",
        "StartArchiveSearch",
        start(ToTimestamp=1e12),
        "ToTimestamp: 1000000000000.0 is not a timestamp between years 1 and 9999 (epoch seconds)",
    ),
    (
        "timestamp",
        "StartArchiveSearch",
        start(FromTimestamp=-1e12),
        "FromTimestamp: -1000000000000.0 is not a timestamp between years 1 and 9999 "
        "(epoch seconds)",
    ),
    (
        "timestamp",
        "StartArchiveSearch",
        '{"ArchiveId": "a-0000", "FromTimestamp": 1e400, "ToTimestamp": 2, "MaxResults": 1}',
        "FromTimestamp: inf is not a timestamp between years 1 and 9999 (epoch seconds)",
    ),
    (
        "time range",
        "StartArchiveSearch",
        start(FromTimestamp=TO, ToTimestamp=TO),
        "FromTimestamp: must be earlier than ToTimestamp",
    ),
    (
        "time range",
        "StartArchiveSearch",
        start(FromTimestamp=TO + 0.001, ToTimestamp=TO),
        "FromTimestamp: must be earlier than ToTimestamp",
    ),
    # text that is not Unicode
    (
        "unicode",
        "StartArchiveSearch",
        start(Filters={"Include": [condition(Values=["\ud800"])]}),
        "Filters.Include[0].StringExpression.Values[0]: not valid Unicode text (lone surrogate)",
    ),
    # exports and messages
    (
        "required",
        "StartArchiveExport",
        export(ExportDestinationConfiguration=None),
        "ExportDestinationConfiguration: missing required member",
    ),
    (
        "required",
        "StartArchiveExport",
        export(ExportDestinationConfiguration={"S3": {}}),
        "ExportDestinationConfiguration.S3.S3Location: missing required member",
    ),
    (
        "union",
        "StartArchiveExport",
        export(ExportDestinationConfiguration={}),
        "ExportDestinationConfiguration: exactly one of S3 must be set, got 0",
    ),
    (
        "pattern",
        "StartArchiveExport",
        export("bucket/x"),
        "ExportDestinationConfiguration.S3.S3Location: 'bucket/x' does not match the pattern "
        "s3://[a-zA-Z0-9.-]{3,63}(/[a-zA-Z0-9!_.*'()/-]*)*",
    ),
    (
        "pattern",
        "StartArchiveExport",
        export("s3://bk/x"),
        "ExportDestinationConfiguration.S3.S3Location: 's3://bk/x' does not match the pattern "
        "s3://[a-zA-Z0-9.-]{3,63}(/[a-zA-Z0-9!_.*'()/-]*)*",
    ),
    (
        "type",
        "StartArchiveExport",
        export(MaxResults="5"),
        "MaxResults: expected an integer, got a string",
    ),
    ("range", "StartArchiveExport", export(MaxResults=-1), "MaxResults: -1 must be 0 or more"),
    (
        "type",
        "StartArchiveExport",
        export(IncludeMetadata="yes"),
        "IncludeMetadata: expected a boolean, got a string",
    ),
    (
        "time range",
        "StartArchiveExport",
        export(FromTimestamp=TO),
        "FromTimestamp: must be earlier than ToTimestamp",
    ),
    (
        "required",
        "StartArchiveExport",
        export(ToTimestamp=None),
        "ToTimestamp: missing required member",
    ),
    (
        "length",
        "GetArchiveExport",
        {"ExportId": ""},
        "ExportId: length must be 1 to 64 characters, got 0",
    ),
    ("required", "GetArchiveMessage", {}, "ArchivedMessageId: missing required member"),
    (
        "type",
        "GetArchiveMessageContent",
        {"ArchivedMessageId": 5},
        "ArchivedMessageId: expected a string, got a number",
    ),
    (
        "range",
        "ListArchiveExports",
        {"ArchiveId": AID, "PageSize": 51},
        "PageSize: 51 is outside the range 1 to 50",
    ),
    # tokens this server did not issue
    (
        "token",
        "ListArchives",
        {"NextToken": "not-a-token"},
        "NextToken: not a pagination token this service issued for this list",
    ),
]


def check_error(answer: Answer, status: int, code: str) -> dict[str, Any]:
    assert answer.status == status, answer.body
    assert answer.headers["x-amzn-RequestId"]
    assert answer.headers["Content-Type"] == "application/x-amz-json-1.0"
    body = answer.json
    assert set(body) == {"__type", "Message"}
    assert body["__type"] == f"com.amazonaws.mailmanager#{code}"
    assert answer.headers["x-amzn-ErrorType"] == code
    assert "Traceback" not in body["Message"]
    return body


@pytest.mark.parametrize(
    ("kind", "operation", "body", "message"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES]
)
def test_constraint(url: str, kind: str, operation: str, body: Any, message: str) -> None:
    answer = post(url, operation, body)
    assert check_error(answer, 400, "ValidationException")["Message"] == message


def test_every_constraint_kind_is_covered() -> None:
    kinds = {c[0] for c in CASES}
    assert kinds >= {"required", "unknown", "type", "length", "pattern", "enum", "range"}
    assert kinds >= {"items", "union", "timestamp", "time range"}


def test_boolean_members_are_checked_before_the_server() -> None:
    request = {
        "ArchiveId": AID,
        "FromTimestamp": FROM,
        "ToTimestamp": TO,
        "ExportDestinationConfiguration": {"S3": {"S3Location": "s3://bucket/x"}},
        "IncludeMetadata": "yes",
    }
    with pytest.raises(ValidationException) as info:
        validate_request("StartArchiveExport", request)
    assert info.value.message == "IncludeMetadata: expected a boolean, got a string"


def test_empty_body_is_an_empty_request(url: str) -> None:
    answer = post(url, "ListArchives", b"")
    assert answer.status == 200 and "Archives" in answer.json


def test_valid_request_passes(url: str) -> None:
    body = start(ArchiveId=archive_id(shared_archive()), Filters={"Include": [condition(), BOOL]})
    answer = post(url, "StartArchiveSearch", body)
    assert answer.status == 200 and answer.headers["x-amzn-RequestId"]
    assert set(answer.json) == {"SearchId"}


# -- the envelope's own mistakes ---------------------------------------------------------------

CBOR_HEADERS = {"smithy-protocol": "rpc-v2-cbor", "Content-Type": "application/cbor"}
ENVELOPE: list[tuple[str, dict[str, Any], int, str, str]] = [
    (
        "cbor",
        {
            "operation": None,
            "body": b"\xa0",
            "headers": CBOR_HEADERS,
            "path": "/service/MailManagerSvc/operation/ListArchives",
        },
        415,
        "UnsupportedProtocolException",
        "awsJson1_0",
    ),
    (
        "cbor-header-only",
        {"operation": "ListArchives", "body": b"\xa0", "headers": CBOR_HEADERS},
        415,
        "UnsupportedProtocolException",
        "smithy-protocol: rpc-v2-cbor",
    ),
    (
        "content-type",
        {
            "operation": "ListArchives",
            "body": "{}",
            "headers": {"Content-Type": "application/json"},
        },
        415,
        "UnsupportedMediaTypeException",
        "unsupported content type (application/json)",
    ),
    (
        "no-target",
        {"operation": None, "body": "{}"},
        400,
        "UnknownOperationException",
        "missing X-Amz-Target header",
    ),
    (
        "other-service",
        {"operation": None, "body": "{}", "headers": {"X-Amz-Target": "DynamoDB_20120810.Scan"}},
        400,
        "UnknownOperationException",
        "does not start with 'MailManagerSvc.'",
    ),
    (
        "unknown-op",
        {"operation": "DescribeEverything", "body": "{}"},
        400,
        "UnknownOperationException",
        "unknown operation 'DescribeEverything'",
    ),
    (
        "get",
        {"operation": "ListArchives", "body": b"", "method": "GET"},
        405,
        "MethodNotAllowedException",
        "GET is not served",
    ),
    (
        "path",
        {"operation": "ListArchives", "body": "{}", "path": "/archives"},
        400,
        "UnknownOperationException",
        "no such path '/archives'",
    ),
    (
        "bad-json",
        {"operation": "ListArchives", "body": '{"PageSize": '},
        400,
        "SerializationException",
        "request body is not valid JSON in UTF-8",
    ),
    (
        "not-object",
        {"operation": "ListArchives", "body": "[1, 2]"},
        400,
        "SerializationException",
        "request body must be a JSON object",
    ),
    (
        "nan",
        {"operation": "ListArchives", "body": '{"PageSize": NaN}'},
        400,
        "SerializationException",
        "NaN is not JSON",
    ),
    (
        "not-utf8",
        {"operation": "ListArchives", "body": b'{"NextToken": "\xff"}'},
        400,
        "SerializationException",
        "request body is not valid JSON in UTF-8",
    ),
    (
        "deep",
        {"operation": "ListArchives", "body": "[" * 200_000 + "]" * 200_000},
        400,
        "SerializationException",
        "request body is not valid JSON in UTF-8",
    ),
    (
        "oversized",
        {"operation": "ListArchives", "body": '{"NextToken": "' + "x" * (1 << 20) + '"}'},
        413,
        "RequestEntityTooLargeException",
        "exceeds the limit of 1048576 bytes",
    ),
]


@pytest.mark.parametrize(("name", "request_", "status", "code", "part"), ENVELOPE)
def test_envelope_mistakes(
    url: str, name: str, request_: dict[str, Any], status: int, code: str, part: str
) -> None:
    answer = post(
        url,
        request_["operation"],
        request_["body"],
        headers=request_.get("headers"),
        path=request_.get("path", "/"),
        method=request_.get("method", "POST"),
    )
    assert part in check_error(answer, status, code)["Message"]


def raw_exchange(url: str, data: bytes) -> str:
    """Send bytes as they are; the whole reply (the server closes after an envelope error)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    chunks = []
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(data)
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def test_chunked_body_needs_a_length(url: str) -> None:
    reply = raw_exchange(
        url,
        b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: MailManagerSvc.ListArchives\r\n"
        b"Content-Type: application/x-amz-json-1.0\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\r\n{}\r\n0\r\n\r\n",
    )
    assert reply.startswith("HTTP/1.1 411")
    assert json.loads(reply.split("\r\n\r\n", 1)[1])["__type"].endswith("#LengthRequiredException")


def test_garbage_request_line_gets_a_json_error(url: str) -> None:
    reply = raw_exchange(url, b"NOT AN HTTP REQUEST AT ALL\r\n\r\n")
    head, body = reply.split("\r\n\r\n", 1)
    assert head.startswith("HTTP/1.1 400") and "x-amzn-RequestId" in head
    assert json.loads(body)["__type"].endswith("#BadRequestException")


# -- no input makes the service fail with anything but an API error ----------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**15), 10**15)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.sampled_from(["a-0000", "CONTAINS", "SUBJECT", "HAS_ATTACHMENTS", "IS_TRUE", "ab"]),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


def member_names(operation: str) -> list[str]:
    model = load_model()
    names = list(model.shape(model.input_shape(operation))["members"])
    return [*names, "Include", "Unless", "StringExpression", "Evaluate", "Attribute", "Values"]


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    operation = draw(st.sampled_from(sorted(OPERATIONS)))
    keys = st.sampled_from(member_names(operation))
    return operation, draw(st.dictionaries(keys, json_values, max_size=5))


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArchiveService]:
    svc = ArchiveService(tmp_path_factory.mktemp("fuzz"), (shared_archive(),), read_only=True)
    yield svc
    svc.close()


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(requests())
def test_any_request_answers_an_api_error_or_a_result(
    service: ArchiveService, request_: tuple[str, dict[str, Any]]
) -> None:
    operation, params = request_
    try:
        result = service.call(operation, params)
    except MMArchiveError as exc:
        assert exc.message and exc.http_status < 500
    else:
        assert isinstance(result, dict)


def test_default_home_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from api.operations import default_home

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_home() == tmp_path / "mmarchive"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_home() == Path.home() / ".local" / "share" / "mmarchive"


# -- patterns in linear time ------------------------------------------------------------------


def test_a_long_failing_s3_location_answers_at_once(url: str) -> None:
    # The model's own pattern takes seconds at 26 segments and doubles per segment more: this
    # request would not return if the validator used it.
    location = "s3://bkt" + "/a" * 200 + "%"
    answer = post(url, "StartArchiveExport", export(location))
    message = check_error(answer, 400, "ValidationException")["Message"]
    assert message.startswith("ExportDestinationConfiguration.S3.S3Location: 's3://bkt/a/a/")
    assert message.endswith(
        "does not match the pattern s3://[a-zA-Z0-9.-]{3,63}(/[a-zA-Z0-9!_.*'()/-]*)*"
    )


def _nested_repetition(items: Any, inside_repeat: bool = False) -> bool:
    """Whether a parsed pattern repeats something that itself repeats or branches (the shapes
    that make a backtracking matcher exponential)."""
    import re._constants as c  # type: ignore[import-not-found]

    for op, arg in items:
        if op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
            _, high, body = arg
            repeats = high > 1
            if repeats and inside_repeat:
                return True
            if _nested_repetition(body, inside_repeat or repeats):
                return True
        elif op == c.SUBPATTERN:
            if _nested_repetition(arg[-1], inside_repeat):
                return True
        elif op == c.BRANCH:
            if inside_repeat and len(arg[1]) > 1:
                return True
            if any(_nested_repetition(b, inside_repeat) for b in arg[1]):
                return True
    return False


def test_every_pattern_the_validator_runs_is_linear() -> None:
    import re._parser as parser  # type: ignore[import-not-found]

    from api.shapes import LINEAR_PATTERNS

    model = load_model()
    risky = set()
    for name, shape in model.shapes.items():
        if "pattern" in shape:
            if _nested_repetition(parser.parse(shape["pattern"])):
                risky.add(name)
            assert not _nested_repetition(parser.parse(model.pattern(name).pattern)), name
    assert risky == set(LINEAR_PATTERNS) == {"S3Location"}


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(["s3://", "s3:/", "S3://", ""]),
    st.text(alphabet="ab.-/%!*'()_Z9", max_size=14),
)
def test_linear_s3_location_matches_the_same_strings(prefix: str, rest: str) -> None:
    import re

    model = load_model()
    value = prefix + rest
    original = re.compile(model.shape("S3Location")["pattern"], re.ASCII).fullmatch(value)
    assert bool(model.pattern("S3Location").fullmatch(value)) == bool(original), value
