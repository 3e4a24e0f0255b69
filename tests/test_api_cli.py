"""The `aws mailmanager` mirror: the same commands locally (--home) and through boto3
(--endpoint-url), the same JSON, the AWS CLI's paging and error wording."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli.main import main
from tests.test_api_support import archive_id, shared_archive, thread_server

AWS_COMMANDS = (
    "start-archive-search",
    "get-archive-search",
    "get-archive-search-results",
    "stop-archive-search",
    "list-archive-searches",
    "list-archives",
    "get-archive",
    "create-archive",
    "update-archive",
    "delete-archive",
    "serve",
)
FILTERS = json.dumps(
    {
        "Include": [
            {
                "StringExpression": {
                    "Evaluate": {"Attribute": "TO"},
                    "Operator": "CONTAINS",
                    "Values": ["example"],
                }
            }
        ]
    }
)
RANGE = ("--from-timestamp", "2000-01-01", "--to-timestamp", "2030-01-01T00:00:00Z")


def run(*args: str) -> tuple[int, Any, str]:
    result = CliRunner().invoke(main, list(args))
    out = json.loads(result.stdout) if result.exit_code == 0 else result.stdout
    return result.exit_code, out, result.stderr


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with thread_server(tmp_path_factory.mktemp("served"), (shared_archive(),)) as (_, url):
        yield url


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")


def where(mode: str, home: Path, endpoint: str) -> tuple[str, ...]:
    if mode == "local":
        return ("--home", str(home), "--archive", str(shared_archive()))
    return ("--endpoint-url", endpoint)


@pytest.mark.parametrize("mode", ["local", "remote"])
def test_search_flow_prints_what_search_prints(mode: str, home: Path, endpoint: str) -> None:
    target = where(mode, home, endpoint)
    aid = archive_id(shared_archive())
    code, started, err = run(
        "start-archive-search", "--archive-id", aid, "--filters", FILTERS, *RANGE,
        "--max-results", "25", *target,
    )  # fmt: skip
    assert code == 0, err
    search_id = started["SearchId"]
    if mode == "remote":
        from tests.test_api_support import client, wait_for_state

        wait_for_state(client(endpoint), search_id, ("COMPLETED",))
    code, status, _ = run("get-archive-search", "--search-id", search_id, *target)
    assert status["Status"]["State"] == "COMPLETED"  # locally: finished before it returned
    assert status["FromTimestamp"] == "2000-01-01T00:00:00+00:00"
    assert status["Filters"] == json.loads(FILTERS)
    code, results, _ = run("get-archive-search-results", "--search-id", search_id, *target)
    code, searched, _ = run(
        "search", str(shared_archive()), "--filters", FILTERS, *RANGE, "--max-results", "25"
    )
    assert results == searched and len(results["Rows"]) == 25


@pytest.mark.parametrize("mode", ["local", "remote"])
def test_errors_use_the_aws_cli_wording(mode: str, home: Path, endpoint: str) -> None:
    code, out, err = run("get-archive", "--archive-id", "a-nowhere", *where(mode, home, endpoint))
    assert code == 1 and out == ""
    assert err == (
        "Error: An error occurred (ResourceNotFoundException) when calling the GetArchive "
        "operation: ArchiveId: no archive 'a-nowhere'\n"
    )
    aid = archive_id(shared_archive())
    code, _, err = run(
        "start-archive-search", "--archive-id", aid, *RANGE, "--max-results", "1001",
        *where(mode, home, endpoint),
    )  # fmt: skip
    assert code == 1 and "(ValidationException)" in err
    assert err.endswith("MaxResults: 1001 is outside the range 0 to 1000\n")


@pytest.mark.parametrize("mode", ["local", "remote"])
def test_list_pages_like_the_aws_cli(mode: str, home: Path, endpoint: str) -> None:
    target = where(mode, home, endpoint)
    aid = archive_id(shared_archive())
    for _ in range(5):
        run("start-archive-search", "--archive-id", aid, *RANGE, "--max-results", "0", *target)
    code, everything, _ = run(
        "list-archive-searches", "--archive-id", aid, "--page-size", "2", *target
    )
    ids = [s["SearchId"] for s in everything["Searches"]]
    assert code == 0 and len(ids) >= 5 and "NextToken" not in everything
    code, first, _ = run(
        "list-archive-searches", "--archive-id", aid, "--page-size", "2", "--max-items", "3",
        *target,
    )  # fmt: skip
    assert [s["SearchId"] for s in first["Searches"]] == ids[:3]
    code, rest, _ = run(
        "list-archive-searches", "--archive-id", aid, "--page-size", "2",
        "--starting-token", first["NextToken"], *target,
    )  # fmt: skip
    assert [s["SearchId"] for s in rest["Searches"]] == ids[3:]
    code, one_page, _ = run(
        "list-archive-searches", "--archive-id", aid, "--page-size", "2", "--no-paginate", *target
    )
    assert len(one_page["Searches"]) == 2 and one_page["NextToken"]


def test_archive_commands_locally_then_ingest_fills_the_created_archive(tmp_path: Path) -> None:
    from ingest.generate import generate_export

    home = ("--home", str(tmp_path / "home"))
    code, created, err = run(
        "create-archive", "--archive-name", "box", "--retention", "RetentionPeriod=ONE_YEAR",
        "--tags", '[{"Key": "team", "Value": "ops"}]', *home,
    )  # fmt: skip
    assert code == 0, err
    aid = created["ArchiveId"]
    generate_export(tmp_path / "export", 6, seed=9)
    result = CliRunner().invoke(
        main, ["ingest", str(tmp_path / "export"), str(tmp_path / "home" / "archives" / "box")]
    )
    assert result.exit_code == 0, result.output
    code, started, _ = run(
        "start-archive-search", "--archive-id", aid, *RANGE, "--max-results", "10", *home
    )
    code, results, _ = run("get-archive-search-results", "--search-id", started["SearchId"], *home)
    assert len(results["Rows"]) == 6
    assert run("update-archive", "--archive-id", aid, "--archive-name", "box-2", *home)[1] == {}
    code, got, _ = run("get-archive", "--archive-id", aid, *home)
    assert (got["ArchiveName"], got["Retention"]) == ("box-2", {"RetentionPeriod": "ONE_YEAR"})
    assert run("delete-archive", "--archive-id", aid, *home)[1] == {}
    code, listed, _ = run("list-archives", *home)
    assert listed["Archives"][0]["ArchiveState"] == "PENDING_DELETION"
    code, _, err = run("update-archive", "--archive-id", aid, "--retention", "nonsense", *home)
    assert code == 1 and "--retention: expected JSON or Key=Value" in err


def test_remote_without_credentials_sends_unsigned(
    endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code, listed, err = run("list-archives", "--endpoint-url", endpoint)
    assert code == 0, err
    assert archive_id(shared_archive()) in [a["ArchiveId"] for a in listed["Archives"]]


@pytest.mark.parametrize("command", AWS_COMMANDS)
def test_every_command_is_documented(command: str) -> None:
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0
    assert main.commands[command].help  # type: ignore[attr-defined]


def test_serve_refuses_a_folder_that_is_no_archive(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["serve", str(tmp_path), "--home", str(tmp_path / "h")])
    assert result.exit_code == 1
    assert "not an mmarchive archive" in result.stderr


def test_serve_refuses_a_home_inside_an_archive() -> None:
    inside = shared_archive() / "state"
    result = CliRunner().invoke(main, ["serve", str(shared_archive()), "--home", str(inside)])
    assert result.exit_code == 1 and "lies inside the archive" in result.stderr
    assert not inside.exists()
