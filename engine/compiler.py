"""Filters tree + time range -> a tantivy query that answers CONTAINS exactly.

How the index answers a case-insensitive substring test exactly: each folded value ``v`` is
indexed as its overlapping 3-grams, the gram ``v[q:q+3]`` at position ``q`` (its character
offset; the last two grams are shorter), see ``engine.store.grams``. A needle ``n`` of 3 or more
characters occurs in ``v`` at ``p`` exactly when the grams ``n[o:o+3]`` stand at ``p + o`` for
``o`` = 0, 3, 6, ... and ``len(n) - 3``: every character of the needle is covered by a gram
checked at its exact place, which is a phrase query with explicit offsets over exact terms. A
needle of 1 or 2 characters occurs exactly when some gram starts with it: a prefix query. List
elements (ENVELOPE_TO) are separated by empty positions, so no phrase spans two of them. No
candidate needs checking afterwards, and counting and the newest-N cut happen inside tantivy.
"""

from __future__ import annotations

from dataclasses import dataclass

import tantivy

from engine.filters import BooleanCondition, Condition, Filters, StringCondition
from engine.rules import CONTRACT, UNDATED_MS, Rules, fold
from engine.schema import STRING_ATTRIBUTES
from engine.store import INDEX_SCHEMA

GRAM = 3


@dataclass(frozen=True, slots=True)
class IndexQuery:
    """A compiled query and a readable rendering of it (for ``--explain``)."""

    query: tantivy.Query
    text: str


def _regex_escape(text: str) -> str:
    # Escape everything but ASCII letters and digits, so no needle character is ever syntax.
    return "".join(c if c.isascii() and c.isalnum() else f"\\x{{{ord(c):x}}}" for c in text)


def needle_grams(folded: str) -> list[tuple[int, str]]:
    """The (offset, 3-gram) words that pin a needle of 3+ characters down exactly."""
    offsets = list(range(0, len(folded) - GRAM + 1, GRAM))
    if offsets[-1] != len(folded) - GRAM:
        offsets.append(len(folded) - GRAM)
    return [(offset, folded[offset : offset + GRAM]) for offset in offsets]


def compile_needle(field: str, needle: str, rules: Rules = CONTRACT) -> IndexQuery:
    """``field CONTAINS needle`` as an exact query on the 3-gram field."""
    folded = fold(needle, rules)
    if len(folded) < GRAM:
        return IndexQuery(
            tantivy.Query.regex_query(INDEX_SCHEMA, field, _regex_escape(folded) + "(?s:.)*"),
            f"{field}:prefix({folded!r})",
        )
    words = needle_grams(folded)
    if len(words) == 1:
        query = tantivy.Query.term_query(INDEX_SCHEMA, field, words[0][1])
    else:
        query = tantivy.Query.phrase_query(INDEX_SCHEMA, field, list[str | tuple[int, str]](words))
    return IndexQuery(query, f"{field}:grams{words!r}")


def compile_condition(condition: Condition, rules: Rules = CONTRACT) -> IndexQuery:
    """One Include/Unless condition: any of its values (SEMANTICS §3)."""
    if isinstance(condition, BooleanCondition):
        return IndexQuery(
            tantivy.Query.term_query(INDEX_SCHEMA, "att", condition.value),
            f"att:{str(condition.value).lower()}",
        )
    assert isinstance(condition, StringCondition)
    field = STRING_ATTRIBUTES[condition.attribute].index_field
    parts = [compile_needle(field, value, rules) for value in dict.fromkeys(condition.values)]
    if len(parts) == 1:
        return parts[0]
    query = tantivy.Query.boolean_query([(tantivy.Occur.Should, p.query) for p in parts])
    return IndexQuery(query, "(" + " OR ".join(p.text for p in parts) + ")")


def compile_time_range(
    from_ms: int | None, to_ms: int | None, rules: Rules = CONTRACT
) -> IndexQuery | None:
    """SEMANTICS §4: ``from <= ts < to``; any bound excludes undated messages."""
    if from_ms is None and to_ms is None:
        return None
    lower = UNDATED_MS + 1 if from_ms is None else from_ms
    include_lower = from_ms is None or not rules.from_exclusive
    include_upper = rules.to_inclusive
    query = tantivy.Query.range_query(
        INDEX_SCHEMA,
        "ts",
        tantivy.FieldType.Integer,
        lower,
        to_ms,
        include_lower=include_lower,
        include_upper=include_upper if to_ms is not None else True,
    )
    left = "[" if include_lower else "("
    right = "]" if include_upper or to_ms is None else ")"
    shown_lower = "undated" if from_ms is None else str(from_ms)
    return IndexQuery(query, f"ts:{left}{shown_lower}..{to_ms if to_ms is not None else ''}{right}")


def compile_search(
    filters: Filters,
    from_ms: int | None,
    to_ms: int | None,
    *,
    max_batch: int,
    rules: Rules = CONTRACT,
) -> IndexQuery:
    """The whole search as one query, restricted to batches a reader can see."""
    must: list[IndexQuery] = [compile_condition(c, rules) for c in filters.include]
    time_range = compile_time_range(from_ms, to_ms, rules)
    if time_range is not None:
        must.append(time_range)
    must.append(
        IndexQuery(
            tantivy.Query.range_query(
                INDEX_SCHEMA, "batch", tantivy.FieldType.Integer, None, max_batch
            ),
            f"batch:[..{max_batch}]",
        )
    )
    must_not = [compile_condition(c, rules) for c in filters.unless]
    clauses = [(tantivy.Occur.Must, q.query) for q in must]
    clauses += [(tantivy.Occur.MustNot, q.query) for q in must_not]
    text = " AND ".join(q.text for q in must)
    if must_not:
        text += "".join(f" AND NOT {q.text}" for q in must_not)
    return IndexQuery(tantivy.Query.boolean_query(clauses), text)
