"""Typed errors, each carrying the API error code and HTTP status it maps to.

The library raises these; the CLI prints ``Error: <message>`` and the server serialises them
into ``{"__type": "com.amazonaws.mailmanager#<code>", "Message": ...}`` in one place.
"""

from __future__ import annotations


class MMArchiveError(Exception):
    """Base of every error mmarchive raises on purpose."""

    code = "ValidationException"
    http_status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationException(MMArchiveError):
    """A request or argument does not satisfy the shapes or SEMANTICS."""


class ResourceNotFoundException(MMArchiveError):
    """An id (archive, search, export, message) that does not exist."""

    code = "ResourceNotFoundException"
    http_status = 404


class ConflictException(MMArchiveError):
    """The resource is not in a state that allows the operation (e.g. an unfinished search)."""

    code = "ConflictException"
    http_status = 409


class AccessDeniedException(MMArchiveError):
    """The caller may not do this (e.g. an expired or tampered download link)."""

    code = "AccessDeniedException"
    http_status = 403


class ServiceQuotaExceededException(MMArchiveError):
    """A limit of the service was reached."""

    code = "ServiceQuotaExceededException"
    http_status = 402


class ThrottlingException(MMArchiveError):
    """Too many requests at once."""

    code = "ThrottlingException"
    http_status = 429


class ArchiveFormatError(MMArchiveError):
    """A folder that is not an mmarchive archive, or one written by a newer format."""


class ArchiveBusyError(MMArchiveError):
    """Another process holds the archive's writer lock."""

    code = "ConflictException"
    http_status = 409
