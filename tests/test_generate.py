"""The seeded export generator: determinism, layout, metadata forms, parseable messages, sizes."""

from __future__ import annotations

import email
import email.header
import email.policy
import json
import re
import statistics
from datetime import datetime
from email.message import Message
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from ingest.generate import MIXES, GenerateReport, generate_export, main

VALID_ID = re.compile(r"[A-Za-z0-9._=-]{1,128}")
METADATA_SUFFIXES = (".metadata.json", ".eml.json", ".json")
COUNT = 300


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _emls(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() == ".eml")


def _metadata_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.json") if p.is_file())


def _parse(path: Path) -> Message:
    return email.message_from_bytes(path.read_bytes(), policy=email.policy.compat32)


def _has_attachments(msg: Message) -> bool:
    """SEMANTICS §2 HAS_ATTACHMENTS, read from the parsed tree."""
    for part in msg.walk():
        if part.get_content_type() == "message/rfc822" and part is not msg:
            return True
        if part.is_multipart():
            continue
        if part.get_content_disposition() == "attachment":
            return True
        if part.get_filename() or part.get_param("name"):
            return True
    return False


def _lower_keys(doc: dict[str, object]) -> dict[str, object]:
    return {k.lower(): v for k, v in doc.items()}


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, GenerateReport]]:
    out = {}
    for mix in MIXES:
        dest = tmp_path_factory.mktemp(f"export-{mix}")
        out[mix] = (dest, generate_export(dest, COUNT, seed=42, mix=mix))
    return out


def test_same_seed_gives_identical_bytes_and_other_seed_differs(tmp_path: Path) -> None:
    generate_export(tmp_path / "a", 120, seed=5, mix="default")
    generate_export(tmp_path / "b", 120, seed=5, mix="default")
    generate_export(tmp_path / "c", 120, seed=6, mix="default")
    a, b, c = (_files(tmp_path / n) for n in "abc")
    assert a == b
    assert a != c


@pytest.mark.parametrize("mix", MIXES)
def test_report_counts_match_disk(
    exports: dict[str, tuple[Path, GenerateReport]], mix: str
) -> None:
    root, report = exports[mix]
    files = _files(root)
    emls = _emls(root)
    metadata = _metadata_files(root)
    assert report.messages == COUNT == len(emls)
    assert report.metadata_files == len(metadata)
    assert len(files) == len(emls) + len(metadata)
    assert report.bytes_written == sum(len(v) for v in files.values())
    assert 0.75 * COUNT < len(metadata) < 0.95 * COUNT


def test_layout_and_file_names(exports: dict[str, tuple[Path, GenerateReport]]) -> None:
    stems = []
    for root, _ in exports.values():
        for path in _emls(root):
            rel = path.relative_to(root).parts
            assert (
                len(rel) == 3 and re.fullmatch(r"\d{4}", rel[0]) and re.fullmatch(r"\d\d", rel[1])
            )
            assert not path.name.startswith(".")
            stems.append(path.name[:-4])
    invalid = [s for s in stems if not VALID_ID.fullmatch(s)]
    assert invalid, "some names must exercise the hash-id fallback"
    assert len(invalid) < 0.05 * len(stems)
    assert sum(bool(re.fullmatch(r"m-\d{7}-[0-9a-f]{8}", s)) for s in stems) > 0.9 * len(stems)


def test_every_metadata_document_is_one_of_the_accepted_forms(
    exports: dict[str, tuple[Path, GenerateReport]],
) -> None:
    names: set[str] = set()
    forms: set[str] = set()
    key_styles: set[str] = set()
    ts_kinds: set[str] = set()
    same_id = other_id = 0
    for root, _ in exports.values():
        for path in _metadata_files(root):
            suffix = next(s for s in METADATA_SUFFIXES if path.name.endswith(s))
            names.add(suffix)
            stem = path.name[: -len(suffix)]
            assert (path.parent / f"{stem}.eml").is_file(), f"orphan metadata {path}"
            doc = json.loads(path.read_text(encoding="utf-8"))
            assert isinstance(doc, dict)
            key_styles.update(
                "lower" if k.islower() else "upper" if k.isupper() else "mixed" for k in doc
            )
            low = _lower_keys(doc)
            envelope = low["envelope"]
            assert isinstance(envelope, dict)
            env = _lower_keys(envelope)
            assert isinstance(env["from"], str) and isinstance(env["helo"], str)
            assert isinstance(env["to"], list) and all(isinstance(t, str) for t in env["to"])
            if "metadata" in low:
                forms.add("metadata")
                meta = low["metadata"]
                assert isinstance(meta, dict)
                ts = _lower_keys(meta).get("timestamp")
            else:
                forms.add("row")
                ts = low["receivedtimestamp"]
            if isinstance(ts, str):
                datetime.fromisoformat(ts)
                ts_kinds.add("iso-ms" if "." in ts else "iso")
            elif isinstance(ts, float):
                ts_kinds.add("epoch-float")
            elif isinstance(ts, int):
                ts_kinds.add("epoch-ms" if ts > 10**11 else "epoch-s")
            amid = low.get("archivedmessageid")
            if amid is not None:
                assert isinstance(amid, str) and VALID_ID.fullmatch(amid)
                if amid == stem:
                    same_id += 1
                else:
                    other_id += 1
    assert names == set(METADATA_SUFFIXES)
    assert forms == {"metadata", "row"}
    assert key_styles == {"lower", "upper", "mixed"}
    assert ts_kinds == {"iso", "iso-ms", "epoch-float", "epoch-ms", "epoch-s"}
    assert same_id > 5 * other_id > 0


@pytest.mark.parametrize("mix", MIXES)
def test_every_message_parses_with_required_headers(
    exports: dict[str, tuple[Path, GenerateReport]], mix: str
) -> None:
    root, _ = exports[mix]
    for path in _emls(root):
        data = path.read_bytes()
        assert b"\n" not in data.replace(b"\r\n", b""), f"bare LF in {path}"
        msg = email.message_from_bytes(data, policy=email.policy.compat32)
        for name in ("From", "To", "Date", "Message-ID", "Received", "Subject"):
            assert msg[name], f"{name} missing in {path}"
        assert not msg.defects
        assert all(not part.defects for part in msg.walk())
        parsedate_to_datetime(msg["Date"])
        top_received = msg.get_all("Received")[0]
        parsedate_to_datetime(top_received.rsplit(";", 1)[1].strip())
        for name in ("From", "To", "Subject"):
            email.header.decode_header(msg[name])  # every encoded-word decodes


@pytest.mark.parametrize("mix", MIXES)
def test_no_body_line_looks_like_a_boundary(
    exports: dict[str, tuple[Path, GenerateReport]], mix: str
) -> None:
    root, _ = exports[mix]
    for path in _emls(root):
        msg = _parse(path)
        boundaries = {p.get_boundary() for p in msg.walk() if p.is_multipart()}
        delimiters = {f"--{b}" for b in boundaries} | {f"--{b}--" for b in boundaries}
        for line in path.read_bytes().split(b"\r\n"):
            if line.startswith(b"--"):
                assert line.decode("ascii") in delimiters, f"{path}: {line[:60]!r}"


def test_message_sizes(exports: dict[str, tuple[Path, GenerateReport]]) -> None:
    small = statistics.median(p.stat().st_size for p in _emls(exports["small"][0]))
    default = statistics.median(p.stat().st_size for p in _emls(exports["default"][0]))
    assert small < 2048
    assert 1024 < default < 10240


@pytest.mark.parametrize(("mix", "low", "high"), [("default", 0.08, 0.3), ("small", 0.04, 0.2)])
def test_share_of_messages_with_attachments(
    exports: dict[str, tuple[Path, GenerateReport]], mix: str, low: float, high: float
) -> None:
    root, _ = exports[mix]
    flags = [_has_attachments(_parse(p)) for p in _emls(root)]
    assert low * COUNT < sum(flags) < high * COUNT


def test_default_mix_has_real_attachments_inline_images_and_rfc2231(
    exports: dict[str, tuple[Path, GenerateReport]],
) -> None:
    root, _ = exports["default"]
    big = rfc2231 = 0
    types: set[str] = set()
    for path in _emls(root):
        data = path.read_bytes()
        rfc2231 += b"filename*" in data
        for part in _parse(path).walk():
            if part.get_content_disposition() == "attachment" or part.get_filename():
                types.add(part.get_content_type())
                payload = part.get_payload(decode=True)
                big += isinstance(payload, bytes) and len(payload) > 8000
    assert big > 10
    assert rfc2231 > 0
    assert {"application/pdf", "image/png", "text/csv"} <= types


def test_threads_metadata_timing_and_duplicate_timestamps(
    exports: dict[str, tuple[Path, GenerateReport]],
) -> None:
    root, _ = exports["default"]
    ids: set[str] = set()
    replies = 0
    received = []
    for path in _emls(root):
        msg = _parse(path)
        ids.add(msg["Message-ID"])
        if msg["In-Reply-To"]:
            replies += msg["In-Reply-To"] in ids
        top = parsedate_to_datetime(msg.get_all("Received")[0].rsplit(";", 1)[1].strip())
        sent = parsedate_to_datetime(msg["Date"])
        assert 0 < (top - sent).total_seconds() <= 3600
        received.append(top)
    assert replies > 0.1 * COUNT
    assert len(set(received)) < len(received)  # some exact repeats on purpose
    span = max(received) - min(received)
    assert 300 < span.days < 370


def test_casefold_vocabulary_appears(exports: dict[str, tuple[Path, GenerateReport]]) -> None:
    text = []
    for root, _ in exports.values():
        for path in _emls(root):
            msg = _parse(path)
            for name in ("Subject", "From", "To"):
                for chunk, charset in email.header.decode_header(msg[name] or ""):
                    if isinstance(chunk, bytes):
                        known = charset not in (None, "unknown-8bit")
                        text.append(chunk.decode(charset if known else "utf-8", "replace"))
                    else:
                        text.append(chunk)
            for part in msg.walk():
                if part.get_content_maintype() == "text":
                    payload = part.get_payload(decode=True)
                    assert isinstance(payload, bytes)
                    text.append(payload.decode(part.get_content_charset() or "ascii", "replace"))
    joined = "\n".join(text)
    for word in ("Straße", "ΣΊΣΥΦΟΣ", "İstanbul", "ﬁle"):
        assert word in joined


def test_progress_is_reported(tmp_path: Path) -> None:
    seen: list[int] = []
    generate_export(tmp_path / "p", 1500, seed=1, mix="small", progress=seen.append)
    assert seen == [1000, 1500]


def test_refuses_bad_arguments(tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.eml").write_bytes(b"Subject: x\r\n\r\n")
    with pytest.raises(FileExistsError):
        generate_export(tmp_path / "full", 1)
    with pytest.raises(ValueError, match="mix"):
        generate_export(tmp_path / "new", 1, mix="huge")
    with pytest.raises(ValueError, match="count"):
        generate_export(tmp_path / "new", -1)


def test_main_writes_an_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "cli"
    assert main([str(dest), "--count", "25", "--seed", "3", "--mix", "small", "--quiet"]) == 0
    assert len(_emls(dest)) == 25
    assert "25 messages" in capsys.readouterr().out
    assert main([str(dest), "--count", "1", "--quiet"]) == 1
    assert capsys.readouterr().err.startswith("Error: ")


def test_bundled_sample_export_is_the_generators_output(tmp_path: Path) -> None:
    """fixtures/README.md gives the command; regenerate the fixture when the generator changes."""
    fixture = Path(__file__).resolve().parent.parent / "fixtures" / "sample-export"
    generate_export(tmp_path / "sample", 200, seed=7, mix="default")
    assert _files(tmp_path / "sample") == _files(fixture)
