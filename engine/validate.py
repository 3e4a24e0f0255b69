"""Compare the cloud's answer to a search with the local one, and say why they differ.

The inputs are the API's own JSON: a search request (StartArchiveSearch input or GetArchiveSearch
output) and a GetArchiveSearchResults output. The search runs locally under the contract
(``Rules()``); rows pair by ArchivedMessageId, or, where the cloud's id is not one of the
archive's (an export laid out differently), by MessageId with Date and Subject, then by MessageId
alone when it is unique on both sides. Every difference is one of:

- ``missing_locally``: a cloud row with no local row;
- ``extra_locally``: a local row with no cloud row;
- ``member``: a paired row whose member differs (both values given);
- ``order``: the paired rows come in another order.

Each gets the most plausible cause from :data:`CAUSES`, a fixed list. The [CHOSEN] rules are
tested by re-running the search with one switch of ``Rules`` turned and seeing whether the
difference disappears; the rest by looking the cloud's message up in the archive.

Nothing here reads files: callers pass parsed JSON (or boto3's dicts, whose timestamps are
datetimes) and an open Archive.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any, cast

from engine.errors import ValidationException
from engine.filters import dump_filters, parse_filters
from engine.rows import datetime_to_ms, ms_to_datetime, project_row
from engine.rules import CONTRACT, Rules
from engine.schema import COLUMNS, ENVELOPE_MEMBERS, METADATA_COLUMNS, ROW_COLUMNS, ROW_MEMBERS
from engine.search import search_archive, validate_time_range
from engine.store import Archive

REPORT_FORMAT = "mmarchive-validate/1"
MAX_RESULTS_LIMIT = 1000  # SearchMaxResults max in the shapes file

PAIR_BY_ID = "ArchivedMessageId"
PAIR_BY_HEADERS = "MessageId+Date+Subject"
PAIR_BY_MESSAGE_ID = "MessageId"

# The fixed list of causes, in the order they are tried and printed. The first five are the
# [CHOSEN] rules of SEMANTICS that a switch of Rules turns; the README documents this list.
CAUSES: dict[str, str] = {
    "case-sensitive-contains": "case-sensitive CONTAINS (the contract folds case, SEMANTICS §3)",
    "addresses-only": (
        "addresses only: TO, FROM and CC match the addr-specs of the header, not display names "
        "(the contract matches the whole header, SEMANTICS §2)"
    ),
    "inclusive-to-timestamp": (
        "an inclusive ToTimestamp (the contract's is exclusive, SEMANTICS §4)"
    ),
    "exclusive-from-timestamp": (
        "an exclusive FromTimestamp (the contract's is inclusive, SEMANTICS §4)"
    ),
    "oldest-first-order": (
        "oldest-first order before MaxResults truncation (the contract is newest first, "
        "SEMANTICS §4)"
    ),
    "absent-from-export": (
        "the message is absent from the export (no such ArchivedMessageId or MessageId here)"
    ),
    "header-read-differently": "a header read differently (same message, different member value)",
    "unexplained": "no cause in the list explains it",
}

RULE_SWITCHES: tuple[tuple[str, Rules], ...] = (
    ("case-sensitive-contains", replace(CONTRACT, case_sensitive=True)),
    ("addresses-only", replace(CONTRACT, addresses_only=True)),
    ("inclusive-to-timestamp", replace(CONTRACT, to_inclusive=True)),
    ("exclusive-from-timestamp", replace(CONTRACT, from_exclusive=True)),
    ("oldest-first-order", replace(CONTRACT, oldest_first=True)),
)

# Row members by the kind of their stored column (schema.py is the one registry of them).
_ROW_KINDS: dict[str, str] = {
    member: ("envelope" if not column else COLUMNS[column]) for member, column in ROW_MEMBERS
}
_ENVELOPE_KINDS: dict[str, str] = {member: COLUMNS[column] for member, column in ENVELOPE_MEMBERS}
# What a request may carry besides the search: StartArchiveSearch's ArchiveId, GetArchiveSearch's
# Status, and the ResponseMetadata of a raw boto3 dump.
_REQUEST_PASSIVE = ("ArchiveId", "Status", "ResponseMetadata")
_REQUEST_MEMBERS = ("Filters", "FromTimestamp", "ToTimestamp", "MaxResults", *_REQUEST_PASSIVE)
_MIN_MS = datetime_to_ms(datetime(1, 1, 1, tzinfo=UTC))
_MAX_MS = datetime_to_ms(datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC))

Row = dict[str, Any]


class MalformedInputError(ValidationException):
    """A search request or a cloud result that is not the API's JSON shape."""


# -- inputs -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """The search both sides ran: the raw Filters JSON, the time range in ms, MaxResults."""

    filters: object
    from_ms: int
    to_ms: int
    max_results: int

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.filters is not None:
            out["Filters"] = dump_filters(parse_filters(self.filters))
        out["FromTimestamp"] = _show_ms(self.from_ms)
        out["ToTimestamp"] = _show_ms(self.to_ms)
        out["MaxResults"] = self.max_results
        return out


def parse_search_request(document: object, source: str = "request") -> SearchRequest:
    """StartArchiveSearch input or GetArchiveSearch output -> SearchRequest.

    Raises MalformedInputError naming ``source`` and the member at fault.
    """
    obj = _expect_object(document, source)
    for key in obj:
        if key not in _REQUEST_MEMBERS:
            raise MalformedInputError(f"{source}: {key}: unknown member")
    status = obj.get("Status")
    if isinstance(status, dict) and status.get("State") not in (None, "COMPLETED"):
        raise MalformedInputError(
            f"{source}: Status.State: the search is {status.get('State')}; "
            "only a COMPLETED search has results to compare"
        )
    try:
        parse_filters(obj.get("Filters"))
    except ValidationException as exc:
        raise MalformedInputError(f"{source}: {exc.message}") from exc
    from_ms = parse_api_timestamp(
        _required(obj, "FromTimestamp", source), f"{source}: FromTimestamp"
    )
    to_ms = parse_api_timestamp(_required(obj, "ToTimestamp", source), f"{source}: ToTimestamp")
    try:
        validate_time_range(from_ms, to_ms)
    except ValidationException as exc:
        raise MalformedInputError(f"{source}: {exc.message}") from exc
    max_results = _required(obj, "MaxResults", source)
    if (
        not isinstance(max_results, int)
        or isinstance(max_results, bool)
        or not 0 <= max_results <= MAX_RESULTS_LIMIT
    ):
        raise MalformedInputError(
            f"{source}: MaxResults: expected an integer 0..{MAX_RESULTS_LIMIT}, got {max_results!r}"
        )
    return SearchRequest(obj.get("Filters"), from_ms, to_ms, max_results)


def parse_cloud_rows(document: object, source: str = "cloud results") -> list[Row]:
    """GetArchiveSearchResults output ``{"Rows": [...]}`` -> rows comparable with local ones.

    ReceivedTimestamp becomes epoch ms. A member that is null, "" or [] counts as absent: the
    API omits members without a value (SEMANTICS §5), and some dumps write them as null.
    Raises MalformedInputError naming ``source`` and the JSON path at fault.
    """
    obj = _expect_object(document, source)
    for key in obj:
        if key not in ("Rows", "ResponseMetadata"):  # the second: a raw boto3 dump
            raise MalformedInputError(f"{source}: {key}: unknown member")
    rows = obj.get("Rows")
    if not isinstance(rows, list):
        raise MalformedInputError(f"{source}: Rows: expected a list of rows")
    return [_parse_cloud_row(row, f"{source}: Rows[{i}]") for i, row in enumerate(rows)]


def parse_api_timestamp(value: object, where: str) -> int:
    """An API timestamp -> epoch ms: ISO 8601 (any offset; none means UTC), epoch seconds (the
    wire form; fractions kept to the millisecond, truncated), or a datetime (what boto3 gives).

    Raises MalformedInputError naming ``where``.
    """
    if isinstance(value, datetime):
        ms = datetime_to_ms(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            # "Z" spelled out: what the AWS CLI and most tools write for UTC.
            iso = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
            parsed = datetime.fromisoformat(iso)
        except ValueError as exc:
            raise MalformedInputError(
                f"{where}: expected ISO 8601 or epoch seconds, got {value!r}"
            ) from exc
        ms = datetime_to_ms(parsed)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            # Decimal(repr(float)) is the number as written: 1714557600.123 stays .123, not .122.
            number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
            ms = int((number * 1000).to_integral_value(rounding=ROUND_FLOOR))
        except (InvalidOperation, ValueError, OverflowError) as exc:
            raise MalformedInputError(f"{where}: expected a timestamp, got {value!r}") from exc
    else:
        raise MalformedInputError(
            f"{where}: expected ISO 8601 or epoch seconds, got {_type_name(value)}"
        )
    if not _MIN_MS <= ms <= _MAX_MS:
        raise MalformedInputError(
            f"{where}: {value!r} lies outside years 1..9999 (epoch numbers are seconds)"
        )
    return ms


def _parse_cloud_row(raw: object, path: str) -> Row:
    obj = _expect_object(raw, path)
    row: Row = {}
    for member, value in obj.items():
        kind = _ROW_KINDS.get(member)
        if kind is None:
            raise MalformedInputError(f"{path}.{member}: unknown member of Row")
        if value is None or value == "" or value == []:
            continue
        where = f"{path}.{member}"
        if kind == "envelope":
            envelope = _parse_envelope(value, where)
            if envelope:
                row[member] = envelope
        else:
            row[member] = _parse_value(value, kind, where)
    return row


def _parse_envelope(raw: object, path: str) -> Row:
    obj = _expect_object(raw, path)
    envelope: Row = {}
    for member, value in obj.items():
        kind = _ENVELOPE_KINDS.get(member)
        if kind is None:
            raise MalformedInputError(f"{path}.{member}: unknown member of Envelope")
        if value is None or value == "" or value == []:
            continue
        envelope[member] = _parse_value(value, kind, f"{path}.{member}")
    return envelope


def _parse_value(value: object, kind: str, where: str) -> object:
    if kind == "ts_ms":
        return parse_api_timestamp(value, where)
    if kind == "bool":
        if not isinstance(value, bool):
            raise MalformedInputError(f"{where}: expected true or false, got {_type_name(value)}")
        return value
    if kind == "str_list":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise MalformedInputError(f"{where}: expected a list of strings")
        return list(value)
    if not isinstance(value, str):
        raise MalformedInputError(f"{where}: expected a string, got {_type_name(value)}")
    return value


def _expect_object(raw: object, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise MalformedInputError(f"{where}: expected a JSON object, got {_type_name(raw)}")
    return raw


def _required(obj: dict[str, Any], member: str, source: str) -> object:
    value = obj.get(member)
    if value is None:
        raise MalformedInputError(f"{source}: {member}: missing required member")
    return value


def _type_name(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)


# -- the report ---------------------------------------------------------------------------


@dataclass(slots=True)
class Difference:
    """One difference and its cause. ``row`` summarises the row concerned (cloud's for
    missing_locally, local's otherwise); ``values`` holds ``{member, cloud, local}`` entries."""

    kind: str
    cause: str
    row: Row = field(default_factory=dict)
    paired_by: str | None = None
    values: list[dict[str, Any]] = field(default_factory=list)
    other_causes: list[str] = field(default_factory=list)
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "row": self.row}
        if self.paired_by is not None:
            out["paired_by"] = self.paired_by
        if self.values:
            out["values"] = self.values
        out["cause"] = self.cause
        out["cause_text"] = CAUSES[self.cause]
        if self.other_causes:
            out["also_explained_by"] = self.other_causes
        if self.note:
            out["note"] = self.note
        return out


@dataclass(slots=True)
class ValidationReport:
    """What ``validate`` / ``validate-export`` found; ``as_dict`` is the ``--format json`` body."""

    cloud_rows: int
    local_rows: int
    matched: int
    differing: int
    missing_locally: int
    extra_locally: int
    paired_by: dict[str, int]
    differences: list[Difference]
    request: SearchRequest | None = None
    local_total: int | None = None  # how many messages matched locally before MaxResults

    @property
    def identical(self) -> bool:
        return not self.differences

    def cause_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for difference in self.differences:
            counts[difference.cause] = counts.get(difference.cause, 0) + 1
        return {cause: counts[cause] for cause in CAUSES if cause in counts}

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": REPORT_FORMAT, "identical": self.identical}
        if self.request is not None:
            out["request"] = self.request.as_dict()
        out["counts"] = {
            "cloud_rows": self.cloud_rows,
            "local_rows": self.local_rows,
            "matched": self.matched,
            "differing": self.differing,
            "missing_locally": self.missing_locally,
            "extra_locally": self.extra_locally,
            "order_differs": any(d.kind == "order" for d in self.differences),
            "differences": len(self.differences),
            "paired_by": self.paired_by,
            "causes": self.cause_counts(),
        }
        if self.local_total is not None:
            out["counts"]["local_matches_before_max_results"] = self.local_total
        out["differences"] = [d.as_dict() for d in self.differences]
        return out


# -- pairing ------------------------------------------------------------------------------


@dataclass(slots=True)
class _Pairing:
    pairs: list[tuple[int, int, str]]  # cloud index, local index, key that paired them
    missing: list[int]  # cloud indexes with no local row
    extra: list[int]  # local indexes with no cloud row


def _header_key(row: Row) -> tuple[str, str | None, str | None] | None:
    message_id = row.get("MessageId")
    return None if message_id is None else (message_id, row.get("Date"), row.get("Subject"))


def _pair(cloud: Sequence[Row], local: Sequence[Row], archive_ids: set[str]) -> _Pairing:
    """By ArchivedMessageId; a cloud row whose id the archive lacks, by MessageId+Date+Subject,
    then by a MessageId unique among the rows still unpaired on both sides."""
    local_by_id = {row["ArchivedMessageId"]: i for i, row in enumerate(local)}
    cloud_ids = {row.get("ArchivedMessageId") for row in cloud}
    pairs: list[tuple[int, int, str]] = []
    paired_local: set[int] = set()
    loose: list[int] = []  # cloud rows the id cannot pair
    for c, row in enumerate(cloud):
        archived_id = row.get("ArchivedMessageId")
        at = local_by_id.get(archived_id) if archived_id is not None else None
        if at is not None and at not in paired_local:
            pairs.append((c, at, PAIR_BY_ID))
            paired_local.add(at)
        else:
            loose.append(c)
    # Only a cloud row whose id is not the archive's may pair another way, and only with a local
    # row whose id the cloud does not list: else two stored copies of one message would cross.
    candidates = [
        i
        for i, row in enumerate(local)
        if i not in paired_local and row["ArchivedMessageId"] not in cloud_ids
    ]
    movable = [c for c in loose if cloud[c].get("ArchivedMessageId") not in archive_ids]
    for key_name, key in (
        (PAIR_BY_HEADERS, _header_key),
        (PAIR_BY_MESSAGE_ID, lambda r: r.get("MessageId")),
    ):
        by_key: dict[object, list[int]] = {}
        for i in candidates:
            if i not in paired_local and (k := key(local[i])) is not None:
                by_key.setdefault(k, []).append(i)
        cloud_count: dict[object, int] = {}
        for c in movable:
            if (k := key(cloud[c])) is not None:
                cloud_count[k] = cloud_count.get(k, 0) + 1
        still: list[int] = []
        for c in movable:
            k = key(cloud[c])
            found = by_key.get(k) if k is not None else None
            unique = key_name != PAIR_BY_MESSAGE_ID or (
                found is not None and len(found) == 1 and cloud_count[k] == 1
            )
            if found and unique:
                at = found.pop(0)
                pairs.append((c, at, key_name))
                paired_local.add(at)
            else:
                still.append(c)
        movable = still
    paired_cloud = {c for c, _, _ in pairs}
    return _Pairing(
        pairs=sorted(pairs),
        missing=[c for c in range(len(cloud)) if c not in paired_cloud],
        extra=[i for i in range(len(local)) if i not in paired_local],
    )


# -- comparing ----------------------------------------------------------------------------


def _summary(row: Row) -> Row:
    out: Row = {}
    for member in ("ArchivedMessageId", "ReceivedTimestamp", "MessageId", "Subject"):
        if member in row:
            out[member] = _show(member, row[member])
    return out


def _show(member: str, value: Any) -> Any:
    if member == "ReceivedTimestamp" and isinstance(value, int):
        return _show_ms(value)
    return value


def _show_ms(ms: int) -> str:
    return ms_to_datetime(ms).isoformat()  # SEMANTICS §5: the CLI's ISO 8601 UTC form


def _member_values(cloud: Row, local: Row, key: str) -> list[dict[str, Any]]:
    """Every Row member whose value differs, in the shape's order."""
    out = []
    for member in _ROW_KINDS:
        if member == "ArchivedMessageId" and key != PAIR_BY_ID:
            continue  # the rows paired another way precisely because their ids differ
        if cloud.get(member) != local.get(member):
            out.append(
                {
                    "member": member,
                    "cloud": _show(member, cloud.get(member)),
                    "local": _show(member, local.get(member)),
                }
            )
    return out


_DiffKey = tuple[str, object]

# Row members that only a metadata document gives (SEMANTICS §1): absent locally, they point at
# an export made without IncludeMetadata rather than at a header.
_METADATA_MEMBERS = frozenset(
    member for member, column in ROW_MEMBERS if not column or column in METADATA_COLUMNS.values()
)


def _member_differences(
    c: int, cloud_row: Row, local_row: Row, key: str
) -> dict[_DiffKey, Difference]:
    """One difference per member of a paired row, keyed by the cloud row and the member."""
    found: dict[_DiffKey, Difference] = {}
    for value in _member_values(cloud_row, local_row, key):
        note = None
        if value["member"] in _METADATA_MEMBERS and value["local"] is None:
            note = "locally absent: it comes from the message's metadata document, if exported"
        found[("member", (c, value["member"]))] = Difference(
            "member",
            "header-read-differently",
            row=_summary(local_row),
            paired_by=key,
            values=[value],
            note=note,
        )
    return found


def _compare(
    cloud: Sequence[Row], local: Sequence[Row], archive_ids: set[str]
) -> tuple[dict[_DiffKey, Difference], _Pairing]:
    """Every difference under one local answer, keyed so that a re-run can tell which remain.

    A cloud row is known by its index (the cloud's answer does not change between re-runs), a
    local row by its ArchivedMessageId (unique in the archive).
    """
    pairing = _pair(cloud, local, archive_ids)
    found: dict[_DiffKey, Difference] = {}
    for c in pairing.missing:
        found[("missing_locally", c)] = Difference(
            "missing_locally", "unexplained", row=_summary(cloud[c])
        )
    for i in pairing.extra:
        found[("extra_locally", local[i]["ArchivedMessageId"])] = Difference(
            "extra_locally", "unexplained", row=_summary(local[i])
        )
    for c, i, key in pairing.pairs:
        found.update(_member_differences(c, cloud[c], local[i], key))
    in_cloud_order = [i for _, i, _ in pairing.pairs]
    if in_cloud_order != sorted(in_cloud_order):
        found[("order", None)] = Difference(
            "order",
            "unexplained",
            values=[
                {
                    "member": "ArchivedMessageId",
                    "cloud": [cloud[c].get("ArchivedMessageId") for c, _, _ in pairing.pairs],
                    "local": [local[i]["ArchivedMessageId"] for i in sorted(in_cloud_order)],
                }
            ],
        )
    return found, pairing


def _local_rows(records: Iterable[dict[str, Any]]) -> list[Row]:
    """Stored records -> rows comparable with the cloud's (ReceivedTimestamp in epoch ms)."""
    rows = []
    for record in records:
        row = project_row(record)
        if record.get("received_ms") is not None:
            row["ReceivedTimestamp"] = record["received_ms"]
        rows.append(row)
    return rows


class _ArchiveLookup:
    """Finds a cloud row's message among all of an archive's messages, by id or by headers."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        self.ids: set[str] = set()
        self._by_headers: dict[tuple[str, str | None, str | None], list[str]] = {}
        self._by_message_id: dict[str, list[str]] = {}
        columns = ("archived_message_id", "message_id", "date", "subject")
        for record in archive.iter_records(columns):
            archived_id = record["archived_message_id"]
            self.ids.add(archived_id)
            if record["message_id"] is not None:
                key = (record["message_id"], record["date"], record["subject"])
                self._by_headers.setdefault(key, []).append(archived_id)
                self._by_message_id.setdefault(record["message_id"], []).append(archived_id)

    def locate(self, cloud_row: Row) -> tuple[str, str] | None:
        """(the archive's id, the key that found it), or None when the archive lacks it."""
        archived_id = cloud_row.get("ArchivedMessageId")
        if archived_id in self.ids:
            return archived_id, PAIR_BY_ID
        header_key = _header_key(cloud_row)
        if header_key is None:
            return None
        by_headers = self._by_headers.get(header_key)
        if by_headers:
            return by_headers[0], PAIR_BY_HEADERS
        # The same Message-ID with another Date or Subject: the same message read differently.
        by_message_id = self._by_message_id.get(header_key[0])
        if by_message_id:
            return by_message_id[0], PAIR_BY_MESSAGE_ID
        return None

    def rows(self, archived_ids: set[str]) -> dict[str, Row]:
        """The rows of these messages (one pass over the archive)."""
        if not archived_ids:
            return {}
        wanted = (
            record
            for record in self.archive.iter_records(ROW_COLUMNS)
            if record["archived_message_id"] in archived_ids
        )
        return {row["ArchivedMessageId"]: row for row in _local_rows(wanted)}


def _run(archive: Archive, request: SearchRequest, rules: Rules) -> tuple[list[Row], int]:
    # A switched rule may be one the index cannot serve (addresses_only): always scan then.
    outcome = search_archive(
        archive,
        request.filters,
        request.from_ms,
        request.to_ms,
        request.max_results,
        path="auto" if rules == CONTRACT else "scan",
        rules=rules,
    )
    return _local_rows(outcome.records), outcome.total


def _explain_by_rules(
    archive: Archive,
    request: SearchRequest,
    cloud: Sequence[Row],
    archive_ids: set[str],
    base: dict[_DiffKey, Difference],
) -> None:
    """Re-run with each rule switched; a difference that disappears is explained by that rule.

    When several rules remove it, the most plausible is the one that removes the most
    differences in all, then the one that brings the fewest new ones, then the list's order.
    The others are listed as well only when they bring no new difference: a rule that removes a
    row by emptying half the result explains nothing, and would only mislead.
    """
    explainable = {k for k, d in base.items() if d.kind != "member"}
    if not explainable:
        return
    scores: list[tuple[str, set[_DiffKey], int]] = []
    for cause, rules in RULE_SWITCHES:
        after, _ = _compare(cloud, _run(archive, request, rules)[0], archive_ids)
        gone = explainable - after.keys()
        scores.append((cause, gone, len(after.keys() - base.keys())))
    ranked = sorted(
        (s for s in scores if s[1]),
        key=lambda s: (-len(s[1]), s[2], list(CAUSES).index(s[0])),
    )
    for key in explainable:
        candidates = [(cause, new) for cause, gone, new in ranked if key in gone]
        if candidates:
            base[key].cause = candidates[0][0]
            base[key].other_causes = [cause for cause, new in candidates[1:] if new == 0]


def _explain_missing(
    lookup: _ArchiveLookup,
    cloud: Sequence[Row],
    local: Sequence[Row],
    differences: dict[_DiffKey, Difference],
) -> None:
    """A cloud row no rule brings back: absent from the archive, or read differently there."""
    located: dict[int, tuple[str, str]] = {}
    for (kind, c), difference in differences.items():
        if kind != "missing_locally" or difference.cause != "unexplained":
            continue
        assert isinstance(c, int)
        where = lookup.locate(cloud[c])
        if where is None:
            difference.cause = "absent-from-export"
        else:
            located[c] = where
    archive_rows = lookup.rows({archived_id for archived_id, _ in located.values()})
    local_ids = {row["ArchivedMessageId"] for row in local}
    for c, (archived_id, key) in located.items():
        difference = differences[("missing_locally", c)]
        values = _member_values(cloud[c], archive_rows[archived_id], key)
        if values:
            difference.cause = "header-read-differently"
            difference.values = values
            difference.paired_by = key
        if archived_id in local_ids:
            difference.note = f"the cloud lists {archived_id} more than once"
        else:
            difference.note = f"the archive holds it as {archived_id}; the local search skips it"


def validate_search(
    archive: Archive, request: SearchRequest, cloud: Sequence[Row]
) -> ValidationReport:
    """Run ``request`` on ``archive`` and compare with the cloud's ``cloud`` rows (as
    parse_cloud_rows gives them); every difference carries its most plausible cause.

    Raises ValidationException when the request does not validate.
    """
    local, total = _run(archive, request, CONTRACT)
    lookup = _ArchiveLookup(archive)
    differences, pairing = _compare(cloud, local, lookup.ids)
    if differences:
        _explain_by_rules(archive, request, cloud, lookup.ids, differences)
        _explain_missing(lookup, cloud, local, differences)
    report = _report(cloud, local, differences, pairing)
    report.request = request
    report.local_total = total
    return report


def validate_archive_rows(archive: Archive, cloud: Sequence[Row]) -> ValidationReport:
    """Check that ``archive`` holds every message the cloud's rows list, each giving the row the
    cloud reported (``validate-export``: no search, so nothing is extra and order is moot)."""
    lookup = _ArchiveLookup(archive)
    located = {c: lookup.locate(row) for c, row in enumerate(cloud)}
    archive_rows = lookup.rows({where[0] for where in located.values() if where is not None})
    differences: dict[_DiffKey, Difference] = {}
    pairs: list[tuple[int, int, str]] = []
    missing: list[int] = []
    for c, where in located.items():
        if where is None:
            missing.append(c)
            differences[("missing_locally", c)] = Difference(
                "missing_locally", "absent-from-export", row=_summary(cloud[c])
            )
            continue
        archived_id, key = where
        pairs.append((c, c, key))
        differences.update(_member_differences(c, cloud[c], archive_rows[archived_id], key))
    report = _report(cloud, [], differences, _Pairing(pairs, missing, []))
    report.local_rows = len(lookup.ids)
    return report


def _report(
    cloud: Sequence[Row],
    local: Sequence[Row],
    differences: dict[_DiffKey, Difference],
    pairing: _Pairing,
) -> ValidationReport:
    differing = {cast(tuple[int, str], key)[0] for kind, key in differences if kind == "member"}
    paired_by: dict[str, int] = {}
    for _, _, key in pairing.pairs:
        paired_by[key] = paired_by.get(key, 0) + 1
    kinds = ("missing_locally", "extra_locally", "member", "order")
    # Grouped by kind; within a kind, in the order found (cloud order, local order, shape order).
    ordered = sorted(differences.values(), key=lambda d: kinds.index(d.kind))
    return ValidationReport(
        cloud_rows=len(cloud),
        local_rows=len(local),
        matched=len(pairing.pairs) - len(differing),
        differing=len(differing),
        missing_locally=len(pairing.missing),
        extra_locally=len(pairing.extra),
        paired_by=paired_by,
        differences=ordered,
    )
