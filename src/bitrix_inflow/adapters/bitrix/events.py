"""The shop's offline event queue (events/offline-events.md): a binding with ``event_type=offline`` makes the shop
log changes instead of posting them; ``event.offline.get`` with ``clear=0`` hands a page of them out reserved
under a ``process_id``, and ``event.offline.clear`` drops that reservation once it has been acted on. The queue
keeps one record per object (the latest change), so a record says "look at this object", never what changed.

Application (OAuth) context only; binding needs an administrator. Whether reading without clearing works, and
whether a write's ``auth_connector`` keeps its own events out, depends on the plan: ``feature.get`` says.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import replies
from .models import OfflineBatch, OfflineRecord
from .settings import BitrixSettings
from .transport import Transport
from .wire import to_opt_id, to_str

PAGE = 50  # event.offline.get's default limit, and the most one read is worth


class Events:
    def __init__(self, transport: Transport, settings: BitrixSettings) -> None:
        self._transport = transport
        self._settings = settings

    def bind_offline(self, event: str, *, connector: str | None) -> bool:
        """The offline binding of ``event`` under ``connector`` (the source key the service's writes carry; None:
        no key, where the plan has none), made unless the application already has it (``event.get`` lists its
        bindings). True when it was made now."""
        listed = replies.rows(self._transport.call("event.get").get("result"), field="event.get.result")
        if any(_is_offline(row, event, connector) for row in listed):
            return False
        params: dict[str, Any] = {"event": event, "event_type": "offline"}
        if connector:
            params["auth_connector"] = connector
        self._transport.call("event.bind", params)
        return True

    def take_offline(
        self, process_id: str | None, *, connector: str | None, reserve: bool, limit: int = PAGE
    ) -> OfflineBatch:
        """A page of the queue of ``connector`` (each source key has its own). ``reserve``: the records are
        reserved (``clear=0``) rather than removed, so nothing is lost if the reader dies before acting on them;
        only plans with ``rest_offline_extended`` allow it. ``process_id`` re-reads an earlier reservation."""
        params: dict[str, Any] = {"clear": 0 if reserve else 1, "limit": limit}
        if process_id:
            params["process_id"] = process_id
        if connector:
            params["auth_connector"] = connector
        # Not repeated after a timeout: a lost answer's reservation is unknown to the reader; the poll covers it.
        reply = self._transport.call("event.offline.get", params, idempotent=False)
        body = replies.obj(reply.get("result"), field="event.offline.get.result")
        chosen = body.get("process_id") if reserve else None
        records = tuple(
            _record(row) for row in replies.rows(body.get("events") or [], field="event.offline.get.events")
        )
        return OfflineBatch(str(chosen) if chosen else None, records, full=len(records) >= limit)

    def clear_offline(self, process_id: str, *, connector: str | None) -> None:
        """``event.offline.clear``: the reservation acted on leaves the queue (clearing twice is harmless)."""
        params: dict[str, Any] = {"process_id": process_id}
        if connector:
            params["auth_connector"] = connector
        self._transport.call("event.offline.clear", params)


def _is_offline(row: Mapping[str, Any], event: str, connector: str | None) -> bool:
    """An offline binding of ``event`` under ``connector`` (a listing without ``connector_id`` cannot tell keys
    apart: any offline binding of the event counts)."""
    if str(row.get("event", "")).upper() != event.upper() or str(row.get("offline", "0")) != "1":
        return False
    return "connector_id" not in row or str(row.get("connector_id") or "") == (connector or "")


def _record(row: Mapping[str, Any]) -> OfflineRecord:
    data = row.get("EVENT_DATA")
    fields = data.get("FIELDS") if isinstance(data, Mapping) else None
    try:
        entity = to_opt_id(fields.get("ID") if isinstance(fields, Mapping) else None, field="FIELDS.ID")
    except (ValueError, TypeError):
        entity = None  # still a record: the reader polls without knowing which object changed
    return OfflineRecord(
        event=to_str(row.get("EVENT_NAME")).upper(),
        entity_id=entity,
        message_id=to_str(row.get("MESSAGE_ID")),
    )
