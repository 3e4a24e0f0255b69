"""Walk an export folder and account for every file in it (SEMANTICS §1).

``iter_export`` yields one item per file seen, in code-point order of the path relative to the
export root (so ``a.eml`` comes before ``a/b.eml``, since ``.`` < ``/``):

* ``MessageFile`` for each message (``.eml``, any case), with the metadata document it uses;
* ``NotAMessageFile`` for a symbolic link (to anything: links are never followed), a hidden file,
  a file inside a hidden folder, anything that is not a regular file, or any other regular file;
* ``DiscoveryWarning`` for a ``.json`` file that is no message's metadata (orphan), that lost to a
  metadata document of higher precedence (shadowed), or for a folder that could not be listed.

Every file is accounted exactly once: a ``MessageFile`` with metadata accounts for two files.
``count_files(item)`` gives each item's share: ``files_seen = sum(map(count_files, items))``.

It streams: only the listings of the folders on the current path are held, as sorted names.

Choices made here where SEMANTICS is silent:

* Hidden folders (name starting with ``.``) are walked, so their files are still seen, but every
  file inside one is *not a message* ("inside a hidden folder"): dot-folders hold tool state
  (``.git``, ``.Trash``, caches), not exported mail. The export root itself is never hidden.
* Metadata pairing. A message ``<stem>.eml`` may use ``<stem>.metadata.json``, ``<stem>.eml.json``
  or ``<stem>.json`` (that precedence); the stem matches exactly, the suffixes (and the message's
  ``.eml``) ASCII case-insensitively. A ``.json`` file may be a candidate for two messages
  (``x.eml.json`` for ``x.eml`` and for ``x.eml.eml``): it belongs to the first of them in sorted
  name order, even if that one uses another document. Each message uses the document of highest
  precedence among those it owns (ties, such as ``x.json`` and ``x.JSON``, by name); the others it
  owns are "shadowed". Two messages with one stem (``x.eml``, ``x.EML``): the first owns all.
* Only regular, non-hidden files in non-hidden folders take part in pairing; a symbolic link named
  ``x.metadata.json`` is a link, not metadata.
* ``skip`` (the archive folder) is compared by device and inode, so any spelling of its path works;
  it is skipped wherever it lies below the root, and not counted. A symbolic link to it is just a
  link. The root itself is never skipped.
* The root must be a readable folder (``DiscoveryError`` otherwise, raised by ``iter_export`` before
  any item); a symbolic link given as the root is followed, since the user named it.
* A folder below the root that cannot be listed gives a ``DiscoveryWarning`` of kind
  ``unreadable folder``, which accounts for no file.
* File names that are not valid UTF-8 keep Python's surrogate escapes in ``rel_path``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

MESSAGE_SUFFIX = ".eml"
# The metadata document names for <stem>.eml, highest precedence first.
METADATA_SUFFIXES: tuple[str, ...] = (".metadata.json", ".eml.json", ".json")

REASON_SYMLINK = "symbolic link"
REASON_NOT_REGULAR = "not a regular file"
REASON_HIDDEN = "hidden file"
REASON_IN_HIDDEN_FOLDER = "inside a hidden folder"
REASON_NOT_EML = "not an .eml file"

WarningKind = Literal["orphan metadata", "shadowed metadata", "unreadable folder"]
_FolderId = tuple[int, int]  # (st_dev, st_ino): how the skip folder is recognised

# Folder names carry a trailing "/" in a sorted listing, which puts "a.eml" before "a/…" exactly as
# the full relative paths sort.
_FOLDER_MARK = "/"


class DiscoveryError(Exception):
    """The export root is not a readable folder."""


@dataclass(frozen=True, slots=True)
class MessageFile:
    rel_path: str
    path: Path
    metadata_path: Path | None
    metadata_rel_path: str | None


@dataclass(frozen=True, slots=True)
class NotAMessageFile:
    rel_path: str
    reason: str


@dataclass(frozen=True, slots=True)
class DiscoveryWarning:
    rel_path: str
    reason: str
    kind: WarningKind


Discovered = MessageFile | NotAMessageFile | DiscoveryWarning


def count_files(item: Discovered) -> int:
    """How many files an item accounts for: 2 for a message with metadata, 0 for a folder."""
    if isinstance(item, MessageFile):
        return 1 if item.metadata_path is None else 2
    if isinstance(item, DiscoveryWarning) and item.kind == "unreadable folder":
        return 0
    return 1


def iter_export(source: Path, skip: Path | None = None) -> Iterator[Discovered]:
    """Every file under ``source``, as items in sorted order of their relative path.

    ``skip`` is a folder (the archive) to leave out entirely when it lies inside the export.
    Raises DiscoveryError, at once, when ``source`` is not a readable folder; later failures to
    list a folder become DiscoveryWarning items.
    """
    source = Path(source)
    if not source.is_dir():
        raise DiscoveryError(f"{source}: not a folder")
    if not os.access(source, os.R_OK | os.X_OK):
        raise DiscoveryError(f"{source}: folder cannot be read")
    return _iter_walk(source, _folder_identity(skip))


@dataclass(frozen=True, slots=True)
class _Folder:
    path: Path
    rel_path: str  # "" for the root
    hidden: bool  # the folder or one above it (below the root) is hidden


@dataclass(slots=True)
class _Listing:
    keys: list[str]  # sorted names; folders marked with a trailing "/"
    special: dict[str, str] = field(default_factory=dict)  # name -> reason, for non-regular files


@dataclass(frozen=True, slots=True)
class _Pairing:
    metadata_of: dict[str, str]  # message name -> name of the document it uses
    owner_of: dict[str, str]  # document name -> name of the message that owns it


def _iter_walk(root: Path, skip_id: _FolderId | None) -> Iterator[Discovered]:
    # An explicit stack rather than recursion: folder depth is not bounded by Python's stack.
    stack = [_iter_folder(_Folder(root, "", hidden=False), skip_id)]
    while stack:
        step = next(stack[-1], None)
        if step is None:
            stack.pop()
        elif isinstance(step, _Folder):
            stack.append(_iter_folder(step, skip_id))
        else:
            yield step


def _iter_folder(folder: _Folder, skip_id: _FolderId | None) -> Iterator[Discovered | _Folder]:
    """One folder's items and subfolders (to descend into), interleaved in sorted order."""
    try:
        listing = _list_folder(folder.path, skip_id)
    except OSError as exc:
        reason = f"unreadable folder: {exc.strerror or exc}"
        yield DiscoveryWarning(folder.rel_path or ".", reason, "unreadable folder")
        return
    pairing = _pair_metadata(listing) if not folder.hidden else _Pairing({}, {})
    for key in listing.keys:
        if key.endswith(_FOLDER_MARK):
            name = key[: -len(_FOLDER_MARK)]
            hidden = folder.hidden or name.startswith(".")
            yield _Folder(folder.path / name, _join(folder.rel_path, name), hidden)
            continue
        item = _classify_file(folder, key, listing, pairing)
        if item is not None:
            yield item


def _list_folder(path: Path, skip_id: _FolderId | None) -> _Listing:
    """Raises OSError when the folder cannot be listed."""
    listing = _Listing(keys=[])
    with os.scandir(path) as entries:
        for entry in entries:
            kind = _parse_entry_kind(entry)
            if kind == "folder":
                if skip_id is None or _entry_identity(entry) != skip_id:
                    listing.keys.append(entry.name + _FOLDER_MARK)
                continue
            if kind != "file":
                listing.special[entry.name] = kind
            listing.keys.append(entry.name)
    listing.keys.sort()
    return listing


def _parse_entry_kind(entry: os.DirEntry[str]) -> str:
    """'folder', 'file' (regular), or the reason the entry is neither."""
    try:
        if entry.is_symlink():
            return REASON_SYMLINK
        if entry.is_dir(follow_symlinks=False):
            return "folder"
        if entry.is_file(follow_symlinks=False):
            return "file"
    except OSError as exc:  # gone since the listing, or its type needs an lstat that failed
        return f"could not be examined: {exc.strerror or exc}"
    return REASON_NOT_REGULAR


def _classify_file(
    folder: _Folder, name: str, listing: _Listing, pairing: _Pairing
) -> Discovered | None:
    """The item for one file, or None for a document accounted inside its MessageFile."""
    rel_path = _join(folder.rel_path, name)
    if name in listing.special:
        return NotAMessageFile(rel_path, listing.special[name])
    if folder.hidden:
        return NotAMessageFile(rel_path, REASON_IN_HIDDEN_FOLDER)
    if name.startswith("."):
        return NotAMessageFile(rel_path, REASON_HIDDEN)
    if _is_message_name(name):
        used = pairing.metadata_of.get(name)
        if used is None:
            return MessageFile(rel_path, folder.path / name, None, None)
        used_rel = _join(folder.rel_path, used)
        return MessageFile(rel_path, folder.path / name, folder.path / used, used_rel)
    if _ends_with_ci(name, ".json"):
        return _classify_document(rel_path, name, pairing)
    return NotAMessageFile(rel_path, REASON_NOT_EML)


def _classify_document(rel_path: str, name: str, pairing: _Pairing) -> DiscoveryWarning | None:
    owner = pairing.owner_of.get(name)
    if owner is None:
        messages = " or ".join(stem + MESSAGE_SUFFIX for stem, _ in _parse_metadata_claims(name))
        return DiscoveryWarning(
            rel_path, f"orphan metadata: no message {messages} beside it", "orphan metadata"
        )
    used = pairing.metadata_of[owner]
    if used == name:
        return None
    return DiscoveryWarning(
        rel_path, f"metadata shadowed by {used} (used for {owner})", "shadowed metadata"
    )


def _pair_metadata(listing: _Listing) -> _Pairing:
    """Which message owns each metadata document, and which document each message uses."""
    # keys are sorted, so setdefault keeps the first message of each stem in sorted order.
    message_by_stem: dict[str, str] = {}
    for name in _iter_pairable(listing):
        if _is_message_name(name):
            message_by_stem.setdefault(name[: -len(MESSAGE_SUFFIX)], name)
    best: dict[str, tuple[int, str]] = {}
    owner_of: dict[str, str] = {}
    for name in _iter_pairable(listing):
        claim = _find_owner(name, message_by_stem)
        if claim is None:
            continue
        owner, rank = claim
        owner_of[name] = owner
        if owner not in best or (rank, name) < best[owner]:
            best[owner] = (rank, name)
    return _Pairing({owner: name for owner, (_, name) in best.items()}, owner_of)


def _iter_pairable(listing: _Listing) -> Iterator[str]:
    """Names of the regular, non-hidden files: the only ones that pair (no copy of the listing)."""
    for key in listing.keys:
        if not (key.endswith(_FOLDER_MARK) or key in listing.special or key.startswith(".")):
            yield key


def _find_owner(name: str, message_by_stem: dict[str, str]) -> tuple[str, int] | None:
    """The first message (in sorted order) for which ``name`` is a metadata name, and the rank."""
    found: tuple[str, int] | None = None
    for stem, rank in _parse_metadata_claims(name):
        message = message_by_stem.get(stem)
        if message is not None and (found is None or message < found[0]):
            found = (message, rank)
    return found


def _parse_metadata_claims(name: str) -> list[tuple[str, int]]:
    """(stem, precedence rank) for each message ``<stem>.eml`` that ``name`` could describe."""
    return [
        (name[: -len(suffix)], rank)
        for rank, suffix in enumerate(METADATA_SUFFIXES)
        if len(name) > len(suffix) and _ends_with_ci(name, suffix)
    ]


def _is_message_name(name: str) -> bool:
    return _ends_with_ci(name, MESSAGE_SUFFIX)


def _ends_with_ci(name: str, suffix: str) -> bool:
    # ASCII-only folding: str.lower() maps some non-ASCII letters (the Kelvin sign) onto ASCII ones.
    tail = name[-len(suffix) :]
    return tail.isascii() and tail.lower() == suffix


def _folder_identity(path: Path | None) -> _FolderId | None:
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:  # no archive yet: nothing to skip
        return None
    return (st.st_dev, st.st_ino)


def _entry_identity(entry: os.DirEntry[str]) -> _FolderId | None:
    try:
        st = entry.stat(follow_symlinks=False)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _join(parent: str, name: str) -> str:
    return f"{parent}/{name}" if parent else name
