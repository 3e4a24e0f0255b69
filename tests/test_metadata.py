"""ingest/metadata.py: every accepted form and every malformed one, table-driven."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.metadata import (
    MAX_TIMESTAMP_MS,
    METADATA_MEMBERS,
    MIN_TIMESTAMP_MS,
    MessageMetadata,
    MetadataError,
    parse_metadata,
    parse_timestamp,
)

T0 = 1714557600000  # 2024-05-01T10:00:00Z
STRING_MEMBERS = METADATA_MEMBERS[1:]
FULL_METADATA: dict[str, Any] = {
    "Timestamp": "2024-05-01T10:00:00Z",
    **{name: f"{name.lower()}-value" for name in STRING_MEMBERS},
}


def _doc(obj: object) -> bytes:
    return json.dumps(obj).encode()


def _meta(**fields: Any) -> MessageMetadata:
    """The expected result: every field None / empty unless given."""
    defaults: dict[str, Any] = {
        "archived_message_id": None,
        "envelope_from": None,
        "envelope_to": None,
        "envelope_helo": None,
        "metadata": {},
        "unknown_keys": (),
    }
    return MessageMetadata(**{**defaults, **fields})


ACCEPTED: list[tuple[str, bytes, MessageMetadata]] = [
    ("empty object", b"{}", _meta()),
    (
        "Metadata form, every member",
        _doc(
            {
                "ArchivedMessageId": "msg-1",
                "Envelope": {"From": "a@x.test", "To": ["b@y.test", "c@y.test"], "Helo": "mx"},
                "Metadata": FULL_METADATA,
            }
        ),
        _meta(
            archived_message_id="msg-1",
            envelope_from="a@x.test",
            envelope_to=("b@y.test", "c@y.test"),
            envelope_helo="mx",
            metadata={**FULL_METADATA, "Timestamp": T0},
        ),
    ),
    (
        "Row form, flat members",
        _doc(
            {
                "ArchivedMessageId": "msg-2",
                "ReceivedTimestamp": 1714557600,
                "Envelope": {"From": "a@x.test", "To": ["b@y.test"]},
                "IngressPointId": "inp-1",
                "SenderHostname": "mail.x.test",
                "SenderIpAddress": "192.0.2.1",
                "SourceArn": "arn:row",
            }
        ),
        _meta(
            archived_message_id="msg-2",
            envelope_from="a@x.test",
            envelope_to=("b@y.test",),
            metadata={
                "Timestamp": T0,
                "IngressPointId": "inp-1",
                "SenderHostname": "mail.x.test",
                "SenderIpAddress": "192.0.2.1",
                "SourceArn": "arn:row",
            },
        ),
    ),
    (
        "mixed forms: Metadata wins, Row fills the gaps",
        _doc(
            {
                "ReceivedTimestamp": 1,
                "SourceArn": "arn:row",
                "SenderHostname": "row-host",
                "Metadata": {"Timestamp": T0, "SourceArn": "arn:meta", "TlsProtocol": "TLSv1.3"},
            }
        ),
        _meta(
            metadata={
                "Timestamp": T0,
                "SenderHostname": "row-host",
                "TlsProtocol": "TLSv1.3",
                "SourceArn": "arn:meta",
            }
        ),
    ),
    (
        "a null Metadata member lets the Row value through",
        _doc({"SourceArn": "arn:row", "Metadata": {"SourceArn": None}}),
        _meta(metadata={"SourceArn": "arn:row"}),
    ),
    (
        "keys match case-insensitively at every level",
        _doc(
            {
                "archivedmessageid": "m",
                "ENVELOPE": {"from": "a@x", "tO": ["b@y"], "HELO": "h"},
                "metaData": {"timestamp": T0, "senderipaddress": "192.0.2.9"},
                "receivedTIMESTAMP": 5,
                "sourcearn": "arn",
            }
        ),
        _meta(
            archived_message_id="m",
            envelope_from="a@x",
            envelope_to=("b@y",),
            envelope_helo="h",
            metadata={"Timestamp": T0, "SenderIpAddress": "192.0.2.9", "SourceArn": "arn"},
        ),
    ),
    (
        "null means absent at every level",
        _doc(
            {
                "ArchivedMessageId": None,
                "Envelope": {"From": None, "To": None, "Helo": None},
                "Metadata": {name: None for name in METADATA_MEMBERS},
                "ReceivedTimestamp": None,
            }
        ),
        _meta(),
    ),
    ("null Envelope and Metadata", _doc({"Envelope": None, "Metadata": None}), _meta()),
    (
        "a key given twice, once null, is the non-null one",
        b'{"Metadata": {"Timestamp": null, "timestamp": 1714557600}}',
        _meta(metadata={"Timestamp": T0}),
    ),
    (
        "empty strings are no value; To elements and the id are kept as given",
        _doc(
            {
                "ArchivedMessageId": "",
                "Envelope": {"From": "", "To": ["", "b@y"], "Helo": ""},
                "Metadata": {"SenderHostname": ""},
                "SourceArn": "",
            }
        ),
        _meta(archived_message_id="", envelope_to=("", "b@y")),
    ),
    ("an empty To list", _doc({"Envelope": {"To": []}}), _meta(envelope_to=())),
    (
        "an invalid id is kept raw (judged elsewhere)",
        _doc({"ArchivedMessageId": "../not an id"}),
        _meta(archived_message_id="../not an id"),
    ),
    (
        "unknown keys are kept by name, nested ones with their parent",
        _doc(
            {
                "Zeta": 1,
                "Envelope": {"Bcc": ["x"], "From": "a@x"},
                "Metadata": {"Extra": {"deep": [1, {}]}, "Timestamp": T0},
                "TlsProtocol": "top level is not a Row member",
                "Subject": "a Row member taken from the message, not metadata",
                "Alpha": None,
            }
        ),
        _meta(
            envelope_from="a@x",
            metadata={"Timestamp": T0},
            unknown_keys=(
                "Zeta",
                "TlsProtocol",
                "Subject",
                "Alpha",
                "Envelope.Bcc",
                "Metadata.Extra",
            ),
        ),
    ),
    (
        "duplicate keys inside unknown values are not our concern",
        b'{"Other": {"a": 1, "a": 2}}',
        _meta(unknown_keys=("Other",)),
    ),
    (
        "a non-ASCII key never matches a known name",
        _doc({"Envelope": {"\u212aey": 1}, "ſourceArn": "x"}),  # Kelvin sign; long s
        _meta(unknown_keys=("ſourceArn", "Envelope.\u212aey")),
    ),
    (
        "non-ASCII values are kept",
        _doc({"Envelope": {"From": "jöe@exämple.test", "To": ["日本@x"]}}),
        _meta(envelope_from="jöe@exämple.test", envelope_to=("日本@x",)),
    ),
    (
        "a UTF-8 byte order mark is ignored",
        b"\xef\xbb\xbf" + _doc({"ArchivedMessageId": "m"}),
        _meta(archived_message_id="m"),
    ),
    (
        "whitespace around the document",
        b' \n\t{"ArchivedMessageId": "m"}\r\n ',
        _meta(archived_message_id="m"),
    ),
    (
        "a decimal timestamp is exact to the millisecond",
        b'{"Metadata": {"Timestamp": 1714557600.123}}',
        _meta(metadata={"Timestamp": T0 + 123}),
    ),
    (
        "a millisecond timestamp",
        b'{"ReceivedTimestamp": 1714557600123}',
        _meta(metadata={"Timestamp": T0 + 123}),
    ),
    (
        "an exponent timestamp",
        b'{"ReceivedTimestamp": 1.714557600123e12}',
        _meta(metadata={"Timestamp": T0 + 123}),
    ),
]


@pytest.mark.parametrize(
    ("data", "expected"), [c[1:] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED]
)
def test_parse_metadata_accepts(data: bytes, expected: MessageMetadata) -> None:
    parsed = parse_metadata(data)
    assert parsed == expected
    assert list(parsed.metadata) == [m for m in METADATA_MEMBERS if m in parsed.metadata]
    assert parsed.timestamp_ms == expected.metadata.get("Timestamp")


def test_metadata_members_follow_the_shape_order() -> None:
    from api.shapes import load_model

    assert list(METADATA_MEMBERS) == list(load_model().shapes["Metadata"]["members"])


# (id, bytes, the key the error names (None: the document as a whole), words in the problem)
REJECTED: list[tuple[str, bytes, str | None, str]] = [
    ("invalid UTF-8", b'{"ArchivedMessageId": "\xff"}', None, "not valid UTF-8"),
    ("UTF-16", '{"a": 1}'.encode("utf-16"), None, "not valid UTF-8"),
    ("empty file", b"", None, "invalid JSON"),
    ("truncated JSON", b'{"Envelope": {', None, "invalid JSON"),
    ("trailing garbage", b"{} {}", None, "invalid JSON"),
    ("NaN is not JSON", b'{"ReceivedTimestamp": NaN}', None, "invalid JSON"),
    ("Infinity is not JSON", b'{"ReceivedTimestamp": -Infinity}', None, "invalid JSON"),
    ("nested too deeply", b"[" * 100_000, None, "invalid JSON"),
    ("too many digits", b'{"ReceivedTimestamp": 1' + b"0" * 5000 + b"}", None, "invalid JSON"),
    ("top level a list", b"[]", None, "expected a JSON object at the top level, got a list"),
    ("top level a string", b'"x"', None, "got a string"),
    ("top level a number", b"1", None, "got a number"),
    ("top level null", b"null", None, "got null"),
    ("top level true", b"true", None, "got a boolean"),
    ("id a number", _doc({"ArchivedMessageId": 5}), "ArchivedMessageId", "expected a string"),
    ("id a list", _doc({"ArchivedMessageId": ["a"]}), "ArchivedMessageId", "got a list"),
    ("id given twice", b'{"ArchivedMessageId": "a", "ArchivedMessageId": "b"}', "ArchivedMessageId",
     "given more than once"),
    ("lone surrogate", b'{"ArchivedMessageId": "\\ud800"}', "ArchivedMessageId", "lone surrogate"),
    ("Envelope a list", _doc({"Envelope": []}), "Envelope", "expected an object, got a list"),
    ("Envelope a string", _doc({"Envelope": "a@x"}), "Envelope", "expected an object"),
    ("From a number", _doc({"Envelope": {"From": 1}}), "Envelope.From", "expected a string"),
    ("From a list", _doc({"Envelope": {"From": ["a@x"]}}), "Envelope.From", "got a list"),
    ("Helo a boolean", _doc({"Envelope": {"Helo": True}}), "Envelope.Helo", "got a boolean"),
    ("To a bare string", _doc({"Envelope": {"To": "b@y"}}), "Envelope.To",
     "expected a list of strings, got a string"),
    ("To an object", _doc({"Envelope": {"To": {"a": "b"}}}), "Envelope.To", "got an object"),
    ("To with a number", _doc({"Envelope": {"To": ["b@y", 7]}}), "Envelope.To[1]",
     "expected a string, got a number"),
    ("To with a null", _doc({"Envelope": {"To": [None]}}), "Envelope.To[0]", "got null"),
    ("To with a list", _doc({"Envelope": {"To": [["b@y"]]}}), "Envelope.To[0]", "got a list"),
    ("From given twice by case", b'{"Envelope": {"From": "a", "FROM": "b"}}', "Envelope.From",
     "given more than once (as 'From' and 'FROM')"),
    ("Metadata a list", _doc({"Metadata": [1]}), "Metadata", "expected an object, got a list"),
    ("Metadata a string", _doc({"Metadata": "x"}), "Metadata", "got a string"),
    ("Timestamp a list", _doc({"Metadata": {"Timestamp": [1]}}), "Metadata.Timestamp",
     "expected a timestamp, got a list"),
    ("Timestamp an object", _doc({"Metadata": {"Timestamp": {}}}), "Metadata.Timestamp",
     "expected a timestamp, got an object"),
    ("Timestamp a boolean", _doc({"Metadata": {"Timestamp": False}}), "Metadata.Timestamp",
     "got a boolean"),
    ("Timestamp not ISO", _doc({"Metadata": {"Timestamp": "May 1st"}}), "Metadata.Timestamp",
     "expected an ISO 8601 timestamp"),
    ("Timestamp after 9999", _doc({"Metadata": {"Timestamp": "9999-12-31T23:59:59-01:00"}}),
     "Metadata.Timestamp", "outside years 1..9999"),
    ("Timestamp given twice", b'{"Metadata": {"Timestamp": 1, "TIMESTAMP": 2}}',
     "Metadata.Timestamp", "given more than once"),
    ("ReceivedTimestamp an object", _doc({"ReceivedTimestamp": {}}), "ReceivedTimestamp",
     "expected a timestamp, got an object"),
    ("ReceivedTimestamp huge", b'{"ReceivedTimestamp": 1e400}', "ReceivedTimestamp",
     "outside years 1..9999"),
    ("Row member a number", _doc({"IngressPointId": 12}), "IngressPointId", "expected a string"),
    ("Row member an object", _doc({"SenderIpAddress": {}}), "SenderIpAddress", "got an object"),
    ("Row SourceArn a list", _doc({"SourceArn": []}), "SourceArn", "got a list"),
    ("wrong Row value even when Metadata has one",
     _doc({"SourceArn": 1, "Metadata": {"SourceArn": "arn"}}), "SourceArn", "expected a string"),
] + [
    (f"Metadata.{name} a number", _doc({"Metadata": {name: 1}}), f"Metadata.{name}",
     "expected a string, got a number")
    for name in STRING_MEMBERS
]  # fmt: skip


@pytest.mark.parametrize(
    ("data", "key", "problem"), [c[1:] for c in REJECTED], ids=[c[0] for c in REJECTED]
)
def test_parse_metadata_rejects(data: bytes, key: str | None, problem: str) -> None:
    with pytest.raises(MetadataError) as caught:
        parse_metadata(data)
    error = caught.value
    assert error.key == key
    assert problem in error.problem
    # The message leads with the key, so a report line says where the document is wrong.
    assert str(error) == (f"{key}: {error.problem}" if key else error.problem)
    assert isinstance(error, ValueError)


def test_error_message_names_the_key() -> None:
    with pytest.raises(
        MetadataError, match=r"^Metadata\.Timestamp: expected a timestamp, got a list$"
    ):
        parse_metadata(b'{"Metadata": {"Timestamp": []}}')


# --- timestamps ---------------------------------------------------------------------------------

TIMESTAMPS: list[tuple[object, int]] = [
    ("2024-05-01T10:00:00Z", T0),
    ("2024-05-01T10:00:00z", T0),
    ("2024-05-01T10:00:00", T0),  # no offset means UTC
    ("2024-05-01t10:00:00", T0),
    ("2024-05-01 10:00:00", T0),
    ("2024-05-01T10:00", T0),
    ("2024-05-01T10:00Z", T0),
    ("2024-05-01", T0 - 10 * 3_600_000),
    ("20240501T100000Z", T0),
    ("20240501T1000", T0),
    ("20240501", T0 - 10 * 3_600_000),
    ("2024-05-01T10:00:00.1Z", T0 + 100),
    ("2024-05-01T10:00:00.12Z", T0 + 120),
    ("2024-05-01T10:00:00.123Z", T0 + 123),
    ("2024-05-01T10:00:00.1239Z", T0 + 123),  # truncated, not rounded
    ("2024-05-01T10:00:00.999999999Z", T0 + 999),
    ("2024-05-01T10:00:00,5Z", T0 + 500),
    ("2024-05-01T12:00:00+02:00", T0),
    ("2024-05-01T12:00:00+0200", T0),
    ("2024-05-01T12:00:00+02", T0),
    ("2024-05-01T04:30:00-05:30", T0),
    ("2024-05-01T10:00:00-00:00", T0),
    ("2024-05-01T10:00:00.5+00:00", T0 + 500),
    ("2024-02-29T00:00:00Z", 1709164800000),
    ("1970-01-01T00:00:00Z", 0),
    ("1969-12-31T23:59:59.9999Z", -1),
    ("0001-01-01T00:00:00Z", MIN_TIMESTAMP_MS),
    ("0001-01-01T01:00:00+01:00", MIN_TIMESTAMP_MS),
    ("9999-12-31T23:59:59.999Z", MAX_TIMESTAMP_MS),
    ("9999-12-31T23:59:59.999999", MAX_TIMESTAMP_MS),
    (0, 0),
    (1714557600, T0),
    (-1, -1000),
    (-62135596800, MIN_TIMESTAMP_MS),
    (10**11, 10**14),  # at the threshold: still seconds (year 5138)
    (10**11 + 1, 10**11 + 1),  # above it: milliseconds
    (T0 + 123, T0 + 123),
    (MAX_TIMESTAMP_MS, MAX_TIMESTAMP_MS),
    (1714557600.5, T0 + 500),
    (1714557600.1239, T0 + 123),
    (1714557600.123, T0 + 123),  # a float that is just below .123 in binary
    (-0.0005, -1),  # floored, as the ISO form of the same instant
    (1714557600123.9, T0 + 123),
    (1.5, 1500),
    (Decimal("1714557600.123"), T0 + 123),
    (Decimal("1.714557600123E+12"), T0 + 123),
    (Decimal("-62135596800.000"), MIN_TIMESTAMP_MS),
]


@pytest.mark.parametrize(("value", "expected"), TIMESTAMPS, ids=[repr(v) for v, _ in TIMESTAMPS])
def test_parse_timestamp_accepts(value: object, expected: int) -> None:
    assert parse_timestamp(value) == expected


BAD_TIMESTAMPS: list[tuple[object, str]] = [
    (True, "got a boolean"),
    (False, "got a boolean"),
    (None, "got null"),
    ([], "got a list"),
    ({}, "got an object"),
    ("", "ISO 8601"),
    ("not a date", "ISO 8601"),
    ("1714557600", "ISO 8601"),  # a number in a string is not ISO 8601
    ("2024-5-1", "ISO 8601"),
    ("2024-0501", "ISO 8601"),
    ("2024-05-01T10", "ISO 8601"),
    ("2024-05-01X10:00:00", "ISO 8601"),
    ("2024-05-01Z", "ISO 8601"),
    (" 2024-05-01T10:00:00Z", "ISO 8601"),
    ("2024-05-01T10:00:00Z ", "ISO 8601"),
    ("2024-05-01T10:00:00.Z", "ISO 8601"),
    ("2024-05-01T10:00:00 UTC", "ISO 8601"),
    ("２０２４-05-01", "ISO 8601"),  # fullwidth digits
    ("2024-W18-3", "ISO 8601"),  # week dates are not accepted
    ("2024-13-01", "month must be in 1..12"),
    ("2024-02-30", "day is out of range"),
    ("2023-02-29", "day is out of range"),
    ("2024-05-01T24:00:00", "hour must be in 0..23"),
    ("2024-05-01T10:60", "minute must be in 0..59"),
    ("2024-05-01T23:59:60Z", "second must be in 0..59"),
    ("2024-05-01T10:00:00+24:00", "bad offset"),
    ("2024-05-01T10:00:00+05:60", "bad offset"),
    ("0000-12-31T23:59:59Z", "ISO 8601"),
    ("0001-01-01T00:00:00+00:01", "outside years 1..9999"),
    ("0001-01-01T00:00:00.000+01:00", "outside years 1..9999"),
    ("9999-12-31T23:59:59-00:01", "outside years 1..9999"),
    (-62135596801, "outside years 1..9999"),
    (MAX_TIMESTAMP_MS + 1, "outside years 1..9999"),
    (10**30, "outside years 1..9999"),
    (-(10**30), "outside years 1..9999"),
    (1e300, "outside years 1..9999"),
    (float("nan"), "expected a timestamp"),
    (float("inf"), "expected a timestamp"),
    (float("-inf"), "expected a timestamp"),
    (Decimal("NaN"), "expected a timestamp"),
    (Decimal("1e999999"), "outside years 1..9999"),
    (Decimal("-1e999999"), "outside years 1..9999"),
    (b"2024-05-01", "got a bytes"),
]


@pytest.mark.parametrize(
    ("value", "problem"), BAD_TIMESTAMPS, ids=[repr(v) for v, _ in BAD_TIMESTAMPS]
)
def test_parse_timestamp_rejects(value: object, problem: str) -> None:
    with pytest.raises(MetadataError) as caught:
        parse_timestamp(value)
    assert problem in str(caught.value)
    assert caught.value.key is None


@given(st.integers(MIN_TIMESTAMP_MS, MAX_TIMESTAMP_MS))
def test_parse_timestamp_round_trips_iso_and_epoch(ms: int) -> None:
    when = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    assert parse_timestamp(when.isoformat(timespec="milliseconds")) == ms
    assert parse_timestamp(when.replace(tzinfo=None).isoformat(timespec="microseconds")) == ms
    seconds = Decimal(ms).scaleb(-3)
    if seconds <= 10**11:  # above it, a number is read as milliseconds
        assert parse_timestamp(seconds) == ms
    if ms > 10**11:
        assert parse_timestamp(ms) == ms


@given(
    st.integers(MIN_TIMESTAMP_MS // 1000 + 86_400, MAX_TIMESTAMP_MS // 1000 - 86_400),
    st.integers(-23 * 60 - 59, 23 * 60 + 59),
)
def test_parse_timestamp_applies_the_offset(seconds: int, offset_minutes: int) -> None:
    local = datetime(1970, 1, 1) + timedelta(seconds=seconds, minutes=offset_minutes)
    sign = "-" if offset_minutes < 0 else "+"
    hours, minutes = divmod(abs(offset_minutes), 60)
    text = f"{local.isoformat()}{sign}{hours:02d}:{minutes:02d}"
    assert parse_timestamp(text) == seconds * 1000
