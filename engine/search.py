"""Run a search: pick a path, find the matching messages, order them, cut at MaxResults.

Two paths give the same answer (the property tests hold them to it):
- ``index``: the compiled tantivy query (exact), top-N by timestamp inside tantivy, ties at the
  cut resolved by fetching every message that shares the last timestamp;
- ``scan``: substring tests over the pre-folded Parquet columns with Arrow compute.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import tantivy

from engine.compiler import compile_search
from engine.errors import ValidationException
from engine.filters import BooleanCondition, Condition, Filters, StringCondition, parse_filters
from engine.lazy import LazyModule
from engine.rules import CONTRACT, UNDATED_MS, Rules, fold
from engine.schema import BOOLEAN_ATTRIBUTES, ROW_COLUMNS, STRING_ATTRIBUTES
from engine.store import FILLER, INDEX_SCHEMA, Archive, count_matches

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.compute as pc
else:
    pa = LazyModule("pyarrow")
    pc = LazyModule("pyarrow.compute")

PathChoice = Literal["auto", "index", "scan"]
PlanPath = Literal["index", "scan"]


@dataclass(frozen=True, slots=True)
class Plan:
    """What a search will do, as ``--explain`` prints it."""

    path: PlanPath
    reason: str
    index_query: str | None
    scan_expression: str
    exact_check: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "reason": self.reason,
            "index_query": self.index_query,
            "scan_expression": self.scan_expression,
            "exact_check": self.exact_check,
        }


@dataclass(slots=True)
class SearchOutcome:
    """The ordered records of a search (stored columns), how many matched in all, the plan."""

    records: list[dict[str, Any]]
    total: int
    plan: Plan
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)


def describe_scan(filters: Filters, from_ms: int | None, to_ms: int | None) -> str:
    """A readable rendering of the scan path's predicate."""

    def cond(c: Condition) -> str:
        if isinstance(c, BooleanCondition):
            return f"{BOOLEAN_ATTRIBUTES[c.attribute]} = {str(c.value).lower()}"
        column = STRING_ATTRIBUTES[c.attribute].folded_column
        any_of = " OR ".join(f"contains({column}, fold({v!r}))" for v in c.values)
        return f"({any_of})" if len(c.values) > 1 else any_of

    parts = [cond(c) for c in filters.include]
    if from_ms is not None or to_ms is not None:
        parts.append(f"received_ms in [{from_ms}, {to_ms})")
    parts += [f"NOT {cond(c)}" for c in filters.unless]
    return " AND ".join(parts) or "true"


def _holds_filler(filters: Filters, rules: Rules) -> bool:
    return any(
        FILLER in fold(value, rules)
        for condition in (*filters.include, *filters.unless)
        if isinstance(condition, StringCondition)
        for value in condition.values
    )


def plan_search(
    archive: Archive,
    filters: Filters,
    from_ms: int | None,
    to_ms: int | None,
    *,
    rules: Rules = CONTRACT,
    path: PathChoice = "auto",
) -> tuple[Plan, Any]:
    """Choose the path; returns the plan and the compiled tantivy query (None on scan)."""
    scan_text = describe_scan(filters, from_ms, to_ms)
    if path == "scan":
        return Plan("scan", "forced", None, scan_text, "every row tested exactly"), None
    if rules.case_sensitive or rules.oldest_first or rules.addresses_only:
        if path == "index":
            raise ValueError("the index path serves the contract's rules only")
        return Plan("scan", "rules differ from the index's", None, scan_text, "exact"), None
    if _holds_filler(filters, rules):
        # The index pads grams with FILLER; a needle holding it could meet the padding.
        return Plan("scan", "a needle holds U+FFFF", None, scan_text, "exact"), None
    batches = archive.visible_batches()
    max_batch = batches[-1] if batches else 0
    compiled = compile_search(filters, from_ms, to_ms, max_batch=max_batch, rules=rules)
    reason = "forced" if path == "index" else "the index answers CONTAINS exactly"
    plan = Plan("index", reason, compiled.text, scan_text, "none: 3-gram phrases are exact")
    return plan, compiled.query


def run_search(
    archive: Archive,
    filters: Filters,
    from_ms: int | None,
    to_ms: int | None,
    max_results: int,
    *,
    rules: Rules = CONTRACT,
    path: PathChoice = "auto",
) -> SearchOutcome:
    """Search one archive; records come newest first (SEMANTICS §4), at most ``max_results``."""
    started = time.perf_counter()
    archive.refresh()
    plan, query = plan_search(archive, filters, from_ms, to_ms, rules=rules, path=path)
    records: list[dict[str, Any]] = []
    if plan.path == "index":
        records, total = _search_index(archive, query, max_results)
    else:
        positions, total = _search_scan(archive, filters, from_ms, to_ms, max_results, rules)
        records = _rows_at(archive, positions)
    return SearchOutcome(records, total, plan, time.perf_counter() - started)


# -- index path ---------------------------------------------------------------------------


def _search_index(
    archive: Archive, query: Any, max_results: int
) -> tuple[list[dict[str, Any]], int]:
    searcher = archive.searcher()
    if max_results == 0:
        return [], count_matches(searcher, query)
    # One hit more than asked: when it is older than the last one asked for, no message beyond
    # the cut shares the last timestamp, and the cut needs no tie-breaking. tantivy allocates
    # for the whole limit, so a limit past the archive's size is cut down to it.
    limit = min(max_results, searcher.num_docs) + 1
    result = searcher.search(query, limit=limit, count=True, order_by_field="ts")
    hits = result.hits
    total = int(result.count)  # type: ignore[attr-defined]
    if len(hits) > max_results and hits[max_results][0] != hits[max_results - 1][0]:
        hits = hits[:max_results]
    elif len(hits) > max_results:
        # tantivy orders by ts only: fetch every hit sharing the last ts so ties cut by id.
        hits = hits[:max_results]
        boundary = hits[-1][0]
        tie = tantivy.Query.boolean_query(
            [
                (tantivy.Occur.Must, query),
                (tantivy.Occur.Must, tantivy.Query.term_query(INDEX_SCHEMA, "ts", boundary)),
            ]
        )
        tie_count = count_matches(searcher, tie)
        ties = searcher.search(tie, limit=tie_count, count=False).hits
        hits = [h for h in hits if h[0] != boundary] + [(boundary, a) for _, a in ties]
    addresses = [address for _, address in hits]
    if archive.table_loaded():
        # A long-lived reader (the server) holds the columns: taking rows from Arrow is about
        # twice as fast as decoding stored rows.
        positions = archive.positions(searcher.fast_field_values("rk", addresses))
        return _rows_at(archive, _order(archive.table(), positions, max_results, CONTRACT)), total
    records = [_stored_row(searcher, address) for address in addresses]
    # SEMANTICS §4: newest first, ties by ArchivedMessageId ascending, undated last.
    records.sort(key=lambda r: r["archived_message_id"])
    records.sort(
        key=lambda r: UNDATED_MS if r["received_ms"] is None else r["received_ms"], reverse=True
    )
    return records[:max_results], total


def _rows_at(archive: Archive, positions: list[int]) -> list[dict[str, Any]]:
    if not positions:
        return []
    rows = archive.table().select(list(ROW_COLUMNS))
    records: list[dict[str, Any]] = rows.take(pa.array(positions, pa.int64())).to_pylist()
    return records


def _stored_row(searcher: tantivy.Searcher, address: tantivy.DocAddress) -> dict[str, Any]:
    stored = searcher.doc(address).get_first("row")
    assert isinstance(stored, bytes)
    record: dict[str, Any] = json.loads(stored.decode("utf-8", "surrogatepass"))
    return record


# -- scan path ----------------------------------------------------------------------------


def _contains_any(table: pa.Table, condition: StringCondition, rules: Rules) -> pa.Array:
    attribute = STRING_ATTRIBUTES[condition.attribute]
    if rules.case_sensitive:
        column = table.column(attribute.column)
    else:
        column = table.column(attribute.folded_column)
    if rules.addresses_only and condition.attribute in ("TO", "FROM", "CC"):
        column = _fold_addresses(table.column(attribute.column), rules)
    if attribute.is_list:
        flat = pc.list_flatten(column)
        parents = pc.list_parent_indices(column)
    else:
        flat, parents = column, None
    if rules.case_sensitive:
        flat = pc.utf8_normalize(flat, "NFC")
    hit = None
    for value in dict.fromkeys(condition.values):
        one = pc.match_substring(flat, fold(value, rules))
        hit = one if hit is None else pc.or_(hit, one)
    assert hit is not None
    hit = pc.fill_null(hit, False)
    if parents is None:
        return hit
    matched = pc.filter(parents, hit)
    return pc.is_in(pa.array(range(table.num_rows), pa.int64()), value_set=matched)


def _fold_addresses(column: pa.ChunkedArray, rules: Rules) -> pa.Array:
    """Rules.addresses_only: each header's addr-specs (RFC 5322 address list), ", "-joined, folded.

    Parsed per row in Python: only ``validate`` switches this rule on, so speed matters little.
    """
    from email.utils import getaddresses  # here, not at the top: the contract never needs it

    folded: dict[str, str] = {}  # the same header value recurs (list mail, notifications)
    out: list[str | None] = []
    for value in column.to_pylist():
        if value is None:
            out.append(None)
            continue
        if value not in folded:
            addresses = [address for _, address in getaddresses([value]) if address]
            folded[value] = fold(", ".join(addresses), rules)
        out.append(folded[value])
    return pa.array(out, pa.string())


def _condition_mask(table: pa.Table, condition: Condition, rules: Rules) -> pa.Array:
    if isinstance(condition, BooleanCondition):
        column = table.column(BOOLEAN_ATTRIBUTES[condition.attribute])
        return pc.fill_null(pc.equal(column, condition.value), False)
    return _contains_any(table, condition, rules)


def scan_mask(
    table: pa.Table, filters: Filters, from_ms: int | None, to_ms: int | None, rules: Rules
) -> pa.Array:
    """The exact predicate over every row (SEMANTICS §3-4)."""
    mask = pa.array([True] * table.num_rows, pa.bool_())
    for condition in filters.include:
        mask = pc.and_(mask, _condition_mask(table, condition, rules))
    received = table.column("received_ms")
    if from_ms is not None:
        compare = pc.greater if rules.from_exclusive else pc.greater_equal
        mask = pc.and_(mask, pc.fill_null(compare(received, from_ms), False))
    if to_ms is not None:
        compare = pc.less_equal if rules.to_inclusive else pc.less
        mask = pc.and_(mask, pc.fill_null(compare(received, to_ms), False))
    for condition in filters.unless:
        mask = pc.and_(mask, pc.invert(_condition_mask(table, condition, rules)))
    return mask


def _search_scan(
    archive: Archive,
    filters: Filters,
    from_ms: int | None,
    to_ms: int | None,
    max_results: int,
    rules: Rules,
) -> tuple[list[int], int]:
    table = archive.table()
    mask = scan_mask(table, filters, from_ms, to_ms, rules)
    positions = pc.indices_nonzero(mask).to_pylist()
    return _order(table, positions, max_results, rules), len(positions)


# -- order --------------------------------------------------------------------------------


def _order(table: pa.Table, positions: Sequence[int], limit: int, rules: Rules) -> list[int]:
    """SEMANTICS §4: newest first, ties by ArchivedMessageId ascending, undated last."""
    if not positions:
        return []
    index = pa.array(positions, pa.int64())
    keys = table.select(["received_ms", "archived_message_id"]).take(index)
    received = keys.column("received_ms")
    sub = pa.table(
        {
            "undated": pc.is_null(received),
            "ts": pc.fill_null(received, UNDATED_MS),
            "id": keys.column("archived_message_id"),
        }
    )
    direction = "ascending" if rules.oldest_first else "descending"
    order = pc.sort_indices(
        sub, sort_keys=[("undated", "ascending"), ("ts", direction), ("id", "ascending")]
    )
    ordered: list[int] = pc.take(index, order[:limit]).to_pylist()
    return ordered


def validate_time_range(from_ms: int | None, to_ms: int | None) -> None:
    """SEMANTICS §4: FromTimestamp must lie before ToTimestamp."""
    if from_ms is not None and to_ms is not None and from_ms >= to_ms:
        raise ValidationException("FromTimestamp: must be earlier than ToTimestamp")


def search_archive(
    archive: Archive,
    filters: object,
    from_ms: int | None,
    to_ms: int | None,
    max_results: int,
    *,
    path: PathChoice = "auto",
    rules: Rules = CONTRACT,
) -> SearchOutcome:
    """Validate a search given as the API's JSON pieces and run it.

    Raises ValidationException naming the offending member.
    """
    parsed = parse_filters(filters)
    validate_time_range(from_ms, to_ms)
    if max_results < 0:
        raise ValidationException("MaxResults: must be 0 or more")
    return run_search(archive, parsed, from_ms, to_ms, max_results, rules=rules, path=path)
