"""ingest.message: one message file's bytes -> header values, timestamp, HasAttachments.

Every rule of SEMANTICS §1, §2 and §5 that the parser implements has its own small messages here;
then the shared hard cases (../shared/bugcases) and the shared corpus of third-party messages
(../shared/corpus) are run, when present, without copying them into the project.
"""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.message import NotAMessage, ParsedMessage, parse_date, parse_message

SHARED = Path(__file__).resolve().parents[2] / "shared"
BUGCASES = SHARED / "bugcases"
CORPUS = SHARED / "corpus"


def ms(iso: str) -> int:
    """Epoch milliseconds of an ISO 8601 UTC time such as '2024-04-01T10:00:00Z'."""
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // _ONE_MS


_ONE_MS = datetime(1970, 1, 1, 0, 0, 0, 1000, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)


def message(*fields: str | bytes, body: str | bytes = "Body.\n", eol: bytes = b"\r\n") -> bytes:
    """A message from header lines (written with LF, folded with LF + space) and a body."""
    lines = [field if isinstance(field, bytes) else field.encode() for field in fields]
    head = b"\n".join(lines) + b"\n\n"
    data = head + (body if isinstance(body, bytes) else body.encode())
    return data.replace(b"\n", eol)


def only_subject(raw: bytes) -> str | None:
    return parse_message(message(b"From: a@example.com", b"Subject: " + raw)).subject


# ---------------------------------------------------------------------------------------------
# What is a message (SEMANTICS §1)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param(b"", "zero bytes", id="zero-bytes"),
        pytest.param(b"\r\n\r\n\n", "no header field", id="only-blank-lines"),
        pytest.param(b"   \n\t\n", "no header field", id="only-whitespace"),
        pytest.param(b"This is not a header.\r\nNor this.\r\n", "no header field", id="prose"),
        pytest.param(
            b"Just text\n\nSubject: after the blank line\n", "no header field", id="field-in-body"
        ),
        pytest.param(
            b"From sender@example.com Mon Apr  1 10:00:00 2024\n\nSubject: body\n",
            "no header field",
            id="mbox-line-then-blank",
        ),
        pytest.param(
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(200) + b"\xff" * 50,
            "no header field",
            id="outlook-msg-ole2",
        ),
        pytest.param(b'[\n {\n  "a": 1\n }\n]\n', "no header field", id="json"),
        pytest.param(b"Name value\nX Y: z\n", "no header field", id="space-in-name"),
    ],
)
def test_not_a_message(data: bytes, reason: str) -> None:
    with pytest.raises(NotAMessage, match=reason):
        parse_message(data)


@pytest.mark.parametrize(
    ("data", "subject"),
    [
        pytest.param(b"Subject: crlf\r\n\r\nbody\r\n", "crlf", id="crlf"),
        pytest.param(b"Subject: lf\n\nbody\n", "lf", id="lf"),
        pytest.param(b"Subject: cr\r\rbody\r", "cr", id="bare-cr"),
        pytest.param(b"Subject: mixed\nTo: x\r\n\r\nSubject: no\n", "mixed", id="mixed-endings"),
        pytest.param(b"Subject: crlf-lf\r\n\nSubject: no\n", "crlf-lf", id="crlf-then-lf"),
        pytest.param(b"Subject: cr-crlf\r\r\nSubject: no\n", "cr-crlf", id="cr-then-crlf"),
        pytest.param(b"\r\n\n   \nSubject: late\n\nx", "late", id="leading-blank-lines"),
        pytest.param(
            b"From sender@example.com Mon Apr  1 10:00:00 2024\nSubject: mbox\n\nx",
            "mbox",
            id="mbox-from-line",
        ),
        pytest.param(b"\xef\xbb\xbfSubject: bom\n\nx", "bom", id="byte-order-mark"),
        pytest.param(b"Subject: no body", "no body", id="no-blank-line-no-body"),
        pytest.param(b"Subject: no body\n", "no body", id="no-blank-line"),
        pytest.param(b"SUBJECT: upper\n\n", "upper", id="name-case"),
        pytest.param(b"Subject  \t: obs space\n\n", "obs space", id="space-before-colon"),
        pytest.param(b"Subject:tight\n\n", "tight", id="no-space-after-colon"),
        pytest.param(b"X-A: 1\nSubject: first\nSubject: second\n\n", "first", id="first-subject"),
        pytest.param(b"Subject: a\n b\n\tc\n\n", "a b\tc", id="folded"),
        pytest.param(b"Subject: a\r\n   \r\n b\r\n\r\n", "a    b", id="whitespace-only-fold"),
        pytest.param(b"Subject: a\r\n b\r\n\r\n c\r\n", "a b", id="fold-stops-at-blank-line"),
    ],
)
def test_header_block_framing(data: bytes, subject: str) -> None:
    assert parse_message(data).subject == subject


def test_obs_from_field_is_not_an_mbox_line() -> None:
    parsed = parse_message(b"From  : John <j@example.com>\nTo: x@example.com\n\nbody\n")
    assert parsed.from_ == "John <j@example.com>"


def test_broken_header_lines_do_not_sink_the_others() -> None:
    data = message(
        "Subject: kept",
        "This line is no header",
        " and this continues it",
        b"Bad\xffName: skipped",
        "From : also kept <f@example.com>",
        "To: t@example.com",
    )
    parsed = parse_message(data)
    assert (parsed.subject, parsed.from_, parsed.to) == (
        "kept",
        "also kept <f@example.com>",
        "t@example.com",
    )
    assert any("not a field" in defect for defect in parsed.defects)


def test_defects_are_bounded() -> None:
    data = b"Subject: x\n" + b"junk\n" * 1000 + b"\nbody"
    parsed = parse_message(data)
    assert parsed.subject == "x"
    assert len(parsed.defects) <= 33


def test_body_is_not_read_for_headers() -> None:
    parsed = parse_message(message("Subject: head", body="Subject: body\nTo: body@example.com\n"))
    assert (parsed.subject, parsed.to) == ("head", None)


# ---------------------------------------------------------------------------------------------
# Header values (SEMANTICS §2 steps 1-4)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # RFC 2047 in several charsets, B and Q, either case
        pytest.param(b"=?iso-8859-1?q?caf=E9?=", "café", id="q-latin1"),
        pytest.param(b"=?ISO-8859-1?Q?Andr=E9_?= Pirard", "André  Pirard", id="q-underscore"),
        pytest.param(b"=?utf-8?B?R3LDvMOfZQ==?=", "Grüße", id="b-utf8"),
        pytest.param(b"=?UTF-8?b?R3LDvMOfZQ==?=", "Grüße", id="b-lowercase-encoding"),
        pytest.param(b"=?windows-1252?Q?=80_5?=", "€ 5", id="q-windows-1252"),
        pytest.param(b"=?koi8-r?B?8NLJ18XU?=", "Привет", id="b-koi8-r"),
        pytest.param(b"=?shift_jis?B?g2WDWINn?=", "テスト", id="b-shift-jis"),
        pytest.param(b"=?shift_jis?B?h0A=?=", "①", id="shift-jis-read-as-cp932"),
        pytest.param(b"=?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?=", "テスト", id="b-iso-2022-jp"),
        pytest.param(b"=?iso-8859-7?B?6u/17PDh8dzy?=", "κουμπαράς", id="b-greek"),
        pytest.param(b"=?gb2312?B?1tDOxA==?=", "中文", id="b-gb2312"),
        pytest.param(b"=?gb2312?B?6UY=?=", "镕", id="gb2312-read-as-gb18030"),
        pytest.param(b"=?EUC-KR?Q?=C7=D1=B1=B9?=", "한국", id="q-euc-kr"),
        pytest.param(b"=?utf-7?Q?Fr+APY-sche?=", "Frösche", id="q-utf-7"),
        pytest.param(b"=?US-ASCII*EN?Q?Keith_Moore?=", "Keith Moore", id="rfc2231-language"),
        pytest.param(b"=?utf-8?q?a=5Fb?=", "a_b", id="q-encoded-underscore"),
        pytest.param(b"=?utf-8?b?YQ?=", "a", id="b-missing-padding"),
        # where words stand, and the whitespace between them
        pytest.param(b"=?utf-8?q?a?= =?utf-8?q?b?=", "ab", id="adjacent-dropped"),
        pytest.param(b"=?utf-8?q?a?=\n =?utf-8?q?b?=", "ab", id="adjacent-folded"),
        pytest.param(b"=?utf-8?q?a?= \t =?iso-8859-1?q?=E9?=", "aé", id="adjacent-charsets"),
        pytest.param(b"=?utf-8?B?YQ==?= =?utf-8?B?IMOh?=", "a á", id="encoded-space-kept"),
        pytest.param(b"=?utf-8?q?=C3?= =?utf-8?q?=A9?=", "é", id="split-utf8-character"),
        pytest.param(b"=?utf-8?q?caf=C3=A9?= bar", "café bar", id="word-then-text"),
        pytest.param(b"foo =?utf-8?q?bar?=", "foo bar", id="text-then-word"),
        pytest.param(b"x=?utf-8?q?y?=z", "xyz", id="glued-to-text"),
        pytest.param(
            b'"=?utf-8?q?J=C3=B6rn?=" <j@example.com>', '"Jörn" <j@example.com>', id="quoted"
        ),
        pytest.param(b"=?utf-8?q?a?==?utf-8?q?b?=", "ab", id="glued-words"),
        # left as written
        pytest.param(b"=?x-unknown?q?abc?=", "=?x-unknown?q?abc?=", id="unknown-charset"),
        pytest.param(b"=?base64?q?abc?=", "=?base64?q?abc?=", id="codec-not-a-charset"),
        pytest.param(b"=?utf-8?q?a=ZZ?=", "=?utf-8?q?a=ZZ?=", id="broken-q"),
        pytest.param(b"=?utf-8?b?!!!!?=", "=?utf-8?b?!!!!?=", id="broken-b"),
        pytest.param(b"=?utf-8?b?YWJjZ?=", "=?utf-8?b?YWJjZ?=", id="b-impossible-length"),
        pytest.param(b"=?utf-8?q?a b?=", "=?utf-8?q?a b?=", id="space-inside-word"),
        pytest.param(
            b"=?iso-8859-1?Q?M\xfcller?=", "=?iso-8859-1?Q?Müller?=", id="raw-8bit-inside-word"
        ),
        pytest.param(
            b"=?x-unknown?q?a?= =?utf-8?q?b?=", "=?x-unknown?q?a?= b", id="unknown-keeps-space"
        ),
        pytest.param(b"50% =? off ?= now", "50% =? off ?= now", id="not-a-word"),
        # raw 8-bit (step 2)
        pytest.param("Grüße".encode(), "Grüße", id="raw-utf8"),
        pytest.param(b"Gr\xfc\xdfe \x80", "Grüße €", id="raw-windows-1252"),
        pytest.param(
            b"a\x81b\x8dc\x8fd\x90e\x9d",
            "a\ufffdb\ufffdc\ufffdd\ufffde\ufffd",
            id="cp1252-undefined",
        ),
        pytest.param(b"\xc3\xa9 \xe9", "Ã© é", id="mostly-utf8-is-cp1252"),
        # step 4
        pytest.param(b"a\x00b\x7fc\x1bd\te", "a b c d\te", id="controls-but-tab"),
        pytest.param(b"=?utf-8?q?a=00b=0D=0Ac?=", "a b  c", id="decoded-controls"),
        pytest.param(b"=?utf-8?q?=C2=85x?=", "x", id="decoded-c1-control"),
        pytest.param(b"   padded \t ", "padded", id="trimmed"),
        pytest.param("e\u0301te\u0301".encode(), "été", id="nfc-raw"),
        pytest.param(b"=?utf-8?q?e=CC=81?=", "é", id="nfc-decoded"),
        pytest.param(b"", None, id="empty"),
        pytest.param(b"   ", None, id="blank"),
        pytest.param(b"=?utf-8?b??=", None, id="empty-word"),
        pytest.param(b"=?utf-8?q?=0A?=", None, id="only-a-control"),
    ],
)
def test_subject_value(raw: bytes, expected: str | None) -> None:
    assert only_subject(raw) == expected


def test_eight_bit_decision_is_per_header() -> None:
    parsed = parse_message(message("Subject: Grüße", b"From: J\xfcrgen <j@example.com>"))
    assert (parsed.subject, parsed.from_) == ("Grüße", "Jürgen <j@example.com>")
    assert any("8-bit" in defect for defect in parsed.defects)


@pytest.mark.parametrize(
    ("fields", "attribute", "expected"),
    [
        pytest.param(
            ["To: =?utf-8?q?J=C3=B6rn?= <j@example.com>"],
            "to",
            "Jörn <j@example.com>",
            id="to-decoded",
        ),
        pytest.param(
            ["From: =?utf-8?q?=0A?= <badname@example.com>"],
            "from_",
            "<badname@example.com>",
            id="from-encoded-newline",
        ),
        pytest.param(
            ["Cc: =?iso-8859-1?q?=C9ric?= <e@example.com>"], "cc", "Éric <e@example.com>", id="cc"
        ),
        pytest.param(
            ["To: a@example.com", "Cc: c@example.com", "TO: b@example.com"],
            "to",
            "a@example.com, b@example.com",
            id="several-to-joined",
        ),
        pytest.param(
            ["From: a@example.com", "From:  ", "From: b@example.com"],
            "from_",
            "a@example.com, b@example.com",
            id="empty-from-skipped-in-join",
        ),
        pytest.param(
            ["To: Undisclosed recipients:;"], "to", "Undisclosed recipients:;", id="group"
        ),
        pytest.param(
            ["Cc: (x): a@example.com;"], "cc", "(x): a@example.com;", id="comment-group-name"
        ),
        pytest.param(["To:"], "to", None, id="empty-to"),
        pytest.param(
            ["Message-ID: <=?utf-8?q?x?=@example.com>"],
            "message_id",
            "<=?utf-8?q?x?=@example.com>",
            id="message-id-not-decoded",
        ),
        pytest.param(
            ["Message-ID: <a@x>", "Message-ID: <b@x>"], "message_id", "<a@x>", id="first-message-id"
        ),
        pytest.param(
            ["In-Reply-To: <p@example.com>\n <q@example.com>"],
            "in_reply_to",
            "<p@example.com> <q@example.com>",
            id="in-reply-to-unfolded",
        ),
        pytest.param(["X-Mailer: Mutt 2.2 "], "x_mailer", "Mutt 2.2", id="x-mailer"),
        pytest.param(
            ["X-Original-Mailer: =?utf-8?q?X?="],
            "x_original_mailer",
            "=?utf-8?q?X?=",
            id="x-original-mailer-not-decoded",
        ),
        pytest.param(["X-Priority: 3 (Normal)"], "x_priority", "3 (Normal)", id="x-priority"),
        pytest.param(
            ["Date: Mon, 01 Apr 2024 10:00:00 +0000 (UTC)"],
            "date",
            "Mon, 01 Apr 2024 10:00:00 +0000 (UTC)",
            id="date-raw",
        ),
        pytest.param([b"Date: \x00Whenever\x7f"], "date", "Whenever", id="date-controls"),
        pytest.param(["Date: a", "Date: b"], "date", "a", id="first-date"),
        pytest.param(
            ["Received: from a by b;\n Mon, 01 Apr 2024 10:00:00 +0000", "Received: from c"],
            "received_headers",
            ("from a by b; Mon, 01 Apr 2024 10:00:00 +0000", "from c"),
            id="received-all-in-order",
        ),
        pytest.param(
            ["Received: =?utf-8?q?x?=\x00"],
            "received_headers",
            ("=?utf-8?q?x?=",),
            id="received-not-decoded",
        ),
        pytest.param(["Subject: s"], "received_headers", (), id="no-received"),
        pytest.param(["Subject: s"], "cc", None, id="absent-cc"),
    ],
)
def test_member_value(fields: list[str | bytes], attribute: str, expected: object) -> None:
    parsed = parse_message(message(*fields))
    assert getattr(parsed, attribute) == expected


# ---------------------------------------------------------------------------------------------
# Dates (SEMANTICS §1)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Mon, 01 Apr 2024 10:00:00 +0000", "2024-04-01T10:00:00Z"),
        ("1 Apr 2024 10:00:00 +0200", "2024-04-01T08:00:00Z"),
        ("Mon,1 Apr 2024 10:00:00 -0459", "2024-04-01T14:59:00Z"),
        ("mon, 01 APR 2024 10:00:00 +0000", "2024-04-01T10:00:00Z"),
        ("Mon 01 Apr 2024 10:00:00 +0000", "2024-04-01T10:00:00Z"),
        ("Wed, 11 Feb 98 11:51 CST", "1998-02-11T17:51:00Z"),
        ("1 Jan 49 00:00:00 +0000", "2049-01-01T00:00:00Z"),
        ("1 Jan 50 00:00:00 +0000", "1950-01-01T00:00:00Z"),
        ("1 Jan 101 00:00:00 +0000", "2001-01-01T00:00:00Z"),
        ("1 Jan 0001 00:00:00 +0000", "0001-01-01T00:00:00Z"),
        ("31 Dec 9999 23:59:59 +0000", "9999-12-31T23:59:59Z"),
        ("31 Dec 2016 23:59:60 +0000", "2017-01-01T00:00:00Z"),
        ("Tue, 6 Jun 2000 03:20:11 UT", "2000-06-06T03:20:11Z"),
        ("1 Jan 2000 00:00 GMT", "2000-01-01T00:00:00Z"),
        ("1 Jan 2000 00:00 EST", "2000-01-01T05:00:00Z"),
        ("1 Jan 2000 00:00 EDT", "2000-01-01T04:00:00Z"),
        ("1 Jan 2000 00:00 CST", "2000-01-01T06:00:00Z"),
        ("1 Jan 2000 00:00 CDT", "2000-01-01T05:00:00Z"),
        ("1 Jan 2000 00:00 MST", "2000-01-01T07:00:00Z"),
        ("1 Jan 2000 00:00 MDT", "2000-01-01T06:00:00Z"),
        ("1 Jan 2000 00:00 PST", "2000-01-01T08:00:00Z"),
        ("1 Jan 2000 00:00 pdt", "2000-01-01T07:00:00Z"),
        ("1 Jan 2000 00:00 Z", "2000-01-01T00:00:00Z"),
        ("1 Jan 2000 00:00 A", "2000-01-01T00:00:00Z"),
        ("1 Jan 2000 00:00 M", "2000-01-01T00:00:00Z"),
        ("1 Jan 2000 00:00 Y", "2000-01-01T00:00:00Z"),
        ("1 Jan 2000 00:00 CEST", "2000-01-01T00:00:00Z"),
        ("Wed, 15 Feb 1995 09:38:18", "1995-02-15T09:38:18Z"),
        ("Wed, 20 Sep 1995 00:19:00 (EDT) -0400", "1995-09-20T04:19:00Z"),
        ("Fri, 21 Nov 1997 09(comment):   55  :  06 -0600", "1997-11-21T15:55:06Z"),
        ("(a (nested) one) Fri, 21 Nov 1997 09:55:06 -0600 (b \\) c)", "1997-11-21T15:55:06Z"),
        ("Mon, 2 Apr 2012 13:56:12 +0000 (UTC)", "2012-04-02T13:56:12Z"),
        (
            "Thu,\r\n      13\r\n        Feb\r\n          1969\r\n      23:32\r\n"
            "               -0330 (Newfoundland Time)",
            "1969-02-14T03:02:00Z",
        ),
        ("Tue Jul 24 18:55:07 2007", "2007-07-24T18:55:07Z"),
        ("Tue Jul  4 08:05:07 2007", "2007-07-04T08:05:07Z"),
        ("Fri, 23 Aug 2002 2:32:53 -0400", "2002-08-23T06:32:53Z"),
        ("1 Apr 2024 10:00 +0100 (an unclosed comment", "2024-04-01T09:00:00Z"),
    ],
)
def test_parse_date(value: str, expected: str) -> None:
    assert parse_date(value) == ms(expected)


@pytest.mark.parametrize(
    "value",
    [
        "fre, 28 maj 1999 21:47:11 +0200 (CEST)",
        "Pn, 29 paX 2007 21:13:00 +0100",
        "Tue, 06 Jun 2017 27:39:33 +0600",
        "Wed, 15 Dec 2010 59:10 -0500",
        "Tue, 17 Jul 2012 22:23:35.882 0000",
        "Tue, 12 Oct 2010 16:21:05 H0500",
        "Mon, 01 Apr 2024 10:00:00 +0060",
        "Mon, 01 Apr 2024 10:00:00 +000",
        "Mon, 01 Apr 2024 10:00:00 +0000 extra",
        "Mon, 01 Apr 2024 10:00:00 +0000 UTC",
        "0001-01-01 00:00:00 +0000 UTC",
        "2024-04-01T10:00:00Z",
        "Fri May 24 10:35:57 EDT 1991",
        "May 8, 2005 1:17 PM",
        "Wed, Feb 9, 2011 at 11:55 AM",
        "Whenever",
        "",
        "Thu,",
        "30 Feb 2024 10:00 +0000",
        "1 Jan 5 00:00 +0000",
        "1 Jan 0000 00:00 +0000",
        "1 Jan 10000 00:00 +0000",
        "1 Jan " + "9" * 5000 + " 00:00 +0000",
        "1 Jan 0001 00:30 +0100",
        "31 Dec 9999 23:30 -0100",
        "Monday, 01 Apr 2024 10:00:00 +0000",
        "01 April 2024 10:00:00 +0000",
        "01 Apr 2024 24:00:00 +0000",
        "01 Apr 2024 10:60:00 +0000",
        "01 Apr 2024 10:00:61 +0000",
        "001 Apr 2024 10:00:00 +0000",
        "\u0661 Apr 2024 10:00 +0000",
        "1 Apr \u0662\u0660\u0662\u0664 10:00 +0000",
        "1 Apr 2024 10:00 \u00e9",
    ],
)
def test_parse_date_refuses(value: str) -> None:
    assert parse_date(value) is None


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param(
            [
                "Received: from a by b; Mon, 01 Apr 2024 10:00:05 +0000",
                "Received: from c by a; Mon, 01 Apr 2024 09:00:00 +0000",
                "Date: Mon, 01 Apr 2024 08:00:00 +0000",
            ],
            "2024-04-01T10:00:05Z",
            id="topmost-received",
        ),
        pytest.param(
            [
                "Received: by filter.example.net with SMTP id x 2020-06-17 16:39:24 +0000 UTC",
                "Received: from c by a; Mon, 01 Apr 2024 09:00:00 +0000",
                "Date: Mon, 01 Apr 2024 08:00:00 +0000",
            ],
            "2024-04-01T08:00:00Z",
            id="topmost-without-semicolon-then-date",
        ),
        pytest.param(
            [
                "Received: from a; not a date",
                "Received: from c by a; Mon, 01 Apr 2024 09:00:00 +0000",
                "Date: Mon, 01 Apr 2024 08:00:00 +0000",
            ],
            "2024-04-01T08:00:00Z",
            id="topmost-unparsable-then-date",
        ),
        pytest.param(
            ["Received: from a (x; y) by b; for <r@x>;\n\tMon, 01 Apr 2024 10:00:05 -0100"],
            "2024-04-01T11:00:05Z",
            id="after-last-semicolon-folded",
        ),
        pytest.param(["Date: Tue Jul 24 18:55:07 2007"], "2007-07-24T18:55:07Z", id="date-only"),
        pytest.param(
            ["Date: broken", "Date: Mon, 01 Apr 2024 08:00:00 +0000"], None, id="first-date-only"
        ),
        pytest.param(["Received: from a by b"], None, id="received-without-date"),
        pytest.param(["Subject: undated"], None, id="nothing"),
    ],
)
def test_header_timestamp(fields: list[str], expected: str | None) -> None:
    parsed = parse_message(message(*fields))
    assert parsed.header_timestamp_ms == (None if expected is None else ms(expected))


# ---------------------------------------------------------------------------------------------
# HasAttachments (SEMANTICS §2)

MIXED = "Content-Type: multipart/mixed; boundary=b"


def mime(root_headers: str, body: str, eol: str = "\r\n") -> bytes:
    text = "From: a@example.com\nSubject: s\nMIME-Version: 1.0\n" + root_headers + "\n\n" + body
    return text.replace("\n", eol).encode()


def parts(*texts: str, boundary: str = "b", close: bool = True) -> str:
    """A multipart body: each text is a part (its headers, a blank line, its body)."""
    body = "".join(f"--{boundary}\n{text}\n" for text in texts)
    return body + (f"--{boundary}--\n" if close else "")


TEXT = "Content-Type: text/plain\n\nhello"

ATTACHMENT_CASES = [
    # the root as a leaf
    ("plain", "Content-Type: text/plain", "hello\n", False),
    ("no-content-type", "X-A: b", "hello\n", False),
    ("root-pdf-named", 'Content-Type: application/pdf; name="x.pdf"', "JVBERi0=\n", True),
    ("root-disposition", "Content-Disposition: attachment", "x\n", True),
    ("root-inline-unnamed", "Content-Type: image/png\nContent-Disposition: inline", "x\n", False),
    (
        "root-rfc2231-filename",
        "Content-Disposition: inline; filename*=utf-8''%E2%82%AC.txt",
        "x",
        True,
    ),
    ("root-name-star-without-value", "Content-Type: text/plain; name*", "x\n", False),
    ("root-empty-filename", 'Content-Disposition: inline; filename=""', "x\n", False),
    ("root-blank-filename", 'Content-Disposition: inline; filename="  "', "x\n", False),
    ("root-empty-filename-star", "Content-Disposition: inline; filename*=utf-8''", "x\n", False),
    ("root-empty-name", "Content-Type: text/plain; name=", "x\n", False),
    ("root-empty-encoded-name", 'Content-Type: text/plain; name="=?utf-8?q??="', "x\n", False),
    (
        "root-encoded-name",
        'Content-Type: text/plain; name="=?utf-8?q?r=C3=A9sum=C3=A9?="',
        "x",
        True,
    ),
    ("root-name-in-comment", "Content-Type: text/plain (name=x.txt)", "x\n", False),
    (
        "root-multipart-is-not-a-leaf",
        MIXED + "\nContent-Disposition: attachment",
        parts(TEXT),
        False,
    ),
    # parts below the root
    ("disposition-attachment", MIXED, parts(TEXT, "Content-Disposition: attachment\n\nAAAA"), True),
    ("disposition-upper-case", MIXED, parts(TEXT, "Content-Disposition: ATTACHMENT\n\nAAAA"), True),
    (
        "inline-with-filename",
        MIXED,
        parts(
            TEXT, 'Content-Type: text/x-patch\nContent-Disposition: inline; filename="a.patch"\n'
        ),
        True,
    ),
    ("content-type-name", MIXED, parts(TEXT, 'Content-Type: image/png; name="a.png"\n\nAA'), True),
    (
        "inline-content-id-unnamed",
        "Content-Type: multipart/related; boundary=b",
        parts(TEXT, "Content-Type: image/png\nContent-ID: <i@x>\nContent-Disposition: inline\n\nA"),
        False,
    ),
    ("unnamed-rtf", MIXED, parts(TEXT, "Content-Type: text/rtf\n\n{\\rtf1}"), False),
    (
        "rfc2231-continuations",
        MIXED,
        parts(
            TEXT,
            "Content-Type: application/pdf\nContent-Disposition: attachment;\n"
            " filename*0*=UTF-8''%74%65%73%74;\n filename*1*=%2E%70%64%66\n\nAA",
        ),
        True,
    ),
    (
        "rfc2231-inline-continuations",
        MIXED,
        parts(TEXT, 'Content-Disposition: inline;\n filename*0="a";\n filename*1="b.txt"\n\nx'),
        True,
    ),
    (
        "rfc2231-empty-continuations",
        MIXED,
        parts(TEXT, 'Content-Disposition: inline; filename*0=""; filename*1=""\n\nx'),
        False,
    ),
    (
        "part-name-star-without-value",
        MIXED,
        parts(TEXT, "Content-Type: text/plain; name*\n\nx"),
        False,
    ),
    (
        "message-rfc822-part",
        MIXED,
        parts(TEXT, "Content-Type: message/rfc822\n\nFrom: x@example.com\nSubject: in\n\nhi"),
        True,
    ),
    (
        "message-rfc822-inside-not-examined",
        MIXED,
        parts(
            TEXT, "Content-Type: message/rfc822\n\nContent-Type: multipart/mixed; boundary=\n\n--"
        ),
        True,
    ),
    (
        "digest-default-is-message",
        "Content-Type: multipart/digest; boundary=b",
        parts("\nFrom: x@example.com\nSubject: in\n\nhi"),
        True,
    ),
    ("digest-of-text", "Content-Type: multipart/digest; boundary=b", parts(TEXT), False),
    ("mixed-default-is-text", MIXED, parts("\nFrom: x@example.com\n\nhi"), False),
    (
        "forwarded-raw-message-in-text",
        MIXED,
        parts(
            "Content-Type: text/plain\n\n----- Forwarded -----\nContent-Type: application/pdf;"
            ' name="x.pdf"\nContent-Disposition: attachment; filename="x.pdf"\n\nJVBERi0='
        ),
        False,
    ),
    (
        "attachment-headers-in-preamble",
        MIXED,
        "Content-Disposition: attachment; filename=a.txt\n\n" + parts(TEXT),
        False,
    ),
    (
        "attachment-in-epilogue",
        MIXED,
        parts(TEXT) + "--b\nContent-Disposition: attachment; filename=a.txt\n\nx\n",
        False,
    ),
    (
        "nested-related-image",
        MIXED,
        parts(
            "Content-Type: multipart/alternative; boundary=alt\n\n"
            + parts(TEXT, "Content-Type: text/html\n\n<p>hi</p>", boundary="alt"),
            "Content-Type: multipart/related; boundary=rel\n\n"
            + parts(TEXT, 'Content-Type: image/png; name="logo.png"\n\nAA', boundary="rel"),
        ),
        True,
    ),
    (
        "nested-without-attachment",
        MIXED,
        parts(
            "Content-Type: multipart/alternative; boundary=alt\n\n"
            + parts(TEXT, "Content-Type: text/html\n\n<p>hi</p>", boundary="alt")
        ),
        False,
    ),
    (
        "inner-close-missing",
        MIXED,
        parts(
            "Content-Type: multipart/alternative; boundary=alt\n\n"
            + parts(TEXT, boundary="alt", close=False),
            'Content-Type: application/pdf; name="x.pdf"\n\nAA',
        ),
        True,
    ),
    (
        "outer-close-missing",
        MIXED,
        parts(TEXT, 'Content-Type: application/pdf; name="x.pdf"\n\nAA', close=False),
        True,
    ),
    (
        "prefix-of-boundary-is-no-delimiter",
        MIXED,
        parts("Content-Type: text/plain\n\n--bogus\nContent-Disposition: attachment\n\nx"),
        False,
    ),
    (
        "delimiter-starts-a-line",
        MIXED,
        parts("Content-Type: text/plain\n\nsee x--b\nContent-Disposition: attachment\n\nx"),
        False,
    ),
    (
        "delimiter-transport-padding",
        MIXED,
        "--b \t\n" + TEXT + "\n--b  \nContent-Disposition: attachment\n\nx\n--b-- \n",
        True,
    ),
    (
        "quoted-folded-boundary",
        'Content-Type: multipart/mixed;\n boundary="simple\n boundary"',
        parts(TEXT, "Content-Disposition: attachment\n\nx", boundary="simple boundary"),
        True,
    ),
    (
        "upper-case-names",
        "CONTENT-TYPE: MULTIPART/MIXED; BOUNDARY=XyZ",
        parts(TEXT, "CONTENT-DISPOSITION: ATTACHMENT\n\nx", boundary="XyZ"),
        True,
    ),
    (
        "boundary-is-case-sensitive",
        "Content-Type: multipart/mixed; boundary=XyZ",
        parts(TEXT, "Content-Disposition: attachment\n\nx", boundary="xyz"),
        False,
    ),
    (
        "multipart-without-boundary",
        "Content-Type: multipart/mixed",
        parts(TEXT, "Content-Disposition: attachment\n\nx"),
        False,
    ),
    ("part-without-headers", MIXED, parts("\nplain"), False),
    (
        "root-message-wraps-attachment",
        "Content-Type: message/rfc822",
        "From: x@example.com\nContent-Type: multipart/mixed; boundary=in\n\n"
        + parts(TEXT, "Content-Disposition: attachment; filename=a.txt\n\nx", boundary="in"),
        True,
    ),
    (
        "root-message-wraps-text",
        "Content-Type: message/rfc822",
        "From: x@example.com\nContent-Type: text/plain\n\nhi\n",
        False,
    ),
    (
        "root-message-wraps-message",
        "Content-Type: message/rfc822",
        "From: x@example.com\nContent-Type: message/rfc822\n\nFrom: y@example.com\n\nhi\n",
        True,
    ),
]


@pytest.mark.parametrize(
    ("root_headers", "body", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in ATTACHMENT_CASES],
)
def test_has_attachments(root_headers: str, body: str, expected: bool) -> None:
    assert parse_message(mime(root_headers, body)).has_attachments is expected


@pytest.mark.parametrize("eol", ["\r\n", "\n", "\r"], ids=["crlf", "lf", "cr"])
@pytest.mark.parametrize(
    ("name", "expected"), [("nested-related-image", True), ("nested-without-attachment", False)]
)
def test_has_attachments_any_line_ending(eol: str, name: str, expected: bool) -> None:
    _, root_headers, body, _ = next(case for case in ATTACHMENT_CASES if case[0] == name)
    parsed = parse_message(mime(root_headers, body, eol))
    assert (parsed.subject, parsed.has_attachments) == ("s", expected)


@pytest.mark.parametrize(("depth", "expected"), [(40, True), (5000, False)])
def test_deep_nesting(depth: int, expected: bool) -> None:
    # Each level opens a multipart with a new boundary that is never closed; past 50 levels the
    # walk stops (the attachment at the bottom is then not seen) instead of going quadratic.
    levels = "".join(
        f"--b{level}\nContent-Type: multipart/mixed; boundary=b{level + 1}\n\n"
        for level in range(depth)
    )
    body = levels + f"--b{depth}\nContent-Disposition: attachment\n\nx\n"
    parsed = parse_message(mime("Content-Type: multipart/mixed; boundary=b0", body))
    assert parsed.has_attachments is expected


def test_multipart_defects_are_noted() -> None:
    parsed = parse_message(mime(MIXED, parts(TEXT, close=False)))
    assert parsed.has_attachments is False
    assert any("close delimiter" in defect for defect in parsed.defects)


# ---------------------------------------------------------------------------------------------
# Robustness: nothing but NotAMessage ever leaves parse_message

HEADERY = st.lists(
    st.sampled_from(
        [
            b"Subject: ",
            b"To: ",
            b"Content-Type: multipart/mixed; boundary=b",
            b"Content-Type: message/rfc822",
            b"Content-Disposition: attachment; filename*0*=x'';",
            b" name*",
            b"Received: a; Mon, 1 Apr 2024 10:00 +0000",
            b"Date: 99 Feb 9999 99:99",
            b"--b",
            b"--b--",
            b"=?utf-8?b?",
            b"=?x?q?=",
            b"?=",
            b"\xff\xfe",
            b"\x00",
            b"(",
            b"\r",
            b"\n",
            b"\r\n",
            b" ",
            b":",
            b"From ",
        ]
    ),
    max_size=40,
).map(b"".join)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=300), HEADERY))
def test_never_raises_anything_else(data: bytes) -> None:
    try:
        parsed = parse_message(data)
    except NotAMessage:
        return
    assert isinstance(parsed, ParsedMessage)
    for value in (parsed.to, parsed.from_, parsed.cc, parsed.subject, parsed.date):
        assert value is None or (value and value == value.strip() and "\n" not in value)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_parse_date_never_raises(value: str) -> None:
    result = parse_date(value)
    assert result is None or isinstance(result, int)


# ---------------------------------------------------------------------------------------------
# The shared hard cases (../shared/bugcases): exact values

MEMBERS = {
    "To": "to",
    "From": "from_",
    "Cc": "cc",
    "Subject": "subject",
    "Date": "date",
    "MessageId": "message_id",
    "InReplyTo": "in_reply_to",
    "XMailer": "x_mailer",
    "XOriginalMailer": "x_original_mailer",
    "XPriority": "x_priority",
    "ReceivedHeaders": "received_headers",
    "HasAttachments": "has_attachments",
}


def _bugcases() -> list[Path | None]:
    cases: list[Path | None] = []
    if BUGCASES.is_dir():
        cases.extend(sorted(BUGCASES.glob("*.eml")))
    return cases or [None]


@pytest.mark.parametrize(
    "path", _bugcases(), ids=lambda path: path.stem if isinstance(path, Path) else "absent"
)
def test_bugcase(path: Path | None) -> None:
    if path is None:
        pytest.skip(f"no shared bug cases at {BUGCASES}")
    expected = json.loads(path.with_name(path.stem + ".expected.json").read_text("utf-8"))
    parsed = parse_message(path.read_bytes())
    for member, value in expected["fields"].items():
        got = getattr(parsed, MEMBERS[member])
        assert (list(got) if isinstance(got, tuple) else got) == value, member
    for member in expected["absent"]:
        assert getattr(parsed, MEMBERS[member]) in (None, ()), member
    stamp = expected["received_timestamp_utc"]
    assert parsed.header_timestamp_ms == (None if stamp is None else ms(stamp))


# ---------------------------------------------------------------------------------------------
# The shared corpus of real third-party messages (../shared/corpus)

# Checked by eye: each has no header field before its first blank line.
NOT_MESSAGES = {
    "SOURCES.md": "markdown prose",
    "manifest.json": "a JSON array",
    "mime4j/testmsgs__malformedHeader-noheader.eml": "two lines of prose, no header",
    "mime4j/testmsgs__malformedHeaderStartsBody-noheader.eml": "two lines of prose, no header",
}


def _corpus_files() -> list[Path]:
    """Every regular file under the corpus (symbolic links are not followed)."""
    found = []
    for folder, _dirs, names in os.walk(CORPUS):
        for name in names:
            path = Path(folder, name)
            if stat.S_ISREG(path.lstat().st_mode):
                found.append(path)
    return sorted(found)


def test_corpus_parses_or_is_not_a_message() -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"no shared corpus at {CORPUS}")
    rejected = {}
    for path in _corpus_files():
        try:
            parse_message(path.read_bytes())
        except NotAMessage as exc:
            rejected[path.relative_to(CORPUS).as_posix()] = str(exc)
    assert set(rejected) == set(NOT_MESSAGES)
    assert all("no header field" in reason for reason in rejected.values())


# Values worked out by hand from each file's bytes.
CORPUS_VALUES: dict[str, dict[str, object]] = {
    "mime4j/mimetools-testmsgs__intl.eml": {
        "from_": "Keith Moore <moore@cs.utk.edu>",
        "to": "Keld Jørn Simonsen <keld@dkuug.dk>",
        "cc": "André  Pirard <PIRARD@vm1.ulg.ac.be>",
        # three adjacent words in ISO-8859-1, ISO-8859-2 and US-ASCII, folded
        "subject": "If you can read this you understand the example... so, cool!",
        "date": None,
        "header_timestamp_ms": None,
        "has_attachments": False,
    },
    "ruby-mail/rfc2822__example10.eml": {
        "from_": "Pete(A wonderful \\) chap) <pete(his account)@silly.test(his host)>",
        "to": "A Group(Some people)     :Chris Jones <c@(Chris's host.)public.example>,"
        "         joe@example.org,  John <jdoe@one.test> (my dear friend); (the end of the group)",
        "cc": "(Empty list)(start)Undisclosed recipients  :(nobody(that I know))  ;",
        "date": "Thu,      13        Feb          1969      23:32"
        "               -0330 (Newfoundland Time)",
        "header_timestamp_ms": ms("1969-02-14T03:02:00Z"),
    },
    "ruby-mail/rfc2822__example13.eml": {
        # `From  :` opens the file: an obs-field, not an mbox line
        "from_": "John Doe <jdoe@machine(comment).  example>",
        "to": "Mary Smith",  # the `__` line is no field and takes the folded address with it
        "subject": "Saying Hello",
        "message_id": "<1234   @   local(blah)  .machine .example>",
        "header_timestamp_ms": ms("1997-11-21T15:55:06Z"),
    },
    "ruby-mail/rfc2822__example14.eml": {
        "subject": "Re: TEST \tテストテスト",  # mbox line skipped; ISO-2022-JP words joined
        "in_reply_to": "<rid_5582199198@msgid.example.com>",
        "header_timestamp_ms": ms("2011-08-19T01:47:17Z"),
    },
    "zbateson-mmp/m0006.eml": {
        "to": '"Joe Blow" <jblow@example.com>,\tJürgen Schmürgen <schmuergen@example.com>',
        "subject": "Die Hasen und die Frösche (Microsoft Outlook 00)",  # UTF-7 in Q
        "x_priority": "3 (Normal)",
        "header_timestamp_ms": ms("2000-05-17T23:18:39Z"),
        "has_attachments": False,
    },
    "ruby-mail/plain_emails__raw_email.eml": {
        "subject": "NOTE: 한국말로 하는 것",
        "header_timestamp_ms": ms("2005-05-02T22:07:05Z"),
    },
    "flanker/mailformed-headers.eml": {
        # UTF-8 Cyrillic cut short by a stray 0xF1: not valid UTF-8, so windows-1252 throughout
        "from_": "Ð®Ð½Ð¸ÐºÐ¾Ð´ Ð·Ð°Ð¿Ñ€ÐµÑ‰ÐµÐ½ñ <headers@gmail.com>",
        "to": "´google@example.com",
        "subject": "´!",
        "header_timestamp_ms": ms("2012-07-13T12:06:49Z"),
    },
    "zbateson-mmp/m3006.eml": {
        "to": "Jürgen Schmürgen <jschmuergen@example.com>",  # raw UTF-8
        "x_mailer": "QUALCOMM Windows Eudora Pro Version 4.2.0.58",
        "message_id": "<4.2.0.58.20000519004755.00a86100@pop.example.com>",
        "header_timestamp_ms": ms("2000-05-19T04:50:08Z"),
    },
    "zbateson-mmp/m2004.eml": {
        # raw 8-bit inside the encoded-words: not RFC 2047 encoded-text, so left as written
        "to": "Heinz =?iso-8859-1?Q?Müller?= <mueller@example.com>",
        "subject": "=?iso-8859-1?Q?Die_Hasen_und_die_Frösche?=",
        "x_priority": "2 (High)",
    },
    "zbateson-mmp/m0021.eml": {
        "to": "Heinz Müller <mueller@example.com>",
        "has_attachments": True,  # the boundary parameter is folded inside its quotes
    },
    "mime4j/mimetools-testmsgs__multi-badnames.eml": {"has_attachments": True},
    "cpython/msg_31.eml": {
        "from_": "aperson@dom.ain",
        "has_attachments": False,  # boundary=BOUNDARY_ never appears as a delimiter
    },
    "eml_parser/sample_attachments.eml": {"has_attachments": True},
    "mimekit/mbox__unmunged.mbox": {
        "from_": "Jeffrey Stedfast <jeff@xamarin.com>",  # after a byte-order mark and `From -`
        "subject": "This is a test message with an unmunged From line",
    },
    "ruby-mail/error_emails__bad_encoded_subject.eml": {"subject": "=?NONE?B?VEVTVA=?="},
    "mu/testdir2__bar__cur__mail4.eml": {
        "from_": '=?iso-8859-1?Q? "=F6tzi" ?= <oetzi@web.de>',  # spaces inside: not a word
        "subject": "Re: der bär und das mädchen",
        "header_timestamp_ms": ms("2005-05-06T22:27:52Z"),
    },
    "ruby-mail/plain_emails__raw_email_incorrect_header.eml": {
        "subject": "Stop adware/spyware once and for all.",
        "message_id": "<4D6AA7EB.6490534@xxx.xxx>",
        "header_timestamp_ms": ms("2005-02-23T22:51:49Z"),
    },
    "stalwart/malformed__019.eml": {
        "from_": None,  # `Fro :` is a field, but not From
        "date": "Tue, 7 Apr 2026 10:00:t <rimap-test@example.test>",
        "header_timestamp_ms": None,  # the first Date is the one read
    },
    "mime4j/mimetools-testmsgs__re-fwd.eml": {
        "from_": "user2",
        "header_timestamp_ms": ms("2000-06-06T03:20:11Z"),
        "has_attachments": True,  # message/rfc822 root enclosing a message/rfc822
    },
}


@pytest.mark.parametrize("name", sorted(CORPUS_VALUES))
def test_corpus_values(name: str) -> None:
    path = CORPUS / name
    if not path.is_file():
        pytest.skip(f"no shared corpus file {path}")
    parsed = parse_message(path.read_bytes())
    for attribute, expected in CORPUS_VALUES[name].items():
        assert getattr(parsed, attribute) == expected, attribute


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("=?utf-16?B?AEEAQgBD?=", "ABC"),  # no byte-order mark: big-endian (RFC 2781)
        ("=?utf-16?B?//5BAEIA?=", "AB"),  # a little-endian mark is obeyed
        ("=?utf-32?B?AAAAQQ==?=", "A"),
        ("=?utf-16le?B?QQBCAA==?=", "AB"),
    ],
)
def test_utf16_and_utf32_words_without_a_mark_are_big_endian(word: str, expected: str) -> None:
    parsed = parse_message(f"From: a@example.com\r\nSubject: {word}\r\n\r\nx".encode())
    assert parsed.subject == expected
