"""Responses against the model: a walk of the raw JSON of every operation in every job state
(each member has its shape's type, nothing outside the shape), and golden lists of the members
each of our responses must carry (the model requires few, so an empty {} must not pass)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.jobs import JobStore, ProcessLease
from api.shapes import load_model
from engine.store import Archive
from tests.test_api_support import archive_id, post, shared_archive, thread_server

MODEL = load_model()
SHAPES = MODEL.shapes
FROM, TO = 946_684_800, 1_893_456_000
SEARCH = {"FromTimestamp": FROM, "ToTimestamp": TO, "MaxResults": 1000}
FILTERS = {
    "Include": [
        {
            "StringExpression": {
                "Evaluate": {"Attribute": "FROM"},
                "Operator": "CONTAINS",
                "Values": ["example"],
            }
        }
    ]
}


def walk(shape_name: str, value: Any, path: str, problems: list[str]) -> None:
    """Every problem of ``value`` against the shape, written independently of api/validate.py."""
    shape = SHAPES[shape_name]
    kind = shape["type"]
    where = path or "(response)"
    if kind == "structure":
        if not isinstance(value, dict):
            problems.append(f"{where}: not an object")
            return
        members = shape["members"]
        problems += [
            f"{path}.{k}: outside the shape {shape_name}" for k in value if k not in members
        ]
        problems += [
            f"{path}.{r}: required by {shape_name}"
            for r in shape.get("required", ())
            if r not in value
        ]
        if shape.get("union") and len(value) != 1:
            problems.append(f"{where}: union with {len(value)} members")
        for key, member in value.items():
            if key in members:
                walk(members[key]["shape"], member, f"{path}.{key}", problems)
    elif kind == "list":
        if not isinstance(value, list):
            problems.append(f"{where}: not a list")
            return
        for i, item in enumerate(value):
            walk(shape["member"]["shape"], item, f"{path}[{i}]", problems)
    elif kind == "string":
        if not isinstance(value, str):
            problems.append(f"{where}: not a string")
        elif "enum" in shape and value not in shape["enum"]:
            problems.append(f"{where}: {value!r} not in the enum")
        elif not shape.get("min", 0) <= len(value) <= shape.get("max", 1 << 30):
            problems.append(f"{where}: length {len(value)} outside the shape's")
        elif "pattern" in shape and not MODEL.pattern(shape_name).fullmatch(value):
            problems.append(f"{where}: {value!r} does not match {shape['pattern']}")
    elif kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(f"{where}: not an integer")
        elif not shape.get("min", -(1 << 63)) <= value <= shape.get("max", 1 << 63):
            problems.append(f"{where}: {value} outside the shape's range")
    elif kind == "boolean":
        if not isinstance(value, bool):
            problems.append(f"{where}: not a boolean")
    elif kind == "timestamp":
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(f"{where}: not epoch seconds")
    else:
        problems.append(f"{where}: shape type {kind} not expected")


# The members each response must carry, by path ("[]" = every item). {} means exactly {}.
GOLDEN: dict[str, dict[str, set[str]]] = {
    "CreateArchive": {"": {"ArchiveId"}},
    "GetArchive": {
        "": {
            "ArchiveId",
            "ArchiveName",
            "ArchiveArn",
            "ArchiveState",
            "Retention",
            "CreatedTimestamp",
            "LastUpdatedTimestamp",
        },
        "Retention": {"RetentionPeriod"},
    },
    "GetArchive+kms": {"": {"KmsKeyArn"}},
    "ListArchives": {
        "": {"Archives", "NextToken"},
        "Archives[]": {"ArchiveId", "ArchiveName", "ArchiveState", "LastUpdatedTimestamp"},
    },
    "ListArchives+last": {"": {"Archives"}},
    "UpdateArchive": {},
    "DeleteArchive": {},
    "StopArchiveSearch": {},
    "StartArchiveSearch": {"": {"SearchId"}},
    "GetArchiveSearch": {
        "": {"ArchiveId", "FromTimestamp", "ToTimestamp", "MaxResults", "Status"},
        "Status": {"SubmissionTimestamp", "State"},
    },
    "GetArchiveSearch+filters": {"": {"Filters"}},
    "GetArchiveSearch+finished": {
        "Status": {"SubmissionTimestamp", "CompletionTimestamp", "State"}
    },
    "GetArchiveSearch+failed": {"Status": {"CompletionTimestamp", "ErrorMessage"}},
    "GetArchiveSearchResults": {
        "": {"Rows"},
        "Rows[]": {"ArchivedMessageId", "ReceivedTimestamp", "HasAttachments"},
    },
    "ListArchiveSearches": {
        "": {"Searches"},
        "Searches[]": {"SearchId", "Status"},
        "Searches[].Status": {"SubmissionTimestamp", "State"},
    },
    "StartArchiveExport": {"": {"ExportId"}},
    "GetArchiveExport": {
        "": {
            "ArchiveId",
            "FromTimestamp",
            "ToTimestamp",
            "ExportDestinationConfiguration",
            "Status",
        },
        "ExportDestinationConfiguration": {"S3"},
        "ExportDestinationConfiguration.S3": {"S3Location"},
        "Status": {"SubmissionTimestamp", "State"},
    },
    "GetArchiveExport+max": {"": {"MaxResults"}},
    "GetArchiveExport+filters": {"": {"Filters"}},
    "GetArchiveExport+finished": {
        "Status": {"SubmissionTimestamp", "CompletionTimestamp", "State"}
    },
    "GetArchiveExport+failed": {"Status": {"CompletionTimestamp", "ErrorMessage"}},
    "StopArchiveExport": {},
    "ListArchiveExports": {
        "": {"Exports"},
        "Exports[]": {"ExportId", "Status"},
        "Exports[].Status": {"SubmissionTimestamp", "State"},
    },
    "ListArchiveExports+more": {"": {"NextToken"}},
    "GetArchiveMessage": {
        "": {"MessageDownloadLink", "Metadata", "Envelope"},
        "Metadata": {"Timestamp", "IngressPointId"},
        "Envelope": {"From", "To"},
    },
    "GetArchiveMessageContent": {"": {"Body"}, "Body": {"MessageMalformed"}},
}


def at(obj: Any, path: str) -> list[Any]:
    """The values at a golden path ("" = the response; "Rows[]" = every row)."""
    values = [obj]
    for part in filter(None, path.split(".")):
        name, each = part.removesuffix("[]"), part.endswith("[]")
        values = [v[name] for v in values if name in v]
        if each:
            values = [item for v in values for item in v]
    return values


def golden_problems(key: str, response: Any) -> list[str]:
    spec = GOLDEN[key]
    if not spec:
        return [] if response == {} else [f"{key}: expected exactly {{}}"]
    problems = []
    for path, members in spec.items():
        values = at(response, path)
        if not values:
            problems.append(f"{key}: nothing at {path!r}")
        for value in values:
            problems += [f"{key}: {path}.{m} missing" for m in sorted(members - set(value))]
    return problems


def wait_export(url: str, export_id: str, state: str) -> None:
    deadline = time.monotonic() + 10
    while post(url, "GetArchiveExport", {"ExportId": export_id}).json["Status"]["State"] != state:
        assert time.monotonic() < deadline
        time.sleep(0.02)


def walk_exports(home: Path, url: str, aid: str, call: Any) -> None:
    """Exports in each of their states, and the two message operations (the test hold is on:
    exports wait in each working state until its release file appears)."""
    from api.operations import DEFAULT_EXPORT_WORKERS

    export = {
        "ArchiveId": aid,
        "FromTimestamp": FROM,
        "ToTimestamp": TO,
        "ExportDestinationConfiguration": {"S3": {"S3Location": "s3://walked/exports"}},
    }
    held = [
        call("StartArchiveExport", {**export, "MaxResults": 5})["ExportId"]
        for _ in range(DEFAULT_EXPORT_WORKERS)
    ]
    body = {**export, "Filters": FILTERS, "IncludeMetadata": True}
    queued = call("StartArchiveExport", body)["ExportId"]  # every worker is held
    for export_id in held:
        wait_export(url, export_id, "PREPROCESSING")
    call("GetArchiveExport", {"ExportId": held[0]}, "GetArchiveExport+max")
    waiting = call("GetArchiveExport", {"ExportId": queued}, "GetArchiveExport+filters")
    assert waiting["Status"]["State"] == "QUEUED"
    call("ListArchiveExports", {"ArchiveId": aid, "PageSize": 1}, "ListArchiveExports+more")
    call("StopArchiveExport", {"ExportId": held[1]})
    call("GetArchiveExport", {"ExportId": held[1]}, "GetArchiveExport+finished")
    (home / "release-holds.PREPROCESSING").touch()
    wait_export(url, held[0], "PROCESSING")
    call("GetArchiveExport", {"ExportId": held[0]})
    (home / "release-holds.PROCESSING").touch()
    for export_id in (held[0], queued):
        wait_export(url, export_id, "COMPLETED")
        call("GetArchiveExport", {"ExportId": export_id}, "GetArchiveExport+finished")
    lease = ProcessLease(home)
    orphan = JobStore(home, "exports", "export", lease).create(aid, export)
    lease.close()
    failed = call("GetArchiveExport", {"ExportId": orphan.job_id}, "GetArchiveExport+failed")
    assert failed["Status"]["State"] == "FAILED"
    call("ListArchiveExports", {"ArchiveId": aid})

    record = next(
        r
        for r in Archive(shared_archive()).iter_records()
        if r["envelope_from"] and r["envelope_to"] and r["ingress_point_id"]
    )
    call("GetArchiveMessage", {"ArchivedMessageId": record["archived_message_id"]})
    call("GetArchiveMessageContent", {"ArchivedMessageId": record["archived_message_id"]})


@pytest.fixture(scope="module")
def answers(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[list[tuple[str, list[str], Any]]]:
    """(operation, golden keys, raw JSON) for every operation, in every search state."""
    home = tmp_path_factory.mktemp("home")
    mp = pytest.MonkeyPatch()
    mp.setenv("MMARCHIVE_TEST_HOLD_JOBS", "1")
    collected: list[tuple[str, list[str], Any]] = []
    aid = archive_id(shared_archive())
    with thread_server(home, (shared_archive(),), workers=1, export_root=home / "out") as (_, url):

        def call(operation: str, body: dict[str, Any], *golden: str) -> Any:
            answer = post(url, operation, body)
            assert answer.status == 200, answer.body
            collected.append((operation, [operation, *golden], answer.json))
            return answer.json

        walk_exports(home, url, aid, call)

        created = call(
            "CreateArchive",
            {"ArchiveName": "walked", "KmsKeyArn": "arn:aws:kms:eu-west-1:123456789012:alias/x"},
        )["ArchiveId"]
        call("GetArchive", {"ArchiveId": created}, "GetArchive+kms")
        call("GetArchive", {"ArchiveId": aid})
        call("ListArchives", {"PageSize": 1})
        collected.append(
            ("ListArchives", ["ListArchives+last"], post(url, "ListArchives", {}).json)
        )
        call("UpdateArchive", {"ArchiveId": created, "Retention": {"RetentionPeriod": "ONE_YEAR"}})
        call("DeleteArchive", {"ArchiveId": created})
        call("GetArchive", {"ArchiveId": created})

        running = call("StartArchiveSearch", {"ArchiveId": aid, **SEARCH})["SearchId"]
        queued = call("StartArchiveSearch", {"ArchiveId": aid, "Filters": FILTERS, **SEARCH})[
            "SearchId"
        ]  # one worker, held by the first: stays QUEUED
        deadline = time.monotonic() + 10
        while post(url, "GetArchiveSearch", {"SearchId": running}).json["Status"]["State"] != (
            "RUNNING"
        ):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        states = {}
        for search_id in (running, queued):
            states[search_id] = call("GetArchiveSearch", {"SearchId": search_id})
        assert states[running]["Status"]["State"] == "RUNNING"
        assert states[queued]["Status"]["State"] == "QUEUED"
        call("ListArchiveSearches", {"ArchiveId": aid})
        call("StopArchiveSearch", {"SearchId": running})
        call("GetArchiveSearch", {"SearchId": running}, "GetArchiveSearch+finished")
        (home / "release-holds").touch()
        while post(url, "GetArchiveSearch", {"SearchId": queued}).json["Status"]["State"] != (
            "COMPLETED"
        ):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        call(
            "GetArchiveSearch",
            {"SearchId": queued},
            "GetArchiveSearch+finished",
            "GetArchiveSearch+filters",
        )
        rows = call("GetArchiveSearchResults", {"SearchId": queued})["Rows"]
        assert rows

        # A search whose process died: its owner's lease is gone.
        lease = ProcessLease(home)
        orphan = JobStore(home, "searches", "search", lease).create(
            aid, {"ArchiveId": aid, "FromTimestamp": 0, "ToTimestamp": 1000, "MaxResults": 1}
        )
        lease.close()
        failed = call("GetArchiveSearch", {"SearchId": orphan.job_id}, "GetArchiveSearch+failed")
        assert failed["Status"]["State"] == "FAILED"
        call("ListArchiveSearches", {"ArchiveId": aid, "PageSize": 50})
    mp.undo()
    yield collected


def test_every_operation_is_walked(answers: list[tuple[str, list[str], Any]]) -> None:
    from api.operations import OPERATIONS

    assert {operation for operation, _, _ in answers} == set(OPERATIONS)
    states = {a[2]["Status"]["State"] for a in answers if a[0] == "GetArchiveSearch"}
    assert states == {"QUEUED", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"}
    states = {a[2]["Status"]["State"] for a in answers if a[0] == "GetArchiveExport"}
    assert states == set(SHAPES["ExportState"]["enum"])


def test_responses_follow_the_shapes(answers: list[tuple[str, list[str], Any]]) -> None:
    problems: list[str] = []
    for operation, _, body in answers:
        walk(MODEL.output_shape(operation), body, operation, problems)
    assert problems == []


def test_responses_carry_the_golden_members(answers: list[tuple[str, list[str], Any]]) -> None:
    problems: list[str] = []
    for _, keys, body in answers:
        for key in keys:
            problems += golden_problems(key, body)
    assert problems == []


@pytest.mark.parametrize("key", sorted(k for k, v in GOLDEN.items() if v and "+" not in k))
def test_an_empty_response_fails_the_golden(key: str) -> None:
    assert golden_problems(key, {})


def test_rows_keep_the_shape_order(answers: list[tuple[str, list[str], Any]]) -> None:
    order = list(SHAPES["Row"]["members"])
    for operation, _, body in answers:
        if operation == "GetArchiveSearchResults":
            for row in body["Rows"]:
                assert list(row) == [m for m in order if m in row]


def test_error_bodies_follow_the_model(tmp_path: Path) -> None:
    with thread_server(tmp_path, (shared_archive(),)) as (_, url):
        for operation, body in (
            ("GetArchive", {"ArchiveId": "a-none"}),
            ("GetArchiveSearch", {"SearchId": "none"}),
            ("StartArchiveSearch", {"ArchiveId": "a-none", **SEARCH}),
            ("DeleteArchive", {"ArchiveId": "a-none"}),
            ("ListArchives", {"PageSize": 99}),
            ("GetArchiveExport", {"ExportId": "none"}),
            ("StopArchiveExport", {"ExportId": "../none"}),
            ("ListArchiveExports", {"ArchiveId": "a-none"}),
            (
                "StartArchiveExport",
                {
                    "ArchiveId": "a-none",
                    "FromTimestamp": FROM,
                    "ToTimestamp": TO,
                    "ExportDestinationConfiguration": {"S3": {"S3Location": "s3://bkt/x"}},
                },
            ),
            ("GetArchiveMessage", {"ArchivedMessageId": "none"}),
            ("GetArchiveMessageContent", {"ArchivedMessageId": "../none"}),
        ):
            answer = post(url, operation, body)
            code = answer.json["__type"].split("#")[1]
            assert code in MODEL.error_codes(operation), (operation, code)
            assert answer.status == MODEL.error_status(code)
            assert set(answer.json) == {"__type", "Message"}


def test_the_walk_finds_problems() -> None:
    problems: list[str] = []
    walk("GetArchiveSearchResponse", {"Extra": 1, "MaxResults": "5"}, "X", problems)
    walk("SearchStatus", {"State": "DONE", "SubmissionTimestamp": "2024"}, "S", problems)
    walk("ArchiveRetention", {}, "R", problems)
    assert problems == [
        "X.Extra: outside the shape GetArchiveSearchResponse",
        "X.MaxResults: not an integer",
        "S.State: 'DONE' not in the enum",
        "S.SubmissionTimestamp: not epoch seconds",
        "R: union with 0 members",
    ]
