"""One message file's bytes -> the values the archive stores (SEMANTICS §1, §2 and §5).

Only header blocks are read: the message's own, and those of its MIME parts while looking for
attachments. Bodies are never decoded, so a message costs the same few hundred microseconds whatever
its size (ENGINE-FACTS: slicing the header block off first is ~30x faster than a full stdlib parse),
and no policy of the email package can raise on a malformed header: this module parses everything
itself, leniently, and records what was malformed in `ParsedMessage.defects`.
"""

from __future__ import annotations

import binascii
import codecs
import functools
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from urllib.parse import unquote_to_bytes

__all__ = ["NotAMessage", "ParsedMessage", "parse_date", "parse_message"]


class NotAMessage(Exception):
    """The bytes hold no message (SEMANTICS §1); the argument is a short human reason."""


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    """What one message contributes to its row. A member with no value is None (never "")."""

    to: str | None
    from_: str | None
    cc: str | None
    subject: str | None
    date: str | None
    message_id: str | None
    in_reply_to: str | None
    x_mailer: str | None
    x_original_mailer: str | None
    x_priority: str | None
    received_headers: tuple[str, ...]
    has_attachments: bool
    header_timestamp_ms: int | None
    defects: tuple[str, ...]


# A pathological file (a binary with thousands of "lines") must not make a huge defect list.
_MAX_DEFECTS = 32


def note_defect(defects: list[str], text: str) -> None:
    """Record one malformation (once), up to _MAX_DEFECTS of them."""
    if text in defects:
        return
    if len(defects) < _MAX_DEFECTS:
        defects.append(text)
    elif len(defects) == _MAX_DEFECTS:
        defects.append("more defects not listed")


# ---------------------------------------------------------------------------------------------
# The message


def parse_message(data: bytes) -> ParsedMessage:
    """Parse one message file. Raises NotAMessage when it holds no header field (SEMANTICS §1)."""
    if not data:
        raise NotAMessage("zero bytes")
    defects: list[str] = []
    start = parse_header_start(data, defects)
    header_end, body_start = find_header_end(data, start, len(data))
    fields = parse_header_fields(data[start:header_end], defects)
    if not fields:
        raise NotAMessage("no header field before the first blank line")

    raw: dict[bytes, list[bytes]] = {}
    for name, value in fields:
        if name in _READ_FIELDS:
            raw.setdefault(name, []).append(value)

    def joined(name: bytes) -> str | None:
        # SEMANTICS §2: several To/From/Cc headers are joined with ", " (empty ones add nothing).
        values = [
            decode_header_value(v, name, defects, encoded_words=True) for v in raw.get(name, ())
        ]
        return ", ".join(v for v in values if v) or None

    def first(name: bytes, *, encoded_words: bool = False) -> str | None:
        # SEMANTICS §5: a single-valued header that occurs more than once is its first occurrence.
        values = raw.get(name)
        if not values:
            return None
        return decode_header_value(values[0], name, defects, encoded_words=encoded_words)

    received_all = [decode_header_value(v, b"received", defects) for v in raw.get(b"received", ())]
    date_value = first(b"date")
    timestamp = parse_header_timestamp(received_all[0] if received_all else None, date_value)
    if timestamp is None and (received_all or date_value):
        note_defect(defects, "no parsable date in the topmost Received or in Date")

    return ParsedMessage(
        to=joined(b"to"),
        from_=joined(b"from"),
        cc=joined(b"cc"),
        subject=first(b"subject", encoded_words=True),
        date=date_value,
        message_id=first(b"message-id"),
        in_reply_to=first(b"in-reply-to"),
        x_mailer=first(b"x-mailer"),
        x_original_mailer=first(b"x-original-mailer"),
        x_priority=first(b"x-priority"),
        received_headers=tuple(v for v in received_all if v),
        has_attachments=parse_has_attachments(data, raw, body_start, defects),
        header_timestamp_ms=timestamp,
        defects=tuple(defects),
    )


# Names are compared lower-cased; only these fields are ever decoded.
_READ_FIELDS = frozenset(
    {
        b"to",
        b"from",
        b"cc",
        b"subject",
        b"date",
        b"message-id",
        b"in-reply-to",
        b"x-mailer",
        b"x-original-mailer",
        b"x-priority",
        b"received",
        b"content-type",
        b"content-disposition",
    }
)


def parse_header_timestamp(topmost_received: str | None, date_value: str | None) -> int | None:
    """SEMANTICS §1: the date after the last ';' of the topmost Received, else Date, else None."""
    if topmost_received is not None and ";" in topmost_received:
        stamp = parse_date(topmost_received.rpartition(";")[2])
        if stamp is not None:
            return stamp
    return parse_date(date_value) if date_value is not None else None


# ---------------------------------------------------------------------------------------------
# Header blocks: where they are, and their fields

_UTF8_BOM = b"\xef\xbb\xbf"
_LEADING_BLANK_LINES = re.compile(rb"(?:[ \t]*(?:\r\n|\r|\n))+")
# Lenient field name: any printable ASCII but ':' (RFC 5322 ftext); obs-field allows WSP before ':'.
_FIELD_NAME = re.compile(rb"([!-9;-~]+)[ \t]*:")


def parse_header_start(data: bytes, defects: list[str]) -> int:
    """Offset of the header block: after leading blank lines and one mbox 'From ' line."""
    pos = 0
    if data.startswith(_UTF8_BOM):
        # Some tools write a byte-order mark; it would otherwise spoil the first line.
        note_defect(defects, "byte-order mark before the header")
        pos = len(_UTF8_BOM)
    blank = _LEADING_BLANK_LINES.match(data, pos)
    if blank is not None:
        pos = blank.end()
    # An mbox separator `From sender date`; `From : x` (obs-field, WSP before ':') is a header.
    if data.startswith(b"From ", pos) and not _FIELD_NAME.match(data, pos):
        pos = find_line_end(data, pos, len(data))
    return pos


def find_line_end(data: bytes, pos: int, end: int) -> int:
    """Offset just after the line break (CRLF, LF or bare CR) that ends the line holding pos."""
    lf = data.find(b"\n", pos, end)
    cr = data.find(b"\r", pos, lf if lf >= 0 else end)
    if cr >= 0:
        return cr + 2 if cr + 1 == lf else cr + 1
    return lf + 1 if lf >= 0 else end


def find_header_end(data: bytes, start: int, end: int) -> tuple[int, int]:
    """(end of the header block, start of the body) for a block starting at start.

    The block ends at the first blank line, i.e. two line breaks in a row. With CRLF, LF and bare CR
    all allowed, that is exactly where one of LF LF, LF CR or CR CR first occurs. Without a blank
    line the block runs to end and the body is empty.
    """
    if start >= end:
        return end, end
    if data[start] in b"\r\n":  # the block opens with the blank line: no header at all
        return start, find_line_end(data, start, end)
    first_lf = data.find(b"\n", start, end)
    crlf = first_lf > start and data[first_lf - 1] == 0x0D
    # Look for the likely pattern first, so that the others are only searched over the header.
    patterns = (b"\n\r", b"\n\n", b"\r\r") if crlf else (b"\n\n", b"\n\r", b"\r\r")
    found = -1
    limit = end
    for pattern in patterns:
        i = data.find(pattern, start, limit)
        if i >= 0:
            found = i
            limit = i + 1  # a pattern found later must start before this one
    if found < 0:
        return end, end
    header_end = found - 1 if data[found] == 0x0A and data[found - 1] == 0x0D else found
    second = found + 1  # the second line break starts here
    body_start = second + 2 if data.startswith(b"\r\n", second, end) else second + 1
    return header_end, body_start


def parse_header_fields(block: bytes, defects: list[str]) -> list[tuple[bytes, bytes]]:
    """Every field of a header block, as (lower-case name, unfolded raw value), in order.

    Lenient: a line that is not `Name: value` is skipped with its continuation lines, and the
    other fields are still read (a broken header never sinks the message).
    """
    if b"\r" in block:
        block = block.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    fields: list[tuple[bytes, bytes]] = []
    name: bytes | None = None
    parts: list[bytes] = []
    broken = False
    for number, line in enumerate(block.split(b"\n"), 1):
        if line[:1] in (b" ", b"\t"):
            # Unfolding (SEMANTICS §2 step 1): the line break goes, the leading space or tab stays.
            if name is not None:
                parts.append(line)
            elif not broken:
                note_defect(defects, f"header line {number} continues no field")
            continue
        if name is not None:
            fields.append((name, parts[0] if len(parts) == 1 else b"".join(parts)))
            name = None
        if not line:
            continue
        match = _FIELD_NAME.match(line)
        broken = match is None
        if match is None:
            note_defect(defects, f"header line {number} is not a field")
            continue
        name = match.group(1).lower()
        parts = [line[match.end() :]]
    if name is not None:
        fields.append((name, parts[0] if len(parts) == 1 else b"".join(parts)))
    return fields


# ---------------------------------------------------------------------------------------------
# Header values (SEMANTICS §2)

# Unicode category Cc except TAB: C0 controls, DEL and the C1 controls.
_CONTROL_CHARS = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def decode_header_value(
    raw: bytes, name: bytes, defects: list[str], *, encoded_words: bool = False
) -> str | None:
    """SEMANTICS §2 steps 2-4 on an unfolded value (step 3 when encoded_words); None when empty."""
    try:
        text = raw.decode("utf-8")  # ASCII, the common case, takes CPython's fast path here
    except UnicodeDecodeError:
        text = decode_raw_bytes(raw)
        note_defect(defects, f"{name.decode()}: 8-bit bytes that are not UTF-8")
    if encoded_words and "=?" in text:
        text = decode_encoded_words(text, defects)
    text = _CONTROL_CHARS.sub(" ", text).strip()
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    return text or None


def decode_raw_bytes(raw: bytes) -> str:
    """Step 2: UTF-8 when all of raw is valid UTF-8, else windows-1252 (undefined -> U+FFFD)."""
    if raw.isascii():
        return raw.decode("ascii")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        # Python's cp1252 leaves 0x81, 0x8D, 0x8F, 0x90 and 0x9D undefined: "replace" gives U+FFFD.
        return raw.decode("cp1252", "replace")


# RFC 2047 encoded-word, found wherever it stands (SEMANTICS §2 step 3). The charset may carry an
# RFC 2231 language suffix (`*en`). The payload admits any non-space, non-'?' character so that a
# word with raw 8-bit inside is seen, and then left as written as broken.
_ENCODED_WORD = re.compile(r"=\?([^?\s*]+)(?:\*[^?\s]*)?\?([BbQq])\?([^?\s]*)\?=")
_QP_BAD_ESCAPE = re.compile(r"=(?![0-9A-Fa-f]{2})")
_BASE64_CHARS = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def decode_encoded_words(text: str, defects: list[str]) -> str:
    """Decode the RFC 2047 encoded-words of text in place.

    Whitespace between two decoded words is dropped, and their bytes are joined before the charset
    decode when they share a charset (a mailer may split one multi-byte character across two
    words). A word in an unknown charset, or with a broken payload, is left as written.
    """
    out: list[str] = []
    run: list[bytes] = []  # payloads of adjacent decoded words in run_codec
    run_codec = ""
    pos = 0

    def flush() -> None:
        if run:
            out.append(decode_charset(b"".join(run), run_codec))
            run.clear()

    for match in _ENCODED_WORD.finditer(text):
        gap = text[pos : match.start()]
        pos = match.end()
        codec = lookup_charset(match.group(1))
        payload = decode_encoded_payload(match.group(2), match.group(3))
        if codec is None or payload is None:
            flush()
            out.append(gap)
            out.append(match.group(0))
            reason = "unknown charset" if codec is None else "broken payload"
            note_defect(defects, f"encoded-word left as written ({reason}): {match.group(0)[:40]}")
            continue
        if run and not gap.strip(" \t\r\n"):
            if codec != run_codec:
                flush()
        else:
            flush()
            out.append(gap)
        run.append(payload)
        run_codec = codec
    flush()
    out.append(text[pos:])
    return "".join(out)


def decode_encoded_payload(encoding: str, payload: str) -> bytes | None:
    """The bytes of a Q or B payload, or None when it is broken."""
    if not payload.isascii():
        return None
    if encoding in "Qq":
        if _QP_BAD_ESCAPE.search(payload):
            return None
        return binascii.a2b_qp(payload.encode("ascii"), header=True)
    # B: missing padding is restored (it is unambiguous); anything else malformed is broken.
    if len(payload) % 4 == 1 or not _BASE64_CHARS.fullmatch(payload):
        return None
    padded = payload.rstrip("=")
    padded += "=" * (-len(padded) % 4)
    try:
        return binascii.a2b_base64(padded.encode("ascii"), strict_mode=True)
    except binascii.Error:
        return None


# Labels Python does not know, and charsets that mailers label with the standard name while
# writing the Windows superset. The WHATWG encoding standard (what browsers do) makes the same
# substitutions. Each superset decodes the base charset's text identically; ISO-8859-1 differs
# only on 0x80-0x9F, C1 controls that nobody means (they would become spaces in step 4).
_CHARSET_LABELS = {
    "iso-8859-8-i": "iso8859-8",
    "iso-8859-6-i": "iso8859-6",
    "iso-8859-8-e": "iso8859-8",
    "iso-8859-6-e": "iso8859-6",
    "x-sjis": "cp932",
    "x-gbk": "gbk",
    "x-mac-roman": "mac-roman",
}
_CHARSET_SUPERSETS = {
    "iso8859-1": "cp1252",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "shift_jis": "cp932",
    "euc_kr": "cp949",
    "tis-620": "cp874",
}
# Text codecs that are not charsets: a label naming one is an unknown charset.
_NOT_CHARSETS = frozenset(
    {"undefined", "unicode-escape", "raw-unicode-escape", "idna", "punycode", "charmap"}
)
# The pseudo-codec for 8-bit bytes labelled us-ascii: read like raw bytes (step 2).
_RAW_8BIT = "raw-8bit"


@functools.lru_cache(maxsize=512)
def lookup_charset(label: str) -> str | None:
    """The Python codec for a MIME charset label, or None when it is unknown."""
    name = label.strip().lower()
    name = _CHARSET_LABELS.get(name, name)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):  # ValueError: a NUL in the label
        return None
    if not info._is_text_encoding or info.name in _NOT_CHARSETS:
        return None
    if info.name == "ascii":
        return _RAW_8BIT
    return _CHARSET_SUPERSETS.get(info.name, info.name)


# RFC 2781 §4.3 (and RFC 2152's UTF-32 kin): text labelled UTF-16/UTF-32 without a byte-order
# mark is big-endian; Python's codecs would read it in the machine's order.
_UNMARKED_BIG_ENDIAN = {"utf-16": "utf-16-be", "utf-32": "utf-32-be"}


def _no_bom(data: bytes) -> bool:
    return not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_BE))


def decode_charset(data: bytes, codec: str) -> str:
    """Decode bytes in a codec from lookup_charset; undecodable bytes become U+FFFD."""
    if codec == _RAW_8BIT:
        return decode_raw_bytes(data)
    codec = _UNMARKED_BIG_ENDIAN.get(codecs.lookup(codec).name, codec) if _no_bom(data) else codec
    try:
        return data.decode(codec, "replace")
    except (UnicodeError, LookupError, ValueError):  # stateful codecs can still refuse
        return decode_raw_bytes(data)


# ---------------------------------------------------------------------------------------------
# Dates (SEMANTICS §1): RFC 5322 with its obsolete forms, plus asctime

_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_WEEKDAYS = frozenset({"mon", "tue", "wed", "thu", "fri", "sat", "sun"})
# RFC 5322 4.3 obs-zone, in minutes east of UTC. Military letters, and any other alphabetic zone,
# count as -0000 (RFC 5322 4.3: their meaning is unreliable / not known).
_ZONES = {
    "ut": 0,
    "gmt": 0,
    "est": -300,
    "edt": -240,
    "cst": -360,
    "cdt": -300,
    "mst": -420,
    "mdt": -360,
    "pst": -480,
    "pdt": -420,
}
_MAX_ZONE_LETTERS = 5
# ASCII only: str.isdigit() and \d would accept other scripts' digits.
_DATE_TOKEN = re.compile(r"[A-Za-z]+|[0-9]+|\S")
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_FIRST_SECOND = (date(1, 1, 1).toordinal() - _EPOCH_ORDINAL) * 86400
_END_SECOND = (date(9999, 12, 31).toordinal() + 1 - _EPOCH_ORDINAL) * 86400


def parse_date(value: str) -> int | None:
    """Epoch milliseconds (UTC) of an RFC 5322 or asctime date, or None when it does not parse.

    Comments may stand anywhere (obs CFWS), the weekday and the seconds are optional, two- and
    three-digit years follow RFC 5322 4.3, no zone means UTC. Outside years 1-9999 is no date.
    """
    tokens = _DATE_TOKEN.findall(strip_comments(value))
    parsed = parse_date_tokens(tokens)
    if parsed is None:
        return None
    year, month, day, hour, minute, second, offset = parsed
    try:
        ordinal = date(year, month, day).toordinal()
    except ValueError:
        return None
    seconds = (ordinal - _EPOCH_ORDINAL) * 86400 + hour * 3600 + minute * 60 + second - offset * 60
    if not _FIRST_SECOND <= seconds < _END_SECOND:
        return None
    return seconds * 1000


def strip_comments(text: str) -> str:
    """Replace each (possibly nested) comment by a space; an unclosed one runs to the end."""
    if "(" not in text:
        return text
    out: list[str] = []
    depth = 0
    escaped = False
    for char in text:
        if depth:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == "(":
                depth += 1
            elif char == ")":
                depth -= 1
        elif char == "(":
            depth = 1
            out.append(" ")
        else:
            out.append(char)
    return "".join(out)


def parse_date_tokens(tokens: list[str]) -> tuple[int, int, int, int, int, int, int] | None:
    """(year, month, day, hour, minute, second, zone minutes) from date tokens, or None."""
    count = len(tokens)
    tokens = [*tokens, *[""] * 8]  # padding: reading past the end gives ""
    i = 0
    if tokens[0].lower() in _WEEKDAYS:
        i = 2 if tokens[1] == "," else 1
    asctime = tokens[i].lower() in _MONTHS
    if asctime:  # asctime: month day time year, always UTC
        month, day_token = _MONTHS[tokens[i].lower()], tokens[i + 1]
        i += 2
    else:  # RFC 5322: day month year time [zone]
        day_token, month_name, year_token = tokens[i : i + 3]
        month = _MONTHS.get(month_name.lower(), 0)
        i += 3
    clock = parse_time_tokens(tokens, i)
    if clock is None:
        return None
    hour, minute, second, i = clock
    offset = 0
    if asctime:
        year_token = tokens[i]
        i += 1
    elif tokens[i] in ("+", "-"):
        zone = tokens[i + 1]
        if len(zone) != 4 or not is_ascii_number(zone) or int(zone[2:]) > 59:
            return None
        offset = int(zone[:2]) * 60 + int(zone[2:])
        offset = -offset if tokens[i] == "-" else offset
        i += 2
    elif tokens[i].isascii() and tokens[i].isalpha() and len(tokens[i]) <= _MAX_ZONE_LETTERS:
        offset = _ZONES.get(tokens[i].lower(), 0)
        i += 1
    if i != count or not month:
        return None
    # A year has 2 digits or more (obs-year); past 4 it is beyond 9999 (and int() would choke
    # on thousands of digits).
    if not (is_clock_number(day_token) and 2 <= len(year_token) <= 4):
        return None
    if not is_ascii_number(year_token):
        return None
    year = int(year_token)
    if len(year_token) == 2:
        year += 2000 if year < 50 else 1900
    elif len(year_token) == 3:
        year += 1900
    return year, month, int(day_token), hour, minute, second, offset


def parse_time_tokens(tokens: list[str], i: int) -> tuple[int, int, int, int] | None:
    """(hour, minute, second, next index) for `hh:mm[:ss]` at tokens[i], or None."""
    hour, colon, minute = tokens[i : i + 3]
    if colon != ":" or not is_clock_number(hour) or not is_clock_number(minute):
        return None
    i += 3
    second = "0"
    if tokens[i] == ":":
        second = tokens[i + 1]
        if not is_clock_number(second):
            return None
        i += 2
    # Second 60 is a leap second: it lands on the next minute's first second.
    if int(hour) > 23 or int(minute) > 59 or int(second) > 60:
        return None
    return int(hour), int(minute), int(second), i


def is_clock_number(token: str) -> bool:
    """One or two ASCII digits."""
    return len(token) <= 2 and is_ascii_number(token)


def is_ascii_number(token: str) -> bool:
    """ASCII digits only: str.isdigit() alone accepts '²', which int() refuses."""
    return token.isascii() and token.isdigit()


# ---------------------------------------------------------------------------------------------
# Attachments (SEMANTICS §2 HAS_ATTACHMENTS): MIME structure by boundaries, part headers only


# A multipart body still to walk: (start, end, boundary, is it a multipart/digest, depth).
PendingMultipart = tuple[int, int, str, bool, int]
# Real mail nests a handful of levels. A crafted file nesting thousands, each with a new boundary,
# would make the walk quadratic (every level searches the rest of the file for its boundary).
MAX_MIME_DEPTH = 50


def parse_has_attachments(
    data: bytes, root: dict[bytes, list[bytes]], body_start: int, defects: list[str]
) -> bool:
    """True when a part below the root, or the root itself, is an attachment by SEMANTICS §2."""
    content_type, content_params = parse_content_type(first_raw(root, b"content-type"), False)
    pending: list[PendingMultipart] = []
    if content_type.startswith("multipart/"):
        boundary = parse_param_value(content_params, "boundary")
        if boundary:
            digest = content_type == "multipart/digest"
            pending.append((body_start, len(data), boundary, digest, 1))
            return walk_multiparts(data, pending, defects)
        # Without a boundary the parts cannot be found: the root is read as one leaf.
        note_defect(defects, "multipart without a boundary")
    if is_attachment_leaf(content_params, first_raw(root, b"content-disposition")):
        return True
    if content_type == "message/rfc822":
        # A message/rfc822 root only wraps: the message it encloses is the part below the root.
        enclosed = is_attachment_part(data, body_start, len(data), False, 1, pending, defects)
        return enclosed or walk_multiparts(data, pending, defects)
    return False


def walk_multiparts(data: bytes, pending: list[PendingMultipart], defects: list[str]) -> bool:
    """Walk pending multipart bodies (and those nested in them) until an attachment is found."""
    while pending:
        start, end, boundary, digest, depth = pending.pop()
        for part_start, part_end in iter_parts(data, start, end, boundary, defects):
            if is_attachment_part(data, part_start, part_end, digest, depth, pending, defects):
                return True
    return False


@dataclass(frozen=True, slots=True)
class PartHead:
    """What a MIME part's own header says: shared by the attachment walk here and the body
    walk of ingest/content.py, so both read parts the same way."""

    body_start: int
    fields: dict[bytes, list[bytes]]  # the first occurrence of each field
    content_type: str
    params: dict[str, str]

    def counts_as_attachment(self) -> bool:
        """SEMANTICS §2 for a non-multipart part below the root."""
        if self.content_type == "message/rfc822":
            return True  # one attachment; its inside is not examined
        return is_attachment_leaf(self.params, first_raw(self.fields, b"content-disposition"))


def parse_part_head(
    data: bytes, start: int, end: int, in_digest: bool, defects: list[str]
) -> PartHead:
    """Read the header of the part data[start:end]."""
    header_end, body_start = find_header_end(data, start, end)
    fields = parse_header_fields(data[start:header_end], defects)
    part = {name: [value] for name, value in reversed(fields)}  # the first occurrence wins
    content_type, params = parse_content_type(first_raw(part, b"content-type"), in_digest)
    return PartHead(body_start, part, content_type, params)


TOO_DEEP = ""  # child_boundary's answer for a multipart nested too deep to examine


def child_boundary(head: PartHead, depth: int, defects: list[str]) -> str | None:
    """The boundary to walk into when the part is a multipart; TOO_DEEP when it lies deeper
    than MAX_MIME_DEPTH (skipped); None for a leaf, including a multipart without a boundary
    (noted, then read as a leaf)."""
    if not head.content_type.startswith("multipart/"):
        return None
    boundary = parse_param_value(head.params, "boundary")
    if not boundary:
        note_defect(defects, "multipart part without a boundary")
        return None
    if depth >= MAX_MIME_DEPTH:
        note_defect(defects, f"MIME parts nested deeper than {MAX_MIME_DEPTH} not examined")
        return TOO_DEEP
    return boundary


def is_attachment_part(
    data: bytes,
    start: int,
    end: int,
    in_digest: bool,
    depth: int,
    pending: list[PendingMultipart],
    defects: list[str],
) -> bool:
    """Whether the part data[start:end] below the root counts; a multipart goes on pending."""
    head = parse_part_head(data, start, end, in_digest, [])
    boundary = child_boundary(head, depth, defects)
    if boundary == TOO_DEEP:
        return False
    if boundary is not None:
        digest = head.content_type == "multipart/digest"
        pending.append((head.body_start, end, boundary, digest, depth + 1))
        return False
    return head.counts_as_attachment()


def iter_parts(
    data: bytes, start: int, end: int, boundary: str, defects: list[str]
) -> Iterator[tuple[int, int]]:
    """(start, end) of each body part of the multipart body data[start:end].

    Preamble and epilogue are skipped. A missing close delimiter ends the last part at end, which
    for a nested multipart is the next delimiter of the enclosing one.
    """
    marker = b"--" + encode_boundary(boundary)
    part_start = -1
    for line_start, next_line, closing in iter_delimiter_lines(data, marker, start, end):
        if part_start >= 0:
            yield part_start, line_start
        if closing:
            return
        part_start = next_line
    if part_start >= 0:
        note_defect(defects, "multipart without its close delimiter")
        yield part_start, end
    else:
        note_defect(defects, "multipart body holds no delimiter line")


def iter_delimiter_lines(
    data: bytes, marker: bytes, start: int, end: int
) -> Iterator[tuple[int, int, bool]]:
    """(line start, next line start, is close delimiter) of each `--boundary` line.

    RFC 2046: the delimiter starts a line and is followed only by optional `--` and whitespace, so
    `--b1` is not a delimiter of boundary `b`. Found with bytes.find, which is far faster than a
    regex on a large body.
    """
    pos = start
    size = len(marker)
    while True:
        i = data.find(marker, pos, end)
        if i < 0:
            return
        pos = i + 1
        if i > start and data[i - 1] not in b"\r\n":
            continue
        j = i + size
        closing = data.startswith(b"--", j, end)
        if closing:
            j += 2
        while j < end and data[j] in b" \t":
            j += 1
        if j < end and data[j] not in b"\r\n":
            continue
        next_line = find_line_end(data, j, end) if j < end else end
        yield i, next_line, closing
        pos = next_line


def first_raw(fields: dict[bytes, list[bytes]], name: bytes) -> str | None:
    """First value of a MIME field as text. Latin-1 keeps each byte (a boundary must round-trip)."""
    values = fields.get(name)
    return values[0].decode("latin-1") if values else None


def parse_content_type(value: str | None, digest: bool) -> tuple[str, dict[str, str]]:
    """(lower-case type/subtype, parameters); an absent or invalid type is the default one.

    In a multipart/digest the default is message/rfc822 (RFC 2046 5.1.5), elsewhere text/plain.
    """
    default = "message/rfc822" if digest else "text/plain"
    if value is None:
        return default, {}
    main, params = parse_mime_header(value)
    kind, slash, subtype = main.partition("/")
    if not (kind and slash and subtype):
        return default, params
    return main, params


_MAIN_VALUE = re.compile(r"\s*([^\s;(]*)")
_PARAMETER = re.compile(r'\s*([^\s=;"]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"?|([^;]*))', re.S)
_QUOTED_PAIR = re.compile(r"\\(.)", re.S)
_TRAILING_COMMENT = re.compile(r"\s+\(.*$", re.S)


def parse_mime_header(value: str) -> tuple[str, dict[str, str]]:
    """Content-Type / Content-Disposition -> (lower-case main value, {lower-case name: value}).

    Lenient: a parameter without '=' (such as a bare `name*`) is no parameter and is skipped; an
    unterminated quoted string runs to the end; the first of repeated parameters wins.
    """
    main_match = _MAIN_VALUE.match(value)
    main = main_match.group(1).lower() if main_match else ""
    params: dict[str, str] = {}
    pos = value.find(";")
    while pos >= 0:
        match = _PARAMETER.match(value, pos + 1)
        if match is None:
            pos = value.find(";", pos + 1)
            continue
        quoted, token = match.group(2), match.group(3)
        if quoted is not None:
            text = _QUOTED_PAIR.sub(r"\1", quoted)
        else:
            text = _TRAILING_COMMENT.sub("", token or "").strip()
        params.setdefault(match.group(1).lower(), text)
        pos = value.find(";", match.end())
    return main, params


def encode_boundary(boundary: str) -> bytes:
    """The boundary's bytes as they stand in the body: parameter values come back decoded (UTF-8,
    windows-1252, RFC 2231, RFC 2047), so any character can appear; encode it the way it most
    likely arrived."""
    try:
        return boundary.encode("latin-1")
    except UnicodeEncodeError:
        return boundary.encode("utf-8", "surrogatepass")


def parse_param_value(params: dict[str, str], base: str) -> str:
    """Value of parameter base with RFC 2231 applied ('' when absent).

    `base*` wins over continuations `base*0`, `base*1*`, ..., which win over plain `base`. A plain
    value may be an RFC 2047 encoded-word, as many mailers write file names.
    """
    extended = params.get(base + "*")
    if extended is not None:
        return decode_rfc2231_sections([(0, True, extended)])
    prefix = base + "*"
    sections: list[tuple[int, bool, str]] = []
    for key, value in params.items():
        if key.startswith(prefix):
            number = key[len(prefix) :]
            encoded = number.endswith("*")
            number = number.removesuffix("*")
            if number.isascii() and number.isdigit():
                sections.append((int(number), encoded, value))
    if sections:
        return decode_rfc2231_sections(sorted(sections))
    plain = params.get(base)
    if not plain:
        return ""
    text = decode_raw_bytes(plain.encode("latin-1"))
    return decode_encoded_words(text, []) if "=?" in text else text


def decode_rfc2231_sections(sections: list[tuple[int, bool, str]]) -> str:
    """Join RFC 2231 sections (number, percent-encoded?, text) and decode them.

    Only the first section may open with `charset'language'`; unencoded sections are taken as they
    stand. A charset Python does not know falls back to the raw-byte rule of SEMANTICS §2 step 2.
    """
    joined = bytearray()
    codec = _RAW_8BIT
    for index, (_number, encoded, text) in enumerate(sections):
        if encoded:
            if index == 0 and text.count("'") >= 2:
                charset, _language, text = text.split("'", 2)
                codec = (lookup_charset(charset) or _RAW_8BIT) if charset else _RAW_8BIT
            joined += unquote_to_bytes(text.encode("latin-1"))
        else:
            joined += text.encode("latin-1")
    return decode_charset(bytes(joined), codec)


def is_attachment_leaf(content_params: dict[str, str], disposition: str | None) -> bool:
    """A non-multipart part is an attachment when its disposition says so or it has a file name."""
    if disposition is not None:
        kind, disposition_params = parse_mime_header(disposition)
        if kind == "attachment" or parse_param_value(disposition_params, "filename").strip():
            return True
    return bool(parse_param_value(content_params, "name").strip())
