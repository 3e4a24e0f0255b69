"""The click front end: output formats, the truncation notice, --explain, and every error path."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main, progress_bar
from ingest.generate import generate_export

SUBJECT_STRASSE = json.dumps(
    {
        "Include": [
            {
                "StringExpression": {
                    "Evaluate": {"Attribute": "SUBJECT"},
                    "Operator": "CONTAINS",
                    "Values": ["STRASSE"],
                }
            }
        ]
    }
)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    generate_export(root / "export", 80, seed=11)
    result = CliRunner().invoke(main, ["ingest", str(root / "export"), str(root / "archive")])
    assert result.exit_code == 0, result.output
    return root / "archive"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_ingest_json_report(tmp_path: Path) -> None:
    generate_export(tmp_path / "export", 5, seed=1)
    code, out, _ = run("ingest", str(tmp_path / "export"), str(tmp_path / "a"), "--json")
    assert code == 0
    report = json.loads(out)
    assert report["messages_ingested"] == 5
    for key in (
        "files_seen",
        "messages_already_present",
        "metadata_attached",
        "rejected",
        "not_messages",
        "warnings",
        "seconds",
    ):
        assert key in report


def test_default_output_is_results_json(archive: Path) -> None:
    code, out, err = run("search", str(archive), "--max-results", "3")
    assert code == 0
    rows = json.loads(out)["Rows"]
    assert len(rows) == 3
    assert rows[0]["ReceivedTimestamp"].endswith("+00:00")
    assert "Showing 3 of 80 matching messages" in err
    stamps = [r["ReceivedTimestamp"] for r in rows]
    assert stamps == sorted(stamps, reverse=True)


def test_folding_finds_strasse(archive: Path) -> None:
    code, out, _ = run("search", str(archive), "--filters", SUBJECT_STRASSE, "--max-results", "500")
    assert code == 0
    rows = json.loads(out)["Rows"]
    assert rows and all("strasse" in r["Subject"].casefold() for r in rows)


def test_filters_from_file_and_formats(archive: Path, tmp_path: Path) -> None:
    file = tmp_path / "f.json"
    file.write_text(SUBJECT_STRASSE)
    outputs = {}
    for fmt in ("json", "jsonl", "table", "csv"):
        code, out, _ = run("search", str(archive), "--filters", f"file://{file}", "--format", fmt)
        assert code == 0
        outputs[fmt] = out
    count = len(json.loads(outputs["json"])["Rows"])
    assert len(outputs["jsonl"].splitlines()) == count
    assert len(outputs["csv"].splitlines()) == count + 1
    assert outputs["csv"].startswith("ArchivedMessageId,ReceivedTimestamp,Date,To,From")
    assert outputs["table"].splitlines()[0].startswith("ArchivedMessageId")


def test_time_range_iso_and_epoch_agree(archive: Path) -> None:
    a = run(
        "search",
        str(archive),
        "--from-timestamp",
        "2024-03-01T00:00:00Z",
        "--to-timestamp",
        "2024-06-01",
    )
    b = run(
        "search", str(archive), "--from-timestamp", "1709251200", "--to-timestamp", "1717200000"
    )
    assert a == b and a[0] == 0
    stamps = [row["ReceivedTimestamp"] for row in json.loads(a[1])["Rows"]]
    assert stamps, "the range should hold some of the generated messages"
    assert all("2024-03-01T00:00:00+00:00" <= s < "2024-06-01T00:00:00+00:00" for s in stamps)


def test_explain_prints_plan_not_rows(archive: Path) -> None:
    code, out, _ = run("search", str(archive), "--filters", SUBJECT_STRASSE, "--explain")
    assert code == 0
    plan = json.loads(out)
    assert plan["path"] == "index"
    # "strasse": grams at offsets 0, 3 and the last one at 4 pin every character down.
    assert "x_subject:grams[(0, 'str'), (3, 'ass'), (4, 'sse')]" in plan["index_query"]
    assert plan["exact_check"].startswith("none")
    code, out, _ = run("search", str(archive), "--explain", "--path", "scan")
    assert json.loads(out)["path"] == "scan"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--filters", "{nope"], "Error: --filters: not valid JSON"),
        (["--filters", "file:///nonexistent/f.json"], "Error: --filters: cannot read"),
        (
            [
                "--filters",
                '{"Include":[{"StringExpression":{"Evaluate":{"Attribute":"BCC"},'
                '"Operator":"CONTAINS","Values":["x"]}}]}',
            ],
            "Error: Filters.Include[0].StringExpression.Evaluate.Attribute: value 'BCC'",
        ),
        (["--from-timestamp", "yesterday"], "Error: --from-timestamp: 'yesterday' is neither"),
        (
            [
                "--filters",
                '{"Include":[{"StringExpression":{"Evaluate":{"Attribute":"TO"},'
                '"Operator":"CONTAINS","Values":["\\ud800"]}}]}',
            ],
            "Error: Filters.Include[0].StringExpression.Values[0]: not valid Unicode text",
        ),
        (
            ["--from-timestamp", "2024-02-01", "--to-timestamp", "2024-01-01"],
            "Error: FromTimestamp: must be earlier than ToTimestamp",
        ),
    ],
)
def test_search_errors(archive: Path, args: list[str], message: str) -> None:
    code, out, err = run("search", str(archive), *args)
    assert code == 1
    assert out == ""
    assert err.startswith(message)
    assert "Traceback" not in err


def test_missing_archive_and_bad_source(tmp_path: Path) -> None:
    code, _, err = run("search", str(tmp_path / "nothing"))
    assert code == 1 and err.startswith("Error: ") and "no such archive" in err
    code, _, err = run("ingest", str(tmp_path / "nothing"), str(tmp_path / "a"))
    assert code == 1 and "the export folder does not exist" in err
    assert not (tmp_path / "a").exists()


def test_verify_exit_codes(archive: Path, tmp_path: Path) -> None:
    code, out, _ = run("verify", str(archive))
    assert code == 0 and "80 messages checked, 0 problems" in out


def test_every_command_has_help() -> None:
    for name, command in main.commands.items():
        assert command.help and len(command.help) > 20, name
        code, out, _ = run(name, "--help")
        assert code == 0 and "Usage" in out


def test_huge_max_results_is_fine(archive: Path) -> None:
    code, out, err = run("search", str(archive), "--max-results", "1000000000", "--format", "jsonl")
    assert code == 0, err
    assert len(out.splitlines()) == 80


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_shows_a_live_count_on_a_terminal() -> None:
    out = FakeTerminal()
    with progress_bar("Ingesting", True, stream=out) as update:
        update(1500)
    assert "Ingesting: 1,500 files" in out.getvalue()
    quiet = FakeTerminal()
    with progress_bar("Ingesting", False, stream=quiet) as update:
        update(10)
    assert quiet.getvalue() == ""
