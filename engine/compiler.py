"""Filters tree + time range -> a tantivy query that answers CONTAINS exactly.

How the index answers a case-insensitive substring test exactly (ENGINE-FACTS, "shifted chunks"):
each folded value ``v`` is indexed three times, as ``v``, ``v[1:]`` and ``v[2:]``, each cut into
non-overlapping chunks of 3 characters at positions 0, 1, 2, ... (the last chunk may be shorter).
A needle that occurs at offset ``p`` starts on a chunk boundary in the copy shifted by
``p mod 3``, so "``n`` occurs in ``v``" is exactly "some copy holds the phrase
``n[0:3], n[3:6], ..., n[3k:]`` where the last, partial piece is a prefix of a chunk". Copies and
list elements are separate values of the field, so a phrase never spans two of them. Needles of
1 or 2 characters are a prefix query on chunks. No candidate needs checking afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

import tantivy

from engine.filters import BooleanCondition, Condition, Filters, StringCondition
from engine.rules import CONTRACT, UNDATED_MS, Rules, fold
from engine.schema import STRING_ATTRIBUTES
from engine.store import INDEX_SCHEMA

CHUNK = 3


@dataclass(frozen=True, slots=True)
class IndexQuery:
    """A compiled query and a readable rendering of it (for ``--explain``)."""

    query: tantivy.Query
    text: str


def _regex_escape(text: str) -> str:
    # Escape everything but ASCII letters and digits, so no needle character is ever syntax.
    return "".join(c if c.isascii() and c.isalnum() else f"\\x{{{ord(c):x}}}" for c in text)


def needle_pieces(folded: str) -> tuple[list[str], str]:
    """The needle's full 3-character chunks and its partial remainder (0-2 characters)."""
    cut = len(folded) - len(folded) % CHUNK
    return [folded[i : i + CHUNK] for i in range(0, cut, CHUNK)], folded[cut:]


def compile_needle(field: str, needle: str, rules: Rules = CONTRACT) -> IndexQuery:
    """``field CONTAINS needle`` as an exact query on the chunk field."""
    folded = fold(needle, rules)
    full, rest = needle_pieces(folded)
    if not rest:
        if len(full) == 1:
            query = tantivy.Query.term_query(INDEX_SCHEMA, field, full[0])
        else:
            query = tantivy.Query.phrase_query(
                INDEX_SCHEMA, field, list[str | tuple[int, str]](full)
            )
        return IndexQuery(query, f"{field}:phrase{full!r}")
    prefix = _regex_escape(rest) + "(?s:.)*"
    if not full:
        return IndexQuery(
            tantivy.Query.regex_query(INDEX_SCHEMA, field, prefix),
            f"{field}:prefix({rest!r})",
        )
    words: list[str | tuple[int, str]] = [_regex_escape(chunk) for chunk in full]
    words.append(prefix)
    return IndexQuery(
        tantivy.Query.regex_phrase_query(INDEX_SCHEMA, field, words),
        f"{field}:phrase{full!r}+prefix({rest!r})",
    )


def _phrase(field: str, chunks: list[str]) -> tantivy.Query:
    if len(chunks) == 1:
        return tantivy.Query.term_query(INDEX_SCHEMA, field, chunks[0])
    return tantivy.Query.phrase_query(INDEX_SCHEMA, field, list[str | tuple[int, str]](chunks))


def compile_needle_candidates(field: str, needle: str, rules: Rules = CONTRACT) -> IndexQuery:
    """A superset of ``field CONTAINS needle`` built from exact chunk terms only.

    A needle whose length is not a multiple of 3 ends in a partial chunk, which the exact query
    matches with a prefix regex (costly on fields with many distinct chunks). Here each offset
    0, 1, 2 of the needle instead gives a phrase of its whole chunks from that offset; every one
    holds wherever the needle occurs, so their AND is a superset, nearly always exact, checked
    afterwards. Needles of 1-2 characters and of a multiple of 3 are exact already.
    """
    folded = fold(needle, rules)
    if len(folded) < CHUNK or len(folded) % CHUNK == 0:
        return compile_needle(field, needle, rules)
    parts = []
    for offset in range(min(CHUNK, len(folded) - CHUNK + 1)):
        full, _ = needle_pieces(folded[offset:])
        parts.append((_phrase(field, full), full))
    query = tantivy.Query.boolean_query([(tantivy.Occur.Must, q) for q, _ in parts])
    return IndexQuery(query, " AND ".join(f"{field}:phrase{full!r}" for _, full in parts))


def compile_condition(
    condition: Condition, rules: Rules = CONTRACT, *, candidates: bool = False
) -> IndexQuery:
    """One Include/Unless condition: any of its values (SEMANTICS §3)."""
    if isinstance(condition, BooleanCondition):
        return IndexQuery(
            tantivy.Query.term_query(INDEX_SCHEMA, "att", condition.value),
            f"att:{str(condition.value).lower()}",
        )
    assert isinstance(condition, StringCondition)
    field = STRING_ATTRIBUTES[condition.attribute].index_field
    compile_one = compile_needle_candidates if candidates else compile_needle
    parts = [compile_one(field, value, rules) for value in dict.fromkeys(condition.values)]
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
    candidates: bool = False,
) -> IndexQuery:
    """The whole search as one query, restricted to batches a reader can see.

    With ``candidates``, Include conditions use exact chunk terms only and Unless conditions are
    left out: the result is a superset that the caller checks exactly.
    """
    must: list[IndexQuery] = [
        compile_condition(c, rules, candidates=candidates) for c in filters.include
    ]
    time_range = compile_time_range(from_ms, to_ms, rules)
    if time_range is not None:
        must.append(time_range)
    must.append(
        IndexQuery(
            tantivy.Query.range_query(
                INDEX_SCHEMA, "batch", tantivy.FieldType.Integer, None, max_batch
            ),
            f"batch:..{max_batch}]",
        )
    )
    must_not = [] if candidates else [compile_condition(c, rules) for c in filters.unless]
    clauses = [(tantivy.Occur.Must, q.query) for q in must]
    clauses += [(tantivy.Occur.MustNot, q.query) for q in must_not]
    text = " AND ".join(q.text for q in must)
    if must_not:
        text += "".join(f" AND NOT {q.text}" for q in must_not)
    return IndexQuery(tantivy.Query.boolean_query(clauses), text)
