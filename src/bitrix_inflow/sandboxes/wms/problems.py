"""Problem documents (RFC 9457): one stable ``type`` per error kind of the Inflow v1 contract."""

from __future__ import annotations

from typing import Any

PROBLEM_TYPE_PREFIX = "urn:inflow:problem:"

# kind -> (HTTP status, title)
KINDS: dict[str, tuple[int, str]] = {
    "validation": (400, "Invalid request"),
    "unauthorized": (401, "Unauthorized"),
    "not-found": (404, "Not found"),
    "method-not-allowed": (405, "Method not allowed"),
    "duplicate-external-ref": (409, "Duplicate external reference"),
    "cancel-rejected": (409, "Cancellation rejected"),
    "idempotency-in-flight": (409, "Request with this Idempotency-Key is still in progress"),
    "version-mismatch": (412, "Version mismatch"),
    "unsupported-media-type": (415, "Unsupported media type"),
    "insufficient-stock": (422, "Insufficient stock"),
    "unknown-sku": (422, "Unknown SKU"),
    "unknown-warehouse": (422, "Unknown warehouse"),
    "invalid-marking-code": (422, "Invalid marking code"),
    "idempotency-key-reused": (422, "Idempotency-Key reused with a different request"),
    "rate-limited": (429, "Too many requests"),
    "internal": (500, "Internal server error"),
    "unavailable": (503, "Service temporarily unavailable"),
}


class Problem(Exception):
    """Raised anywhere in the sandbox; rendered as problem+json (REST) or a SOAP fault."""

    def __init__(
        self,
        kind: str,
        detail: str,
        *,
        errors: list[dict[str, str]] | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.status, self.title = KINDS[kind]
        self.detail = detail
        self.errors = errors or []
        self.extra = extra or {}
        self.headers = headers or {}
        # Set when the document already speaks the installation's dialect (it names what the client sent).
        self.in_dialect = False

    def document(self) -> dict[str, Any]:
        return {
            "type": PROBLEM_TYPE_PREFIX + self.kind,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "errors": list(self.errors),
            **self.extra,
        }


def field_error(field: str, problem: str) -> dict[str, str]:
    return {"field": field, "problem": problem}


def invalid(field: str, problem: str) -> Problem:
    return Problem("validation", f"{field}: {problem}", errors=[field_error(field, problem)])
