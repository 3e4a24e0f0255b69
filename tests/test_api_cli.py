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
    "start-archive-export",
    "get-archive-export",
    "stop-archive-export",
    "list-archive-exports",
    "get-archive-message",
    "get-archive-message-content",
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


# -- exports and messages ---------------------------------------------------------------------

DESTINATION = ("--export-destination-configuration", '{"S3": {"S3Location": "s3://bkt/case"}}')


def manifest_of(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


def test_export_locally(tmp_path: Path) -> None:
    aid = archive_id(shared_archive())
    target = ("--home", str(tmp_path / "home"), "--archive", str(shared_archive()))
    root = tmp_path / "exports"
    code, started, err = run(
        "start-archive-export", "--archive-id", aid, "--filters", FILTERS, *RANGE,
        "--max-results", "7", "--include-metadata", *DESTINATION, "--export-root", str(root),
        *target,
    )  # fmt: skip
    assert code == 0, err
    export_id = started["ExportId"]
    manifest = manifest_of(root / "bkt" / "case" / export_id)
    assert manifest["State"] == "COMPLETED" and len(manifest["Messages"]) == 7
    assert all("MetadataFile" in m for m in manifest["Messages"])
    code, status, _ = run("get-archive-export", "--export-id", export_id, *target)
    assert status["Status"]["State"] == "COMPLETED" and status["MaxResults"] == 7
    assert status["FromTimestamp"] == "2000-01-01T00:00:00+00:00"
    code, listed, _ = run("list-archive-exports", "--archive-id", aid, *target)
    assert [e["ExportId"] for e in listed["Exports"]] == [export_id]
    assert run("stop-archive-export", "--export-id", export_id, *target)[1] == {}


def test_export_through_a_server(tmp_path: Path) -> None:
    from tests.test_api_support import client, wait_for_export

    aid = archive_id(shared_archive())
    root = tmp_path / "exports"
    with thread_server(tmp_path / "home", (shared_archive(),), export_root=root) as (_, url):
        code, started, err = run(
            "start-archive-export", "--archive-id", aid, *RANGE, "--max-results", "3",
            *DESTINATION, "--endpoint-url", url,
        )  # fmt: skip
        assert code == 0, err
        wait_for_export(client(url), started["ExportId"], ("COMPLETED",))
        code, status, _ = run("get-archive-export", "--export-id", started["ExportId"],
                              "--endpoint-url", url)  # fmt: skip
    assert status["Status"]["State"] == "COMPLETED"
    assert len(manifest_of(root / "bkt" / "case" / started["ExportId"])["Messages"]) == 3


def test_local_export_without_time_range_includes_undated_messages(tmp_path: Path) -> None:
    from ingest.pipeline import ingest_export

    (tmp_path / "mail").mkdir()
    (tmp_path / "mail" / "dated.eml").write_bytes(
        b"Date: Tue, 1 Oct 2024 10:00:00 +0000\r\nSubject: dated\r\n\r\nbody\r\n"
    )
    (tmp_path / "mail" / "undated.eml").write_bytes(b"Subject: undated\r\n\r\nbody\r\n")
    ingest_export(tmp_path / "mail", tmp_path / "archive")
    aid = archive_id(tmp_path / "archive")
    common = (
        "--archive-id", aid, *DESTINATION, "--export-root", str(tmp_path / "out"),
        "--home", str(tmp_path / "home"), "--archive", str(tmp_path / "archive"),
    )  # fmt: skip
    code, everything, err = run("start-archive-export", *common)
    assert code == 0, err
    code, ranged, err = run("start-archive-export", *common, *RANGE)
    assert code == 0, err
    folder = tmp_path / "out" / "bkt" / "case"
    ids = [m["ArchivedMessageId"] for m in manifest_of(folder / everything["ExportId"])["Messages"]]
    assert ids == ["dated", "undated"]  # undated last (SEMANTICS §4)
    ids = [m["ArchivedMessageId"] for m in manifest_of(folder / ranged["ExportId"])["Messages"]]
    assert ids == ["dated"]
    code, status, _ = run(
        "get-archive-export",
        "--export-id",
        everything["ExportId"],
        "--home",
        str(tmp_path / "home"),
    )
    assert "FromTimestamp" not in status and "ToTimestamp" not in status


def test_export_options_that_do_not_fit(endpoint: str, tmp_path: Path) -> None:
    aid = archive_id(shared_archive())
    result = CliRunner().invoke(
        main,
        ["start-archive-export", "--archive-id", aid, *DESTINATION, "--endpoint-url", endpoint],
    )
    assert result.exit_code == 2 and "required with --endpoint-url" in result.stderr
    result = CliRunner().invoke(
        main,
        ["start-archive-export", "--archive-id", aid, *DESTINATION, *RANGE,
         "--export-root", str(tmp_path), "--endpoint-url", endpoint],
    )  # fmt: skip
    assert result.exit_code == 2 and "--export-root and --s3-upload are for local mode" in (
        result.stderr
    )
    result = CliRunner().invoke(
        main,
        ["serve", "--home", str(tmp_path / "h"), "--export-root", str(tmp_path), "--s3-upload"],
    )
    assert result.exit_code == 1 and "choose one" in result.stderr


def test_local_export_that_fails_exits_1_with_the_reason(tmp_path: Path) -> None:
    aid = archive_id(shared_archive())
    code, out, err = run(
        "start-archive-export", "--archive-id", aid, *DESTINATION, *RANGE,
        "--home", str(tmp_path), "--archive", str(shared_archive()),
    )  # fmt: skip
    export_id = json.loads(out)["ExportId"]
    assert code == 1 and err.startswith(
        f"Error: export {export_id} FAILED: ExportDestinationConfiguration.S3.S3Location: "
        "no export root is set"
    )


@pytest.mark.parametrize("mode", ["local", "remote"])
def test_get_archive_message(mode: str, home: Path, endpoint: str) -> None:
    from engine.store import Archive

    record = next(iter(Archive(shared_archive()).iter_records()))
    message_id = record["archived_message_id"]
    target = where(mode, home, endpoint)
    code, message, err = run("get-archive-message", "--archived-message-id", message_id, *target)
    assert code == 0, err
    link = message["MessageDownloadLink"]
    original = Archive(shared_archive()).read_message(
        record["blob"], record["blob_offset"], record["size"], record["sha256"]
    )
    if mode == "local":
        path = home / "downloads" / archive_id(shared_archive()) / f"{message_id}.eml"
        assert link == path.resolve().as_uri() and path.read_bytes() == original
    else:
        assert link.startswith(f"{endpoint}/download/")
    code, content, _ = run(
        "get-archive-message-content", "--archived-message-id", message_id, *target
    )
    assert code == 0 and set(content) == {"Body"} and "MessageMalformed" in content["Body"]
    code, _, err = run("get-archive-message", "--archived-message-id", "../x", *target)
    assert code == 1 and "(ValidationException)" in err and "ArchivedMessageId: '../x'" in err


def test_export_progress_draws_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import sys

    from cli.aws_commands import export_progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with export_progress() as progress:
        progress(256, 300)
        progress(300, 300)
    assert "Exporting" in terminal.getvalue() and "100%" in terminal.getvalue()
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    with export_progress() as progress:
        progress(1, 1)  # not a terminal: nothing drawn, nothing raised


def test_ctrl_c_stops_a_local_export_with_whole_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import contextlib
    import os
    import signal

    import engine.export
    from cli import aws_commands

    monkeypatch.setattr(engine.export, "BATCH_MESSAGES", 4)

    @contextlib.contextmanager
    def interrupting() -> Iterator[Any]:
        # The user presses Ctrl-C once the first batch is on disk.
        yield lambda done, total: os.kill(os.getpid(), signal.SIGINT) if done == 4 else None

    monkeypatch.setattr(aws_commands, "export_progress", interrupting)
    root = tmp_path / "exports"
    code, out, err = run(
        "start-archive-export", "--archive-id", archive_id(shared_archive()), *DESTINATION,
        *RANGE, "--export-root", str(root), "--home", str(tmp_path / "home"),
        "--archive", str(shared_archive()),
    )  # fmt: skip
    export_id = json.loads(out)["ExportId"]
    assert code == 1 and err == (
        f"Error: export {export_id} CANCELLED: stopped before it finished\n"
    )
    manifest = manifest_of(root / "bkt" / "case" / export_id)
    assert manifest["State"] == "CANCELLED" and len(manifest["Messages"]) == 4
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back
