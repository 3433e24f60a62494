"""Turns every Bitrix error reply into the product's error taxonomy (``bitrix_inflow.errors``), refined by
the typed errors of ``errors`` where a caller acts on the difference.

Keyed on the ``error`` value of the JSON body, never on the HTTP status alone: auth errors come as 401 from
the code and 403/400 in the docs, and sale/catalog controllers use *integer* codes with HTTP 400.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

from bitrix_inflow.errors import (
    AuthError,
    IntegrationError,
    NotFoundError,
    PermanentError,
    RateLimitedError,
    TransientError,
    ValidationError,
)

from .errors import (
    AlreadyThereError,
    CancelRefusedError,
    DocumentStatusError,
    EntityNotFoundError,
    InsufficientScopeError,
    MarkingRefusedError,
    MethodNotFoundError,
)

# The companion module's refusals (bitrix-module/README.md): what a person must fix before a retry can succeed.
_MODULE_REFUSALS = {
    "BITRIXINFLOW_SHIPMENT_DEDUCTED": "the shipment is deducted already: its codes can no longer change",
    "BITRIXINFLOW_NOT_MARKED": "the product has no marking group in the shop: set it in the catalog",
    "BITRIXINFLOW_TOO_MANY_CODES": "more codes than units in the shipment line",
    "BITRIXINFLOW_DUPLICATE_CODE": "a code appears twice",
    "BITRIXINFLOW_BASKET_NOT_IN_SHIPMENT": "the line is not in that shipment (moved or removed in the shop)",
    "BITRIXINFLOW_SAVE_FAILED": "the shop would not save the order",
}
_MODULE_MISSING = {
    "BITRIXINFLOW_SHIPMENT_NOT_FOUND": "shipment",
    "BITRIXINFLOW_BASKET_NOT_FOUND": "basket item",
    "BITRIXINFLOW_ORDER_NOT_FOUND": "order",
}

# The scope a webhook needs for each method family (Developer resources → Incoming webhook → permissions).
_SCOPE_BY_PREFIX = {
    "sale.": ("sale", "Online store"),
    "catalog.": ("catalog", "Commercial catalog"),
    "im.": ("im", "Chat and notifications"),
    "tasks.": ("task", "Tasks"),
    "crm.": ("crm", "CRM"),
    "bitrixinflow.": ("bitrixinflow", "bitrix-inflow companion module"),
}

# The catalog controllers' own phrase for a missing entity ("Product is not exists", "Store is not exists").
_GONE = re.compile(r"(?i)\bis not exists\b")
_NOT_FOUND_WHAT = {
    200540400001: "order",
    201140400001: "shipment",
    201240400001: "shipment item",
    200140400001: "basket item",  # sale-basket-item-delete.md
    200840400001: "basket item",
    200140400009: "order",  # sale-basket-item-add.md
    201240400002: "shipment",  # sale-shipment-item-add.md
    201240400003: "basket item",
    200240400001: "basket item",  # sale.basketproperties.add: the line is gone
    200240400002: "basket item",
    200240400003: "basket property",  # sale.basketproperties.delete / update / get
}

_AUTH_CODES = {
    "NO_AUTH_FOUND": "Bitrix found no authorisation in the request: check the webhook URL / OAuth token",
    "INVALID_TOKEN": "the OAuth access token is not valid: re-install or re-authorise the app",
    "WRONG_AUTH_TYPE": "this method cannot be called with this kind of authorisation (webhook vs app)",
    "USER_ACCESS_ERROR": "the application is not allowed for this user: widen the app's access in Bitrix",
    "AUTHORIZATION_ERROR": "authorisation failed: check the webhook URL / OAuth credentials",
    "PAYMENT_REQUIRED": "the Bitrix24 plan does not allow REST: a commercial plan is required",
    "ACCESS_DENIED": "access denied: the webhook user must be an admin, or REST needs a commercial plan",
    "ACCESS_ERROR": "access denied for the webhook user: grant it the needed module rights",
    "ALLOWED_ONLY_INTRANET_USER": "the webhook user must be an intranet (employee) user",
    "METHOD_CONFIRM_DENIED": "a portal administrator refused the app's access to this method",
    "METHOD_CONFIRM_WAITING": "the method waits for a portal administrator's confirmation",
    "PORTAL_DELETED": "the Bitrix24 portal has been deleted",
}

# catalog controllers answer code 0 for nearly everything; these descriptions are the documented ones
# (catalog-product-update.md, catalog-product-offer-update.md, catalog-document-conduct.md) plus the core's
# "Product is not exists". They are English on an English portal only: the stock methods confirm a refusal
# by reading the document back rather than by its text (stock_documents.py).
_PRODUCT_MISSING = re.compile(
    r"^\s*(the\s+)?product(\s+variation)?\b.*\b(does not exist|is not exists?)\b", re.IGNORECASE
)
_DOCUMENT_MISSING = re.compile(r"^\s*document not found", re.IGNORECASE)

_REQUIRED_FIELDS = re.compile(r"Required fields?:\s*(?P<fields>.+)", re.IGNORECASE)
_MISSING_PARAMETER = re.compile(r"parameter \{?(?P<name>\w+)\}?", re.IGNORECASE)


def scope_of(method: str) -> str | None:
    """The scope name Bitrix grants for ``method`` (``"catalog"``), None for a family not listed here."""
    found = _scope_entry(method)
    return found[0] if found else None


def scope_for(method: str) -> str:
    """The scope as an operator finds it in Bitrix's webhook form: ``"catalog (Commercial catalog)"``."""
    found = _scope_entry(method)
    return f"{found[0]} ({found[1]})" if found else "the scope of " + method


def _scope_entry(method: str) -> tuple[str, str] | None:
    for prefix, entry in _SCOPE_BY_PREFIX.items():
        if method.lower().startswith(prefix):
            return entry
    return None


def error_code(body: Mapping[str, Any] | None) -> str | int | None:
    """The ``error`` value as sent: a string for system errors, an int for sale/catalog controllers."""
    if not body:
        return None
    code = body.get("error")
    if isinstance(code, Mapping):  # REST v3 shape {"error": {"code": …, "message": …}}
        code = code.get("code")
    if isinstance(code, bool) or code is None:
        return None
    if isinstance(code, int):
        return code
    text = str(code)
    return int(text) if text.isdigit() else text


def retry_after_from(
    body: Mapping[str, Any] | None, header: str | None, now: float | None = None
) -> float | None:
    """The wait the server asked for: ``Retry-After`` header, else ``time.operating_reset_at`` (cloud)."""
    if header:
        try:
            return max(0.0, float(header))
        except ValueError:
            pass
    timing = body.get("time") if body else None
    if isinstance(timing, Mapping) and isinstance(timing.get("operating_reset_at"), int | float):
        current = time.time() if now is None else now
        return max(0.0, float(timing["operating_reset_at"]) - current)
    return None


def translate(
    status: int | None,
    body: Mapping[str, Any] | None,
    *,
    method: str,
    retry_after: float | None = None,
) -> IntegrationError:
    """Map one error reply (status may be None inside a batch, whose envelope is always 200)."""
    code = error_code(body)
    description = str(body.get("error_description") or "") if body else ""
    said = f"{method}: {code if code is not None else status} {description}".strip()
    if isinstance(code, int):
        return _controller_error(code, description, method=method, said=said)
    upper = code.upper() if isinstance(code, str) else None

    if upper in ("QUERY_LIMIT_EXCEEDED", "OVERLOAD_LIMIT", "OPERATION_TIME_LIMIT"):
        return RateLimitedError(f"Bitrix asks to slow down ({said})", retry_after=retry_after)
    if upper == "EXPIRED_TOKEN":
        return AuthError(
            f"{said}: the OAuth access token expired and refreshing it failed; check oauth.client_id/"
            "client_secret and re-authorise the app to get a new refresh token"
        )
    if upper == "INVALID_CREDENTIALS":
        return AuthError(
            f"{said}: Bitrix rejected the credentials; with a webhook, fix webhook_url (user id and code must "
            "match an active incoming webhook in Developer resources); with an OAuth app, re-authorise it and "
            "give the new access and refresh tokens"
        )
    if upper == "INSUFFICIENT_SCOPE":
        return InsufficientScopeError(
            f"{said}: the webhook/app lacks the scope {scope_for(method)}; add it in Bitrix",
            method=method,
            scope=scope_of(method),
        )
    if upper == "INVALID_REQUEST" and "https" in description.lower():
        return ValidationError(
            "webhook_url", "the site accepts webhooks over HTTPS only", "use an https:// URL"
        )
    if upper in _AUTH_CODES:
        return AuthError(f"{said}: {_AUTH_CODES[upper]}")
    if upper == "ERROR_METHOD_NOT_FOUND":
        return MethodNotFoundError(
            f"{said}: method not available here (module not installed, or not on this edition: "
            "tasks.* exists on Bitrix24 only)",
            method=method,
        )
    if upper == "ERROR_ARGUMENT":
        argument = str(body.get("argument") or "parameters") if body else "parameters"
        return ValidationError(f"{method}.{argument}", description or "invalid argument")
    if upper is not None and upper.startswith("SALE_ORDER_CANCEL_"):
        why = (
            "a payment is paid"
            if "PAYMENT" in upper
            else "a shipment is shipped"
            if "SHIPMENT" in upper
            else upper
        )
        return CancelRefusedError(f"{said}: the shop will not cancel the order while {why}", code=upper)
    if upper in _MODULE_REFUSALS:
        return MarkingRefusedError(f"{said}: {_MODULE_REFUSALS[upper]}", code=upper)
    if upper in _MODULE_MISSING:
        entity = _MODULE_MISSING[upper]
        return EntityNotFoundError(f"{entity} does not exist in Bitrix ({said})", entity=entity)
    if upper == "BITRIXINFLOW_WRONG_PARAMETER":
        return ValidationError(f"{method}.parameters", description or "the module refused the parameters")
    if upper == "ERROR_DOCUMENT_STATUS":
        # catalog.document.element.*: "Document not found / Conducted document" — no longer a draft.
        return DocumentStatusError(
            f"{said}: the stock document is not a draft any more (conducted, or gone); "
            "lines can only be changed on a draft"
        )
    if upper == "ERROR_DOCUMENT_RIGHTS":
        return AuthError(
            f"{said}: the webhook user lacks rights on this document type or one of its stores; grant it "
            "the document type's rights and 'view and select' on the stores"
        )
    if upper in ("ERROR_BATCH_LENGTH_EXCEEDED", "ERROR_BATCH_METHOD_NOT_ALLOWED"):
        return PermanentError(f"{said}: batch misuse (a bug in the gateway)")
    if upper in ("INTERNAL_SERVER_ERROR", "ERROR_UNEXPECTED_ANSWER"):
        return TransientError(f"Bitrix server error ({said})")
    if status == 404 and code is None:
        # Bitrix always explains a 404 in JSON; a bare one comes from the web server in front of it, so the
        # REST URL is wrong. It says nothing about the entity asked for (NotFoundError would).
        return PermanentError(f"{said}: no Bitrix REST endpoint there; check the webhook/portal URL")
    return _by_status(status, said, method=method, description=description, retry_after=retry_after)


def _controller_error(code: int, description: str, *, method: str, said: str) -> IntegrationError:
    if code == 0 and _PRODUCT_MISSING.search(description):
        return EntityNotFoundError(f"product not found in Bitrix ({said})", entity="product")
    if code == 0 and _DOCUMENT_MISSING.search(description) and method.startswith("catalog.document"):
        return EntityNotFoundError(
            f"stock document does not exist in Bitrix ({said})", entity="stock document"
        )
    if code in _NOT_FOUND_WHAT:
        entity = _NOT_FOUND_WHAT[code]
        return EntityNotFoundError(f"{entity} does not exist in Bitrix ({said})", entity=entity)
    if code == 201250000001:  # sale-shipment-item-add.md: the shipment holds that basket item already
        return AlreadyThereError(f"the shipment holds this basket item already ({said})")
    if code == 0 and _GONE.search(description):
        # catalog.* answers a missing product or store with code 0; only its text tells (addendum).
        return NotFoundError(f"not found in Bitrix ({said})")
    http_class = (code // 100_000) % 1000
    if http_class == 404:
        return NotFoundError(f"not found in Bitrix ({said})")
    if http_class == 403:
        right = "write" if code % 100 == 20 else "read"
        return AuthError(
            f"{said}: the webhook user has no {right} right on the module; give it "
            f"{'W (full access)' if right == 'write' else 'at least read'} in the module's access settings"
        )
    required = _REQUIRED_FIELDS.search(description)
    if required:
        names = ", ".join(n.strip() for n in required.group("fields").split(",") if n.strip())
        return ValidationError(f"{method}.fields.{names}", "Bitrix requires these fields", f"send {names}")
    if code == 100:
        missing = _MISSING_PARAMETER.search(description)
        name = missing.group("name") if missing else "parameters"
        return ValidationError(f"{method}.{name}", description or "required argument missing", f"pass {name}")
    return ValidationError(f"{method}.fields", description or f"rejected with code {code}")


def _by_status(
    status: int | None, said: str, *, method: str, description: str, retry_after: float | None
) -> IntegrationError:
    if status is None:
        return PermanentError(f"Bitrix refused ({said})")
    if status == 429:
        return RateLimitedError(f"Bitrix asks to slow down ({said})", retry_after=retry_after)
    if status >= 500 or status == 408:
        # 408: a proxy in front of Bitrix gave up waiting for our request; it was never processed.
        return TransientError(f"Bitrix server error ({said})")
    if status in (401, 403):
        return AuthError(f"{said}: authorisation refused; check webhook_url / OAuth credentials and rights")
    if status == 404:
        return NotFoundError(f"not found in Bitrix ({said})")
    if status == 400:
        return ValidationError(f"{method}.parameters", description or "Bitrix rejected the request")
    return PermanentError(f"Bitrix refused ({said})")
