"""The one field registry: attribute -> stored column -> index field -> Row member.

Every other module asks this file what a column is called, which attribute it serves and where it
lands in a Row, so renaming or adding a field is one edit here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ColumnKind = Literal["str", "str_list", "bool", "int", "ts_ms"]


@dataclass(frozen=True, slots=True)
class StringAttribute:
    """A string attribute that CONTAINS can test (SEMANTICS §2)."""

    name: str  # the API's ArchiveStringEmailAttribute
    column: str  # stored value (str, or list of str for ENVELOPE_TO)
    folded_column: str  # fold(value), precomputed at ingest for the scan path
    index_field: str  # tantivy field holding the shifted 3-character chunks of the folded value
    is_list: bool


STRING_ATTRIBUTES: dict[str, StringAttribute] = {
    a.name: a
    for a in (
        StringAttribute("TO", "header_to", "fold_to", "x_to", False),
        StringAttribute("FROM", "header_from", "fold_from", "x_from", False),
        StringAttribute("CC", "header_cc", "fold_cc", "x_cc", False),
        StringAttribute("SUBJECT", "subject", "fold_subject", "x_subject", False),
        StringAttribute("ENVELOPE_TO", "envelope_to", "fold_envelope_to", "x_envelope_to", True),
        StringAttribute(
            "ENVELOPE_FROM", "envelope_from", "fold_envelope_from", "x_envelope_from", False
        ),
    )
}

BOOLEAN_ATTRIBUTES: dict[str, str] = {"HAS_ATTACHMENTS": "has_attachments"}

STRING_OPERATORS = ("CONTAINS",)
BOOLEAN_OPERATORS = {"IS_TRUE": True, "IS_FALSE": False}

# Metadata shape members, in the shape's order, and the column each is stored in.
METADATA_COLUMNS: dict[str, str] = {
    "Timestamp": "metadata_timestamp_ms",
    "IngressPointId": "ingress_point_id",
    "TrafficPolicyId": "traffic_policy_id",
    "RuleSetId": "rule_set_id",
    "SenderHostname": "sender_hostname",
    "SenderIpAddress": "sender_ip_address",
    "TlsCipherSuite": "tls_cipher_suite",
    "TlsProtocol": "tls_protocol",
    "SendingMethod": "sending_method",
    "SourceIdentity": "source_identity",
    "SendingPool": "sending_pool",
    "ConfigurationSet": "configuration_set",
    "SourceArn": "source_arn",
}

# Every stored column of a message record, in Parquet column order.
COLUMNS: dict[str, ColumnKind] = {
    "archived_message_id": "str",
    "received_ms": "ts_ms",
    "date": "str",
    "header_to": "str",
    "header_from": "str",
    "header_cc": "str",
    "subject": "str",
    "message_id": "str",
    "has_attachments": "bool",
    "received_headers": "str_list",
    "in_reply_to": "str",
    "x_mailer": "str",
    "x_original_mailer": "str",
    "x_priority": "str",
    "envelope_helo": "str",
    "envelope_from": "str",
    "envelope_to": "str_list",
    **{
        column: ("ts_ms" if member == "Timestamp" else "str")
        for member, column in METADATA_COLUMNS.items()
    },
    "header_timestamp_ms": "ts_ms",
    "has_metadata": "bool",
    "sha256": "str",
    "size": "int",
    "source_path": "str",
    "metadata_path": "str",
    "blob": "str",
    "blob_offset": "int",
    "fold_to": "str",
    "fold_from": "str",
    "fold_cc": "str",
    "fold_subject": "str",
    "fold_envelope_to": "str_list",
    "fold_envelope_from": "str",
}

# Row members (GetArchiveSearchResults) in the shape's order, and where each comes from.
# "Envelope" is assembled from the three envelope columns; the rest map to one column.
ROW_MEMBERS: tuple[tuple[str, str], ...] = (
    ("ArchivedMessageId", "archived_message_id"),
    ("ReceivedTimestamp", "received_ms"),
    ("Date", "date"),
    ("To", "header_to"),
    ("From", "header_from"),
    ("Cc", "header_cc"),
    ("Subject", "subject"),
    ("MessageId", "message_id"),
    ("HasAttachments", "has_attachments"),
    ("ReceivedHeaders", "received_headers"),
    ("InReplyTo", "in_reply_to"),
    ("XMailer", "x_mailer"),
    ("XOriginalMailer", "x_original_mailer"),
    ("XPriority", "x_priority"),
    ("IngressPointId", "ingress_point_id"),
    ("SenderHostname", "sender_hostname"),
    ("SenderIpAddress", "sender_ip_address"),
    ("Envelope", ""),
    ("SourceArn", "source_arn"),
)

ENVELOPE_MEMBERS: tuple[tuple[str, str], ...] = (
    ("Helo", "envelope_helo"),
    ("From", "envelope_from"),
    ("To", "envelope_to"),
)

# Columns a search needs to order and project rows (the rest serve export and messages).
ROW_COLUMNS: tuple[str, ...] = tuple(
    dict.fromkeys(
        [column for _, column in ROW_MEMBERS if column] + [column for _, column in ENVELOPE_MEMBERS]
    )
)

# What a reader keeps in memory: rows, plus what the scan path tests. The rest (hashes, paths,
# blob positions, metadata members outside the Row) is read from Parquet when asked for.
SEARCH_COLUMNS: tuple[str, ...] = tuple(
    dict.fromkeys(
        [*ROW_COLUMNS, "has_attachments"] + [a.folded_column for a in STRING_ATTRIBUTES.values()]
    )
)

# SEMANTICS §1 [CHOSEN]: an ArchivedMessageId is 1-128 of [A-Za-z0-9._=-], not starting with ".".
_MESSAGE_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._=-")


def is_valid_message_id(value: str) -> bool:
    """True when ``value`` may serve as an ArchivedMessageId as written (SEMANTICS §1)."""
    return (
        1 <= len(value) <= 128
        and not value.startswith(".")
        and all(c in _MESSAGE_ID_CHARS for c in value)
    )
