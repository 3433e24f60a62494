"""Where shop events go: the outgoing webhook, handlers an app bound with ``event.bind``, and the offline
queue (``event_type=offline``), which keeps only the latest record per object, as the docs describe."""

from __future__ import annotations

import contextvars
import hashlib
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bitrix_inflow.sandboxes.bitrix.config import Clock, SandboxConfig
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


# The auth_connector of the REST call being served: events it causes are not queued for offline bindings made with
# the same connector (offline-events.md, "How to avoid cycles").
WRITER_CONNECTOR: contextvars.ContextVar[str] = contextvars.ContextVar("writer_connector", default="")


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
    connector: str = ""  # the auth_connector queue the record belongs to
    error: bool = False  # marked by event.offline.error

    def public(self) -> dict[str, Any]:
        return {
            "ID": str(self.id),
            "TIMESTAMP_X": self.timestamp,
            "EVENT_NAME": self.event_name,
            "EVENT_DATA": self.event_data,
            "EVENT_ADDITIONAL": False,
            "MESSAGE_ID": self.message_id,
        }

    def listed(self) -> dict[str, Any]:
        """As ``event.offline.list`` shows it: with the process and the error mark."""
        return {**self.public(), "PROCESS_ID": self.process_id or "", "ERROR": "1" if self.error else "0"}


@dataclass
class EventHub:
    sender: EventSender
    clock: Clock
    bindings: list[Binding] = field(default_factory=list)
    offline: list[OfflineRecord] = field(default_factory=list)
    config: SandboxConfig | None = None  # the plan's features (auth_connector, offline_extended)
    _last_id: int = 0
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def emit(self, event: str, data: dict[str, Any], about: Any = None) -> None:
        writer = WRITER_CONNECTOR.get() if self.feature("rest_auth_connector") else ""
        with self._lock:
            handlers = tuple(
                b.handler for b in self.bindings if b.event == event and not b.offline and b.handler
            )
            queues = {
                b.auth_connector
                for b in self.bindings
                if b.event == event and b.offline and not (b.auth_connector and b.auth_connector == writer)
            }
            for connector in sorted(queues):
                self._queue_offline(event, data, connector)
        self.sender.emit(event, data, handlers, about=about)

    def _queue_offline(self, event: str, data: dict[str, Any], connector: str) -> None:
        object_id = str(data.get("FIELDS", {}).get("ID", ""))
        key = f"{event}|{object_id}|{connector}"
        message_id = hashlib.md5(key.encode(), usedforsecurity=False).hexdigest()
        now = self.clock.iso()
        waiting = next((r for r in self.offline if r.message_id == message_id and r.process_id is None), None)
        if waiting is not None:
            # The queue holds the object's latest state, not every change.
            waiting.timestamp = now
            waiting.event_data = data
            waiting.error = False
            return
        self._last_id += 1
        self.offline.append(OfflineRecord(self._last_id, now, event, data, message_id, connector=connector))

    def forget_offline(self) -> None:
        """A reseed empties the offline queue: its records name objects of the old shop, whose ids the new shop
        gives to others. Bindings stay, like the app that made them."""
        with self._lock:
            self.offline = []

    def feature(self, code: str) -> bool:
        """``feature.get``: whether the plan has a REST feature (an unknown code answers Y, as the docs warn)."""
        if self.config is None:
            return True
        if code == "rest_auth_connector":
            return self.config.auth_connector
        if code == "rest_offline_extended":
            return self.config.offline_extended
        return True

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
        self,
        *,
        limit: int,
        clear: bool,
        process_id: str | None,
        connector: str = "",
        filter_: dict[str, Any] | None = None,
        order: dict[str, Any] | None = None,
        error: bool = False,
    ) -> tuple[str | None, list[dict[str, Any]]]:
        """``event.offline.get``: with ``clear`` the records leave the queue; without, they are reserved under
        a process id until ``event.offline.clear``. Passing a process id re-reads that reservation. ``error``
        reads the records ``event.offline.error`` marked instead of the others."""
        with self._lock:
            pool = [
                r
                for r in self.offline
                if r.connector
                == connector  # each auth_connector has its own queue; none: the records without
                and (r.process_id == process_id if process_id else r.process_id is None)
                and r.error == error
                and _matches(r, filter_ or {})
            ]
            picked = _ordered(pool, order or {"TIMESTAMP_X": "ASC"})[:limit]
            if clear:
                self.offline = [r for r in self.offline if r not in picked]
                return None, [r.public() for r in picked]
            process_id = process_id or secrets.token_hex(16)
            for record in picked:
                record.process_id = process_id
            return process_id, [r.public() for r in picked]

    def list_offline(
        self, *, filter_: dict[str, Any] | None, order: dict[str, Any] | None, start: int, page: int
    ) -> tuple[list[dict[str, Any]], int]:
        """``event.offline.list``: the queue as it is, changing nothing; a page and the total."""
        with self._lock:
            found = _ordered([r for r in self.offline if _matches(r, filter_ or {})], order or {"ID": "ASC"})
            return [r.listed() for r in found[start : start + page]], len(found)

    def mark_errors(self, process_id: str, message_ids: list[str]) -> None:
        """``event.offline.error``: the process's records named get the error mark and leave the process (a
        later ``event.offline.get`` with ``error=1`` reads them)."""
        with self._lock:
            for record in self.offline:
                if record.process_id == process_id and record.message_id in message_ids:
                    record.error = True
                    record.process_id = None

    def clear_offline(
        self, process_id: str, ids: list[str], message_ids: list[str], connector: str = ""
    ) -> None:
        with self._lock:

            def chosen(record: OfflineRecord) -> bool:
                if record.process_id != process_id or record.connector != connector:
                    return False
                if ids:
                    return str(record.id) in ids
                if message_ids:
                    return record.message_id in message_ids
                return True

            self.offline = [r for r in self.offline if not chosen(r)]


_FIELDS: dict[str, Callable[[OfflineRecord], Any]] = {
    "ID": lambda r: r.id,
    "TIMESTAMP_X": lambda r: r.timestamp,
    "EVENT_NAME": lambda r: r.event_name,
    "MESSAGE_ID": lambda r: r.message_id,
    "PROCESS_ID": lambda r: r.process_id or "",
    "ERROR": lambda r: 1 if r.error else 0,
}
_OPERATORS = (">=", "<=", "!=", ">", "<", "=", "!")


def _matches(record: OfflineRecord, conditions: dict[str, Any]) -> bool:
    """The filter of the offline methods: ``[op]FIELD`` over the record's fields; unknown fields are ignored."""
    for key, wanted in conditions.items():
        op = next((o for o in _OPERATORS if str(key).startswith(o)), "")
        name = str(key)[len(op) :].upper()
        if name not in _FIELDS:
            continue
        value = _FIELDS[name](record)
        target = int(wanted) if isinstance(value, int) and str(wanted).lstrip("-").isdigit() else str(wanted)
        if isinstance(value, int) and isinstance(target, str):
            return False
        ok = {
            "": value == target,
            "=": value == target,
            "!": value != target,
            "!=": value != target,
            ">": value > target,
            ">=": value >= target,
            "<": value < target,
            "<=": value <= target,
        }[op]
        if not ok:
            return False
    return True


def _ordered(records: list[OfflineRecord], order: dict[str, Any]) -> list[OfflineRecord]:
    ordered = list(records)
    for key, direction in reversed(list(order.items())):
        name = str(key).upper()
        if name in _FIELDS:
            ordered.sort(key=_FIELDS[name], reverse=str(direction).upper() == "DESC")
    return ordered
