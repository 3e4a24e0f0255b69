"""ingest/discover.py: every file of an export is accounted for exactly once, in sorted order."""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.discover import (
    REASON_HIDDEN,
    REASON_IN_HIDDEN_FOLDER,
    REASON_NOT_EML,
    REASON_NOT_REGULAR,
    REASON_SYMLINK,
    Discovered,
    DiscoveryError,
    DiscoveryWarning,
    MessageFile,
    NotAMessageFile,
    count_files,
    iter_export,
)

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


def _make(root: Path, rel_paths: Iterable[str]) -> None:
    for rel in rel_paths:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"Subject: x\r\n\r\n")


def _summary(items: Iterable[Discovered]) -> dict[str, tuple[str, str | None]]:
    """rel_path -> what it was found to be; documents used by a message appear as 'used by'."""
    found: dict[str, tuple[str, str | None]] = {}
    for item in items:
        assert item.rel_path not in found, f"{item.rel_path} accounted twice"
        if isinstance(item, MessageFile):
            found[item.rel_path] = ("message", item.metadata_rel_path)
            if item.metadata_rel_path is not None:
                assert item.metadata_rel_path not in found
                found[item.metadata_rel_path] = ("used by", item.rel_path)
        elif isinstance(item, NotAMessageFile):
            found[item.rel_path] = ("not a message", item.reason)
        else:
            found[item.rel_path] = (item.kind, item.reason)
    return found


def _files_under(root: Path) -> set[str]:
    """Every non-folder entry below root (links not followed), as POSIX relative paths."""
    seen = set()
    for folder, dirs, files in os.walk(root):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            seen.add(Path(folder, name).relative_to(root).as_posix())
    return seen


def _assert_accounted(root: Path, items: list[Discovered], skipped: str | None = None) -> None:
    expected = _files_under(root)
    if skipped is not None:
        expected = {rel for rel in expected if not rel.startswith(skipped + "/")}
    assert set(_summary(items)) == expected
    assert sum(map(count_files, items)) == len(expected)


def _case_sensitive(tmp: Path) -> bool:
    (tmp / "case_probe").touch()
    sensitive = not (tmp / "CASE_PROBE").exists()
    (tmp / "case_probe").unlink()
    return sensitive


# --- pairing .eml with its metadata document -----------------------------------------------------

M = "message"
PAIRING: list[tuple[str, list[str], dict[str, tuple[str, str | None]]]] = [
    ("no metadata", ["x.eml"], {"x.eml": (M, None)}),
    ("<stem>.metadata.json", ["x.eml", "x.metadata.json"], {"x.eml": (M, "x.metadata.json")}),
    ("<stem>.eml.json", ["x.eml", "x.eml.json"], {"x.eml": (M, "x.eml.json")}),
    ("<stem>.json", ["x.eml", "x.json"], {"x.eml": (M, "x.json")}),
    (
        "all three: .metadata.json wins",
        ["x.eml", "x.metadata.json", "x.eml.json", "x.json"],
        {
            "x.eml": (M, "x.metadata.json"),
            "x.eml.json": (
                "shadowed metadata",
                "metadata shadowed by x.metadata.json (used for x.eml)",
            ),
            "x.json": (
                "shadowed metadata",
                "metadata shadowed by x.metadata.json (used for x.eml)",
            ),
        },
    ),
    (
        ".eml.json beats .json",
        ["x.eml", "x.eml.json", "x.json"],
        {
            "x.eml": (M, "x.eml.json"),
            "x.json": ("shadowed metadata", "metadata shadowed by x.eml.json (used for x.eml)"),
        },
    ),
    ("upper-case .EML", ["x.EML", "x.json"], {"x.EML": (M, "x.json")}),
    ("mixed-case .Eml with .eml.json", ["x.Eml", "x.EML.JSON"], {"x.Eml": (M, "x.EML.JSON")}),
    ("suffix case-insensitive", ["x.eml", "x.Metadata.JSON"], {"x.eml": (M, "x.Metadata.JSON")}),
    (
        "orphan",
        ["y.json"],
        {"y.json": ("orphan metadata", "orphan metadata: no message y.eml beside it")},
    ),
    (
        "orphan with two possible owners",
        ["y.eml.json"],
        {
            "y.eml.json": (
                "orphan metadata",
                "orphan metadata: no message y.eml or y.eml.eml beside it",
            )
        },
    ),
    (
        "manifest.json of an export is orphan metadata",
        ["a.eml", "manifest.json"],
        {"a.eml": (M, None), "manifest.json": ("orphan metadata", None)},
    ),
    (
        "x.eml.json goes to x.eml, the first claimant",
        ["x.eml", "x.eml.eml", "x.eml.json"],
        {"x.eml": (M, "x.eml.json"), "x.eml.eml": (M, None)},
    ),
    (
        "the first claimant owns it even when it uses another document",
        ["x.eml", "x.eml.eml", "x.metadata.json", "x.eml.json"],
        {
            "x.eml": (M, "x.metadata.json"),
            "x.eml.eml": (M, None),
            "x.eml.json": ("shadowed metadata", None),
        },
    ),
    (
        "x.eml.json alone with x.eml.eml",
        ["x.eml.eml", "x.eml.json"],
        {"x.eml.eml": (M, "x.eml.json")},
    ),
    (
        "foo.metadata.json is <stem>.json for foo.metadata.eml",
        ["foo.metadata.eml", "foo.metadata.json"],
        {"foo.metadata.eml": (M, "foo.metadata.json")},
    ),
    (
        "foo.metadata.json: foo.eml sorts first and owns it",
        ["foo.eml", "foo.metadata.eml", "foo.metadata.json"],
        {"foo.eml": (M, "foo.metadata.json"), "foo.metadata.eml": (M, None)},
    ),
    (
        "a document does not pair across folders",
        ["x.eml", "sub/x.json"],
        {"x.eml": (M, None), "sub/x.json": ("orphan metadata", None)},
    ),
    ("a nested pair", ["a/b/x.eml", "a/b/x.json"], {"a/b/x.eml": (M, "a/b/x.json")}),
    (
        "hidden files never pair",
        [".x.eml", ".x.json", "x.eml", ".json"],
        {
            ".json": ("not a message", REASON_HIDDEN),
            ".x.eml": ("not a message", REASON_HIDDEN),
            ".x.json": ("not a message", REASON_HIDDEN),
            "x.eml": (M, None),
        },
    ),
    (
        "other files are not messages",
        ["notes.txt", "box.mbox", "x.eml.bak", "x.emlx", "eml", "x.eml~"],
        {
            name: ("not a message", REASON_NOT_EML)
            for name in ["notes.txt", "box.mbox", "x.eml.bak", "x.emlx", "eml", "x.eml~"]
        },
    ),
    (
        "a .json.txt is not metadata",
        ["x.eml", "x.json.txt"],
        {"x.eml": (M, None), "x.json.txt": ("not a message", REASON_NOT_EML)},
    ),
]
CASE_PAIRING: list[tuple[str, list[str], dict[str, tuple[str, str | None]]]] = [
    (
        "the stem is case-sensitive",
        ["x.eml", "X.json"],
        {"x.eml": (M, None), "X.json": ("orphan metadata", None)},
    ),
    (
        "two messages with one stem: the first in sorted order owns the document",
        ["x.EML", "x.eml", "x.json"],
        {"x.EML": (M, "x.json"), "x.eml": (M, None)},
    ),
    (
        "two spellings of one suffix: the first in sorted order is used",
        ["x.eml", "x.JSON", "x.json"],
        {
            "x.eml": (M, "x.JSON"),
            "x.json": ("shadowed metadata", "metadata shadowed by x.JSON (used for x.eml)"),
        },
    ),
]


def _check_pairing(
    root: Path, files: list[str], expected: dict[str, tuple[str, str | None]]
) -> None:
    _make(root, files)
    items = list(iter_export(root))
    found = _summary(items)
    for rel, (what, detail) in expected.items():
        assert found[rel][0] == what, rel
        if detail is not None:
            assert found[rel][1] == detail, rel
    for rel, (what, _) in found.items():
        if what == "used by":
            assert found[found[rel][1] or ""] == (M, rel)
    _assert_accounted(root, items)


@pytest.mark.parametrize(
    ("files", "expected"), [c[1:] for c in PAIRING], ids=[c[0] for c in PAIRING]
)
def test_pairing(
    tmp_path: Path, files: list[str], expected: dict[str, tuple[str, str | None]]
) -> None:
    _check_pairing(tmp_path, files, expected)


@pytest.mark.parametrize(
    ("files", "expected"), [c[1:] for c in CASE_PAIRING], ids=[c[0] for c in CASE_PAIRING]
)
def test_pairing_on_a_case_sensitive_filesystem(
    tmp_path: Path, files: list[str], expected: dict[str, tuple[str, str | None]]
) -> None:
    if not _case_sensitive(tmp_path):
        pytest.skip("the file system folds case")
    _check_pairing(tmp_path, files, expected)


def test_message_file_paths(tmp_path: Path) -> None:
    _make(tmp_path, ["a/x.eml", "a/x.metadata.json"])
    (item,) = iter_export(tmp_path)
    assert item == MessageFile(
        rel_path="a/x.eml",
        path=tmp_path / "a" / "x.eml",
        metadata_path=tmp_path / "a" / "x.metadata.json",
        metadata_rel_path="a/x.metadata.json",
    )


# --- order ---------------------------------------------------------------------------------------


def test_order_is_code_point_order_of_the_relative_path(tmp_path: Path) -> None:
    files = ["a.eml", "a/b.eml", "a-b.eml", "a0.eml", "b.eml", "a/a.eml", "a/.z", "a.b/c.eml"]
    if _case_sensitive(tmp_path):
        files.append("B.eml")
    _make(tmp_path, files)
    rel_paths = [item.rel_path for item in iter_export(tmp_path)]
    assert rel_paths == sorted(files)
    # '-' < '.' < '/' < '0': a file "a.eml" comes before the folder "a", which comes before "a0".
    assert rel_paths.index("a-b.eml") < rel_paths.index("a.b/c.eml") < rel_paths.index("a.eml")
    assert rel_paths.index("a.eml") < rel_paths.index("a/.z") < rel_paths.index("a0.eml")


# Path segments from characters that sort around '.' and '/', to stress the order.
_SEGMENT = st.text(alphabet="-._aB0", min_size=1, max_size=3).filter(lambda s: s not in {".", ".."})
_REL_PATHS = st.lists(st.lists(_SEGMENT, min_size=1, max_size=3), min_size=1, max_size=12)


@settings(max_examples=60, deadline=None)
@given(_REL_PATHS)
def test_order_and_accounting_on_generated_trees(paths: list[list[str]]) -> None:
    files: list[str] = []
    folders: set[str] = set()
    for parts in paths:
        rel = "/".join(parts)
        parents = {"/".join(parts[:i]) for i in range(1, len(parts))}
        # A name cannot be both a file and a folder.
        if rel in folders or rel in files or parents & set(files):
            continue
        files.append(rel)
        folders |= parents
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if not _case_sensitive(root):
            files = [f for f in files if f == f.lower()]
        _make(root, files)
        items = list(iter_export(root))
        assert [item.rel_path for item in items] == sorted(item.rel_path for item in items)
        _assert_accounted(root, items)


# --- what is not a message -----------------------------------------------------------------------


def test_links_fifos_sockets_and_hidden_files(tmp_path: Path) -> None:
    _make(
        tmp_path,
        ["real.eml", "x.eml", "dir/in.eml", ".DS_Store", ".hidden.eml", "sub/.keep"],
    )
    (tmp_path / "link.eml").symlink_to(tmp_path / "real.eml")
    (tmp_path / "dirlink").symlink_to(tmp_path / "dir", target_is_directory=True)
    (tmp_path / "dangling.eml").symlink_to(tmp_path / "nowhere.eml")
    (tmp_path / "x.metadata.json").symlink_to(tmp_path / "real.eml")  # a link is not metadata
    os.mkfifo(tmp_path / "pipe.eml")
    expected = {
        "real.eml": (M, None),
        "x.eml": (M, None),
        "dir/in.eml": (M, None),
        ".DS_Store": ("not a message", REASON_HIDDEN),
        ".hidden.eml": ("not a message", REASON_HIDDEN),
        "sub/.keep": ("not a message", REASON_HIDDEN),
        "link.eml": ("not a message", REASON_SYMLINK),
        "dirlink": ("not a message", REASON_SYMLINK),
        "dangling.eml": ("not a message", REASON_SYMLINK),
        "x.metadata.json": ("not a message", REASON_SYMLINK),
        "pipe.eml": ("not a message", REASON_NOT_REGULAR),
    }
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind(str(tmp_path / "sock.eml"))
            expected["sock.eml"] = ("not a message", REASON_NOT_REGULAR)
    except OSError:  # the path is too long for a socket address, or no AF_UNIX: no socket case
        pass
    items = list(iter_export(tmp_path))
    assert _summary(items) == expected
    assert not any(item.rel_path.startswith("dirlink/") for item in items)  # links not followed
    _assert_accounted(tmp_path, items)


def test_hidden_folders_are_walked_but_hold_no_messages(tmp_path: Path) -> None:
    _make(
        tmp_path,
        [".git/config", ".old/m.eml", ".old/m.json", ".old/sub/n.eml", ".old/.x", "ok/.y/z.eml"],
    )
    (tmp_path / ".old" / "link.eml").symlink_to(tmp_path / ".old" / "m.eml")
    items = list(iter_export(tmp_path))
    assert _summary(items) == {
        ".git/config": ("not a message", REASON_IN_HIDDEN_FOLDER),
        ".old/.x": ("not a message", REASON_IN_HIDDEN_FOLDER),
        ".old/link.eml": ("not a message", REASON_SYMLINK),
        ".old/m.eml": ("not a message", REASON_IN_HIDDEN_FOLDER),
        ".old/m.json": ("not a message", REASON_IN_HIDDEN_FOLDER),
        ".old/sub/n.eml": ("not a message", REASON_IN_HIDDEN_FOLDER),
        "ok/.y/z.eml": ("not a message", REASON_IN_HIDDEN_FOLDER),
    }
    _assert_accounted(tmp_path, items)


def test_a_hidden_root_is_still_walked(tmp_path: Path) -> None:
    root = tmp_path / ".export"
    _make(root, ["m.eml"])
    assert _summary(iter_export(root)) == {"m.eml": (M, None)}


def test_a_file_name_that_is_not_utf8(tmp_path: Path) -> None:
    try:
        fd = os.open(os.fsencode(tmp_path) + b"/caf\xe9.eml", os.O_CREAT | os.O_WRONLY)
    except OSError:
        pytest.skip("the file system refuses names that are not UTF-8")
    os.close(fd)
    (item,) = iter_export(tmp_path)
    assert isinstance(item, MessageFile)
    assert item.rel_path == "caf\udce9.eml"
    assert item.path.exists()


# --- the skip folder -----------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["absolute", "relative", "dotted"])
def test_the_archive_folder_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spelling: str
) -> None:
    export = tmp_path / "export"
    _make(export, ["a.eml", "archive/store/x.eml", "archive/meta.json", "archive.eml", "z/y.eml"])
    skip = {
        "absolute": export / "archive",
        "relative": Path("export/archive"),
        "dotted": export / "z" / ".." / "archive",
    }[spelling]
    monkeypatch.chdir(tmp_path)
    items = list(iter_export(export, skip=skip))
    assert [item.rel_path for item in items] == ["a.eml", "archive.eml", "z/y.eml"]
    _assert_accounted(export, items, skipped="archive")


def test_a_skip_folder_that_is_absent_or_elsewhere_changes_nothing(tmp_path: Path) -> None:
    export = tmp_path / "export"
    _make(export, ["a.eml", "archive/x.eml"])
    (tmp_path / "elsewhere").mkdir()
    for skip in (tmp_path / "missing", tmp_path / "elsewhere", export / "a.eml"):
        assert [i.rel_path for i in iter_export(export, skip=skip)] == ["a.eml", "archive/x.eml"]


def test_a_link_to_the_skip_folder_is_a_link(tmp_path: Path) -> None:
    export = tmp_path / "export"
    _make(export, ["archive/x.eml"])
    (export / "shortcut").symlink_to(export / "archive", target_is_directory=True)
    items = list(iter_export(export, skip=export / "shortcut"))  # resolves to the archive
    assert _summary(items) == {"shortcut": ("not a message", REASON_SYMLINK)}


def test_the_root_is_never_skipped(tmp_path: Path) -> None:
    _make(tmp_path, ["a.eml"])
    assert [i.rel_path for i in iter_export(tmp_path, skip=tmp_path)] == ["a.eml"]


# --- failures ------------------------------------------------------------------------------------


def test_an_unreadable_folder_is_a_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _make(tmp_path, ["a.eml", "locked/x.eml", "z.eml"])
    real_scandir = os.scandir

    def scandir(path: Path) -> Iterator[os.DirEntry[str]]:
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    items = list(iter_export(tmp_path))
    assert items[1] == DiscoveryWarning(
        "locked", "unreadable folder: Permission denied", "unreadable folder"
    )
    assert [i.rel_path for i in items] == ["a.eml", "locked", "z.eml"]
    assert sum(map(count_files, items)) == 2


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any folder")
def test_a_folder_without_permission(tmp_path: Path) -> None:
    _make(tmp_path, ["a.eml", "locked/x.eml"])
    (tmp_path / "locked").chmod(0)
    try:
        items = list(iter_export(tmp_path))
    finally:
        (tmp_path / "locked").chmod(0o755)
    assert isinstance(items[1], DiscoveryWarning)
    assert items[1].kind == "unreadable folder"


def test_the_root_must_be_a_folder(tmp_path: Path) -> None:
    _make(tmp_path, ["file.eml"])
    for root in (tmp_path / "missing", tmp_path / "file.eml"):
        with pytest.raises(DiscoveryError, match="not a folder"):
            iter_export(root)  # raised at once, before any item is asked for


# --- streaming -----------------------------------------------------------------------------------


def test_folders_are_listed_only_when_reached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _make(tmp_path, ["a.eml", "b/x.eml", "c/y.eml"])
    listed: list[str] = []
    real_scandir = os.scandir

    def scandir(path: Path) -> Iterator[os.DirEntry[str]]:
        listed.append(Path(path).relative_to(tmp_path).as_posix())
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    items = iter_export(tmp_path)
    assert listed == []
    assert next(items).rel_path == "a.eml"
    assert listed == ["."]
    assert next(items).rel_path == "b/x.eml"
    assert listed == [".", "b"]
    assert [i.rel_path for i in items] == ["c/y.eml"]


def test_a_tree_deeper_than_the_recursion_limit(tmp_path: Path) -> None:
    depth = 1100
    folders = [tmp_path]
    for _ in range(depth):  # one level at a time: Path.mkdir(parents=True) itself recurses
        folders.append(folders[-1] / "d")
        folders[-1].mkdir()
    message = folders[-1] / "m.eml"
    message.write_bytes(b"Subject: x\r\n\r\n")
    try:
        assert [i.rel_path for i in iter_export(tmp_path)] == ["d/" * depth + "m.eml"]
    finally:
        # Remove it bottom-up here: pytest's tmp cleanup (shutil.rmtree) recurses and would fail.
        message.unlink()
        for folder in reversed(folders[1:]):
            folder.rmdir()


# --- counting ------------------------------------------------------------------------------------

COUNTS: list[tuple[Discovered, int]] = [
    (MessageFile("x.eml", Path("x.eml"), None, None), 1),
    (MessageFile("x.eml", Path("x.eml"), Path("x.json"), "x.json"), 2),
    (NotAMessageFile("x.txt", REASON_NOT_EML), 1),
    (DiscoveryWarning("x.json", "orphan metadata: …", "orphan metadata"), 1),
    (DiscoveryWarning("y.json", "metadata shadowed by …", "shadowed metadata"), 1),
    (DiscoveryWarning("sub", "unreadable folder: …", "unreadable folder"), 0),
]


@pytest.mark.parametrize(("item", "count"), COUNTS)
def test_count_files(item: Discovered, count: int) -> None:
    assert count_files(item) == count


# --- the shared corpus ---------------------------------------------------------------------------


def test_every_corpus_file_is_accounted_once() -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"{CORPUS} is absent")
    items = list(iter_export(CORPUS))
    _assert_accounted(CORPUS, items)
    assert [item.rel_path for item in items] == sorted(item.rel_path for item in items)
    messages = [item for item in items if isinstance(item, MessageFile)]
    assert len(messages) == sum(1 for rel in _files_under(CORPUS) if rel.lower().endswith(".eml"))
