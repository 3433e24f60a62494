"""``event.bind`` / ``event.get`` / ``event.unbind``, the offline queue (``event.offline.get``/``list``/``clear``/
``error``) and ``feature.get``.

These methods need an application context (OAuth). A webhook gets WRONG_AUTH_TYPE; the docs do not quote the
exact message, so the one used here is a guess.
"""

from __future__ import annotations

from typing import Any

from bitrix_inflow.sandboxes.bitrix import rest_errors
from bitrix_inflow.sandboxes.bitrix.event_hub import KNOWN_EVENTS, Binding, EventHub
from bitrix_inflow.sandboxes.bitrix.listing import PAGE_SIZE, parse_start
from bitrix_inflow.sandboxes.bitrix.registry import Answer, Call, Method


def _hub(call: Call) -> EventHub:
    if not call.is_app:
        raise rest_errors.RestError(
            403, "WRONG_AUTH_TYPE", "Current authorization type is denied for this method"
        )
    if call.hub is None:
        raise rest_errors.internal_error()
    return call.hub


def _admin(call: Call) -> None:
    if call.user_id != call.config.webhook_user_id:
        raise rest_errors.RestError(403, "ACCESS_DENIED", "Access denied!")


def _event_name(call: Call) -> str:
    name = str(call.params.get("event", "")).strip().upper()
    if name not in KNOWN_EVENTS:
        raise rest_errors.RestError(400, "ERROR_EVENT_NOT_FOUND", "Event not found")
    return name


def _flag(value: Any, default: bool) -> bool:
    if value is None or value == "":
        return default
    return str(value).strip().lower() in ("1", "true", "y", "yes")


def event_bind(call: Call) -> Answer:
    hub = _hub(call)
    event = _event_name(call)
    offline = str(call.params.get("event_type", "online")).lower() == "offline"
    handler = str(call.params.get("handler", "") or "")
    if offline:
        _admin(call)
    elif not handler.startswith(("http://", "https://")):
        raise rest_errors.RestError(
            400, "ERROR_HANDLER_URL_MISMATCH", "Handler URL host doesn't match application url"
        )
    try:
        auth_type = int(str(call.params.get("auth_type", 0) or 0))
    except ValueError:
        auth_type = 0
    if auth_type and auth_type != call.user_id:
        _admin(call)
    hub.bind(
        Binding(
            event, "" if offline else handler, auth_type, offline, str(call.params.get("auth_connector", ""))
        )
    )
    return Answer(True)


def event_get(call: Call) -> Answer:
    hub = _hub(call)
    return Answer(
        [
            {
                "event": b.event,
                "handler": b.handler,
                "auth_type": str(b.auth_type),
                "offline": int(b.offline),
                # An offline binding's source key (the rest module's source answers it; the docs example omits it).
                **({"connector_id": b.auth_connector} if b.offline else {}),
            }
            for b in hub.bindings
        ]
    )


def event_unbind(call: Call) -> Answer:
    hub = _hub(call)
    event = _event_name(call)
    kind = call.params.get("event_type")
    offline = None if kind in (None, "") else str(kind).lower() == "offline"
    handler = call.params.get("handler")
    return Answer({"count": hub.unbind(event, str(handler) if handler else None, offline)})


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def offline_get(call: Call) -> Answer:
    """event-offline-get.md: any user of the application; ``filter``/``order`` over ID, TIMESTAMP_X, EVENT_NAME,
    MESSAGE_ID (default order TIMESTAMP_X ASC), ``limit`` (50), ``clear`` (1), ``process_id``, ``error`` (0)."""
    hub = _hub(call)
    try:
        limit = max(1, min(int(str(call.params.get("limit", 50) or 50)), 1000))
    except ValueError:
        limit = 50
    process_id = str(call.params.get("process_id", "") or "") or None
    clear = _flag(call.params.get("clear"), default=True)
    if not clear and not hub.feature("rest_offline_extended"):
        raise rest_errors.license_error()
    chosen, events = hub.take_offline(
        limit=limit,
        clear=clear,
        process_id=process_id,
        connector=str(call.params.get("auth_connector", "") or ""),
        filter_=_mapping(call.params.get("filter")),
        order=_mapping(call.params.get("order")) or None,
        error=_flag(call.params.get("error"), default=False),
    )
    return Answer({"process_id": chosen, "events": events})


def offline_list(call: Call) -> Answer:
    """event-offline-list.md: the queue read without changing it; filter also on PROCESS_ID and ERROR; default
    order ID ASC; pages of 50 by ``start``."""
    hub = _hub(call)
    start = parse_start(call.params.get("start", 0))
    rows, total = hub.list_offline(
        filter_=_mapping(call.params.get("filter")),
        order=_mapping(call.params.get("order")) or None,
        start=max(0, start),
        page=PAGE_SIZE,
    )
    following = start + PAGE_SIZE if start + PAGE_SIZE < total else None
    return Answer(rows, total=total, next=following, has_total=True)


def _strings(value: Any) -> list[str]:
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return [str(item) for item in items]


def offline_clear(call: Call) -> Answer:
    hub = _hub(call)
    process_id = str(call.require("process_id"))
    hub.clear_offline(
        process_id,
        _strings(call.params.get("id")),
        _strings(call.params.get("message_id")),
        str(call.params.get("auth_connector", "") or ""),
    )
    return Answer(True)


def offline_error(call: Call) -> Answer:
    """event-offline-error.md: mark the process's records named by ``message_id`` as failed."""
    hub = _hub(call)
    hub.mark_errors(str(call.require("process_id")), _strings(call.params.get("message_id")))
    return Answer(True)


def feature_get(call: Call) -> Answer:
    """feature-get.md: ``CODE`` required (CODE_EMPTY); Y or N; an unknown code may answer Y."""
    code = str(call.params.get("CODE", call.params.get("code", "")) or "").strip()
    if code in ("", "0"):
        raise rest_errors.RestError(400, "CODE_EMPTY", "CODE can't be empty")
    if call.hub is None:
        raise rest_errors.internal_error()
    available = call.hub.feature(code)
    if not call.config.cloud and available:
        # Without the bitrix24 module no plan gates a feature: the answer is the license (feature-get.md:
        # "lang_selfhosted ... used for on-premise"), whatever the code. A feature switched off in the sandbox
        # stands for a module answering onRestGetFeature with N.
        return Answer({"value": call.config.license})
    return Answer({"value": "Y" if available else "N"})


METHODS = [
    Method("event.bind", "", event_bind),
    Method("event.get", "", event_get),
    Method("event.unbind", "", event_unbind),
    Method("event.offline.get", "", offline_get),
    Method("event.offline.list", "", offline_list),
    Method("event.offline.clear", "", offline_clear),
    Method("event.offline.error", "", offline_error),
    Method("feature.get", "", feature_get),  # scope basic: every credential has it
]
