"""``validate`` and ``validate-export`` against hand-edited cloud results.

Each "cloud" result is a real local result (the library's rows, as JSON) edited by hand in a way
whose effect is known, never produced by the rule switches validate uses to explain: remove the
rows whose only SUBJECT match differs in case, add the row exactly at ToTimestamp, remove the rows
that match only through a display name, reverse before cutting at MaxResults, add a row for a
message the archive lacks, change one Subject. Each test checks that validate finds exactly those
differences and names the right cause.
"""

from __future__ import annotations

import copy
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli.main import main
from cli.output import dumps
from engine.rows import datetime_to_ms, project_rows
from engine.search import search_archive
from engine.store import Archive, load_info
from engine.validate import parse_search_request, validate_search
from ingest.pipeline import ingest_export

FROM = "2024-05-01T00:00:00Z"
TO = "2024-05-10T00:00:00Z"

# id, ReceivedTimestamp, Subject, To. Each message is there for one edit.
MESSAGES = [
    ("m01-from-edge", "2024-05-01T00:00:00Z", "Invoice early bird", "Alice <alice@example.com>"),
    ("m02-exact", "2024-05-02T10:00:00.123Z", "Invoice 1001", "Alice <alice@example.com>"),
    ("m03-upper", "2024-05-03T10:00:00Z", "INVOICE overdue", "Alice <alice@example.com>"),
    ("m04-lower", "2024-05-04T10:00:00Z", "your invoice is ready", "Alice <alice@example.com>"),
    # "sales" only in the display name, lower case inside "Presales": case does not explain it.
    (
        "m05-presales",
        "2024-05-05T10:00:00Z",
        "Invoice for the team",
        "Presales <orders@example.com>",
    ),
    ("m06-sales-addr", "2024-05-06T10:00:00Z", "Invoice copy", "Team <sales@example.com>"),
    ("m07-to-edge", "2024-05-10T00:00:00Z", "Invoice late", "Alice <alice@example.com>"),
    ("m08-before", "2024-04-20T10:00:00Z", "Invoice old", "Alice <alice@example.com>"),
    ("m09-lunch", "2024-05-07T10:00:00Z", "Lunch on Friday", "sales.team@example.com"),
    ("m10-reply", "2024-05-08T10:00:00Z", "Re: Invoice 1001", "Carol <carol@example.com>"),
]


def _condition(attribute: str, value: str) -> dict[str, Any]:
    return {
        "Include": [
            {
                "StringExpression": {
                    "Evaluate": {"Attribute": attribute},
                    "Operator": "CONTAINS",
                    "Values": [value],
                }
            }
        ]
    }


SUBJECT_INVOICE_CASED = _condition("SUBJECT", "Invoice")
SUBJECT_INVOICE = _condition("SUBJECT", "invoice")
TO_SALES = _condition("TO", "sales")


def _write_message(folder: Path, archived_id: str, received: str, subject: str, to: str) -> None:
    when = datetime.fromisoformat(received.replace("Z", "+00:00"))
    data = (
        "From: Bob <bob@example.net>\r\n"
        f"To: {to}\r\n"
        f"Subject: {subject}\r\n"
        f"Date: {format_datetime(when)}\r\n"
        f"Message-ID: <{archived_id}@test.example>\r\n"
        "\r\n"
        "Hello.\r\n"
    )
    (folder / f"{archived_id}.eml").write_bytes(data.encode())
    metadata = {"ArchivedMessageId": archived_id, "Metadata": {"Timestamp": received}}
    (folder / f"{archived_id}.metadata.json").write_text(json.dumps(metadata))


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the export folder, the archive ingested from it)."""
    root = tmp_path_factory.mktemp("validate")
    export = root / "export"
    export.mkdir()
    for message in MESSAGES:
        _write_message(export, *message)
    (export / "zz-empty.eml").write_bytes(b"")  # rejected by ingest: validate-export says so
    report = ingest_export(export, root / "archive")
    assert report.messages_ingested == len(MESSAGES)
    return export, root / "archive"


@pytest.fixture(scope="module")
def archive(paths: tuple[Path, Path]) -> Path:
    return paths[1]


def request(filters: object, max_results: int = 100, **overrides: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ArchiveId": "a-cloud",
        "Filters": filters,
        "FromTimestamp": FROM,
        "ToTimestamp": TO,
        "MaxResults": max_results,
    }
    out.update(overrides)
    return out


def local_result(
    archive: Path, filters: object, max_results: int = 100, from_: str = FROM, to: str = TO
) -> list[dict[str, Any]]:
    """A real local result, as JSON rows (what an analyst would hand-edit)."""
    outcome = search_archive(
        Archive(archive),
        filters,
        datetime_to_ms(datetime.fromisoformat(from_.replace("Z", "+00:00"))),
        datetime_to_ms(datetime.fromisoformat(to.replace("Z", "+00:00"))),
        max_results,
    )
    rows: list[dict[str, Any]] = json.loads(dumps(project_rows(outcome.records)))
    return rows


def row_of(archive: Path, archived_id: str) -> dict[str, Any]:
    """The real row of one message, found by a search without a time range."""
    everything = local_result(archive, None, 1000, "1970-01-01T00:00:00Z", "2100-01-01T00:00:00Z")
    return next(r for r in everything if r["ArchivedMessageId"] == archived_id)


def ids(rows: list[dict[str, Any]]) -> list[str]:
    return [r["ArchivedMessageId"] for r in rows]


def without(rows: list[dict[str, Any]], *drop: str) -> list[dict[str, Any]]:
    return [r for r in rows if r["ArchivedMessageId"] not in drop]


GHOST = {
    "ArchivedMessageId": "zz-ghost",
    "ReceivedTimestamp": "2024-05-02T12:00:00+00:00",
    "Subject": "Invoice from nowhere",
    "MessageId": "<ghost@elsewhere.example>",
    "HasAttachments": False,
}


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def validate(
    archive: Path, tmp_path: Path, search: object, rows: object, *extra: str
) -> tuple[int, Any, str]:
    request_file, cloud_file = tmp_path / "request.json", tmp_path / "cloud.json"
    request_file.write_text(json.dumps(search))
    cloud_file.write_text(json.dumps(rows if isinstance(rows, dict) else {"Rows": rows}))
    args = [str(archive), "--search-request", str(request_file)]
    args += ["--cloud-results", str(cloud_file), *extra]
    code, out, err = run("validate", *args)
    if "--format" not in extra:
        return code, json.loads(out) if code in (0, 1) and out else out, err
    return code, out, err


def found(report: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    """(kind, ArchivedMessageId, cause) of every difference, sorted."""
    return sorted(
        (d["kind"], d["row"].get("ArchivedMessageId"), d["cause"]) for d in report["differences"]
    )


def json_validate(archive: Path, tmp_path: Path, search: object, rows: object) -> Any:
    code, report, err = validate(archive, tmp_path, search, rows, "--format", "json")
    assert code in (0, 1), err
    parsed = json.loads(report)
    assert code == (0 if parsed["identical"] else 1)
    return parsed


# -- identical --------------------------------------------------------------------------------


def test_an_unedited_result_is_identical(archive: Path, tmp_path: Path) -> None:
    rows = local_result(archive, SUBJECT_INVOICE)
    assert ids(rows) == [
        "m10-reply",
        "m06-sales-addr",
        "m05-presales",
        "m04-lower",
        "m03-upper",
        "m02-exact",
        "m01-from-edge",
    ]
    report = json_validate(archive, tmp_path, request(SUBJECT_INVOICE), rows)
    assert report["identical"] is True
    assert report["differences"] == []
    counts = report["counts"]
    assert counts["matched"] == counts["cloud_rows"] == counts["local_rows"] == 7
    assert counts["paired_by"] == {"ArchivedMessageId": 7}
    code, text, _ = validate(archive, tmp_path, request(SUBJECT_INVOICE), rows, "--format", "text")
    assert code == 0
    assert text.rstrip().endswith("Identical.")


# -- one edit each ----------------------------------------------------------------------------


def test_rows_matching_only_in_another_case_removed(archive: Path, tmp_path: Path) -> None:
    cloud = without(local_result(archive, SUBJECT_INVOICE_CASED), "m03-upper", "m04-lower")
    report = json_validate(archive, tmp_path, request(SUBJECT_INVOICE_CASED), cloud)
    assert found(report) == [
        ("extra_locally", "m03-upper", "case-sensitive-contains"),
        ("extra_locally", "m04-lower", "case-sensitive-contains"),
    ]
    assert report["counts"]["matched"] == 5
    assert all("also_explained_by" not in d for d in report["differences"])


def test_rows_matching_only_through_a_display_name_removed(archive: Path, tmp_path: Path) -> None:
    rows = local_result(archive, TO_SALES)
    assert ids(rows) == ["m09-lunch", "m06-sales-addr", "m05-presales"]
    report = json_validate(archive, tmp_path, request(TO_SALES), without(rows, "m05-presales"))
    assert found(report) == [("extra_locally", "m05-presales", "addresses-only")]


def test_a_row_exactly_at_to_timestamp_added(archive: Path, tmp_path: Path) -> None:
    cloud = [row_of(archive, "m07-to-edge"), *local_result(archive, SUBJECT_INVOICE)]
    assert cloud[0]["ReceivedTimestamp"] == "2024-05-10T00:00:00+00:00"  # == ToTimestamp
    report = json_validate(archive, tmp_path, request(SUBJECT_INVOICE), cloud)
    assert found(report) == [("missing_locally", "m07-to-edge", "inclusive-to-timestamp")]


def test_the_row_exactly_at_from_timestamp_removed(archive: Path, tmp_path: Path) -> None:
    cloud = without(local_result(archive, SUBJECT_INVOICE), "m01-from-edge")
    report = json_validate(archive, tmp_path, request(SUBJECT_INVOICE), cloud)
    assert found(report) == [("extra_locally", "m01-from-edge", "exclusive-from-timestamp")]


def test_reversed_before_max_results(archive: Path, tmp_path: Path) -> None:
    everything = local_result(archive, SUBJECT_INVOICE)
    cloud = list(reversed(everything))[:5]
    assert ids(cloud) == ["m01-from-edge", "m02-exact", "m03-upper", "m04-lower", "m05-presales"]
    report = json_validate(archive, tmp_path, request(SUBJECT_INVOICE, 5), cloud)
    # Locally: m10, m06, m05, m04, m03. The overlap (m03..m05) comes in the other order.
    assert found(report) == [
        ("extra_locally", "m06-sales-addr", "oldest-first-order"),
        ("extra_locally", "m10-reply", "oldest-first-order"),
        ("missing_locally", "m01-from-edge", "oldest-first-order"),
        ("missing_locally", "m02-exact", "oldest-first-order"),
        ("order", None, "oldest-first-order"),
    ]
    order = next(d for d in report["differences"] if d["kind"] == "order")
    assert order["values"][0]["cloud"] == ["m03-upper", "m04-lower", "m05-presales"]
    assert order["values"][0]["local"] == ["m05-presales", "m04-lower", "m03-upper"]
    assert report["counts"]["order_differs"] is True
    # Case-sensitive CONTAINS also drops m10 and m06, but by emptying the result: not offered.
    assert all("also_explained_by" not in d for d in report["differences"])
    assert report["counts"]["local_matches_before_max_results"] == 7


def test_a_row_for_a_message_not_in_the_archive_added(archive: Path, tmp_path: Path) -> None:
    rows = local_result(archive, SUBJECT_INVOICE)
    cloud = [*rows[:5], GHOST, *rows[5:]]  # in its place, newest first
    report = json_validate(archive, tmp_path, request(SUBJECT_INVOICE), cloud)
    assert found(report) == [("missing_locally", "zz-ghost", "absent-from-export")]
    assert report["counts"]["matched"] == 7


def test_one_subject_changed(archive: Path, tmp_path: Path) -> None:
    cloud = local_result(archive, SUBJECT_INVOICE)
    cloud[5]["Subject"] = "Invoice 1001 (corrected)"
    report = json_validate(archive, tmp_path, request(SUBJECT_INVOICE), cloud)
    assert found(report) == [("member", "m02-exact", "header-read-differently")]
    (difference,) = report["differences"]
    assert difference["paired_by"] == "ArchivedMessageId"
    assert difference["values"] == [
        {"member": "Subject", "cloud": "Invoice 1001 (corrected)", "local": "Invoice 1001"}
    ]
    assert report["counts"]["differing"] == 1
    assert report["counts"]["matched"] == 6


def test_a_message_the_cloud_read_differently_is_why_it_matched(
    archive: Path, tmp_path: Path
) -> None:
    lunch = row_of(archive, "m09-lunch")
    lunch["Subject"] = "Invoice: lunch on Friday"  # so the cloud's SUBJECT "invoice" found it
    rows = local_result(archive, SUBJECT_INVOICE)
    report = json_validate(
        archive, tmp_path, request(SUBJECT_INVOICE), [*rows[:1], lunch, *rows[1:]]
    )
    assert found(report) == [("missing_locally", "m09-lunch", "header-read-differently")]
    (difference,) = report["differences"]
    assert difference["values"] == [
        {"member": "Subject", "cloud": "Invoice: lunch on Friday", "local": "Lunch on Friday"}
    ]
    assert difference["note"] == "the archive holds it as m09-lunch; the local search skips it"


def test_a_metadata_member_and_a_repeated_row(archive: Path, tmp_path: Path) -> None:
    cloud = local_result(archive, SUBJECT_INVOICE)
    cloud[0]["IngressPointId"] = "inp-0123456789"
    cloud.append(copy.deepcopy(cloud[-1]))
    report = json_validate(archive, tmp_path, request(SUBJECT_INVOICE), cloud)
    assert found(report) == [
        ("member", "m10-reply", "header-read-differently"),
        ("missing_locally", "m01-from-edge", "unexplained"),
    ]
    notes = [d["note"] for d in report["differences"]]
    assert notes[0] == "the cloud lists m01-from-edge more than once"
    assert notes[1].startswith("locally absent: it comes from the message's metadata document")


# -- all at once --------------------------------------------------------------------------------


def test_every_edit_at_once_in_text_and_json(archive: Path, tmp_path: Path) -> None:
    rows = without(local_result(archive, SUBJECT_INVOICE_CASED), "m03-upper", "m04-lower")
    cloud = [row_of(archive, "m07-to-edge"), *rows]
    cloud.insert(4, GHOST)
    changed = next(r for r in cloud if r["ArchivedMessageId"] == "m02-exact")
    changed["Subject"] = "Invoice 1001 (corrected)"
    search = request(SUBJECT_INVOICE_CASED)
    report = json_validate(archive, tmp_path, search, cloud)
    assert found(report) == [
        ("extra_locally", "m03-upper", "case-sensitive-contains"),
        ("extra_locally", "m04-lower", "case-sensitive-contains"),
        ("member", "m02-exact", "header-read-differently"),
        ("missing_locally", "m07-to-edge", "inclusive-to-timestamp"),
        ("missing_locally", "zz-ghost", "absent-from-export"),
    ]
    assert report["counts"]["causes"] == {
        "case-sensitive-contains": 2,
        "inclusive-to-timestamp": 1,
        "absent-from-export": 1,
        "header-read-differently": 1,
    }
    code, text, _ = validate(archive, tmp_path, search, cloud, "--format", "text")
    assert code == 1
    assert "extra locally: m03-upper" in text
    assert "cause: case-sensitive CONTAINS (the contract folds case" in text
    assert "[inclusive-to-timestamp]" in text
    assert "[absent-from-export]" in text
    assert 'cloud Subject: "Invoice 1001 (corrected)"' in text
    assert "a header read differently (same message, different member value): Subject [" in text
    assert "5 differences:" in text


# -- pairing without the archive's ids ---------------------------------------------------------


def test_rows_pair_by_message_id_date_and_subject(archive: Path, tmp_path: Path) -> None:
    cloud = local_result(archive, SUBJECT_INVOICE)
    for i, row in enumerate(cloud):
        row["ArchivedMessageId"] = f"cloud-{i:04d}"  # an export laid out differently
    report = json_validate(archive, tmp_path, request(SUBJECT_INVOICE), cloud)
    assert report["identical"] is True
    assert report["counts"]["paired_by"] == {"MessageId+Date+Subject": 7}


def test_other_ids_and_a_changed_subject_pair_by_message_id(archive: Path, tmp_path: Path) -> None:
    cloud = local_result(archive, SUBJECT_INVOICE)
    for i, row in enumerate(cloud):
        row["ArchivedMessageId"] = f"cloud-{i:04d}"
    cloud[5]["Subject"] = "Invoice 1001 (corrected)"
    report = json_validate(archive, tmp_path, request(SUBJECT_INVOICE), cloud)
    assert found(report) == [("member", "m02-exact", "header-read-differently")]
    assert report["differences"][0]["paired_by"] == "MessageId"
    assert report["counts"]["paired_by"] == {"MessageId+Date+Subject": 6, "MessageId": 1}


# -- timestamps: epoch vs ISO ------------------------------------------------------------------


def test_epoch_numbers_and_iso_offsets_mean_the_same(archive: Path, tmp_path: Path) -> None:
    iso = local_result(archive, SUBJECT_INVOICE)
    epoch = copy.deepcopy(iso)
    for row in epoch:
        when = datetime.fromisoformat(row["ReceivedTimestamp"])
        row["ReceivedTimestamp"] = datetime_to_ms(when) / 1000  # the wire's epoch seconds
    assert epoch[5]["ReceivedTimestamp"] == 1714644000.123  # milliseconds survive the float
    offset = copy.deepcopy(iso)
    offset[0]["ReceivedTimestamp"] = "2024-05-08T15:30:00+05:30"  # m10-reply, 10:00 UTC
    search = request(
        SUBJECT_INVOICE,
        FromTimestamp=1714521600,  # 2024-05-01T00:00:00Z
        ToTimestamp="2024-05-10T02:00:00+02:00",
    )
    for rows in (iso, epoch, offset):
        report = json_validate(archive, tmp_path, search, rows)
        assert report["identical"] is True, report["differences"]
    assert report["request"]["FromTimestamp"] == "2024-05-01T00:00:00+00:00"
    assert report["request"]["ToTimestamp"] == "2024-05-10T00:00:00+00:00"


def test_a_timestamp_that_differs_is_reported_in_iso(archive: Path, tmp_path: Path) -> None:
    cloud = local_result(archive, SUBJECT_INVOICE)
    cloud[5]["ReceivedTimestamp"] = 1714644000  # m02-exact without its .123
    report = json_validate(archive, tmp_path, request(SUBJECT_INVOICE), cloud)
    (difference,) = report["differences"]
    assert difference["values"] == [
        {
            "member": "ReceivedTimestamp",
            "cloud": "2024-05-02T10:00:00+00:00",
            "local": "2024-05-02T10:00:00.123000+00:00",
        }
    ]


def test_the_library_accepts_boto3_datetimes(archive: Path) -> None:
    search = request(
        SUBJECT_INVOICE,
        FromTimestamp=datetime(2024, 5, 1, tzinfo=UTC),
        ToTimestamp=datetime(2024, 5, 10, tzinfo=UTC),
    )
    parsed = parse_search_request(search)
    assert (parsed.from_ms, parsed.to_ms) == (1714521600000, 1715299200000)
    report = validate_search(Archive(archive), parsed, [])
    assert report.extra_locally == 7 and not report.identical


# -- malformed inputs ---------------------------------------------------------------------------

GOOD_ROW = {"ArchivedMessageId": "m02-exact", "HasAttachments": False}


@pytest.mark.parametrize(
    ("search", "cloud", "message"),
    [
        ("{not json", {"Rows": []}, "--search-request: "),
        (request(None), "[1, 2", "--cloud-results: "),
        ([], {"Rows": []}, "expected a JSON object, got a list"),
        (request(None), [], "expected a JSON object, got a list"),
        ({"Filters": None, "FromTimestamp": FROM, "MaxResults": 5}, {"Rows": []}, "ToTimestamp"),
        (request(None, FromTimestamp="yesterday"), {"Rows": []}, "FromTimestamp: expected ISO"),
        (request(None, FromTimestamp=1714521600000), {"Rows": []}, "outside years 1..9999"),
        (request(None, FromTimestamp=True), {"Rows": []}, "got a boolean"),
        (request(None, FromTimestamp=TO, ToTimestamp=FROM), {"Rows": []}, "earlier than"),
        (request(None, 5000), {"Rows": []}, "MaxResults: expected an integer 0..1000"),
        (request(None, "10"), {"Rows": []}, "MaxResults"),
        (request(_condition("BODY", "x")), {"Rows": []}, "Filters.Include[0].StringExpression"),
        (request(None, Foo=1), {"Rows": []}, "Foo: unknown member"),
        (request(None, Status={"State": "RUNNING"}), {"Rows": []}, "the search is RUNNING"),
        (request(None), {"Rows": {}}, "Rows: expected a list"),
        (request(None), {"Rows": [1]}, "Rows[0]: expected a JSON object"),
        (request(None), {"Rows": [], "Extra": 1}, "Extra: unknown member"),
        (request(None), {"Rows": [{**GOOD_ROW, "Body": "x"}]}, "Rows[0].Body: unknown member"),
        (request(None), {"Rows": [{**GOOD_ROW, "HasAttachments": "no"}]}, "HasAttachments"),
        (request(None), {"Rows": [{**GOOD_ROW, "Subject": 7}]}, "Subject: expected a string"),
        (request(None), {"Rows": [{**GOOD_ROW, "ReceivedTimestamp": "x"}]}, "ReceivedTimestamp"),
        (
            request(None),
            {"Rows": [{**GOOD_ROW, "Envelope": {"To": "a@b"}}]},
            "Rows[0].Envelope.To: expected a list of strings",
        ),
    ],
)
def test_malformed_input_is_exit_2(
    archive: Path, tmp_path: Path, search: object, cloud: object, message: str
) -> None:
    request_file, cloud_file = tmp_path / "request.json", tmp_path / "cloud.json"
    request_file.write_text(search if isinstance(search, str) else json.dumps(search))
    cloud_file.write_text(cloud if isinstance(cloud, str) else json.dumps(cloud))
    code, out, err = run(
        "validate",
        str(archive),
        "--search-request",
        str(request_file),
        "--cloud-results",
        str(cloud_file),
    )
    assert code == 2, (out, err)
    assert err.startswith("Error: ")
    assert message in err
    assert "Traceback" not in err and out == ""


def test_unreadable_files_and_archives_are_exit_2(archive: Path, tmp_path: Path) -> None:
    good = tmp_path / "request.json"
    good.write_text(json.dumps(request(None)))
    missing = tmp_path / "nope.json"
    code, _, err = run(
        "validate", str(archive), "--search-request", str(good), "--cloud-results", str(missing)
    )
    assert code == 2 and err.startswith("Error: --cloud-results: cannot read")
    rows = tmp_path / "rows.json"
    rows.write_text('{"Rows": []}')
    code, _, err = run(
        "validate", str(tmp_path), "--search-request", str(good), "--cloud-results", str(rows)
    )
    assert code == 2 and err.startswith("Error: ") and "Traceback" not in err
    code, _, err = run("validate", str(archive), "--search-request", str(good))
    assert code == 2 and "--cloud-results" in err
    code, _, err = run("validate", str(archive), "--search-id", "s-1", "--cloud-results", str(rows))
    assert code == 2 and "not both" in err


# -- validate-export ----------------------------------------------------------------------------


def validate_export(export: Path, tmp_path: Path, rows: list[dict[str, Any]]) -> tuple[int, Any]:
    cloud_file = tmp_path / "cloud.json"
    cloud_file.write_text(json.dumps({"Rows": rows}))
    code, out, err = run(
        "validate-export", str(export), "--cloud-results", str(cloud_file), "--format", "json"
    )
    assert code in (0, 1), err
    return code, json.loads(out)


def test_validate_export_identical(paths: tuple[Path, Path], tmp_path: Path) -> None:
    export, archive = paths
    code, report = validate_export(export, tmp_path, local_result(archive, SUBJECT_INVOICE))
    assert code == 0 and report["identical"] is True
    assert report["counts"]["matched"] == 7
    assert report["export"]["messages"] == len(MESSAGES)


def test_validate_export_missing_file_and_changed_member(
    paths: tuple[Path, Path], tmp_path: Path
) -> None:
    export, archive = paths
    rows = local_result(archive, SUBJECT_INVOICE)
    rows[5]["Subject"] = "Invoice 1001 (corrected)"
    empty = {**GHOST, "ArchivedMessageId": "zz-empty", "MessageId": "<empty@x>"}
    code, report = validate_export(export, tmp_path, [*rows, GHOST, empty])
    assert code == 1
    assert found(report) == [
        ("member", "m02-exact", "header-read-differently"),
        ("missing_locally", "zz-empty", "absent-from-export"),
        ("missing_locally", "zz-ghost", "absent-from-export"),
    ]
    notes = {d["row"].get("ArchivedMessageId"): d.get("note") for d in report["differences"]}
    assert notes["zz-empty"] == "zz-empty.eml is in the export but was rejected: zero bytes"
    code, out, _ = run(
        "validate-export", str(export), "--cloud-results", str(tmp_path / "cloud.json")
    )
    assert code == 1 and "missing from the export: zz-ghost" in out


def test_validate_export_bad_input(tmp_path: Path) -> None:
    cloud_file = tmp_path / "cloud.json"
    cloud_file.write_text('{"Rows": []}')
    code, _, err = run(
        "validate-export", str(tmp_path / "nope"), "--cloud-results", str(cloud_file)
    )
    assert code == 2 and err.startswith("Error: ") and "Traceback" not in err


# -- through boto3 against mmarchive serve -------------------------------------------------------


@pytest.fixture
def served(archive: Path, tmp_path: Path) -> Iterator[str]:
    """``mmarchive serve ARCHIVE --port 0`` as a subprocess; yields its URL."""
    from cli.main import main as group

    if "serve" not in group.commands:
        pytest.skip("no `mmarchive serve` command in this checkout")
    executable = Path(sys.executable).parent / "mmarchive"
    process = subprocess.Popen(
        [str(executable), "serve", str(archive), "--port", "0", "--home", str(tmp_path / "home")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stdout = process.stdout
    assert stdout is not None
    first: list[str] = []  # read in a thread, so a server that never answers fails, not hangs
    reader = threading.Thread(target=lambda: first.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(30)
    try:
        line = first[0].strip() if first else ""
        assert line.startswith("Serving on http://"), (line, process.poll())
        yield line.removeprefix("Serving on ")
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_validate_a_search_fetched_through_boto3(
    archive: Path, served: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    boto3 = pytest.importorskip("boto3")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no credential lookup timeouts
    client = boto3.client(
        "mailmanager",
        endpoint_url=served,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    search_id = client.start_archive_search(
        ArchiveId=load_info(archive).archive_id,
        Filters=SUBJECT_INVOICE,
        FromTimestamp=datetime(2024, 5, 1, tzinfo=UTC),
        ToTimestamp=datetime(2024, 5, 10, tzinfo=UTC),
        MaxResults=5,
    )["SearchId"]
    deadline = time.monotonic() + 20
    while client.get_archive_search(SearchId=search_id)["Status"]["State"] != "COMPLETED":
        assert time.monotonic() < deadline, "the search did not complete"
        time.sleep(0.05)
    env = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code, out, err = run(
        "validate",
        str(archive),
        "--search-id",
        search_id,
        "--endpoint-url",
        served,
        "--format",
        "json",
    )
    assert code == 0, (out, err)
    report = json.loads(out)
    assert report["identical"] is True and report["counts"]["matched"] == 5
    code, _, err = run("validate", str(archive), "--search-id", "nope", "--endpoint-url", served)
    assert code == 2 and err.startswith("Error: GetArchiveSearch: ")
