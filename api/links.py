"""Signed, expiring download links for GetArchiveMessage's ``MessageDownloadLink``.

The cloud answers with an S3 pre-signed URL; the server answers with one of its own, in the same
spirit: ``/download/<ArchiveId>/<ArchivedMessageId>?expires=<epoch seconds>&signature=<hex>``,
where the signature is HMAC-SHA256 over the ids and the expiry under a secret drawn at random
when the service starts. Nothing but this process can mint a link, a link cannot be widened to
another message or a later expiry, and every link dies with the process (a restart draws a new
secret), as a pre-signed URL dies with its credentials.

Every refused link gets the same answer (DENIED), whatever the reason: a tampered link, one from
another server, an expired one, a malformed path. Telling them apart would tell a prober which
ids exist or which part of a guess was right.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from urllib.parse import parse_qs, quote, unquote, urlsplit

from engine.errors import AccessDeniedException

DOWNLOAD_PREFIX = "/download/"
DEFAULT_LINK_TTL_SECONDS = 15 * 60
SECRET_BYTES = 32
# No id, no reason: the one answer to every refused link.
DENIED = "This download link is not valid: it was altered, comes from another server, or expired"


def _denied() -> AccessDeniedException:
    return AccessDeniedException(DENIED)


class LinkSigner:
    """Mints and checks download links under a secret of its own."""

    def __init__(self, ttl_seconds: int = DEFAULT_LINK_TTL_SECONDS, secret: bytes | None = None):
        if ttl_seconds <= 0:
            raise ValueError("a link's lifetime must be positive")
        self.ttl_seconds = ttl_seconds
        self._secret = secret if secret is not None else secrets.token_bytes(SECRET_BYTES)

    def _signature(self, archive_id: str, message_id: str, expires: int) -> str:
        # Newlines cannot occur in either id (ArchiveId's pattern; check_path_name refuses
        # control characters), so the signed text names exactly one triple.
        text = f"{archive_id}\n{message_id}\n{expires}".encode("utf-8", "surrogatepass")
        return hmac.new(self._secret, text, hashlib.sha256).hexdigest()

    def path(self, archive_id: str, message_id: str, *, now: float | None = None) -> str:
        """The signed path and query of a link to one message, valid for at least
        ``ttl_seconds`` (the expiry is rounded up to a whole second)."""
        expires = math.ceil(now if now is not None else time.time()) + self.ttl_seconds
        signature = self._signature(archive_id, message_id, expires)
        return (
            f"{DOWNLOAD_PREFIX}{quote(archive_id, safe='')}/{quote(message_id, safe='')}"
            f"?expires={expires}&signature={signature}"
        )

    def verify(self, path: str, *, now: float | None = None) -> tuple[str, str]:
        """(ArchiveId, ArchivedMessageId) of a link this signer made and that has not expired.

        Raises AccessDeniedException with the one message DENIED otherwise.
        """
        parts = urlsplit(path)
        names = parts.path.removeprefix(DOWNLOAD_PREFIX).split("/")
        if not parts.path.startswith(DOWNLOAD_PREFIX) or len(names) != 2:
            raise _denied()
        try:
            archive_id, message_id = (unquote(name, errors="strict") for name in names)
            query = parse_qs(parts.query, strict_parsing=True, errors="strict")
            (expires_text,) = query.pop("expires")
            (given,) = query.pop("signature")
            expires = int(expires_text)
        except (ValueError, KeyError, UnicodeError):
            raise _denied() from None
        if query or not archive_id or not message_id:
            raise _denied()
        expected = self._signature(archive_id, message_id, expires)
        if not hmac.compare_digest(expected.encode(), given.encode("utf-8", "surrogateescape")):
            raise _denied()
        if (now if now is not None else time.time()) >= expires:
            raise _denied()
        return archive_id, message_id
