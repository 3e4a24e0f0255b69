"""One message's bytes -> its text bodies, as GetArchiveMessageContent's ``MessageBody``.

``Text`` and ``Html`` are the first ``text/plain`` and the first ``text/html`` parts, in document
order, that are not attachments. "Attachment" is SEMANTICS §2's rule, decided by the very code
that decides HAS_ATTACHMENTS (ingest/message.py's lenient MIME walk): a part named by a file name
or marked ``Content-Disposition: attachment`` is an attachment, a ``message/rfc822`` part below
the root is one attachment whose inside is not examined, a ``message/rfc822`` root is a wrapper
whose enclosed message is read as the part below it, and ``multipart/digest`` parts default to
``message/rfc822``. A message with no Content-Type is ``text/plain``.

mail-parser is not used for the bodies, though it reads them too, because its choices differ
from SEMANTICS: it keeps a named ``inline`` text part as a body (SEMANTICS: an attachment), reads
the bodies of messages attached as ``message/rfc822`` (so an outer message without a text part
gets a forwarded message's text), skips empty parts, decodes charsets by Python's names (not the
WHATWG supersets the header rules use), and raises AttributeError on some malformed messages of
the shared corpus (a multipart whose epilogue is missing).

Bodies are decoded as follows. Transfer encodings: base64 (leniently: characters outside the
alphabet are skipped, missing padding is restored), quoted-printable (trailing whitespace dropped
as RFC 2045 says, invalid escapes kept as written), 7bit / 8bit / binary / absent as they stand; an
unknown one is taken as it stands. Charsets: ``charset`` (RFC 2231 forms included) through the
same label table as headers (iso-8859-1 -> windows-1252, gb2312 -> gb18030, ...); no charset or
us-ascii reads 8-bit bytes as UTF-8 when valid, else windows-1252 (SEMANTICS §2 step 2); bytes
that do not decode become U+FFFD. Line breaks are kept as the message has them.

``MessageMalformed`` is true when the message could not be parsed cleanly, that is when the walk
above had to recover from a fault in its structure or in a returned body:

* no header field at all (the whole file is then read as one text/plain body), a blank line
  before the header, a byte order mark, a header line that is not a field;
* a multipart without a boundary, without any delimiter line, without its close delimiter, or
  without a single body part; MIME nesting deeper than ingest examines;
* a returned body that did not decode cleanly: broken base64, an invalid quoted-printable escape,
  an unknown transfer encoding or charset, bytes invalid in the declared charset (or, without one,
  8-bit bytes that are not UTF-8).

Header *values* that SEMANTICS reads by rule (raw 8-bit bytes, encoded-words left as written, a
date that does not parse) do not make a message malformed: they say nothing about its structure.
Neither the email package's defects nor mail-parser's defect report decide the flag: over the
shared corpus, every message the email package alone flagged was either one it misread (RFC 2046's
own sample message, whose boundary parameter is folded; message/delivery-status and
message/partial bodies taken for header blocks) or one of the faults listed above; mail-parser adds
header-value reports (addresses, dates) and raises on three corpus messages.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ingest.message import (
    TOO_DEEP,
    child_boundary,
    decode_charset,
    decode_raw_bytes,
    find_header_end,
    first_raw,
    is_attachment_leaf,
    iter_parts,
    lookup_charset,
    note_defect,
    parse_content_type,
    parse_header_fields,
    parse_header_start,
    parse_mime_header,
    parse_param_value,
    parse_part_head,
)

__all__ = ["message_content"]

_RAW_8BIT = lookup_charset("us-ascii")  # the raw-byte rule of SEMANTICS §2 step 2
_IDENTITY_ENCODINGS = frozenset({"", "7bit", "8bit", "binary"})
_BASE64_JUNK = re.compile(rb"[^A-Za-z0-9+/=\s]")
_BASE64_ALPHABET_ONLY = re.compile(rb"[^A-Za-z0-9+/]")
_BASE64_WELL_FORMED = re.compile(rb"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
_WHITESPACE = re.compile(rb"\s+")
_QP_TRAILING_SPACE = re.compile(rb"[ \t]+(?=\r\n|\n|\r|\Z)")
_QP_BAD_ESCAPE = re.compile(rb"=(?![0-9A-Fa-f]{2}|\r\n|\n|\r|\Z)")
_SURROGATE = re.compile("[\ud800-\udfff]")
_TRAILING_LINE_BREAK = (b"\r\n", b"\n", b"\r")
_UTF8_BOM = b"\xef\xbb\xbf"
_LEADING_BLANK_LINE = re.compile(rb"[ \t]*(?:\r\n|\n|\r)")


@dataclass(frozen=True, slots=True)
class _Leaf:
    """A non-multipart part: its type, whether it is an attachment, where its body lies."""

    content_type: str
    params: dict[str, str]
    fields: dict[bytes, list[bytes]]
    attachment: bool
    body_start: int
    body_end: int


def message_content(data: bytes) -> dict[str, Any]:
    """``{"Text"?: str, "Html"?: str, "MessageMalformed": bool}`` for one message's bytes.

    Text / Html are absent when the message has no such part that is not an attachment (an empty
    part gives ""). Never raises on any bytes.
    """
    defects: list[str] = []
    body: dict[str, Any] = {}
    wanted = {"text/plain": "Text", "text/html": "Html"}
    for leaf in _iter_leaves(data, defects):
        member = wanted.get(leaf.content_type)
        if member is not None and member not in body and not leaf.attachment:
            body[member] = _decode_body(data, leaf, defects)
    malformed = bool(defects)
    out: dict[str, Any] = {}
    for member in ("Text", "Html"):  # the MessageBody shape's order
        if member in body:
            out[member] = body[member]
    out["MessageMalformed"] = malformed
    return out


# -- the MIME tree, walked as ingest/message.py walks it for HAS_ATTACHMENTS -----------------


def _iter_leaves(data: bytes, defects: list[str]) -> Iterator[_Leaf]:
    """Every non-multipart part in document order, judged by SEMANTICS §2."""
    if _LEADING_BLANK_LINE.match(data, len(_UTF8_BOM) if data.startswith(_UTF8_BOM) else 0):
        note_defect(defects, "blank line before the header")  # skipped as ingest skips it
    start = parse_header_start(data, defects)
    header_end, body_start = find_header_end(data, start, len(data))
    fields = parse_header_fields(data[start:header_end], defects)
    if not fields:
        # No header at all: not a message by SEMANTICS §1. Read everything as one body.
        note_defect(defects, "no header field")
        yield _Leaf("text/plain", {}, {}, False, start, len(data))
        return
    root: dict[bytes, list[bytes]] = {}
    for name, value in fields:
        root.setdefault(name, []).append(value)
    content_type, params = parse_content_type(first_raw(root, b"content-type"), False)
    if content_type.startswith("multipart/"):
        boundary = parse_param_value(params, "boundary")
        if boundary:
            digest = content_type == "multipart/digest"
            yield from _iter_multipart(data, body_start, len(data), boundary, digest, 1, defects)
            return
        note_defect(defects, "multipart without a boundary")
    attachment = is_attachment_leaf(params, first_raw(root, b"content-disposition"))
    if content_type == "message/rfc822" and not attachment:
        # A message/rfc822 root only wraps: the message it encloses is the part below the root.
        yield from _iter_part(data, body_start, len(data), False, 1, defects)
        return
    yield _Leaf(content_type, params, root, attachment, body_start, len(data))


def _iter_multipart(
    data: bytes,
    start: int,
    end: int,
    boundary: str,
    digest: bool,
    depth: int,
    defects: list[str],
) -> Iterator[_Leaf]:
    parts = 0
    for part_start, part_end in iter_parts(data, start, end, boundary, defects):
        parts += 1
        yield from _iter_part(data, part_start, part_end, digest, depth, defects)
    if parts == 0:  # RFC 2046 5.1.1: a multipart holds one body part at least
        note_defect(defects, "multipart holds no body part")


def _iter_part(
    data: bytes, start: int, end: int, in_digest: bool, depth: int, defects: list[str]
) -> Iterator[_Leaf]:
    head = parse_part_head(data, start, end, in_digest, defects)
    boundary = child_boundary(head, depth, defects)
    if boundary == TOO_DEEP:
        return
    if boundary is not None:
        digest = head.content_type == "multipart/digest"
        yield from _iter_multipart(data, head.body_start, end, boundary, digest, depth + 1, defects)
        return
    body_start = head.body_start
    # The line break before a delimiter line belongs to the delimiter (RFC 2046 5.1.1); a part
    # that runs to the end of the file (no close delimiter) keeps its last line break.
    body_end = end
    if data.startswith(b"--", end):
        for line_break in _TRAILING_LINE_BREAK:
            if end - len(line_break) >= body_start and data.endswith(line_break, 0, end):
                body_end = end - len(line_break)
                break
    attachment = head.counts_as_attachment()
    yield _Leaf(head.content_type, head.params, head.fields, attachment, body_start, body_end)


# -- one body -------------------------------------------------------------------------------


def _decode_body(data: bytes, leaf: _Leaf, defects: list[str]) -> str:
    raw = data[leaf.body_start : leaf.body_end]
    encoding_field = first_raw(leaf.fields, b"content-transfer-encoding")
    encoding = parse_mime_header(encoding_field)[0] if encoding_field is not None else ""
    if encoding == "base64":
        payload = _decode_base64(raw, defects)
    elif encoding == "quoted-printable":
        payload = _decode_quoted_printable(raw, defects)
    else:
        if encoding not in _IDENTITY_ENCODINGS:
            note_defect(defects, f"unknown transfer encoding {encoding[:40]!r}, taken as it stands")
        payload = raw
    return _decode_text(payload, parse_param_value(leaf.params, "charset"), defects)


def _decode_base64(raw: bytes, defects: list[str]) -> bytes:
    compact = _WHITESPACE.sub(b"", raw)
    if _BASE64_JUNK.search(raw) or not _BASE64_WELL_FORMED.fullmatch(compact):
        note_defect(defects, "base64 body is not well formed")
    alphabet = _BASE64_ALPHABET_ONLY.sub(b"", raw)
    if len(alphabet) % 4 == 1:  # a lone 6 bits: no byte to make of them
        alphabet = alphabet[:-1]
    alphabet += b"=" * (-len(alphabet) % 4)
    try:
        return binascii.a2b_base64(alphabet)
    except binascii.Error:  # not expected after the clean-up above; never let it through
        note_defect(defects, "base64 body could not be decoded")
        return b""


def _decode_quoted_printable(raw: bytes, defects: list[str]) -> bytes:
    # RFC 2045 6.7: trailing whitespace on a line is deleted before decoding.
    raw = _QP_TRAILING_SPACE.sub(b"", raw)
    if _QP_BAD_ESCAPE.search(raw):
        note_defect(defects, "quoted-printable body holds an invalid escape (kept as written)")
    return binascii.a2b_qp(raw)


def _decode_text(payload: bytes, label: str, defects: list[str]) -> str:
    codec = lookup_charset(label) if label else _RAW_8BIT
    if codec is None:
        note_defect(defects, f"unknown charset {label[:40]!r}")
        codec = _RAW_8BIT
    if codec == _RAW_8BIT:
        if not payload.isascii():
            try:
                payload.decode("utf-8")
            except UnicodeDecodeError:
                note_defect(defects, "8-bit body bytes that are not UTF-8 and no charset says so")
        text = decode_raw_bytes(payload)
    else:
        assert codec is not None
        try:
            text = payload.decode(codec)
        except (UnicodeError, LookupError, ValueError):
            note_defect(defects, f"body bytes invalid in charset {label[:40]!r}")
            text = decode_charset(payload, codec)
    if _SURROGATE.search(text):
        # A few codecs (utf-7, ...) can yield lone surrogates, which are not text.
        note_defect(defects, "body decodes to lone surrogates")
        text = _SURROGATE.sub("\ufffd", text)
    return text
