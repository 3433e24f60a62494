"""Idempotency-Key handling after draft-ietf-httpapi-idempotency-key-header."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from bitrix_inflow.sandboxes.wms.problems import Problem, field_error

KEY_TTL_SECONDS = 24 * 3600


@dataclass
class StoredResponse:
    status: int
    document: dict[str, Any]
    location: str | None


@dataclass
class _Entry:
    fingerprint: str
    created: float
    response: StoredResponse | None = None  # None while the first request is in flight


def fingerprint(body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_key(key: str) -> None:
    if not 1 <= len(key) <= 255 or not all(32 <= ord(ch) < 127 for ch in key):
        raise Problem(
            "validation",
            "Idempotency-Key must be 1..255 printable ASCII characters",
            errors=[field_error("Idempotency-Key", "use 1..255 printable ASCII characters, e.g. a UUID")],
        )


class IdempotencyStore:
    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], _Entry] = {}

    def begin(self, principal: str, key: str, body_fingerprint: str) -> StoredResponse | None:
        """The stored response to replay, None when the caller should execute (the key is then in flight)."""
        self._expire()
        entry = self._entries.get((principal, key))
        if entry is not None:
            if entry.fingerprint != body_fingerprint:
                raise Problem(
                    "idempotency-key-reused",
                    "this Idempotency-Key was used with a different request body",
                    errors=[field_error("Idempotency-Key", "use a new key for a different request")],
                )
            if entry.response is None:
                raise Problem(
                    "idempotency-in-flight",
                    "a request with this Idempotency-Key is still being processed; retry later",
                    errors=[field_error("Idempotency-Key", "wait for the first request, then retry")],
                )
            return entry.response
        self._entries[(principal, key)] = _Entry(body_fingerprint, time.monotonic())
        return None

    def finish(self, principal: str, key: str, response: StoredResponse | None) -> None:
        """Store a success for replay; a failure (None) releases the key so a retry executes afresh."""
        if response is None:
            self._entries.pop((principal, key), None)
        else:
            self._entries[(principal, key)].response = response

    def _expire(self) -> None:
        cutoff = time.monotonic() - KEY_TTL_SECONDS
        for k in [k for k, e in self._entries.items() if e.created < cutoff]:
            del self._entries[k]
