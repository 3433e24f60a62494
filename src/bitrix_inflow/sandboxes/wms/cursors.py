"""Opaque cursors: base64url JSON carrying the position and a fingerprint of the filters it belongs to."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from bitrix_inflow.sandboxes.wms.problems import invalid


def filters_tag(filters: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(filters, sort_keys=True).encode()).hexdigest()[:12]


def encode(position: Any, filters: dict[str, Any]) -> str:
    raw = json.dumps({"p": position, "f": filters_tag(filters)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str, filters: dict[str, Any]) -> Any:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise invalid("cursor", "not a cursor issued by this server; pass next_cursor unchanged") from None
    if not isinstance(data, dict) or "p" not in data:
        raise invalid("cursor", "not a cursor issued by this server; pass next_cursor unchanged")
    if data.get("f") != filters_tag(filters):
        raise invalid("cursor", "this cursor belongs to other filters; keep the filters while paging")
    return data["p"]
