"""Exports through a real boto3 client against `mmarchive serve`: SEMANTICS §7's folder under the
export root (hashes, manifest, metadata read back by ingest), the request echo, stop under way,
the list paginator, failures in the status, path escapes refused, and --s3-upload to a real
S3-compatible server (moto's, started here on 127.0.0.1)."""

from __future__ import annotations

import hashlib
import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

import engine.export
from api.operations import NO_EXPORT_ROOT, STAGING_DIR, ArchiveService
from engine.export import MANIFEST_NAME, exported_names
from engine.rows import datetime_to_ms, project_row
from engine.search import search_archive
from engine.store import Archive
from ingest.pipeline import ingest_export
from tests.test_api_support import (
    FROM,
    SUBJECT_RE,
    TO,
    ServerProcess,
    archive_id,
    client,
    error_of,
    shared_archive,
    thread_server,
    wait_for_export,
)

FINISHED = ("COMPLETED", "FAILED", "CANCELLED")
BUCKET = "evidence"
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    home, root = tmp_path_factory.mktemp("home"), tmp_path_factory.mktemp("exports")
    server = ServerProcess(home, (shared_archive(),), args=("--export-root", str(root)))
    yield server.url, root
    server.stop(signal.SIGTERM)


@pytest.fixture(scope="module")
def mm(served: tuple[str, Path]) -> Any:
    return client(served[0])


def request(location: str, **extra: Any) -> dict[str, Any]:
    return {
        "ArchiveId": archive_id(shared_archive()),
        "FromTimestamp": FROM,
        "ToTimestamp": TO,
        "ExportDestinationConfiguration": {"S3": {"S3Location": location}},
        **extra,
    }


def run_export(mm: Any, location: str, **extra: Any) -> tuple[str, Any]:
    export_id = mm.start_archive_export(**request(location, **extra))["ExportId"]
    return export_id, wait_for_export(mm, export_id, FINISHED)


def selected_ids(filters: object, max_results: int | None) -> list[str]:
    """What the same search selects, in its order (SEMANTICS §4)."""
    outcome = search_archive(
        Archive(shared_archive()),
        filters,
        datetime_to_ms(FROM),
        datetime_to_ms(TO),
        1000 if max_results is None else max_results,
    )
    return [record["archived_message_id"] for record in outcome.records]


def stored() -> dict[str, dict[str, Any]]:
    records = Archive(shared_archive()).iter_records()
    return {record["archived_message_id"]: record for record in records}


@pytest.mark.parametrize("include_metadata", [True, False])
def test_export_writes_what_the_search_selects(
    mm: Any, served: tuple[str, Path], tmp_path: Path, include_metadata: bool
) -> None:
    filters, max_results = (SUBJECT_RE, None) if include_metadata else (None, 25)
    extra: dict[str, Any] = {"IncludeMetadata": include_metadata}
    if filters is not None:
        extra["Filters"] = filters
    if max_results is not None:
        extra["MaxResults"] = max_results
    name = "with" if include_metadata else "without"
    export_id, status = run_export(mm, f"s3://{BUCKET}/cases/{name}", **extra)
    assert status["Status"]["State"] == "COMPLETED", status["Status"]
    assert status["Status"]["CompletionTimestamp"] >= status["Status"]["SubmissionTimestamp"]
    # The request echo: members given, and only those (IncludeMetadata is not in the shape).
    assert status["ArchiveId"] == archive_id(shared_archive())
    assert (status["FromTimestamp"], status["ToTimestamp"]) == (FROM, TO)
    assert status.get("Filters") == filters and status.get("MaxResults") == max_results
    assert status["ExportDestinationConfiguration"] == {
        "S3": {"S3Location": f"s3://{BUCKET}/cases/{name}"}
    }
    assert "IncludeMetadata" not in status

    folder = served[1] / BUCKET / "cases" / name / export_id
    manifest = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
    ids = selected_ids(filters, max_results)
    assert ids and [m["ArchivedMessageId"] for m in manifest["Messages"]] == ids
    assert (manifest["State"], manifest["ExportId"], manifest["ArchiveId"]) == (
        "COMPLETED",
        export_id,
        archive_id(shared_archive()),
    )
    assert manifest["MessagesExported"] == len(ids)
    assert manifest["Request"]["IncludeMetadata"] is include_metadata
    records = stored()
    for entry in manifest["Messages"]:
        data = (folder / entry["File"]).read_bytes()
        record = records[entry["ArchivedMessageId"]]
        assert hashlib.sha256(data).hexdigest() == entry["Sha256"] == record["sha256"]
        assert len(data) == entry["Size"] == record["size"]
        assert ("MetadataFile" in entry) is include_metadata
    assert sorted(p.name for p in folder.iterdir()) == sorted(exported_names(manifest))
    assert manifest["BytesExported"] == sum(e["Size"] for e in manifest["Messages"])

    if include_metadata:
        # Read back by ingest, the export gives the same rows (SEMANTICS §7).
        ingest_export(folder, tmp_path / "again")
        again = {r["archived_message_id"]: r for r in Archive(tmp_path / "again").iter_records()}
        assert sorted(again) == sorted(ids)
        for message_id, record in again.items():
            assert project_row(record) == project_row(records[message_id])


def test_stop_an_export_under_way(tmp_path: Path) -> None:
    root = tmp_path / "exports"
    server = ServerProcess(
        tmp_path / "home", (shared_archive(),), hold=True, args=("--export-root", str(root))
    )
    try:
        mm = client(server.url)
        location = f"s3://{BUCKET}/stopped"
        first = mm.start_archive_export(**request(location))["ExportId"]
        wait_for_export(mm, first, ("PREPROCESSING",))
        mm.stop_archive_export(ExportId=first)
        stopped = mm.get_archive_export(ExportId=first)["Status"]
        assert stopped["State"] == "CANCELLED" and "CompletionTimestamp" in stopped

        second = mm.start_archive_export(**request(location))["ExportId"]
        wait_for_export(mm, second, ("PREPROCESSING",))
        (tmp_path / "home" / "release-holds.PREPROCESSING").touch()
        wait_for_export(mm, second, ("PROCESSING",))
        mm.stop_archive_export(ExportId=second)
        assert mm.get_archive_export(ExportId=second)["Status"]["State"] == "CANCELLED"

        (tmp_path / "home" / "release-holds").touch()
        third, status = run_export(mm, location)
        assert status["Status"]["State"] == "COMPLETED"
        mm.stop_archive_export(ExportId=third)  # finished: nothing changes
        assert mm.get_archive_export(ExportId=third)["Status"] == status["Status"]
        # Neither stopped export wrote anything, and they stay CANCELLED once released.
        for export_id in (first, second):
            assert mm.get_archive_export(ExportId=export_id)["Status"]["State"] == "CANCELLED"
            assert not (root / BUCKET / "stopped" / export_id).exists()
    finally:
        server.stop(signal.SIGTERM)


def test_stop_while_writing_keeps_whole_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small batches, and a stop sent from the progress report of the first one: the writer
    # must finish that batch, start no further message and say CANCELLED in its manifest.
    monkeypatch.setattr(engine.export, "BATCH_MESSAGES", 5)
    sent: list[dict[str, Any]] = []

    def progress(done: int, total: int) -> None:
        if not sent:
            (job,) = service.exports.iter_jobs()
            sent.append(service.call("StopArchiveExport", {"ExportId": job.job_id}))

    root = tmp_path / "exports"
    service = ArchiveService(
        tmp_path / "home", (shared_archive(),), inline=True, export_root=root, progress=progress
    )
    try:
        started = service.call("StartArchiveExport", request("s3://bkt/midway"))
        status = service.call("GetArchiveExport", started)["Status"]
    finally:
        service.close()
    assert sent == [{}] and status["State"] == "CANCELLED"
    folder = root / "bkt" / "midway" / started["ExportId"]
    manifest = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert manifest["State"] == "CANCELLED" and len(manifest["Messages"]) == 5
    assert sorted(p.name for p in folder.iterdir()) == sorted(exported_names(manifest))
    for entry in manifest["Messages"]:
        assert hashlib.sha256((folder / entry["File"]).read_bytes()).hexdigest() == entry["Sha256"]


def test_list_archive_exports_paginator_newest_first(mm: Any) -> None:
    started = [run_export(mm, f"s3://{BUCKET}/listed", MaxResults=0)[0] for _ in range(3)]
    pages = list(
        mm.get_paginator("list_archive_exports").paginate(
            ArchiveId=archive_id(shared_archive()), PaginationConfig={"PageSize": 2}
        )
    )
    assert len(pages) >= 2 and all(len(page["Exports"]) <= 2 for page in pages)
    listed = [export for page in pages for export in page["Exports"]]
    ids = [export["ExportId"] for export in listed]
    assert len(set(ids)) == len(ids)
    assert [i for i in ids if i in started] == started[::-1]
    stamps = [export["Status"]["SubmissionTimestamp"] for export in listed]
    assert stamps == sorted(stamps, reverse=True)
    assert error_of(mm.list_archive_exports, ArchiveId="a-missing") == (
        "ResourceNotFoundException",
        "ArchiveId: no archive 'a-missing'",
        404,
    )


def test_without_export_root_the_export_fails_saying_so(tmp_path: Path) -> None:
    with thread_server(tmp_path, (shared_archive(),)) as (_, url):
        mm = client(url)
        _, status = run_export(mm, f"s3://{BUCKET}/nowhere")
    assert status["Status"]["State"] == "FAILED"
    assert "CompletionTimestamp" in status["Status"]
    assert status["Status"]["ErrorMessage"] == NO_EXPORT_ROOT.format(
        location=f"s3://{BUCKET}/nowhere"
    )
    assert status["Status"]["ErrorMessage"].startswith(
        "ExportDestinationConfiguration.S3.S3Location: no export root is set"
    )


def test_unwritable_destination_fails_saying_so(mm: Any, served: tuple[str, Path]) -> None:
    # A file where the bucket's folder would be: unwritable even for root.
    (served[1] / "blocked").write_text("not a folder")
    export_id, status = run_export(mm, "s3://blocked/case")
    assert status["Status"]["State"] == "FAILED"
    folder = served[1] / "blocked" / "case" / export_id
    assert status["Status"]["ErrorMessage"] == (
        f"cannot write the export to {folder}: Not a directory"
    )


@pytest.mark.parametrize(
    ("operation", "params", "message"),
    [
        (
            "get_archive_export",
            {"ExportId": "../x"},
            "ExportId: '../x' holds '/' and would reach outside the export folder",
        ),
        (
            "get_archive_export",
            {"ExportId": ".."},
            "ExportId: '..' would reach outside the export folder",
        ),
        (
            "stop_archive_export",
            {"ExportId": "a\\b"},
            "ExportId: 'a\\\\b' holds '\\\\' and would reach outside the export folder",
        ),
        (
            "start_archive_export",
            request("s3://bkt/../../x"),
            "ExportDestinationConfiguration.S3.S3Location: 's3://bkt/../../x' holds a '..' "
            "segment and would reach outside the export root",
        ),
        (
            "start_archive_export",
            request("s3://bkt/a/../../../x"),
            "ExportDestinationConfiguration.S3.S3Location: 's3://bkt/a/../../../x' holds a '..' "
            "segment and would reach outside the export root",
        ),
    ],
)
def test_path_escapes_are_refused(
    mm: Any, served: tuple[str, Path], operation: str, params: dict[str, Any], message: str
) -> None:
    assert error_of(getattr(mm, operation), **params) == ("ValidationException", message, 400)
    assert not (served[1].parent / "x").exists()


def test_unknown_export_ids_are_validation_errors(mm: Any) -> None:
    # Neither GetArchiveExport nor StopArchiveExport lists ResourceNotFoundException.
    for operation in (mm.get_archive_export, mm.stop_archive_export):
        assert error_of(operation, ExportId="e-missing") == (
            "ValidationException",
            "ExportId: no export 'e-missing'",
            400,
        )


# -- --s3-upload against a real S3-compatible server ------------------------------------------


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    moto_server = pytest.importorskip("moto.server")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def test_s3_upload_puts_the_export_in_the_bucket(
    mm: Any, served: tuple[str, Path], moto_url: str, tmp_path: Path
) -> None:
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    s3.create_bucket(Bucket=BUCKET)
    home = tmp_path / "home"
    server = ServerProcess(
        home,
        (shared_archive(),),
        args=("--s3-upload", "--s3-endpoint-url", moto_url),
        env=AWS_ENV,
    )
    try:
        uploaded, status = run_export(
            client(server.url), f"s3://{BUCKET}/cases/7", Filters=SUBJECT_RE, IncludeMetadata=True
        )
    finally:
        server.stop(signal.SIGTERM)
    assert status["Status"]["State"] == "COMPLETED", status["Status"]
    # The same export, written locally by the other server: the objects equal its files.
    local, _ = run_export(mm, f"s3://{BUCKET}/compare", Filters=SUBJECT_RE, IncludeMetadata=True)
    folder = served[1] / BUCKET / "compare" / local
    prefix = f"cases/7/{uploaded}/"
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"]
    objects = {
        item["Key"].removeprefix(prefix): s3.get_object(Bucket=BUCKET, Key=item["Key"])[
            "Body"
        ].read()
        for item in listed
    }
    assert sorted(objects) == sorted(p.name for p in folder.iterdir())
    for name, body in objects.items():
        if name != MANIFEST_NAME:
            assert body == (folder / name).read_bytes(), name
    manifest = json.loads(objects[MANIFEST_NAME])
    local_manifest = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert manifest["Messages"] == local_manifest["Messages"] and manifest["ExportId"] == uploaded
    assert not any((home / STAGING_DIR).iterdir())  # the staging copy is gone
