"""GetArchiveMessage and GetArchiveMessageContent through a real boto3 client against
`mmarchive serve`: Envelope and Metadata from the archive, a signed download link that returns
the original bytes and refuses tampered, foreign and expired links, and the bodies of real mail
from ../shared/corpus (plain, HTML-only, multipart/alternative, malformed)."""

from __future__ import annotations

import shutil
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from api.links import DENIED
from engine.export import project_metadata
from engine.rows import project_envelope
from engine.store import Archive
from ingest.content import message_content
from ingest.pipeline import ingest_export
from tests.test_api_support import ServerProcess, client, error_of, shared_archive, thread_server

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
# ArchivedMessageId (the file's stem once ingested) -> (corpus file, what its bodies are).
CORPUS_MESSAGES = {
    "plain-1": ("cpython/msg_01.eml", "plain"),
    "html-1": ("eml_parser/github_issue_48.eml", "html"),
    "html-2": ("flanker/long-links.eml", "html"),
    "alternative-1": ("flanker/8bitmime.eml", "alternative"),
    "alternative-2": ("flanker/relative.eml", "alternative"),
    "malformed-1": ("stalwart/malformed__003.eml", "malformed"),
    "malformed-2": ("mime4j/testmsgs__multipartnopart.eml", "malformed"),
    "malformed-3": ("mime4j/testmsgs__missing-inner-start-boundary.eml", "malformed"),
}


@pytest.fixture(scope="module")
def corpus_archive(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """A few corpus files ingested under known ids; None when ../shared is absent."""
    if not CORPUS.is_dir():
        return None
    base = tmp_path_factory.mktemp("corpus")
    for message_id, (name, _) in CORPUS_MESSAGES.items():
        (base / "export").mkdir(exist_ok=True)
        shutil.copyfile(CORPUS / name, base / "export" / f"{message_id}.eml")
    ingest_export(base / "export", base / "archive")
    return base / "archive"


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory, corpus_archive: Path | None) -> Iterator[str]:
    archives = (shared_archive(), *([corpus_archive] if corpus_archive else []))
    server = ServerProcess(tmp_path_factory.mktemp("home"), archives)
    yield server.url
    server.stop(signal.SIGTERM)


@pytest.fixture(scope="module")
def short_lived(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Another server (its own secret) whose links live one second."""
    server = ServerProcess(
        tmp_path_factory.mktemp("home"), (shared_archive(),), args=("--link-ttl", "1")
    )
    yield server.url
    server.stop(signal.SIGTERM)


@pytest.fixture(scope="module")
def mm(url: str) -> Any:
    return client(url)


def records() -> dict[str, dict[str, Any]]:
    return {r["archived_message_id"]: r for r in Archive(shared_archive()).iter_records()}


def with_metadata() -> dict[str, Any]:
    """A generated message with an envelope and metadata."""
    return next(r for r in records().values() if r["envelope_from"] and r["ingress_point_id"])


def stored_bytes(record: dict[str, Any]) -> bytes:
    return Archive(shared_archive()).read_message(
        record["blob"], record["blob_offset"], record["size"], record["sha256"]
    )


def fetch(link: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(link, timeout=10) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_message_envelope_metadata_and_download(mm: Any, url: str) -> None:
    record = with_metadata()
    message = mm.get_archive_message(ArchivedMessageId=record["archived_message_id"])
    assert message["Envelope"] == project_envelope(record)
    assert message["Metadata"] == project_metadata(record)  # aware datetimes: same instant
    link = message["MessageDownloadLink"]
    assert link.startswith(f"{url}/download/")
    status, headers, body = fetch(link)
    assert status == 200 and headers["Content-Type"] == "message/rfc822"
    assert body == stored_bytes(record)  # the original bytes, unchanged
    assert fetch(link)[2] == body  # a link works until it expires, not once


def test_link_leads_back_the_way_the_client_came(url: str) -> None:
    via_name = url.replace("127.0.0.1", "localhost")
    record = with_metadata()
    link = client(via_name).get_archive_message(ArchivedMessageId=record["archived_message_id"])[
        "MessageDownloadLink"
    ]
    assert link.startswith(f"{via_name}/download/")


def tampered(link: str, other_id: str) -> list[str]:
    parts = urlsplit(link)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    signature, expires = query["signature"], int(query["expires"])
    base = link.split("?")[0]
    flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    return [
        f"{base}?expires={expires}&signature={flipped}",
        f"{base}?expires={expires + 3600}&signature={signature}",
        f"{base.rsplit('/', 1)[0]}/{other_id}?expires={expires}&signature={signature}",
        f"{base}?expires={expires}",
        f"{base}?expires={expires}&signature={signature}&extra=1",
        f"{base}/..?expires={expires}&signature={signature}",
        f"{base.split('/download/')[0]}/download/%ff/x?expires={expires}&signature={signature}",
    ]


def test_tampered_links_answer_403_and_reveal_nothing(mm: Any) -> None:
    ids = sorted(records())
    link = mm.get_archive_message(ArchivedMessageId=ids[0])["MessageDownloadLink"]
    for bad in tampered(link, ids[1]):
        status, _, body = fetch(bad)
        assert status == 403, bad
        assert body == (
            b'{"__type": "com.amazonaws.mailmanager#AccessDeniedException", "Message": "'
            + DENIED.encode()
            + b'"}'
        )
        assert ids[0].encode() not in body and ids[1].encode() not in body


def test_foreign_and_expired_links_answer_403(url: str, short_lived: str) -> None:
    message_id = with_metadata()["archived_message_id"]
    link = client(short_lived).get_archive_message(ArchivedMessageId=message_id)[
        "MessageDownloadLink"
    ]
    assert fetch(link)[0] == 200  # valid for at least a second
    assert fetch(link.replace(short_lived, url))[0] == 403  # another server's secret
    expires = int(parse_qs(urlsplit(link).query)["expires"][0])
    time.sleep(max(0.0, expires - time.time()) + 0.05)
    status, _, body = fetch(link)
    assert status == 403 and DENIED.encode() in body and message_id.encode() not in body


@pytest.mark.parametrize("message_id", sorted(CORPUS_MESSAGES))
def test_content_of_corpus_messages(mm: Any, corpus_archive: Path | None, message_id: str) -> None:
    if corpus_archive is None:
        pytest.skip(f"{CORPUS} is absent")
    name, kind = CORPUS_MESSAGES[message_id]
    original = (CORPUS / name).read_bytes()
    body = mm.get_archive_message_content(ArchivedMessageId=message_id)["Body"]
    assert body == message_content(original)
    if kind == "malformed":
        assert body["MessageMalformed"] is True
    else:
        assert body["MessageMalformed"] is False
        assert ("Text" in body, "Html" in body) == {
            "plain": (True, False),
            "html": (False, True),
            "alternative": (True, True),
        }[kind]
    # And the link returns the very file that was ingested.
    link = mm.get_archive_message(ArchivedMessageId=message_id)["MessageDownloadLink"]
    assert fetch(link)[2] == original


def test_undated_message_has_no_timestamp(mm: Any, corpus_archive: Path | None) -> None:
    if corpus_archive is None:
        pytest.skip(f"{CORPUS} is absent")
    message = mm.get_archive_message(ArchivedMessageId="malformed-1")  # no date anywhere
    assert "Timestamp" not in message.get("Metadata", {})


def test_content_of_a_generated_message(mm: Any) -> None:
    record = with_metadata()
    body = mm.get_archive_message_content(ArchivedMessageId=record["archived_message_id"])
    assert body["Body"] == message_content(stored_bytes(record))


@pytest.mark.parametrize("bad_id", ["../x", "..", "a/b", "a\\b", "x\x01"])
@pytest.mark.parametrize("operation", ["get_archive_message", "get_archive_message_content"])
def test_ids_that_would_escape_are_refused(mm: Any, operation: str, bad_id: str) -> None:
    code, message, status = error_of(getattr(mm, operation), ArchivedMessageId=bad_id)
    assert (code, status) == ("ValidationException", 400)
    assert message.startswith(f"ArchivedMessageId: {bad_id!r} ")


@pytest.mark.parametrize("operation", ["get_archive_message", "get_archive_message_content"])
def test_unknown_message_is_a_validation_error(mm: Any, operation: str) -> None:
    # Neither operation lists ResourceNotFoundException (SEMANTICS §6).
    assert error_of(getattr(mm, operation), ArchivedMessageId="m-nowhere") == (
        "ValidationException",
        "ArchivedMessageId: no message 'm-nowhere'",
        400,
    )


def test_bytes_that_fail_their_hash_are_never_served(tmp_path: Path) -> None:
    copy = tmp_path / "archive"
    shutil.copytree(shared_archive(), copy)
    record = with_metadata()
    blob = copy / "blobs" / record["blob"]
    data = bytearray(blob.read_bytes())
    data[record["blob_offset"]] ^= 0x20
    blob.write_bytes(bytes(data))
    with thread_server(tmp_path / "home", (copy,)) as (_, base):
        mm = client(base)
        message_id = record["archived_message_id"]
        code, message, status = error_of(
            mm.get_archive_message_content, ArchivedMessageId=message_id
        )
        assert (code, status) == ("InternalFailure", 500)
        assert message.endswith("differ from the SHA-256 recorded at ingest; run mmarchive verify")
        link = mm.get_archive_message(ArchivedMessageId=message_id)["MessageDownloadLink"]
        status, _, body = fetch(link)
        assert status == 500 and bytes(data[record["blob_offset"] :][:20]) not in body
