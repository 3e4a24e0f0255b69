"""Helpers of the API tests (one archive per session, servers, clients, raw HTTP), and the tests
that the packaged service model is the spec's."""

from __future__ import annotations

import atexit
import http.client
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from api.operations import ArchiveService
from api.server import ArchiveHTTPServer, make_server
from api.shapes import load_model
from tests.conftest import ROOT, shared_dir

ARCHIVE_MESSAGES = 120
FROM = datetime(2000, 1, 1, tzinfo=UTC)
TO = datetime(2030, 1, 1, tzinfo=UTC)
SUBJECT_RE = {
    "Include": [
        {
            "StringExpression": {
                "Evaluate": {"Attribute": "SUBJECT"},
                "Operator": "CONTAINS",
                "Values": ["re", "invoice"],
            }
        }
    ],
    "Unless": [
        {"BooleanExpression": {"Evaluate": {"Attribute": "HAS_ATTACHMENTS"}, "Operator": "IS_TRUE"}}
    ],
}
_session = boto3.session.Session()


@cache
def shared_archive() -> Path:
    """One ingested archive for every API test of the session (read only by them)."""
    from ingest.generate import generate_export
    from ingest.pipeline import ingest_export

    root = Path(tempfile.mkdtemp(prefix="mmarchive-api-"))
    atexit.register(shutil.rmtree, root, True)
    generate_export(root / "export", ARCHIVE_MESSAGES, seed=42)
    ingest_export(root / "export", root / "archive")
    return root / "archive"


def archive_id(path: Path) -> str:
    from engine.store import load_info

    return load_info(path).archive_id


def client(url: str, **config: Any) -> Any:
    """A real boto3 mailmanager client; no retries, so each error is seen as answered."""
    return _session.client(
        "mailmanager",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": 1}, **config),
    )


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


def post(
    url: str,
    operation: str | None,
    body: bytes | str | dict[str, Any] | list[Any],
    *,
    headers: dict[str, str] | None = None,
    path: str = "/",
    method: str = "POST",
) -> Answer:
    """One raw HTTP request, as an SDK would send it unless ``headers`` say otherwise."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    if isinstance(body, dict | list):
        body = json.dumps(body)
    data = body.encode() if isinstance(body, str) else body
    sent = {"Content-Type": "application/x-amz-json-1.0"}
    if operation is not None:
        sent["X-Amz-Target"] = f"MailManagerSvc.{operation}"
    sent.update(headers or {})
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request(method, path, body=data, headers={k: v for k, v in sent.items() if v})
        response = conn.getresponse()
        return Answer(response.status, dict(response.getheaders()), response.read())
    finally:
        conn.close()


def wait_for_state(c: Any, search_id: str, states: tuple[str, ...], timeout: float = 10) -> Any:
    """Poll GetArchiveSearch until the search is in one of ``states``."""
    deadline = time.monotonic() + timeout
    while True:
        answer = c.get_archive_search(SearchId=search_id)
        if answer["Status"]["State"] in states:
            return answer
        assert time.monotonic() < deadline, answer["Status"]
        time.sleep(0.02)


def wait_for_export(c: Any, export_id: str, states: tuple[str, ...], timeout: float = 20) -> Any:
    """Poll GetArchiveExport until the export is in one of ``states``."""
    deadline = time.monotonic() + timeout
    while True:
        answer = c.get_archive_export(ExportId=export_id)
        if answer["Status"]["State"] in states:
            return answer
        assert time.monotonic() < deadline, answer["Status"]
        time.sleep(0.02)


@contextmanager
def thread_server(
    home: Path, archives: tuple[Path, ...] = (), *, rate_limit: float | None = None, **kw: Any
) -> Iterator[tuple[ArchiveHTTPServer, str]]:
    """A server on 127.0.0.1:0 in this process (fast to start); closed on exit."""
    service = ArchiveService(home, archives, **kw)
    server = make_server(service, rate_limit=rate_limit)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server, server.url
    finally:
        server.shutdown()
        server.server_close()
        service.close()


class ServerProcess:
    """``mmarchive serve`` as a real subprocess on an ephemeral port."""

    def __init__(
        self,
        home: Path,
        archives: tuple[Path, ...] = (),
        *,
        hold: bool = False,
        args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        environment = {k: v for k, v in os.environ.items() if k != "MMARCHIVE_TEST_HOLD_JOBS"}
        environment.update(env or {})
        if hold:
            environment["MMARCHIVE_TEST_HOLD_JOBS"] = "1"
        # Not "-m cli.main": run that way, the module would be loaded twice.
        command = [sys.executable, "-c", "from cli.main import main; main()", "serve"]
        command += [str(a) for a in archives] + ["--home", str(home), "--port", "0", *args]
        self.proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 20)
        line = self.proc.stdout.readline() if ready else ""
        if not line.startswith("Serving on http://127.0.0.1:"):
            self.proc.kill()
            raise AssertionError(f"serve did not start: {line!r} {self.proc.stderr.read()!r}")
        self.first_line = line
        self.url = line.split()[-1]

    def stop(self, sig: int) -> tuple[str, str]:
        self.proc.send_signal(sig)
        out, err = self.proc.communicate(timeout=20)
        return out, err


# -- tests of the packaged model ---------------------------------------------------------------


def test_packaged_model_is_the_spec() -> None:
    spec = shared_dir("spec") / "mailmanager-archive-shapes.json"
    assert json.loads(spec.read_text(encoding="utf-8")) == load_model().raw


def test_error_statuses_match_the_engine() -> None:
    from engine import errors

    model = load_model()
    for cls in (
        errors.ValidationException,
        errors.ResourceNotFoundException,
        errors.ConflictException,
        errors.AccessDeniedException,
        errors.ServiceQuotaExceededException,
        errors.ThrottlingException,
    ):
        assert model.error_status(cls.code) == cls.http_status, cls.code


def error_of(call: Any, **params: Any) -> tuple[str, str, int]:
    """The (Code, Message, HTTP status) of the ClientError a boto3 call raises."""
    with pytest.raises(ClientError) as info:
        call(**params)
    response = info.value.response
    return (
        response["Error"]["Code"],
        response["Error"]["Message"],
        response["ResponseMetadata"]["HTTPStatusCode"],
    )
