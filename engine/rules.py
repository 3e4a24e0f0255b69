"""The [CHOSEN] rules of SEMANTICS §3-4 that the engine applies, each in exactly one place.

``Rules()`` is the contract. ``validate`` (comparing with a cloud result) re-runs a search with one
rule switched to find out which rule explains a difference, so each switch is a field here and the
compiler, the scan path and the ordering read it from here only.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

# Stored in place of a missing ReceivedTimestamp so that undated messages sort after every dated
# one (newest first) and fall outside every time range (years 1..9999 are far above it).
UNDATED_MS = -(2**62)


@dataclass(frozen=True, slots=True)
class Rules:
    """One switch per [CHOSEN] rule; the defaults are SEMANTICS."""

    case_sensitive: bool = False  # §3: CONTAINS folds case (casefold + NFC)
    to_inclusive: bool = False  # §4: ToTimestamp is exclusive
    from_exclusive: bool = False  # §4: FromTimestamp is inclusive
    oldest_first: bool = False  # §4: newest first, ties by ArchivedMessageId ascending
    # §2: TO, FROM and CC match the whole header, display names included; switched on, only the
    # addr-specs of the header read as an RFC 5322 address list (scan path only).
    addresses_only: bool = False


CONTRACT = Rules()


def fold(value: str, rules: Rules = CONTRACT) -> str:
    """SEMANTICS §3: ``fold(s) = NFC(casefold(NFC(s)))`` (or only NFC when case-sensitive)."""
    nfc = unicodedata.normalize("NFC", value)
    if rules.case_sensitive:
        return nfc
    return unicodedata.normalize("NFC", nfc.casefold())
