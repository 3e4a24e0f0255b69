"""The engine against the reference evaluator, on generated archives and generated filters.

Both forced paths (index and scan) must give exactly the reference's ordered ids and total.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.filters import BooleanCondition, Filters, StringCondition
from engine.reference import reference_search
from engine.schema import ROW_COLUMNS
from engine.search import run_search
from engine.store import Archive
from tests.conftest import build_archive

# The hard parts on purpose: ß/SS/ẞ, sigma forms, dotted and dotless i, ligature, ǰ, NFD input,
# characters that mean something to regexes, LIKE, globs and quoting, spaces, and U+FFFF (the
# index's gram padding).
ALPHABET = "abcsSßẞσςΣİıiIﬁǰJ\u030ce\u0301é*%?.[]()\\\"' @-\uffff"
STRING_ATTRS = ("TO", "FROM", "CC", "SUBJECT", "ENVELOPE_TO", "ENVELOPE_FROM")
TIMES = [None, 0, 1000, 1000, 5000, 86_400_000, -5_000]

text = st.text(alphabet=ALPHABET, min_size=0, max_size=10)


@st.composite
def records(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(min_value=0, max_value=24))
    ids = draw(
        st.lists(
            st.text(alphabet="aAbB09._=-", min_size=1, max_size=4).filter(
                lambda s: not s.startswith(".")
            ),
            min_size=count,
            max_size=count,
            unique=True,
        )
    )
    out = []
    for archived_id in ids:
        out.append(
            {
                "archived_message_id": archived_id,
                "received_ms": draw(st.sampled_from(TIMES)),
                "header_to": draw(st.none() | text),
                "header_from": draw(st.none() | text),
                "header_cc": draw(st.none() | text),
                "subject": draw(st.none() | text),
                "envelope_to": draw(st.none() | st.lists(text, max_size=3)),
                "envelope_from": draw(st.none() | text),
                "has_attachments": draw(st.booleans()),
            }
        )
    return out


@st.composite
def needle(draw: st.DrawFn, recs: list[dict[str, Any]]) -> str:
    values = [
        v
        for r in recs
        for k in ("header_to", "header_from", "header_cc", "subject", "envelope_from")
        if (v := r[k])
    ]
    if values and draw(st.booleans()):
        value = draw(st.sampled_from(values))
        start = draw(st.integers(0, len(value) - 1))
        end = draw(st.integers(start + 1, len(value)))
        piece = value[start:end]
        return draw(st.sampled_from([piece, piece.upper(), piece.lower(), piece.casefold()]))
    return draw(st.text(alphabet=ALPHABET, min_size=1, max_size=5))


@st.composite
def condition(draw: st.DrawFn, recs: list[dict[str, Any]]) -> Any:
    if draw(st.integers(0, 5)) == 0:
        return BooleanCondition("HAS_ATTACHMENTS", draw(st.booleans()))
    values = draw(st.lists(needle(recs), min_size=1, max_size=3))
    return StringCondition(draw(st.sampled_from(STRING_ATTRS)), tuple(values))


@st.composite
def searches(draw: st.DrawFn, recs: list[dict[str, Any]]) -> tuple[Filters, Any, Any, int]:
    include = tuple(draw(st.lists(condition(recs), max_size=3)))
    unless = tuple(draw(st.lists(condition(recs), max_size=2)))
    bounds = draw(st.sampled_from([None, 0, 1000, 1001, 5000, -10_000, 10**12]))
    upper = draw(st.sampled_from([None, 1000, 5000, 5001, 10**12]))
    if bounds is not None and upper is not None and bounds >= upper:
        bounds = None
    max_results = draw(st.sampled_from([0, 1, 2, 3, 5, 100]))
    return Filters(include, unless), bounds, upper, max_results


@st.composite
def cases(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[Any]]:
    recs = draw(records())
    return recs, draw(st.lists(searches(recs), min_size=1, max_size=8))


def reference_rows(recs: list[dict[str, Any]], ids: list[str]) -> list[dict[str, Any]]:
    """The Row columns of the records with these ids, in that order, as stored."""
    by_id = {r["archived_message_id"]: r for r in recs}
    return [{c: by_id[i].get(c) for c in ROW_COLUMNS} for i in ids]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(cases())
def test_engine_equals_reference(case: tuple[list[dict[str, Any]], list[Any]]) -> None:
    recs, queries = case
    folder = Path(tempfile.mkdtemp(prefix="mm-prop-"))
    try:
        archive = build_archive(folder / "archive", recs)
        for filters, from_ms, to_ms, max_results in queries:
            expected = reference_search(recs, filters, from_ms, to_ms, max_results)
            # A fresh reader projects index hits from stored rows; once the scan path has loaded
            # the columns, the same reader takes them from Arrow: both must agree.
            fresh = Archive(archive.path)
            for reader, path in ((fresh, "index"), (archive, "scan"), (archive, "index")):
                outcome = run_search(reader, filters, from_ms, to_ms, max_results, path=path)
                got = [r["archived_message_id"] for r in outcome.records]
                assert (got, outcome.total) == expected, (path, filters, from_ms, to_ms)
                assert outcome.records == reference_rows(recs, got), path
    finally:
        shutil.rmtree(folder, ignore_errors=True)
