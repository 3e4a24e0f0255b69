"""Copy a finished export folder to a real S3 bucket: only when the user opts in (``--s3-upload``).

Keys are ``<prefix>/<ExportId>/<file name>`` for ``s3://bucket/prefix`` (``<ExportId>/<name>``
without a prefix): the bucket then holds what the local folder holds. Only the files the
manifest accounts for are sent, each checked against the SHA-256 the manifest gives before it
leaves the machine, and ``manifest.json`` goes last, so a bucket that holds the manifest holds the
whole export. Each object carries its SHA-256 as user metadata (``x-amz-meta-sha256``).

boto3 is imported here only: the rest of mmarchive never needs it. Credentials, region and
endpoint come from the standard AWS configuration, or ``endpoint_url``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from engine.export import (
    MANIFEST_NAME,
    ExportError,
    check_path_name,
    exported_names,
    parse_s3_location,
)

_CONTENT_TYPES = {".eml": "message/rfc822", ".json": "application/json"}


def _expected_hashes(manifest: dict[str, Any]) -> dict[str, str]:
    hashes: dict[str, str] = {}
    for entry in manifest.get("Messages", ()):
        hashes[entry["File"]] = entry["Sha256"]
        if "MetadataFile" in entry:
            hashes[entry["MetadataFile"]] = entry["MetadataSha256"]
    return hashes


def _load_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ExportError(f"{path}: cannot read the export's manifest ({exc})") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("Messages"), list):
        raise ExportError(f"{path}: not an mmarchive export manifest")
    return manifest


def upload_export(folder: Path, s3_location: str, *, endpoint_url: str | None) -> int:
    """Upload the export in ``folder`` (named after its ExportId) under ``s3_location``.

    Returns the number of objects written (messages, metadata documents and the manifest).
    Raises ValidationException for a malformed S3Location or ExportId; ExportError when the
    folder holds no readable manifest, a file differs from its manifest SHA-256, boto3 is
    missing, or S3 refuses or cannot be reached.
    """
    bucket, segments = parse_s3_location(s3_location)
    export_id = check_path_name(folder.name, "ExportId")
    manifest = _load_manifest(folder)
    hashes = _expected_hashes(manifest)
    key_prefix = "/".join((*segments, export_id)) + "/"
    try:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError as exc:
        raise ExportError("uploading to S3 needs boto3 (pip install boto3)") from exc
    try:
        client = boto3.session.Session().client("s3", endpoint_url=endpoint_url)
    except (BotoCoreError, ValueError) as exc:
        raise ExportError(f"cannot reach S3 for {s3_location}: {exc}") from exc
    count = 0
    for name in exported_names(manifest):
        path = folder / check_path_name(name, "manifest file name")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ExportError(f"{path}: cannot read ({exc.strerror or exc})") from exc
        sha256 = hashlib.sha256(data).hexdigest()
        expected = hashes.get(name)
        if expected is not None and expected != sha256:
            raise ExportError(f"{path}: differs from the SHA-256 in the manifest; not uploaded")
        key = key_prefix + name
        try:
            client.put_object(
                Bucket=bucket,
                Key=key,
                Body=data,
                ContentType=_CONTENT_TYPES.get(path.suffix, "application/octet-stream"),
                Metadata={"sha256": sha256},
            )
        except (BotoCoreError, ClientError) as exc:
            raise ExportError(f"uploading {name} to s3://{bucket}/{key} failed: {exc}") from exc
        count += 1
    return count
