"""A real boto3 client against `mmarchive serve` as a subprocess: the search flow, echoes,
paginators, stop, CreateArchive filled by ingest, and a restart that keeps (or fails) jobs."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.operations import ArchiveService
from engine.filters import dump_filters, parse_filters
from engine.rows import datetime_to_ms, project_rows
from engine.search import search_archive
from engine.store import Archive
from tests.test_api_support import (
    FROM,
    SUBJECT_RE,
    TO,
    ServerProcess,
    archive_id,
    client,
    shared_archive,
    thread_server,
    wait_for_state,
)

FINISHED = ("COMPLETED", "FAILED", "CANCELLED")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    home = tmp_path_factory.mktemp("home")
    server = ServerProcess(home, (shared_archive(),))
    yield server, home
    out, _ = server.stop(signal.SIGTERM)
    assert server.first_line + out == server.first_line  # exactly one line on stdout


@pytest.fixture(scope="module")
def mm(served: tuple[ServerProcess, Path]) -> Any:
    return client(served[0].url)


def library_rows(filters: object, max_results: int) -> list[dict[str, Any]]:
    archive = Archive(shared_archive())
    outcome = search_archive(
        archive, filters, datetime_to_ms(FROM), datetime_to_ms(TO), max_results
    )
    return project_rows(outcome.records)


def run_search(mm: Any, filters: object = None, max_results: int = 100) -> tuple[str, Any]:
    request: dict[str, Any] = {
        "ArchiveId": archive_id(shared_archive()),
        "FromTimestamp": FROM,
        "ToTimestamp": TO,
        "MaxResults": max_results,
    }
    if filters is not None:
        request["Filters"] = filters
    search_id = mm.start_archive_search(**request)["SearchId"]
    return search_id, wait_for_state(mm, search_id, FINISHED)


def tree(path: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(path)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(path.rglob("*"))
    }


@pytest.mark.parametrize(
    ("filters", "max_results"), [(SUBJECT_RE, 15), (None, 1000), (None, 0), (SUBJECT_RE, 1000)]
)
def test_flow_rows_equal_the_library(mm: Any, filters: object, max_results: int) -> None:
    search_id, status = run_search(mm, filters, max_results)
    assert status["Status"]["State"] == "COMPLETED"
    rows = mm.get_archive_search_results(SearchId=search_id)["Rows"]
    expected = library_rows(filters, max_results)
    assert rows == expected  # aware datetimes compare as instants
    assert len(rows) == min(max_results, len(library_rows(filters, 1000)))


def test_get_archive_search_echoes_the_request(mm: Any) -> None:
    _, answer = run_search(mm, SUBJECT_RE, 7)
    assert answer["ArchiveId"] == archive_id(shared_archive())
    assert answer["Filters"] == dump_filters(parse_filters(SUBJECT_RE)) == SUBJECT_RE
    assert (answer["FromTimestamp"], answer["ToTimestamp"]) == (FROM, TO)
    assert answer["MaxResults"] == 7
    status = answer["Status"]
    assert status["SubmissionTimestamp"] <= status["CompletionTimestamp"]
    assert "ErrorMessage" not in status
    _, unfiltered = run_search(mm, None, 1)
    assert "Filters" not in unfiltered


def test_stop_on_a_finished_search_changes_nothing(mm: Any) -> None:
    search_id, before = run_search(mm, None, 3)
    assert mm.stop_archive_search(SearchId=search_id)["ResponseMetadata"]["HTTPStatusCode"] == 200
    after = mm.get_archive_search(SearchId=search_id)
    assert after["Status"] == before["Status"]
    assert len(mm.get_archive_search_results(SearchId=search_id)["Rows"]) == 3


def test_list_archive_searches_paginator_newest_first(mm: Any) -> None:
    started = [run_search(mm, None, 0)[0] for _ in range(7)]
    paginator = mm.get_paginator("list_archive_searches")
    pages = list(
        paginator.paginate(ArchiveId=archive_id(shared_archive()), PaginationConfig={"PageSize": 3})
    )
    assert all(len(p["Searches"]) <= 3 for p in pages)
    listed = [s["SearchId"] for p in pages for s in p["Searches"]]
    assert len(listed) == len(set(listed))
    assert listed[:7] == started[::-1]
    times = [s["Status"]["SubmissionTimestamp"] for p in pages for s in p["Searches"]]
    assert times == sorted(times, reverse=True)


def test_list_archives_paginator_and_archive_lifecycle(
    mm: Any, served: tuple[ServerProcess, Path]
) -> None:
    names = ["lifecycle-a", "lifecycle-b", "lifecycle-c"]
    ids = [mm.create_archive(ArchiveName=n)["ArchiveId"] for n in names]
    pages = list(mm.get_paginator("list_archives").paginate(PaginationConfig={"PageSize": 2}))
    listed = [a["ArchiveId"] for p in pages for a in p["Archives"]]
    assert len(pages) >= 2 and listed[:3] == ids[::-1]
    assert archive_id(shared_archive()) in listed

    mm.update_archive(ArchiveId=ids[0], ArchiveName="renamed-a")
    mm.update_archive(ArchiveId=ids[0], Retention={"RetentionPeriod": "ONE_YEAR"})
    got = mm.get_archive(ArchiveId=ids[0])
    assert (got["ArchiveName"], got["Retention"]) == ("renamed-a", {"RetentionPeriod": "ONE_YEAR"})
    assert got["ArchiveState"] == "ACTIVE" and got["ArchiveArn"].endswith(ids[0])

    mm.delete_archive(ArchiveId=ids[1])
    mm.delete_archive(ArchiveId=ids[1])  # idempotent
    assert mm.get_archive(ArchiveId=ids[1])["ArchiveState"] == "PENDING_DELETION"
    assert (served[1] / "archives" / "lifecycle-b" / "archive.json").is_file()  # nothing deleted


def test_created_archive_is_filled_by_ingest(
    mm: Any, served: tuple[ServerProcess, Path], tmp_path: Path
) -> None:
    from ingest.generate import generate_export
    from ingest.pipeline import ingest_export

    created = mm.create_archive(
        ArchiveName="filled",
        Retention={"RetentionPeriod": "TWO_YEARS"},
        KmsKeyArn="arn:aws:kms:us-east-1:123456789012:key/abc",
    )["ArchiveId"]
    got = mm.get_archive(ArchiveId=created)
    assert got["KmsKeyArn"] == "arn:aws:kms:us-east-1:123456789012:key/abc"
    generate_export(tmp_path / "export", 12, seed=5)
    report = ingest_export(tmp_path / "export", served[1] / "archives" / "filled")
    assert report.archive_id == created
    search_id = mm.start_archive_search(
        ArchiveId=created, FromTimestamp=FROM, ToTimestamp=TO, MaxResults=100
    )["SearchId"]
    wait_for_state(mm, search_id, ("COMPLETED",))
    assert len(mm.get_archive_search_results(SearchId=search_id)["Rows"]) == 12


def test_the_served_archive_is_never_written(mm: Any) -> None:
    before = tree(shared_archive())
    run_search(mm, SUBJECT_RE, 5)
    aid = archive_id(shared_archive())
    mm.update_archive(ArchiveId=aid, Retention={"RetentionPeriod": "TEN_YEARS"})
    mm.get_archive(ArchiveId=aid)
    assert tree(shared_archive()) == before


def test_stop_a_running_search(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMARCHIVE_TEST_HOLD_JOBS", "1")
    with thread_server(tmp_path, (shared_archive(),)) as (_, url):
        mm = client(url)
        search_id = mm.start_archive_search(
            ArchiveId=archive_id(shared_archive()), FromTimestamp=FROM, ToTimestamp=TO, MaxResults=5
        )["SearchId"]
        wait_for_state(mm, search_id, ("RUNNING",))
        mm.stop_archive_search(SearchId=search_id)
        status = mm.get_archive_search(SearchId=search_id)["Status"]
        assert status["State"] == "CANCELLED" and "CompletionTimestamp" in status
        (tmp_path / "release-holds").touch()
        mm.stop_archive_search(SearchId=search_id)  # stopping again does nothing
        assert mm.get_archive_search(SearchId=search_id)["Status"] == status
        assert not list((tmp_path / "jobs" / "searches" / search_id).glob("rows.json"))


def test_restart_keeps_results_and_fails_interrupted_searches(tmp_path: Path) -> None:
    aid = archive_id(shared_archive())
    first = ServerProcess(tmp_path, (shared_archive(),), hold=True)
    mm = client(first.url)
    done = mm.start_archive_search(
        ArchiveId=aid, FromTimestamp=FROM, ToTimestamp=TO, MaxResults=20, Filters=SUBJECT_RE
    )["SearchId"]
    wait_for_state(mm, done, ("RUNNING",))
    (tmp_path / "release-holds").touch()
    before = wait_for_state(mm, done, ("COMPLETED",))
    rows = mm.get_archive_search_results(SearchId=done)["Rows"]
    os.unlink(tmp_path / "release-holds")
    cut = mm.start_archive_search(ArchiveId=aid, FromTimestamp=FROM, ToTimestamp=TO, MaxResults=1)
    wait_for_state(mm, cut["SearchId"], ("RUNNING",))
    first.stop(signal.SIGKILL)  # a crash: no chance to clean up

    second = ServerProcess(tmp_path, (shared_archive(),), hold=True)
    mm = client(second.url)
    after = mm.get_archive_search(SearchId=done)
    assert {**after, "ResponseMetadata": None} == {**before, "ResponseMetadata": None}
    assert mm.get_archive_search_results(SearchId=done)["Rows"] == rows
    failed = mm.get_archive_search(SearchId=cut["SearchId"])["Status"]
    assert failed["State"] == "FAILED" and "CompletionTimestamp" in failed
    assert "stopped before it finished" in failed["ErrorMessage"]
    listed = mm.list_archive_searches(ArchiveId=aid)["Searches"]
    assert [s["SearchId"] for s in listed] == [cut["SearchId"], done]

    held = mm.start_archive_search(ArchiveId=aid, FromTimestamp=FROM, ToTimestamp=TO, MaxResults=1)
    wait_for_state(mm, held["SearchId"], ("RUNNING",))
    second.stop(signal.SIGTERM)  # a clean stop fails its unfinished searches itself
    service = ArchiveService(tmp_path)
    try:
        status = service.get_archive_search(held["SearchId"])["Status"]
    finally:
        service.close()
    assert status["State"] == "FAILED" and "server stopped" in status["ErrorMessage"]
