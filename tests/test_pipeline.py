"""Ingest end to end: accounting, rerun safety, ids, metadata forms, SIGKILL at named points."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.errors import ArchiveFormatError
from engine.store import CRASH_POINTS, Archive, verify_archive
from ingest.generate import generate_export
from ingest.pipeline import IngestError, IngestReport, ingest_export
from tests.conftest import ROOT

MESSAGE = (
    b"From: Alice <alice@example.com>\r\nTo: Bob <bob@example.org>\r\n"
    b"Subject: %s\r\nDate: Mon, 01 Apr 2024 10:00:00 +0000\r\nMessage-ID: <%s@example.com>\r\n"
    b"\r\nHello.\r\n"
)


def message(subject: str) -> bytes:
    return MESSAGE % (subject.encode(), subject.encode())


def accounted(report: IngestReport) -> int:
    return (
        report.messages_ingested
        + report.messages_already_present
        + len(report.rejected)
        + len(report.not_messages)
        + report.metadata_attached
        + report.metadata_warned
    )


def ids(archive: Path) -> list[str]:
    return sorted(r["archived_message_id"] for r in Archive(archive).iter_records())


def test_accounting_adds_up_and_rerun_adds_nothing(tmp_path: Path) -> None:
    src = tmp_path / "export"
    generate_export(src, 60, seed=3)
    (src / "notes.txt").write_text("not mail")
    (src / "empty.eml").write_bytes(b"")
    (src / "noheader.eml").write_bytes(b"just some text\r\nwithout headers\r\n")
    (src / "orphan.json").write_text("{}")
    files = sum(1 for p in src.rglob("*") if p.is_file())
    first = ingest_export(src, tmp_path / "archive")
    assert first.files_seen == files == accounted(first)
    assert {r["path"] for r in first.rejected} == {"empty.eml", "noheader.eml"}
    assert "notes.txt" in first.not_messages
    assert first.messages_ingested == 60
    second = ingest_export(src, tmp_path / "archive")
    assert second.messages_ingested == 0
    assert second.messages_already_present == 60
    assert second.files_seen == accounted(second)
    assert len(ids(tmp_path / "archive")) == 60


def test_second_folder_adds_only_new_messages(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "one.eml").write_bytes(message("one"))
    (b / "one.eml").write_bytes(message("one"))
    (b / "two.eml").write_bytes(message("two"))
    ingest_export(a, tmp_path / "archive")
    report = ingest_export(b, tmp_path / "archive")
    assert (report.messages_ingested, report.messages_already_present) == (1, 1)
    assert ids(tmp_path / "archive") == ["one", "two"]


def test_id_collisions_and_invalid_names(tmp_path: Path) -> None:
    src = tmp_path / "export"
    (src / "x").mkdir(parents=True)
    (src / "same.eml").write_bytes(message("same"))
    (src / "x" / "same.eml").write_bytes(message("same"))  # same bytes, same id: present
    (src / "x" / "clash.eml").write_bytes(message("other"))
    (src / "clash.eml").write_bytes(message("clash"))  # same id, other bytes: ~hash
    (src / "copy.eml").write_bytes(message("same"))  # same bytes, another valid name
    (src / "not valid name.eml").write_bytes(message("spaces"))
    report = ingest_export(src, tmp_path / "archive")
    got = ids(tmp_path / "archive")
    assert report.messages_already_present == 1
    assert "same" in got and "copy" in got and "clash" in got
    assert any(i.startswith("clash~") and len(i) == len("clash~") + 12 for i in got)
    assert any(i.startswith("h-") and len(i) == 34 for i in got)
    assert any("id collision" in w["reason"] for w in report.warnings)


@pytest.mark.parametrize(
    ("name", "document", "expected_ms"),
    [
        ("m.metadata.json", {"Metadata": {"Timestamp": "2024-05-01T10:00:00Z"}}, 1714557600000),
        ("m.eml.json", {"ReceivedTimestamp": 1714557600}, 1714557600000),
        ("m.json", {"metadata": {"timestamp": 1714557600123}}, 1714557600123),
    ],
)
def test_metadata_forms(tmp_path: Path, name: str, document: dict, expected_ms: int) -> None:
    src = tmp_path / "export"
    src.mkdir()
    (src / "m.eml").write_bytes(message("meta"))
    document = {**document, "Envelope": {"From": "env@example.net", "To": ["r@example.org"]}}
    (src / name).write_text(json.dumps(document))
    report = ingest_export(src, tmp_path / "archive")
    assert report.metadata_attached == 1
    (record,) = Archive(tmp_path / "archive").iter_records()
    assert record["received_ms"] == expected_ms
    assert record["envelope_to"] == ["r@example.org"]


def test_malformed_metadata_keeps_the_message(tmp_path: Path) -> None:
    src = tmp_path / "export"
    src.mkdir()
    (src / "m.eml").write_bytes(message("meta"))
    (src / "m.metadata.json").write_text('{"Metadata": {"Timestamp": [1]}}')
    (src / "n.eml").write_bytes(message("nometa"))
    (src / "n.json").write_text("{not json")
    report = ingest_export(src, tmp_path / "archive")
    assert report.messages_ingested == 2
    assert report.metadata_warned == 2
    assert report.files_seen == accounted(report)
    # Fell back to the Date header.
    assert {r["received_ms"] for r in Archive(tmp_path / "archive").iter_records()} == {
        1711965600000
    }


def test_bad_source_and_foreign_archive(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="does not exist"):
        ingest_export(tmp_path / "missing", tmp_path / "archive")
    assert not (tmp_path / "archive").exists()
    src = tmp_path / "export"
    src.mkdir()
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep")
    with pytest.raises(ArchiveFormatError, match="not an mmarchive archive"):
        ingest_export(src, foreign)
    assert [p.name for p in foreign.iterdir()] == ["precious.txt"]


@pytest.mark.parametrize(("version", "message"), [(99, "newer"), (1, "ingest the export again")])
def test_other_formats_are_refused(tmp_path: Path, version: int, message: str) -> None:
    src = tmp_path / "export"
    src.mkdir()
    ingest_export(src, tmp_path / "archive")
    info = json.loads((tmp_path / "archive" / "archive.json").read_text())
    info["FormatVersion"] = version
    (tmp_path / "archive" / "archive.json").write_text(json.dumps(info))
    with pytest.raises(ArchiveFormatError, match=message):
        ingest_export(src, tmp_path / "archive")
    with pytest.raises(ArchiveFormatError, match=message):
        Archive(tmp_path / "archive")


def test_archive_inside_export_is_skipped(tmp_path: Path) -> None:
    src = tmp_path / "export"
    src.mkdir()
    (src / "a.eml").write_bytes(message("a"))
    ingest_export(src, src / "archive")
    report = ingest_export(src, src / "archive")
    assert report.files_seen == 1


def test_verify_finds_tampering(tmp_path: Path) -> None:
    src = tmp_path / "export"
    src.mkdir()
    for i in range(3):
        (src / f"m{i}.eml").write_bytes(message(f"m{i}"))
    ingest_export(src, tmp_path / "archive")
    assert verify_archive(Archive(tmp_path / "archive")).ok
    (blob,) = (tmp_path / "archive" / "blobs").iterdir()
    data = bytearray(blob.read_bytes())
    data[data.index(b"m1")] = ord("X")
    blob.write_bytes(bytes(data))
    report = verify_archive(Archive(tmp_path / "archive"))
    assert [p["ArchivedMessageId"] for p in report.problems] == ["m1"]


KILL_SCRIPT = """
import sys
from pathlib import Path
from ingest.pipeline import ingest_export
ingest_export(Path(sys.argv[1]), Path(sys.argv[2]), batch_messages=10)
"""


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_sigkill_at_named_points_then_rerun(tmp_path: Path, point: str) -> None:
    src = tmp_path / "export"
    generate_export(src, 35, seed=5, mix="small")
    archive = tmp_path / "archive"
    env = {**os.environ, "MMARCHIVE_CRASH_AT": point, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, str(src), str(archive)], env=env, check=False
    )
    assert run.returncode == -9
    # The killed archive opens and holds only whole messages.
    after_kill = Archive(archive)
    assert after_kill.num_messages in (0, 10)
    assert verify_archive(after_kill).ok
    env.pop("MMARCHIVE_CRASH_AT")
    subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(src), str(archive)], env=env, check=True)
    final = ids(archive)
    assert len(final) == len(set(final)) == 35
    assert verify_archive(Archive(archive)).ok


def test_ctrl_c_stops_cleanly_and_rerun_completes(tmp_path: Path) -> None:
    src = tmp_path / "export"
    generate_export(src, 1500, seed=9, mix="small")
    archive = tmp_path / "archive"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "cli", "ingest", str(src), str(archive), "--silent"]
    command += ["--batch-size", "100"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # Wait until the first batch is visible, then press Ctrl-C.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list((archive / "columns").glob("part-*.parquet")):
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode in (0, 130), err
    if process.returncode == 130:
        assert b"Interrupted: rerun the same command to finish." in err
    assert b"Traceback" not in err
    assert verify_archive(Archive(archive)).ok
    subprocess.run(command, env=env, check=True, capture_output=True)
    final = ids(archive)
    assert len(final) == len(set(final)) == 1500


def test_hostile_files_never_sink_the_run(tmp_path: Path) -> None:
    src = tmp_path / "export"
    src.mkdir()
    (src / "good.eml").write_bytes(message("good"))
    # A boundary holding a character outside Latin-1 (raw UTF-8 in the header).
    (src / "euro.eml").write_bytes(
        b"From: a@example.com\r\nSubject: euro\r\n"
        b'Content-Type: multipart/mixed; boundary="\xe2\x82\xac"\r\n\r\n'
        b"--\xe2\x82\xac\r\nContent-Disposition: attachment; filename=x.txt\r\n\r\nhi\r\n"
        b"--\xe2\x82\xac--\r\n"
    )
    # A file name that is not UTF-8.
    (src / os.fsdecode(b"\xe9t\xe9.eml")).write_bytes(message("latin"))
    report = ingest_export(src, tmp_path / "archive")
    assert report.messages_ingested == 3, report.rejected
    records = {r["subject"]: r for r in Archive(tmp_path / "archive").iter_records()}
    assert records["euro"]["has_attachments"] is True
    assert records["latin"]["source_path"] == "\\xe9t\\xe9.eml"
    assert records["latin"]["archived_message_id"].startswith("h-")
    json.dumps(report.as_dict())  # the report is printable as JSON
