"""NextToken/PageSize paging over lists sorted newest first, shared by every List* operation.

A token is the sort key of the last item a page returned (base64 of JSON), not an offset, so a
job submitted between two pages neither repeats nor hides an item of the older pages. A token
also names the list it belongs to, so one from another list is refused instead of misread.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from engine.errors import ValidationException

T = TypeVar("T")
DEFAULT_PAGE_SIZE = 50  # [CHOSEN] the model's maximum; AWS documents no default
TOKEN_MESSAGE = "NextToken: not a pagination token this service issued for this list"

SortKey = tuple[int, str]


def _encode(scope: str, key: SortKey) -> str:
    raw = json.dumps({"list": scope, "after": list(key)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _decode(scope: str, token: str) -> SortKey:
    try:
        obj = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
        after = obj["after"]
        if obj["list"] != scope or not isinstance(after[0], int) or not isinstance(after[1], str):
            raise ValueError
        return int(after[0]), str(after[1])
    except (ValueError, KeyError, TypeError, IndexError, binascii.Error, UnicodeError) as exc:
        raise ValidationException(TOKEN_MESSAGE) from exc


def paginate(
    items: Sequence[T],
    key: Callable[[T], SortKey],
    *,
    scope: str,
    page_size: int | None,
    next_token: str | None,
) -> tuple[list[T], str | None]:
    """One page of ``items``, newest (largest key) first, and the token of the next page.

    Raises ValidationException for a token that does not belong to this list.
    """
    ordered = sorted(items, key=key, reverse=True)
    if next_token is not None:
        after = _decode(scope, next_token)
        ordered = [item for item in ordered if key(item) < after]
    size = page_size or DEFAULT_PAGE_SIZE
    page = ordered[:size]
    token = _encode(scope, key(page[-1])) if len(ordered) > size else None
    return page, token


def page_response(member: str, page: list[Any], token: str | None) -> dict[str, Any]:
    """The List* response shape: the list member always, NextToken only when more remain."""
    out: dict[str, Any] = {member: page}
    if token is not None:
        out["NextToken"] = token
    return out
