"""Message bodies (GetArchiveMessageContent): Text, Html and MessageMalformed."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.content import _iter_leaves, message_content
from ingest.message import NotAMessage, parse_message
from tests.conftest import ROOT

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
HEAD = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: s\r\nMIME-Version: 1.0\r\n"


def msg(headers: bytes, body: bytes) -> bytes:
    return HEAD + headers + b"\r\n" + body


def multipart(subtype: str, *parts: bytes, boundary: bytes = b"BND") -> bytes:
    body = b"preamble\r\n"
    for part in parts:
        body += b"--" + boundary + b"\r\n" + part + b"\r\n"
    body += b"--" + boundary + b"--\r\nepilogue\r\n"
    header = b"Content-Type: multipart/" + subtype.encode() + b'; boundary="' + boundary + b'"\r\n'
    return msg(header, body)


def part(content_type: bytes, body: bytes, extra: bytes = b"") -> bytes:
    return b"Content-Type: " + content_type + b"\r\n" + extra + b"\r\n" + body


PLAIN = part(b"text/plain; charset=utf-8", b"plain body")
HTML = part(b"text/html; charset=utf-8", b"<p>html body</p>")

CASES = [
    ("no content type", msg(b"", b"Hello.\r\nBye.\r\n"), "Hello.\r\nBye.\r\n", None, False),
    (
        "utf-8 8bit",
        msg(b"Content-Type: text/plain; charset=UTF-8\r\n", "Grüße, Straße".encode()),
        "Grüße, Straße",
        None,
        False,
    ),
    ("html only", msg(b"Content-Type: text/html\r\n", b"<b>hi</b>"), None, "<b>hi</b>", False),
    (
        "multipart/alternative",
        multipart("alternative", PLAIN, HTML),
        "plain body",
        "<p>html body</p>",
        False,
    ),
    (
        "alternative, html first",
        multipart("alternative", HTML, PLAIN),
        "plain body",
        "<p>html body</p>",
        False,
    ),
    (
        "quoted-printable latin-1 (read as windows-1252)",
        msg(
            b"Content-Type: text/plain; charset=iso-8859-1\r\n"
            b"Content-Transfer-Encoding: quoted-printable\r\n",
            b"caf=E9 =80 soft=\r\nbreak  \r\nend",
        ),
        "café € softbreak\r\nend",
        None,
        False,
    ),
    (
        "base64 utf-8",
        msg(
            b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: BASE64\r\n",
            base64.encodebytes("Ελληνικά και 日本語".encode()),
        ),
        "Ελληνικά και 日本語",
        None,
        False,
    ),
    (
        "iso-2022-jp",
        msg(
            b"Content-Type: text/plain; charset=ISO-2022-JP\r\n", "すみません".encode("iso-2022-jp")
        ),
        "すみません",
        None,
        False,
    ),
    (
        "shift_jis read as cp932",
        msg(b"Content-Type: text/plain; charset=shift_jis\r\n", "①テスト".encode("cp932")),
        "①テスト",
        None,
        False,
    ),
    (
        "gb2312 read as gb18030",
        msg(b"Content-Type: text/plain; charset=gb2312\r\n", "中文𠀀".encode("gb18030")),
        "中文𠀀",
        None,
        False,
    ),
    (
        "RFC 2231 charset parameter",
        msg(b"Content-Type: text/plain; charset*=utf-8''\r\n", "ø".encode()),
        "ø",
        None,
        False,
    ),
    (
        "no charset, 8-bit UTF-8",
        msg(b"", "naïve".encode()),
        "naïve",
        None,
        False,
    ),
    (
        "no charset, 8-bit not UTF-8 (windows-1252)",
        msg(b"", "naïve".encode("cp1252")),
        "naïve",
        None,
        True,
    ),
    (
        "attachment parts are skipped",
        multipart(
            "mixed",
            part(b"text/plain", b"attached", b"Content-Disposition: attachment\r\n"),
            part(b'text/html; name="page.html"', b"<i>named</i>"),
            part(b"text/plain", b"the body", b"Content-Disposition: inline\r\n"),
            part(b"text/html", b"<p>the html</p>"),
        ),
        "the body",
        "<p>the html</p>",
        False,
    ),
    (
        "a named inline text part is an attachment (mail-parser keeps it as a body)",
        multipart(
            "mixed",
            part(b"text/plain", b"patch", b'Content-Disposition: inline; filename="x.diff"\r\n'),
        ),
        None,
        None,
        False,
    ),
    (
        "a Content-ID text/html part without a name is not an attachment",
        multipart("related", part(b"text/html", b"<img src=cid:1>", b"Content-ID: <1@x>\r\n")),
        None,
        "<img src=cid:1>",
        False,
    ),
    (
        "an attached message's text is not the body",
        multipart(
            "mixed",
            part(
                b"image/png", base64.b64encode(b"\x89PNG"), b"Content-Transfer-Encoding: base64\r\n"
            ),
            part(
                b"message/rfc822", b"Subject: inner\r\nContent-Type: text/plain\r\n\r\ninner text"
            ),
        ),
        None,
        None,
        False,
    ),
    (
        "a message/rfc822 root wraps the message it encloses",
        msg(b"Content-Type: message/rfc822\r\n", multipart("alternative", PLAIN, HTML)),
        "plain body",
        "<p>html body</p>",
        False,
    ),
    (
        "multipart/digest parts default to message/rfc822",
        multipart("digest", b"\r\nSubject: one\r\n\r\ndigest text"),
        None,
        None,
        False,
    ),
    (
        "nested multiparts, document order",
        multipart(
            "mixed",
            multipart("alternative", PLAIN, HTML, boundary=b"IN")[len(HEAD) :],
            part(b"text/plain", b"second"),
        ),
        "plain body",
        "<p>html body</p>",
        False,
    ),
    (
        "an empty text part gives an empty Text",
        multipart("mixed", part(b"text/plain", b"")),
        "",
        None,
        False,
    ),
    (
        "a Content-Type without a subtype is text/plain",
        msg(b"Content-Type: text\r\n", b"defaulted"),
        "defaulted",
        None,
        False,
    ),
    # -- malformed ----------------------------------------------------------------------------
    (
        "no header at all",
        b"just some text\r\nwithout headers\r\n",
        "just some text\r\nwithout headers\r\n",
        None,
        True,
    ),
    ("blank line before the header", b"\r\n" + msg(b"", b"body"), "body", None, True),
    (
        "missing close delimiter",
        msg(b'Content-Type: multipart/mixed; boundary="B"\r\n', b"--B\r\n\r\nunclosed\r\n"),
        "unclosed\r\n",
        None,
        True,
    ),
    (
        "multipart without a boundary",
        msg(b"Content-Type: multipart/mixed\r\n", b"--B\r\n\r\nx\r\n--B--\r\n"),
        None,
        None,
        True,
    ),
    (
        "multipart without a body part",
        msg(b'Content-Type: multipart/mixed; boundary="B"\r\n', b"nothing\r\n--B--\r\n"),
        None,
        None,
        True,
    ),
    (
        "broken base64",
        msg(
            b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n",
            b"aGVsbG8g*d29y\r\nbGQ",
        ),
        "hello world",
        None,
        True,
    ),
    (
        "invalid quoted-printable escape",
        msg(b"Content-Transfer-Encoding: quoted-printable\r\n", b"100=%"),
        "100=%",
        None,
        True,
    ),
    (
        "unknown charset",
        msg(b"Content-Type: text/plain; charset=x-unknown\r\n", "é".encode()),
        "é",
        None,
        True,
    ),
    (
        "bytes invalid in the declared charset",
        msg(b"Content-Type: text/plain; charset=utf-8\r\n", b"ok \xff"),
        "ok \ufffd",
        None,
        True,
    ),
    (
        "unknown transfer encoding",
        msg(b"Content-Transfer-Encoding: x-uuencode\r\n", b"as it stands"),
        "as it stands",
        None,
        True,
    ),
    (
        "utf-7 that decodes to a lone surrogate",
        msg(b"Content-Type: text/plain; charset=utf-7\r\n", b"a+2D3-b"),
        "a\ufffdb",
        None,
        True,
    ),
]


@pytest.mark.parametrize(
    ("data", "text", "html", "malformed"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_message_content(data: bytes, text: str | None, html: str | None, malformed: bool) -> None:
    body = message_content(data)
    assert body.get("Text") == text
    assert body.get("Html") == html
    assert body["MessageMalformed"] is malformed
    assert list(body) == [m for m in ("Text", "Html", "MessageMalformed") if m in body]


def test_header_value_quirks_are_not_malformed() -> None:
    data = msg(b"Date: not a date\r\nX-Raw: caf\xe9\r\nCc: =?x-unknown?Q?abc?=\r\n", b"body\r\n")
    assert message_content(data) == {"Text": "body\r\n", "MessageMalformed": False}


# -- real mail ------------------------------------------------------------------------------------


def corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.suffix != ".json")


@pytest.fixture(scope="module")
def corpus() -> dict[str, bytes]:
    if not CORPUS.is_dir():
        pytest.skip(f"{CORPUS} is absent")
    return {str(p.relative_to(CORPUS)): p.read_bytes() for p in corpus_files()}


def test_every_corpus_file_without_an_exception(corpus: dict[str, bytes]) -> None:
    malformed = 0
    for name, data in corpus.items():
        body = message_content(data)
        # JSON- and UTF-8-clean: what the server sends.
        json.dumps(body, ensure_ascii=False).encode("utf-8")
        assert set(body) <= {"Text", "Html", "MessageMalformed"}, name
        malformed += body["MessageMalformed"]
    assert 0 < malformed < len(corpus) / 2


@pytest.mark.parametrize(
    ("name", "malformed", "text_starts"),
    [
        ("cpython/msg_01.eml", False, "\nHi,\n\nDo you like this message?"),
        # RFC 2046's own sample: its boundary parameter is folded (the email package misses it).
        ("mime4j/mimetools-testmsgs__multi-simple.eml", False, "This is implicitly typed"),
        ("ruby-mail/multi_charset__japanese_iso_2022.eml", False, "すみません。"),
        # mail-parser 4.8 raises AttributeError on these three.
        ("stalwart/malformed__001.eml", True, None),
        ("stalwart/malformed__003.eml", True, "body"),
        ("stalwart/malformed__013.eml", True, None),
        ("mime4j/testmsgs__missing-inner-start-boundary.eml", True, "Foo"),
        ("mime4j/testmsgs__multipartnopart.eml", True, None),
        ("flanker/mailformed-headers.eml", True, None),
        ("mailparse-rs/nested.eml", True, None),  # nested deeper than ingest examines
        ("mime4j/testmsgs__malformedHeader-noheader.eml", True, None),
    ],
)
def test_corpus_messages(
    corpus: dict[str, bytes], name: str, malformed: bool, text_starts: str | None
) -> None:
    body = message_content(corpus[name])
    assert body["MessageMalformed"] is malformed
    if text_starts is not None:
        assert body["Text"].startswith(text_starts)


def test_attachment_rule_is_has_attachments_rule(corpus: dict[str, bytes]) -> None:
    """The parts judged attachments here are exactly those that make HAS_ATTACHMENTS true."""
    samples = {p.name: p.read_bytes() for p in (ROOT / "fixtures" / "sample-export").rglob("*.eml")}
    for name, data in {**corpus, **samples}.items():
        try:
            expected = parse_message(data).has_attachments
        except NotAMessage:
            continue
        assert any(leaf.attachment for leaf in _iter_leaves(data, [])) is expected, name


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.sampled_from(
            [
                b"Content-Type: multipart/mixed; boundary=b\r\n",
                b"Content-Type: message/rfc822\r\n",
                b"Content-Type: text/plain; charset=utf-7\r\n",
                b"Content-Type: text/html; charset*=x''\r\n",
                b"Content-Transfer-Encoding: base64\r\n",
                b"Content-Transfer-Encoding: quoted-printable\r\n",
                b"Content-Disposition: attachment\r\n",
                b"\r\n",
                b"--b\r\n",
                b"--b--\r\n",
                b"=\r\n",
                b"+2D3-\r\n",
                b"\xff\xfe\r\n",
                b"text\r\n",
                b" folded\r\n",
            ]
        ),
        max_size=30,
    ),
    st.binary(max_size=40),
)
def test_never_raises(lines: list[bytes], tail: bytes) -> None:
    body = message_content(b"".join(lines) + tail)
    json.dumps(body, ensure_ascii=False).encode("utf-8")
    assert isinstance(body["MessageMalformed"], bool)
