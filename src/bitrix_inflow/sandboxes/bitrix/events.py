"""Outgoing events: form-encoded POSTs with PHP-bracket keys to the configured handler, delivered once or lost
(the real sender has no retries), optionally dropped at a configured rate."""

from __future__ import annotations

import functools
import queue
import random
import threading
from dataclasses import dataclass, field
from typing import Any

import httpx

from bitrix_inflow.sandboxes.bitrix.config import Clock, Faults, SandboxConfig
from bitrix_inflow.sandboxes.bitrix.php_params import http_build_query
from bitrix_inflow.sandboxes.bugs import BugLog

_STOP = object()


@dataclass
class Delivery:
    event: str
    order_id: Any
    outcome: str  # delivered | dropped | failed | no-handler
    status: int | None
    at: float
    handler: str | None


@dataclass(frozen=True)
class _Emitted:
    event: str
    data: dict[str, Any]
    ts: float
    targets: tuple[str, ...]
    history: int
    about: Any = None  # the order the event concerns (the delivery log's order_id; never sent)


@dataclass
class EventSender:
    config: SandboxConfig
    clock: Clock
    faults: Faults
    bugs: BugLog
    log: list[Delivery] = field(default_factory=list)
    handler_id: int = 975
    _queue: queue.Queue[Any] = field(default_factory=queue.Queue)
    _thread: threading.Thread | None = None
    _rng: random.Random = field(default_factory=lambda: random.Random(11))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _history: int = 0  # one per seed: an event belongs to the shop that emitted it

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="bitrix-sandbox-events", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout=5)
            self._thread = None

    def emit(
        self, event: str, data: dict[str, Any], extra_handlers: tuple[str, ...] = (), *, about: Any = None
    ) -> None:
        """Queue one event for the outgoing webhook (``event_handler_url``) and handlers bound by an app."""
        webhook = self.config.event_handler_url if event in self.config.event_handler_events else None
        targets = tuple(url for url in (webhook, *extra_handlers) if url)
        self._queue.put(_Emitted(event, data, self.clock.now(), targets, self._history, about))

    def forget(self) -> None:
        """A reseed starts a fresh history: events of the old shop still queued are never sent (the ids they name
        now belong to other objects), and the log starts empty. One already on the wire finishes unlisted."""
        with self._lock:
            self._history += 1
            self.log = []

    def wait_idle(self, timeout: float = 5.0) -> None:
        """Block until everything emitted so far was handled (for tests and the control API)."""
        done = threading.Event()
        self._queue.put(done)
        done.wait(timeout)

    def payload(self, event: str, data: dict[str, Any], ts: float) -> dict[str, Any]:
        domain = self.config.domain
        return {
            "event": event,
            "event_handler_id": str(self.handler_id),
            "data": data,
            "ts": str(int(ts)),
            "auth": {
                "domain": domain,
                "client_endpoint": f"https://{domain}/rest/",
                "server_endpoint": "https://oauth.bitrix.info/rest/",
                "member_id": "sandbox0member0" + domain.replace(".", "0")[:18],
                "application_token": self.config.application_token,
            },
        }

    def _loop(self) -> None:
        with httpx.Client(timeout=5.0, verify=False) as client:  # noqa: S501 - handlers are local test servers
            while True:
                item = self._queue.get()
                if item is _STOP:
                    return
                if isinstance(item, threading.Event):
                    item.set()
                    continue
                # A crash on one event must not end the thread: every later event would silently vanish.
                self.bugs.guard(f"event delivery {item.event}", functools.partial(self._send, client, item))

    def _send(self, client: httpx.Client, item: _Emitted) -> None:
        order_id = item.about if item.about is not None else item.data.get("FIELDS", {}).get("ID")
        for url in item.targets or (None,):
            if item.history != self._history:
                return
            outcome, status = self._deliver(client, url, item.event, item.data, item.ts)
            with self._lock:
                if item.history == self._history:
                    self.log.append(Delivery(item.event, order_id, outcome, status, item.ts, url))

    def _deliver(
        self, client: httpx.Client, url: str | None, event: str, data: dict[str, Any], ts: float
    ) -> tuple[str, int | None]:
        if url is None:
            return "no-handler", None
        if self.faults.event_drop_rate and self._rng.random() < self.faults.event_drop_rate:
            return "dropped", None
        body = http_build_query(self.payload(event, data, ts))
        try:
            response = client.post(
                url, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
            )
        except httpx.HTTPError:
            return "failed", None
        return ("delivered" if response.status_code < 400 else "failed"), response.status_code
