"""Real mail from ../shared: the bug cases' rows, and the whole corpus through ingest and search."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from engine.filters import parse_filters
from engine.reference import reference_search
from engine.rows import project_rows
from engine.search import run_search
from engine.store import Archive, verify_archive
from ingest.pipeline import ingest_export
from tests.conftest import shared_dir

# Corpus files that must be rejected (no header field at all) and that are not messages.
CORPUS_REJECTED = {
    "mime4j/testmsgs__malformedHeader-noheader.eml",
    "mime4j/testmsgs__malformedHeaderStartsBody-noheader.eml",
}
CORPUS_NOT_MESSAGES = {
    "SOURCES.md",
    "mimekit/mbox__issue1189.mbox",
    "mimekit/mbox__simple.mbox",
    "mimekit/mbox__unmunged.mbox",
}


@pytest.fixture(scope="module")
def bugcase_rows(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    source = shared_dir("bugcases")
    archive = tmp_path_factory.mktemp("bugcases") / "archive"
    report = ingest_export(source, archive)
    assert not report.rejected
    outcome = run_search(Archive(archive), parse_filters(None), None, None, 1000)
    return {row["ArchivedMessageId"]: row for row in project_rows(outcome.records)}


def bugcases() -> list[Path]:
    folder = Path(__file__).resolve().parents[2] / "shared" / "bugcases"
    return sorted(folder.glob("*.expected.json")) if folder.is_dir() else []


@pytest.mark.parametrize(
    "expected_file", bugcases(), ids=lambda p: p.name[: -len(".expected.json")]
)
def test_bugcase_row(bugcase_rows: dict[str, dict], expected_file: Path) -> None:
    expected = json.loads(expected_file.read_text(encoding="utf-8"))
    row = bugcase_rows[expected_file.name[: -len(".expected.json")]]
    for member, value in expected["fields"].items():
        assert row.get(member) == value, member
    for member in expected["absent"]:
        assert member not in row, member
    stamp = expected["received_timestamp_utc"]
    if stamp is None:
        assert "ReceivedTimestamp" not in row
    else:
        assert row["ReceivedTimestamp"] == datetime.fromisoformat(stamp.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def corpus_archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Archive, dict]:
    source = shared_dir("corpus")
    archive = tmp_path_factory.mktemp("corpus") / "archive"
    report = ingest_export(source, archive)
    return Archive(archive), report.as_dict()


def test_corpus_ingests_without_a_crash(corpus_archive: tuple[Archive, dict]) -> None:
    archive, report = corpus_archive
    assert {r["path"] for r in report["rejected"]} == CORPUS_REJECTED
    assert set(report["not_messages"]) == CORPUS_NOT_MESSAGES
    eml = 421
    assert (
        report["messages_ingested"] + report["messages_already_present"] + len(report["rejected"])
        == eml
    )
    assert archive.num_messages == report["messages_ingested"]
    assert verify_archive(archive).ok


@pytest.mark.parametrize(
    "filters",
    [
        None,
        {
            "Include": [
                {
                    "StringExpression": {
                        "Evaluate": {"Attribute": "FROM"},
                        "Operator": "CONTAINS",
                        "Values": ["@"],
                    }
                }
            ]
        },
        {
            "Include": [
                {
                    "StringExpression": {
                        "Evaluate": {"Attribute": "SUBJECT"},
                        "Operator": "CONTAINS",
                        "Values": ["re", "ü", "é"],
                    }
                }
            ],
            "Unless": [
                {
                    "BooleanExpression": {
                        "Evaluate": {"Attribute": "HAS_ATTACHMENTS"},
                        "Operator": "IS_TRUE",
                    }
                }
            ],
        },
        {
            "Include": [
                {
                    "StringExpression": {
                        "Evaluate": {"Attribute": "TO"},
                        "Operator": "CONTAINS",
                        "Values": ["a"],
                    }
                },
                {
                    "StringExpression": {
                        "Evaluate": {"Attribute": "CC"},
                        "Operator": "CONTAINS",
                        "Values": ["."],
                    }
                },
            ]
        },
    ],
)
@pytest.mark.parametrize("window", [(None, None), (0, 2_000_000_000_000)])
def test_corpus_search_equals_reference(
    corpus_archive: tuple[Archive, dict], filters: dict | None, window: tuple
) -> None:
    archive, _ = corpus_archive
    parsed = parse_filters(filters)
    records = list(archive.iter_records())
    expected = reference_search(records, parsed, *window, 1000)
    for path in ("index", "scan"):
        outcome = run_search(archive, parsed, *window, 1000, path=path)
        assert ([r["archived_message_id"] for r in outcome.records], outcome.total) == expected
