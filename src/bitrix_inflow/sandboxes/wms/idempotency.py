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


@dataclass(eq=False)  # compared by identity: a claim is this very entry, not an equal one made after a reset
class Claim:
    """The key held by the request executing it; a stored response, once it has one."""

    principal: str
    key: str
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
        self._entries: dict[tuple[str, str], Claim] = {}

    def begin(self, principal: str, key: str, body_fingerprint: str) -> StoredResponse | Claim:
        """The stored response to replay, or the claim under which the caller executes (the key is in flight)."""
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
        claim = Claim(principal, key, body_fingerprint, time.monotonic())
        self._entries[(principal, key)] = claim
        return claim

    def holds(self, claim: Claim) -> bool:
        """False once a reset forgot the key (and a request after it may have claimed the key anew)."""
        return self._entries.get((claim.principal, claim.key)) is claim

    def finish(self, claim: Claim, response: StoredResponse | None) -> None:
        """Store a success for replay; a failure (None) releases the key so a retry executes afresh.

        A claim this store no longer holds changes nothing: the key and everything else was reset while the
        request was in flight, and the entry under that key now, if any, is another request's.
        """
        if not self.holds(claim):
            return
        if response is None:
            del self._entries[(claim.principal, claim.key)]
        else:
            claim.response = response

    def clear(self) -> None:
        self._entries.clear()

    def _expire(self) -> None:
        # Entries are kept in the order they were made (a dict keeps insertion order, and a key is made once), so
        # the expired ones are at the front: dropped from there, a request costs the same however many keys are
        # held (scanning them all made every create slower as the warehouse filled up).
        cutoff = time.monotonic() - KEY_TTL_SECONDS
        while self._entries:
            oldest = next(iter(self._entries))
            if self._entries[oldest].created >= cutoff:
                return
            del self._entries[oldest]
