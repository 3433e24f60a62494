"""Where shop events go: the outgoing webhook, handlers an app bound with ``event.bind``, and the offline
queue (``event_type=offline``), which keeps only the latest record per object, as the docs describe."""

from __future__ import annotations

import hashlib
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

from bitrix_inflow.sandboxes.bitrix.config import Clock
from bitrix_inflow.sandboxes.bitrix.events import EventSender

# Sale events a REST client can bind (D:api-reference/sale/events/index.md), upper-cased like the server.
KNOWN_EVENTS = (
    "ONSALEORDERSAVED",
    "ONSALEBEFOREORDERDELETE",
    "ONORDERENTITYSAVED",
    "ONSHIPMENTENTITYSAVED",
    "ONPAYMENTENTITYSAVED",
    "ONPROPERTYVALUEENTITYSAVED",
    "ONORDERDELETED",
    "ONSHIPMENTDELETED",
    "ONPAYMENTDELETED",
    "ONPROPERTYVALUEDELETED",
)


@dataclass(frozen=True)
class Binding:
    event: str
    handler: str
    auth_type: int
    offline: bool
    auth_connector: str = ""


@dataclass
class OfflineRecord:
    id: int
    timestamp: str
    event_name: str
    event_data: dict[str, Any]
    message_id: str
    process_id: str | None = None

    def public(self) -> dict[str, Any]:
        return {
            "ID": str(self.id),
            "TIMESTAMP_X": self.timestamp,
            "EVENT_NAME": self.event_name,
            "EVENT_DATA": self.event_data,
            "EVENT_ADDITIONAL": False,
            "MESSAGE_ID": self.message_id,
        }


@dataclass
class EventHub:
    sender: EventSender
    clock: Clock
    bindings: list[Binding] = field(default_factory=list)
    offline: list[OfflineRecord] = field(default_factory=list)
    _last_id: int = 0
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def emit(self, event: str, data: dict[str, Any], about: Any = None) -> None:
        with self._lock:
            handlers = tuple(
                b.handler for b in self.bindings if b.event == event and not b.offline and b.handler
            )
            if any(b.event == event and b.offline for b in self.bindings):
                self._queue_offline(event, data)
        self.sender.emit(event, data, handlers, about=about)

    def _queue_offline(self, event: str, data: dict[str, Any]) -> None:
        object_id = str(data.get("FIELDS", {}).get("ID", ""))
        message_id = hashlib.md5(f"{event}|{object_id}".encode(), usedforsecurity=False).hexdigest()
        now = self.clock.iso()
        waiting = next((r for r in self.offline if r.message_id == message_id and r.process_id is None), None)
        if waiting is not None:
            # The queue holds the object's latest state, not every change.
            waiting.timestamp = now
            waiting.event_data = data
            return
        self._last_id += 1
        self.offline.append(OfflineRecord(self._last_id, now, event, data, message_id))

    def forget_offline(self) -> None:
        """A reseed empties the offline queue: its records name objects of the old shop, whose ids the new shop
        gives to others. Bindings stay, like the app that made them."""
        with self._lock:
            self.offline = []

    def bind(self, binding: Binding) -> None:
        with self._lock:
            if binding not in self.bindings:
                self.bindings.append(binding)

    def unbind(self, event: str, handler: str | None, offline: bool | None) -> int:
        with self._lock:
            keep = [
                b
                for b in self.bindings
                if not (
                    b.event == event
                    and (handler is None or b.handler == handler)
                    and (offline is None or b.offline == offline)
                )
            ]
            removed = len(self.bindings) - len(keep)
            self.bindings = keep
            return removed

    def take_offline(
        self, *, limit: int, clear: bool, process_id: str | None
    ) -> tuple[str | None, list[dict[str, Any]]]:
        """``event.offline.get``: with ``clear`` the records leave the queue; without, they are reserved under
        a process id until ``event.offline.clear``. Passing a process id re-reads that reservation."""
        with self._lock:
            if process_id:
                picked = [r for r in self.offline if r.process_id == process_id][:limit]
            else:
                picked = [r for r in self.offline if r.process_id is None][:limit]
            if clear:
                self.offline = [r for r in self.offline if r not in picked]
                return None, [r.public() for r in picked]
            process_id = process_id or secrets.token_hex(16)
            for record in picked:
                record.process_id = process_id
            return process_id, [r.public() for r in picked]

    def clear_offline(self, process_id: str, ids: list[str], message_ids: list[str]) -> None:
        with self._lock:

            def chosen(record: OfflineRecord) -> bool:
                if record.process_id != process_id:
                    return False
                if ids:
                    return str(record.id) in ids
                if message_ids:
                    return record.message_id in message_ids
                return True

            self.offline = [r for r in self.offline if not chosen(r)]
