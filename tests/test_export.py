"""Export (SEMANTICS §7): layout, hashes, manifest, metadata, stop and failure, path escapes, and
the round trip export -> ingest that must give the same rows."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import engine.export as export_module
from engine.errors import ValidationException
from engine.export import (
    ExportError,
    export_messages,
    format_timestamp,
    project_metadata,
    project_metadata_document,
    resolve_s3_location,
)
from engine.rows import project_rows
from engine.schema import is_valid_message_id
from engine.search import search_archive
from engine.store import Archive
from ingest.pipeline import ingest_export
from tests.conftest import ROOT, build_archive

SAMPLE = ROOT / "fixtures" / "sample-export"
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
ALL = 100_000  # more than any test archive holds (tantivy aborts on a huge limit)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    archive = tmp_path_factory.mktemp("sample") / "archive"
    ingest_export(SAMPLE, archive)
    return Archive(archive)


def records_by_id(archive: Archive) -> dict[str, dict[str, Any]]:
    return {r["archived_message_id"]: r for r in archive.iter_records()}


def rows_by_id(archive: Archive) -> dict[str, dict[str, Any]]:
    outcome = search_archive(archive, None, None, None, ALL)
    return {row["ArchivedMessageId"]: row for row in project_rows(outcome.records)}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_manifest(folder: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    return manifest


def assert_folder_matches_manifest(folder: Path) -> dict[str, Any]:
    """Exactly the files the manifest lists, each whole (hash and size as listed), no .tmp."""
    manifest = load_manifest(folder)
    expected = {"manifest.json"}
    for entry in manifest["Messages"]:
        expected.add(entry["File"])
        assert sha256(folder / entry["File"]) == entry["Sha256"]
        assert (folder / entry["File"]).stat().st_size == entry["Size"]
        if "MetadataFile" in entry:
            expected.add(entry["MetadataFile"])
            assert sha256(folder / entry["MetadataFile"]) == entry["MetadataSha256"]
    assert {p.name for p in folder.iterdir()} == expected
    assert manifest["MessagesExported"] == len(manifest["Messages"])
    assert manifest["BytesExported"] == sum(e["Size"] for e in manifest["Messages"])
    return manifest


# -- layout, hashes, manifest ---------------------------------------------------------------


def test_layout_hashes_and_manifest_with_metadata(sample: Archive, tmp_path: Path) -> None:
    result = export_messages(
        sample, None, None, None, None, tmp_path / "out", "exp-1", include_metadata=True
    )
    folder = tmp_path / "out" / "exp-1"
    assert result.folder == folder and result.state == "COMPLETED"
    stored = records_by_id(sample)
    assert result.messages_exported == result.messages_matched == len(stored) == 200
    assert result.metadata_files == 200
    manifest = assert_folder_matches_manifest(folder)
    assert manifest["Format"] == "mmarchive-export/1"
    assert manifest["ExportId"] == "exp-1"
    assert manifest["ArchiveId"] == sample.info.archive_id
    assert manifest["State"] == "COMPLETED" and "ErrorMessage" not in manifest
    assert manifest["Request"] == {"Filters": {}, "IncludeMetadata": True}
    assert manifest["MessagesMatched"] == manifest["MessagesExported"] == 200
    assert (
        result.bytes_exported
        == manifest["BytesExported"]
        == sum(r["size"] for r in stored.values())
    )
    # The search's order (newest first), and every .eml holds the ingested bytes.
    order = [row["ArchivedMessageId"] for row in rows_by_id(sample).values()]
    assert [e["ArchivedMessageId"] for e in manifest["Messages"]] == order
    for entry in manifest["Messages"]:
        record = stored[entry["ArchivedMessageId"]]
        assert entry["File"] == f"{entry['ArchivedMessageId']}.eml"
        assert entry["MetadataFile"] == f"{entry['ArchivedMessageId']}.metadata.json"
        assert entry["Sha256"] == record["sha256"] == sha256(folder / entry["File"])
        assert entry["Size"] == record["size"]


def test_without_metadata(sample: Archive, tmp_path: Path) -> None:
    result = export_messages(sample, None, None, None, 7, tmp_path, "plain", include_metadata=False)
    manifest = assert_folder_matches_manifest(result.folder)
    assert result.metadata_files == 0
    assert not list(result.folder.glob("*.metadata.json"))
    assert len(list(result.folder.glob("*.eml"))) == 7
    assert all("MetadataFile" not in e for e in manifest["Messages"])
    assert manifest["Request"] == {"Filters": {}, "MaxResults": 7, "IncludeMetadata": False}
    assert manifest["MessagesMatched"] == 200 and manifest["MessagesExported"] == 7


FILTERS = {
    "Include": [
        {
            "StringExpression": {
                "Evaluate": {"Attribute": "SUBJECT"},
                "Operator": "CONTAINS",
                "Values": ["re:", "meeting", "invoice"],
            }
        }
    ],
    "Unless": [
        {"BooleanExpression": {"Evaluate": {"Attribute": "HAS_ATTACHMENTS"}, "Operator": "IS_TRUE"}}
    ],
}
FROM_MS = 1_706_745_600_000  # 2024-02-01T00:00:00Z
TO_MS = 1_730_419_200_500  # 2024-11-01T00:00:00.500Z


@pytest.mark.parametrize("max_results", [None, 0, 3, 10_000])
def test_selects_what_the_search_selects(
    sample: Archive, tmp_path: Path, max_results: int | None
) -> None:
    result = export_messages(
        sample, FILTERS, FROM_MS, TO_MS, max_results, tmp_path, "sel", include_metadata=False
    )
    outcome = search_archive(
        sample, FILTERS, FROM_MS, TO_MS, ALL if max_results is None else max_results
    )
    manifest = assert_folder_matches_manifest(result.folder)
    assert [e["ArchivedMessageId"] for e in manifest["Messages"]] == [
        r["archived_message_id"] for r in outcome.records
    ]
    assert result.messages_matched == outcome.total > 3
    request = manifest["Request"]
    assert request["Filters"] == FILTERS
    assert request["FromTimestamp"] == "2024-02-01T00:00:00Z"
    assert request["ToTimestamp"] == "2024-11-01T00:00:00.500Z"
    assert request.get("MaxResults") == max_results


def test_bad_requests_are_refused(sample: Archive, tmp_path: Path) -> None:
    with pytest.raises(ValidationException, match=r"^MaxResults"):
        export_messages(sample, None, None, None, -1, tmp_path, "x", include_metadata=False)
    with pytest.raises(ValidationException, match=r"^FromTimestamp"):
        export_messages(sample, None, TO_MS, FROM_MS, None, tmp_path, "x", include_metadata=False)
    with pytest.raises(ValidationException, match=r"^Filters\.Include"):
        export_messages(
            sample, {"Include": "nope"}, None, None, None, tmp_path, "x", include_metadata=False
        )
    assert not (tmp_path / "x").exists()


# -- the metadata document --------------------------------------------------------------------


def test_metadata_document_holds_only_what_the_archive_has(sample: Archive, tmp_path: Path) -> None:
    result = export_messages(sample, None, None, None, None, tmp_path, "m", include_metadata=True)
    rows = rows_by_id(sample)
    stored = records_by_id(sample)
    without_envelope = 0
    for row_id, row in rows.items():
        document = json.loads((result.folder / f"{row_id}.metadata.json").read_text("utf-8"))
        assert list(document) == [
            k for k in ("ArchivedMessageId", "Envelope", "Metadata") if k in document
        ]
        assert document["ArchivedMessageId"] == row_id
        assert document.get("Envelope") == row.get("Envelope")
        without_envelope += "Envelope" not in document
        metadata = document.get("Metadata", {})
        record = stored[row_id]
        for member, column in export_module.METADATA_COLUMNS.items():
            if member == "Timestamp":
                assert metadata.get(member) == format_timestamp(record["received_ms"])
            else:
                assert metadata.get(member) == record[column]
    assert without_envelope > 0  # the sample has messages without metadata: nothing invented


@pytest.mark.parametrize(
    ("record", "document"),
    [
        ({"archived_message_id": "a"}, {"ArchivedMessageId": "a"}),
        (
            {"archived_message_id": "b", "received_ms": 1_714_557_600_123, "envelope_to": []},
            {"ArchivedMessageId": "b", "Metadata": {"Timestamp": "2024-05-01T10:00:00.123Z"}},
        ),
        (
            {
                "archived_message_id": "c",
                "received_ms": -1000,
                "envelope_from": "x@example.com",
                "envelope_helo": "",
                "ingress_point_id": "inp-1",
                "tls_protocol": "",
                "metadata_timestamp_ms": 5,
            },
            {
                "ArchivedMessageId": "c",
                "Envelope": {"From": "x@example.com"},
                "Metadata": {"Timestamp": "1969-12-31T23:59:59Z", "IngressPointId": "inp-1"},
            },
        ),
    ],
)
def test_project_metadata_document(record: dict[str, Any], document: dict[str, Any]) -> None:
    assert project_metadata_document(record) == document


def test_project_metadata_for_the_wire() -> None:
    record = {"archived_message_id": "x", "received_ms": 1_714_557_600_123, "source_arn": "arn"}
    assert project_metadata(record) == {
        "Timestamp": datetime(2024, 5, 1, 10, 0, 0, 123000, tzinfo=UTC),
        "SourceArn": "arn",
    }
    assert project_metadata({"archived_message_id": "y", "tls_protocol": ""}) is None


def test_format_timestamp() -> None:
    assert format_timestamp(0) == "1970-01-01T00:00:00Z"
    assert format_timestamp(1_714_557_600_007) == "2024-05-01T10:00:00.007Z"
    assert format_timestamp(-62_135_596_800_000) == "0001-01-01T00:00:00Z"


# -- stop, failure, destination -----------------------------------------------------------------


def test_stop_midway_keeps_whole_files_and_says_cancelled(sample: Archive, tmp_path: Path) -> None:
    asked = 0
    progress: list[tuple[int, int]] = []

    def should_stop() -> bool:
        nonlocal asked
        asked += 1
        return asked > 5

    result = export_messages(
        sample,
        None,
        None,
        None,
        None,
        tmp_path,
        "stop",
        include_metadata=True,
        progress=lambda done, total: progress.append((done, total)),
        should_stop=should_stop,
    )
    assert result.state == "CANCELLED" and result.messages_exported == 5
    manifest = assert_folder_matches_manifest(result.folder)
    assert manifest["State"] == "CANCELLED"
    assert manifest["MessagesExported"] == 5 and manifest["MessagesMatched"] == 200
    assert progress and progress[-1] == (5, 200)


def test_stop_before_anything(sample: Archive, tmp_path: Path) -> None:
    result = export_messages(
        sample,
        None,
        None,
        None,
        None,
        tmp_path,
        "s0",
        include_metadata=True,
        should_stop=lambda: True,
    )
    assert result.state == "CANCELLED" and result.messages_exported == 0
    assert [p.name for p in result.folder.iterdir()] == ["manifest.json"]


def test_failure_mid_batch_leaves_no_partial_file(
    sample: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export_module, "BATCH_MESSAGES", 4)
    real_write = export_module._write_file
    calls = 0

    def failing_write(path: Path, data: bytes) -> None:
        nonlocal calls
        calls += 1
        if calls == 13:  # the 7th message's .eml, in the middle of the second batch
            real_write(path, data[: len(data) // 2])
            raise OSError(28, "No space left on device")
        real_write(path, data)

    monkeypatch.setattr(export_module, "_write_file", failing_write)
    with pytest.raises(ExportError, match="No space left on device") as info:
        export_messages(sample, None, None, None, None, tmp_path, "f", include_metadata=True)
    assert "cannot write the export to" in info.value.message
    manifest = assert_folder_matches_manifest(tmp_path / "f")
    assert manifest["State"] == "FAILED"
    assert "No space left on device" in manifest["ErrorMessage"]
    assert manifest["MessagesExported"] == 4  # the first batch; the second never got its names


def test_interrupt_removes_temporary_files(
    sample: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(path: Path) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(export_module, "fsync_path", interrupted)
    with pytest.raises(KeyboardInterrupt):
        export_messages(sample, None, None, None, None, tmp_path, "k", include_metadata=True)
    assert list((tmp_path / "k").iterdir()) == []  # nothing under a final name, no .tmp


def test_unwritable_destination(sample: Archive, tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    with pytest.raises(ExportError, match=r"^cannot write the export to .*file/e"):
        export_messages(sample, None, None, None, 2, not_a_folder, "e", include_metadata=False)
    busy = tmp_path / "busy" / "e"
    busy.mkdir(parents=True)
    (busy / "something").write_text("x")
    with pytest.raises(ExportError, match="exists and is not empty"):
        export_messages(sample, None, None, None, 2, tmp_path / "busy", "e", include_metadata=False)
    assert [p.name for p in busy.iterdir()] == ["something"]


def test_bytes_that_fail_their_hash_fail_the_export(tmp_path: Path) -> None:
    records = [{"archived_message_id": f"m{i}", "received_ms": 1000 * i} for i in range(3)]
    archive = build_archive(tmp_path / "a", records)
    blob = next((tmp_path / "a" / "blobs").iterdir())
    data = bytearray(blob.read_bytes())
    data[-3] ^= 0xFF  # inside the last message stored, m2: the newest, exported first
    blob.write_bytes(bytes(data))
    with pytest.raises(ExportError, match=r"^m2: .*SHA-256.*mmarchive verify"):
        export_messages(archive, None, None, None, None, tmp_path, "h", include_metadata=False)
    manifest = assert_folder_matches_manifest(tmp_path / "h")
    assert manifest["State"] == "FAILED" and manifest["MessagesExported"] == 0


# -- names that would reach outside the destination ----------------------------------------------

ESCAPING_NAMES = ["", ".", "..", "../x", "a/b", "/etc", "a\\b", "..\\x", "a\x00b", "a\nb"]


@pytest.mark.parametrize("export_id", ESCAPING_NAMES)
def test_export_id_that_would_escape_is_refused(
    sample: Archive, tmp_path: Path, export_id: str
) -> None:
    dest = tmp_path / "dest"
    with pytest.raises(ValidationException, match=r"^ExportId: "):
        export_messages(sample, None, None, None, None, dest, export_id, include_metadata=True)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("bad_id", ["..", "../escaped", "a/b", "/abs", "x\\y", "nul\x00"])
def test_archived_message_id_that_would_escape_is_refused(tmp_path: Path, bad_id: str) -> None:
    records = [
        {"archived_message_id": "fine", "received_ms": 2000},
        {"archived_message_id": bad_id, "received_ms": 1000},
    ]
    archive = build_archive(tmp_path / "a", records)
    dest = tmp_path / "dest"
    with pytest.raises(ValidationException, match=r"^ArchivedMessageId: "):
        export_messages(archive, None, None, None, None, dest, "x", include_metadata=True)
    assert not dest.exists()  # refused before anything is written
    assert not (tmp_path / "escaped").exists()


def test_export_id_too_long_for_a_file_name(sample: Archive, tmp_path: Path) -> None:
    with pytest.raises(ValidationException, match="longer than a file name"):
        export_messages(sample, None, None, None, 1, tmp_path, "x" * 300, include_metadata=False)


@pytest.mark.parametrize(
    "location",
    [
        "s3://bkt/../../x",
        "s3://bkt/a/../../../x",
        "s3://bkt/..",
        "s3://../x",
        "s3://..",
        "s3://",
        "s3:///x",
        "s3://bkt\\..\\x",
        "s3://bkt/a\\b",
        "s3://bkt/a\x00",
        "s3://bkt/%2e%2e/x",
        "s3://bk",
        "http://bkt/x",
        "bkt/x",
        "",
        "s3://bkt/a b",
    ],
)
def test_s3_location_that_would_escape_is_refused(tmp_path: Path, location: str) -> None:
    with pytest.raises(
        ValidationException, match=r"^ExportDestinationConfiguration\.S3\.S3Location: "
    ):
        resolve_s3_location(location, tmp_path / "root")


@pytest.mark.parametrize(
    ("location", "relative"),
    [
        ("s3://bkt", "bkt"),
        ("s3://bkt/", "bkt"),
        ("s3://my.bucket-1/cases/2024/", "my.bucket-1/cases/2024"),
        ("s3://bkt//a/./b", "bkt/a/b"),
        ("s3://.../x", ".../x"),
        ("s3://bkt/a..b/c.", "bkt/a..b/c."),
        ("s3://bkt/it's(1)*!", "bkt/it's(1)*!"),
    ],
)
def test_s3_location_maps_under_the_export_root(
    tmp_path: Path, location: str, relative: str
) -> None:
    assert resolve_s3_location(location, tmp_path / "root") == tmp_path / "root" / relative


def test_s3_location_check_is_linear_time(tmp_path: Path) -> None:
    # The shape's own pattern backtracks exponentially on this; ours answers at once.
    started = time.perf_counter()
    with pytest.raises(ValidationException):
        resolve_s3_location("s3://bkt" + "/a" * 5000 + "%", tmp_path)
    assert time.perf_counter() - started < 0.5


# -- round trip: export with metadata, ingest, same rows --------------------------------------


def round_trip(archive: Archive, tmp_path: Path) -> None:
    result = export_messages(
        archive, None, None, None, None, tmp_path / "out", "rt", include_metadata=True
    )
    assert result.state == "COMPLETED"
    report = ingest_export(result.folder, tmp_path / "again")
    assert not report.rejected
    assert report.messages_ingested == result.messages_exported
    assert report.metadata_attached == result.messages_exported
    # manifest.json is the one file that is not a message nor its metadata: an orphan .json.
    assert report.metadata_warned == 1
    assert report.files_seen == 2 * result.messages_exported + 1
    before = rows_by_id(archive)
    after = rows_by_id(Archive(tmp_path / "again"))
    assert len(before) == len(after) == result.messages_exported
    after_by_sha = {
        r["sha256"]: r["archived_message_id"] for r in Archive(tmp_path / "again").iter_records()
    }
    for archived_id, row in before.items():
        if is_valid_message_id(archived_id):
            assert after[archived_id] == row
        else:
            # A collision fallback id (`<id>~<12 hex>`, SEMANTICS §1) is not a valid id, so the
            # metadata's id and the file's stem are both refused on re-ingest and the message
            # gets its `h-` id back: every other member is the same.
            new_id = after_by_sha[records_by_id(archive)[archived_id]["sha256"]]
            assert re.fullmatch(r"h-[0-9a-f]{32}", new_id)
            assert {**after[new_id], "ArchivedMessageId": archived_id} == row


def test_round_trip_sample_export(sample: Archive, tmp_path: Path) -> None:
    round_trip(sample, tmp_path)


def test_round_trip_corpus(tmp_path: Path) -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"{CORPUS} is absent")
    ingest_export(CORPUS, tmp_path / "corpus")
    archive = Archive(tmp_path / "corpus")
    undated = sum(1 for r in archive.iter_records(["received_ms"]) if r["received_ms"] is None)
    assert undated > 0  # exported without a Timestamp, and undated again after the round trip
    round_trip(archive, tmp_path)


def test_round_trip_does_not_touch_the_source(sample: Archive, tmp_path: Path) -> None:
    before = {p: os.stat(p).st_mtime_ns for p in sample.path.rglob("*") if p.is_file()}
    export_messages(sample, None, None, None, 3, tmp_path, "ro", include_metadata=True)
    after = {p: os.stat(p).st_mtime_ns for p in sample.path.rglob("*") if p.is_file()}
    assert before == after
    shutil.rmtree(tmp_path / "ro")
