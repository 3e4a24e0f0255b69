"""The store's building blocks: the gram text, the id filter, record lookups."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.store import FILLER, Archive, _IdFilter, gram_text
from tests.conftest import build_archive


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", ""),
        ("a", "a" + FILLER * 2),
        ("ab", "ab" + FILLER + "b" + FILLER * 2),
        ("abcd", "abc" + "bcd" + "cd" + FILLER + "d" + FILLER * 2),
        ("😀ß\ud800", "😀ß\ud800" + "ß\ud800" + FILLER + "\ud800" + FILLER * 2),
    ],
)
def test_gram_text_is_every_gram_at_its_offset(value: str, expected: str) -> None:
    text = gram_text(value)
    assert text == expected
    grams = [text[i : i + 3] for i in range(0, len(text), 3)]
    assert grams == [(value[q : q + 3] + FILLER * 2)[:3] for q in range(len(value))]


def test_id_filter_has_no_false_negatives() -> None:
    ids = _IdFilter()
    added = [f"m-{i}" for i in range(5000)]
    for key in added:
        ids.add(key)
    assert all(key in ids for key in added)
    false_hits = sum(f"x-{i}" in ids for i in range(5000))
    assert false_hits < 5


def test_find_record_returns_every_column(tmp_path: Path) -> None:
    records = [
        {"archived_message_id": f"id{i}", "received_ms": i, "subject": f"s{i}", "size": 0}
        for i in range(10)
    ]
    archive = build_archive(tmp_path / "a", records, batch_size=3)
    found = archive.find_record("id7")
    assert found is not None and found["subject"] == "s7" and len(found["sha256"]) == 64
    assert Archive(tmp_path / "a").find_record("nope") is None
    assert archive.num_messages == 10
