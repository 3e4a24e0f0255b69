"""Every error code, as boto3 sees it: err["Code"], err["Message"] and the model's HTTP status."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_api_support import (
    FROM,
    TO,
    archive_id,
    client,
    error_of,
    shared_archive,
    thread_server,
    wait_for_state,
)


@pytest.fixture(scope="module")
def mm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with thread_server(tmp_path_factory.mktemp("home"), (shared_archive(),)) as (_, url):
        yield client(url)


def search(aid: str, **extra: Any) -> dict[str, Any]:
    return {"ArchiveId": aid, "FromTimestamp": FROM, "ToTimestamp": TO, "MaxResults": 5, **extra}


def test_validation_exception_names_the_member(mm: Any) -> None:
    aid = archive_id(shared_archive())
    assert error_of(mm.start_archive_search, **search(aid, FromTimestamp=TO, ToTimestamp=FROM)) == (
        "ValidationException",
        "FromTimestamp: must be earlier than ToTimestamp",
        400,
    )
    code, message, status = error_of(mm.start_archive_search, **search(aid, MaxResults=1001))
    assert (code, status) == ("ValidationException", 400)
    assert message == "MaxResults: 1001 is outside the range 0 to 1000"


@pytest.mark.parametrize(
    ("operation", "member", "value", "code", "status"),
    [
        # Operations whose model lists ResourceNotFoundException answer it ...
        ("get_archive", "ArchiveId", "a-missing", "ResourceNotFoundException", 404),
        ("update_archive", "ArchiveId", "a-missing", "ResourceNotFoundException", 404),
        ("list_archive_searches", "ArchiveId", "a-missing", "ResourceNotFoundException", 404),
        # ... the others answer ValidationException naming the member (SEMANTICS §6).
        ("delete_archive", "ArchiveId", "a-missing", "ValidationException", 400),
        ("get_archive_search", "SearchId", "s-missing", "ValidationException", 400),
        ("get_archive_search_results", "SearchId", "s-missing", "ValidationException", 400),
        ("stop_archive_search", "SearchId", "s-missing", "ValidationException", 400),
    ],
)
def test_unknown_ids(
    mm: Any, operation: str, member: str, value: str, code: str, status: int
) -> None:
    noun = "archive" if member == "ArchiveId" else "search"
    assert error_of(getattr(mm, operation), **{member: value}) == (
        code,
        f"{member}: no {noun} {value!r}",
        status,
    )


def test_start_on_unknown_archive_is_not_found(mm: Any) -> None:
    assert error_of(mm.start_archive_search, **search("a-missing")) == (
        "ResourceNotFoundException",
        "ArchiveId: no archive 'a-missing'",
        404,
    )


def test_conflicts(mm: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = mm.create_archive(ArchiveName="conflict-one")["ArchiveId"]
    assert error_of(mm.create_archive, ArchiveName="conflict-one") == (
        "ConflictException",
        f"ArchiveName: an archive named 'conflict-one' exists already ({first})",
        409,
    )
    second = mm.create_archive(ArchiveName="conflict-two")["ArchiveId"]
    code, message, status = error_of(
        mm.update_archive, ArchiveId=second, ArchiveName="conflict-one"
    )
    assert (code, status) == ("ConflictException", 409) and "conflict-one" in message
    mm.delete_archive(ArchiveId=second)
    assert error_of(mm.update_archive, ArchiveId=second, ArchiveName="fresh-name") == (
        "ConflictException",
        f"ArchiveId: archive {second!r} is PENDING_DELETION and cannot be changed",
        409,
    )
    assert error_of(mm.start_archive_search, **search(second)) == (
        "ConflictException",
        f"ArchiveId: archive {second!r} is PENDING_DELETION and cannot be searched",
        409,
    )


def test_results_of_an_unfinished_search_conflict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MMARCHIVE_TEST_HOLD_JOBS", "1")
    with thread_server(tmp_path, (shared_archive(),)) as (_, url):
        mm = client(url)
        search_id = mm.start_archive_search(**search(archive_id(shared_archive())))["SearchId"]
        wait_for_state(mm, search_id, ("RUNNING",))
        assert error_of(mm.get_archive_search_results, SearchId=search_id) == (
            "ConflictException",
            f"SearchId: search {search_id!r} is RUNNING; results exist once it is COMPLETED",
            409,
        )
        mm.stop_archive_search(SearchId=search_id)
        code, message, _ = error_of(mm.get_archive_search_results, SearchId=search_id)
        assert code == "ConflictException" and "is CANCELLED" in message


def test_read_only_server_denies_changes(tmp_path: Path) -> None:
    with thread_server(tmp_path, (shared_archive(),), read_only=True) as (_, url):
        mm = client(url)
        aid = archive_id(shared_archive())
        for operation, params in (
            ("create_archive", {"ArchiveName": "nope"}),
            ("update_archive", {"ArchiveId": aid, "ArchiveName": "nope"}),
            ("delete_archive", {"ArchiveId": aid}),
        ):
            code, message, status = error_of(getattr(mm, operation), **params)
            assert (code, status) == ("AccessDeniedException", 403)
            assert message.endswith("this mmarchive serves its archives read-only (--read-only)")
        assert mm.get_archive(ArchiveId=aid)["ArchiveState"] == "ACTIVE"  # reads still work


def test_too_many_active_searches_exceed_the_quota(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MMARCHIVE_TEST_HOLD_JOBS", "1")
    with thread_server(tmp_path, (shared_archive(),), max_active_searches=2) as (_, url):
        mm = client(url)
        aid = archive_id(shared_archive())
        held = [mm.start_archive_search(**search(aid))["SearchId"] for _ in range(2)]
        code, message, status = error_of(mm.start_archive_search, **search(aid))
        assert (code, status) == ("ServiceQuotaExceededException", 402)
        assert message.startswith("StartArchiveSearch: 2 searches are queued or running already")
        (tmp_path / "release-holds").touch()
        for search_id in held:
            wait_for_state(mm, search_id, ("COMPLETED",))
        assert mm.start_archive_search(**search(aid))["SearchId"]


def test_rate_limit_throttles(tmp_path: Path) -> None:
    with thread_server(tmp_path, (shared_archive(),), rate_limit=1) as (_, url):
        mm = client(url)
        mm.list_archives()
        assert error_of(mm.list_archives) == (
            "ThrottlingException",
            "ListArchives: more than 1 requests per second; retry later",
            429,
        )


def test_client_token_makes_create_idempotent(mm: Any) -> None:
    first = mm.create_archive(ArchiveName="idempotent", ClientToken="token-1")["ArchiveId"]
    again = mm.create_archive(ArchiveName="idempotent", ClientToken="token-1")["ArchiveId"]
    assert again == first
    code, message, _ = error_of(mm.create_archive, ArchiveName="other", ClientToken="token-1")
    assert code == "ConflictException" and message.startswith("ClientToken:")
