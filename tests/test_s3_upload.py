"""Upload of an export folder to a real S3-compatible server (moto's standalone server, started
here on 127.0.0.1), through boto3."""

from __future__ import annotations

import hashlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.s3_upload import upload_export
from engine.errors import ValidationException
from engine.export import ExportError, ExportResult, export_messages
from engine.store import Archive
from ingest.pipeline import ingest_export
from tests.conftest import ROOT

MOTO_MISSING = (
    "moto's standalone server is not installed: add 'moto[server]>=5' to the test extra "
    "of pyproject.toml"
)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> ExportResult:
    base = tmp_path_factory.mktemp("s3")
    ingest_export(ROOT / "fixtures" / "sample-export", base / "archive")
    return export_messages(
        Archive(base / "archive"),
        None,
        None,
        None,
        5,
        base / "out",
        "exp-s3",
        include_metadata=True,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pytest.importorskip("moto.server", reason=MOTO_MISSING)
    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"moto server did not start: {log.read_text(errors='replace')}")
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Test credentials only: never the machine's own AWS configuration."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))


def s3_client(endpoint: str) -> Any:
    import boto3

    return boto3.session.Session().client("s3", endpoint_url=endpoint)


def objects(client: Any, bucket: str) -> dict[str, bytes]:
    listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {o["Key"]: client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed}


@pytest.mark.usefixtures("aws_env")
def test_upload_with_prefix(exported: ExportResult, s3_endpoint: str) -> None:
    client = s3_client(s3_endpoint)
    client.create_bucket(Bucket="evidence-bucket")
    count = upload_export(
        exported.folder, "s3://evidence-bucket/cases/2024/", endpoint_url=s3_endpoint
    )
    local = {p.name: p.read_bytes() for p in exported.folder.iterdir()}
    assert count == len(local) == 2 * 5 + 1
    remote = objects(client, "evidence-bucket")
    assert remote == {f"cases/2024/exp-s3/{name}": data for name, data in local.items()}
    for key, data in remote.items():
        head = client.head_object(Bucket="evidence-bucket", Key=key)
        assert head["Metadata"]["sha256"] == hashlib.sha256(data).hexdigest()
        expected_type = "message/rfc822" if key.endswith(".eml") else "application/json"
        assert head["ContentType"] == expected_type


@pytest.mark.usefixtures("aws_env")
def test_upload_without_prefix(exported: ExportResult, s3_endpoint: str) -> None:
    client = s3_client(s3_endpoint)
    client.create_bucket(Bucket="bare-bucket")
    upload_export(exported.folder, "s3://bare-bucket", endpoint_url=s3_endpoint)
    assert sorted(objects(client, "bare-bucket")) == sorted(
        f"exp-s3/{p.name}" for p in exported.folder.iterdir()
    )


@pytest.mark.usefixtures("aws_env")
def test_missing_bucket_is_a_clear_error(exported: ExportResult, s3_endpoint: str) -> None:
    with pytest.raises(ExportError, match=r"s3://no-such-bucket/.* failed"):
        upload_export(exported.folder, "s3://no-such-bucket/x", endpoint_url=s3_endpoint)


@pytest.mark.usefixtures("aws_env")
def test_a_file_that_changed_is_not_uploaded(
    exported: ExportResult, s3_endpoint: str, tmp_path: Path
) -> None:
    import shutil

    copy = tmp_path / "exp-s3"
    shutil.copytree(exported.folder, copy)
    victim = sorted(copy.glob("*.eml"))[0]
    victim.write_bytes(victim.read_bytes() + b"tampered")
    client = s3_client(s3_endpoint)
    client.create_bucket(Bucket="tamper-bucket")
    with pytest.raises(ExportError, match="differs from the SHA-256 in the manifest"):
        upload_export(copy, "s3://tamper-bucket", endpoint_url=s3_endpoint)
    keys = set(objects(client, "tamper-bucket"))
    assert f"exp-s3/{victim.name}" not in keys
    assert "exp-s3/manifest.json" not in keys  # the manifest goes last: the upload is unfinished


# -- refused before any connection: no server needed ---------------------------------------------


@pytest.mark.parametrize("location", ["s3://bkt/../../x", "s3://../x", "s3://bkt\\x", "s3:///x"])
def test_bad_location_is_refused(exported: ExportResult, location: str) -> None:
    with pytest.raises(ValidationException, match=r"^ExportDestinationConfiguration\.S3\."):
        upload_export(exported.folder, location, endpoint_url="http://127.0.0.1:9")


def test_folder_without_manifest_is_refused(tmp_path: Path) -> None:
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp" / "m.eml").write_bytes(b"Subject: x\r\n\r\n")
    with pytest.raises(ExportError, match="cannot read the export's manifest"):
        upload_export(tmp_path / "exp", "s3://bkt/x", endpoint_url="http://127.0.0.1:9")
