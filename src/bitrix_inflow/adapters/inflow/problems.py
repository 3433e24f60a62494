"""Problem documents (RFC 9457 / SOAP fault detail) -> the typed errors of ``bitrix_inflow.errors``.

The switch is on the problem ``type`` (stable by contract), never on ``title`` or ``detail``. The subclasses
below carry the extra members a caller acts on (the existing order to adopt, the status that blocked
a cancel).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from bitrix_inflow.adapters.inflow.models import Shortage
from bitrix_inflow.errors import (
    AuthError,
    ConflictError,
    IntegrationError,
    NotFoundError,
    PermanentError,
    RateLimitedError,
    TransientError,
    ValidationError,
)

PROBLEM_PREFIX = "urn:inflow:problem:"


class UnavailableError(TransientError):
    """503/500 or a network failure; ``retry_after`` is the server's hint, if it gave one."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class IdempotencyInFlightError(TransientError):
    """The first request with this Idempotency-Key is still being processed: retry later with the same key."""


class DuplicateExternalRefError(ConflictError):
    def __init__(self, message: str, existing_order_id: str) -> None:
        super().__init__(message)
        self.existing_order_id = existing_order_id


class CancelRejectedError(ConflictError):
    """The order is past the point where it can be cancelled; keep it and alert a human."""

    def __init__(self, message: str, order_status: str | None) -> None:
        super().__init__(message)
        self.order_status = order_status


class VersionMismatchError(ConflictError):
    def __init__(self, message: str, current_version: int | None) -> None:
        super().__init__(message)
        self.current_version = current_version


class InsufficientStockError(ConflictError):
    """Nothing was reserved: at least one line is short. Wait, split or short-ship."""

    def __init__(self, message: str, shortages: tuple[Shortage, ...]) -> None:
        super().__init__(message)
        self.shortages = shortages


class UnknownSkuError(ValidationError):
    """A line names a SKU the warehouse does not know: the product's link is wrong or the SKU is not set up."""


class UnknownWarehouseError(ValidationError):
    """The warehouse (or zone) code is not one the installation knows: a configuration problem."""


class InvalidMarkingCodeError(ValidationError):
    """A marking code is malformed, of another GTIN, used already, or more than one per unit."""


class UnsupportedOperationError(PermanentError):
    """The configured transport has no such operation (e.g. lookup by external_ref over SOAP)."""


class ContractViolationError(PermanentError):
    """The installation answered something the contract does not allow (missing field, unknown status)."""


_FIXES = {
    "validation": "correct the request; retrying it unchanged cannot succeed",
    "unknown-sku": "map the product to a SKU the warehouse knows (catalogue mapping)",
    "unknown-warehouse": "set a warehouse (and zone) code the installation knows",
    "invalid-marking-code": "send only well-formed, unused codes of this SKU's GTIN, at most one per unit",
}


# The flow decides on the kind (a wrong link is the catalogue's problem, a wrong warehouse the configuration's).
_VALIDATION_KINDS: dict[str, type[ValidationError]] = {
    "unknown-sku": UnknownSkuError,
    "unknown-warehouse": UnknownWarehouseError,
    "invalid-marking-code": InvalidMarkingCodeError,
}


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def error_for_status(status: int, message: str, retry_after: float | None = None) -> IntegrationError:
    """For answers without a usable problem document (a proxy's HTML page, an empty body)."""
    if status == 429:
        return RateLimitedError(message, retry_after)
    if status >= 500:
        return UnavailableError(message, retry_after)
    if status in (401, 403):
        return AuthError(message)
    if status == 404:
        return NotFoundError(message)
    if status in (409, 412):
        return ConflictError(message)
    return PermanentError(message)


def error_for_problem(
    status: int, problem: Mapping[str, Any], retry_after: float | None = None
) -> IntegrationError:
    """The typed error for a canonical problem document (field paths already in canonical names)."""
    kind = str(problem.get("type", "")).removeprefix(PROBLEM_PREFIX)
    detail = str(problem.get("detail") or problem.get("title") or "")
    message = f"Inflow WMS answered {status} {kind or 'error'}: {detail}"
    errors = [e for e in problem.get("errors") or [] if isinstance(e, Mapping)]
    if kind in _FIXES:
        first = errors[0] if errors else {}
        default_field = "warehouse" if kind == "unknown-warehouse" else "request"
        return _VALIDATION_KINDS.get(kind, ValidationError)(
            field=str(first.get("field") or default_field),
            problem=str(first.get("problem") or detail),
            fix=_FIXES[kind],
        )
    if kind == "unauthorized":
        oauth_code = problem.get("error")
        return AuthError(message + (f" ({oauth_code})" if oauth_code else ""))
    if kind == "not-found":
        return NotFoundError(message)
    if kind == "duplicate-external-ref":
        return DuplicateExternalRefError(message, str(problem.get("existing_order_id", "")))
    if kind == "cancel-rejected":
        order_status = problem.get("order_status")
        return CancelRejectedError(message, str(order_status) if order_status else None)
    if kind == "idempotency-in-flight":
        return IdempotencyInFlightError(message)
    if kind == "version-mismatch":
        return VersionMismatchError(message, _int_or_none(problem.get("current_version")))
    if kind == "insufficient-stock":
        shortages = tuple(
            Shortage(
                sku=str(s.get("sku")),
                requested=int(s.get("requested", 0)),
                available=int(s.get("available", 0)),
            )
            for s in problem.get("shortages") or []
            if isinstance(s, Mapping)
        )
        return InsufficientStockError(message, shortages)
    if kind == "rate-limited":
        return RateLimitedError(message, retry_after)
    if kind in ("unavailable", "internal"):
        return UnavailableError(message, retry_after)
    if kind in ("idempotency-key-reused", "unsupported-media-type", "method-not-allowed"):
        return PermanentError(message + " (a bug in the client: report it)")
    return error_for_status(status, message, retry_after)


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the contract sends integers; an HTTP date is not used by Inflow)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    # inf, nan and negatives are not waits (RFC 9110: a non-negative integer); treat them as no header at all.
    return seconds if math.isfinite(seconds) and seconds >= 0 else None
