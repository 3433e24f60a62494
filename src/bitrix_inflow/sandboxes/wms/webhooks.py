"""Webhook subscriptions and signed deliveries with exponential backoff, sent from a background task."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from bitrix_inflow.sandboxes.bugs import BugLog
from bitrix_inflow.sandboxes.wms.clock import Timestamps, format_us
from bitrix_inflow.sandboxes.wms.faults import Faults
from bitrix_inflow.sandboxes.wms.problems import Problem, field_error

EVENTS = ("order.status_changed", "stock.changed")
HOLD_SECONDS = 2.0  # a reordered delivery waits for the next one of its subscription, at most this long


@dataclass
class WebhookSettings:
    backoff_base: float = 1.0
    max_attempts: int = 8
    timeout: float = 10.0


@dataclass
class Subscription:
    id: str
    url: str
    events: list[str]
    secret: str
    created_us: int

    def document(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "events": list(self.events),
            "created_at": format_us(self.created_us),
        }


@dataclass
class Delivery:
    id: str
    subscription_id: str
    url: str
    secret: str
    event_id: str
    event: str
    body: bytes
    state: str  # pending | held | sending | delivered | failed | dropped
    due: float
    copies: int = 1
    attempts: list[dict[str, Any]] = field(default_factory=list)
    history: int = 0  # which delivery history (one per seed) the delivery belongs to

    def document(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "subscription_id": self.subscription_id,
            "url": self.url,
            "event_id": self.event_id,
            "event": self.event,
            "state": self.state,
            "copies": self.copies,
            "attempts": list(self.attempts),
            "body": self.body.decode(),
        }


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookHub:
    def __init__(
        self,
        faults: Faults,
        clock: Timestamps,
        settings: WebhookSettings,
        outbound: Callable[[Any], Any],
        bugs: BugLog,
    ) -> None:
        self.faults = faults
        self.clock = clock
        self.settings = settings
        self.outbound = outbound
        self.bugs = bugs
        self.subscriptions: dict[str, Subscription] = {}
        self.deliveries: list[Delivery] = []
        self._history = 0
        self._wakeup = asyncio.Event()

    # ----------------------------------------------------------------- subscriptions
    def subscribe(self, url: str, events: list[str], secret: str) -> Subscription:
        sub = Subscription(f"wh_{uuid.uuid4().hex[:16]}", url, list(events), secret, self.clock.now_us())
        self.subscriptions[sub.id] = sub
        return sub

    def unsubscribe(self, sub_id: str) -> None:
        if self.subscriptions.pop(sub_id, None) is None:
            raise Problem(
                "not-found", f"no webhook {sub_id!r}", errors=[field_error("id", "unknown webhook id")]
            )
        for delivery in self.deliveries:
            if delivery.subscription_id == sub_id and delivery.state in ("pending", "held"):
                delivery.state = "dropped"

    def forget_deliveries(self) -> None:
        """A reseed starts a fresh history; deliveries still being sent finish but are no longer listed."""
        for delivery in self.deliveries:
            if delivery.state in ("pending", "held"):
                delivery.state = "dropped"
        self.deliveries = []
        self._history += 1

    # ----------------------------------------------------------------- publishing
    def publish(self, event: str, data: dict[str, Any]) -> None:
        envelope = {
            "event_id": f"evt_{uuid.uuid4().hex}",
            "event": event,
            "occurred_at": format_us(self.clock.now_us()),
            "data": self.outbound(data),
        }
        body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()
        settings = self.faults.settings
        for sub in self.subscriptions.values():
            if event not in sub.events:
                continue
            delivery = Delivery(
                id=f"dlv_{uuid.uuid4().hex[:16]}",
                subscription_id=sub.id,
                url=sub.url,
                secret=sub.secret,
                event_id=envelope["event_id"],
                event=event,
                body=body,
                state="pending",
                due=time.monotonic(),
                history=self._history,
            )
            if self.faults.chance(settings.webhook_drop_rate, "webhook drop"):
                delivery.state = "dropped"
            elif self.faults.chance(settings.webhook_reorder_rate, "webhook reorder"):
                delivery.state = "held"
                delivery.due = time.monotonic() + HOLD_SECONDS
            if self.faults.chance(settings.webhook_duplicate_rate, "webhook duplicate"):
                delivery.copies = 2
            self.deliveries.append(delivery)
        self._wakeup.set()

    # ----------------------------------------------------------------- sending
    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=self.settings.timeout) as client:
            tasks: set[asyncio.Task[None]] = set()
            try:
                while True:
                    now = time.monotonic()
                    for delivery in self.deliveries:
                        if delivery.state in ("pending", "held") and delivery.due <= now:
                            delivery.state = "sending"
                            task = asyncio.create_task(self._attempt(client, delivery))
                            tasks.add(task)
                            task.add_done_callback(tasks.discard)
                            task.add_done_callback(self._record_crash)
                    self._wakeup.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wakeup.wait(), timeout=0.02)
            finally:
                for task in tasks:
                    task.cancel()

    def _record_crash(self, task: asyncio.Task[None]) -> None:
        # Nobody awaits a delivery task: without this its exception would vanish with the delivery stuck in
        # "sending".
        if not task.cancelled() and (exc := task.exception()) is not None:
            self.bugs.record("webhook delivery", exc)

    async def _attempt(self, client: httpx.AsyncClient, delivery: Delivery) -> None:
        ok = await self._send_once(client, delivery)
        if ok and delivery.copies > 1:
            await self._send_once(client, delivery)
        # A reseed or an unsubscribe may have landed while the request was on the wire: the delivery then
        # belongs to a history or a subscription that is gone, and must not retry or touch the current one.
        current = delivery.history == self._history and delivery.subscription_id in self.subscriptions
        if ok:
            delivery.state = "delivered"
            if current:
                self._release_held(delivery)
        elif not current:
            delivery.state = "dropped"
        elif len(delivery.attempts) >= self.settings.max_attempts:
            delivery.state = "failed"
        else:
            delivery.state = "pending"
            delivery.due = time.monotonic() + self.settings.backoff_base * 2 ** (len(delivery.attempts) - 1)
        self._wakeup.set()

    async def _send_once(self, client: httpx.AsyncClient, delivery: Delivery) -> bool:
        headers = {
            "Content-Type": "application/json",
            "X-Inflow-Event-Id": delivery.event_id,
            "X-Inflow-Timestamp": str(int(time.time())),
            "X-Inflow-Signature": sign(delivery.secret, delivery.body),
        }
        record: dict[str, Any] = {"at": format_us(self.clock.now_us()), "status_code": None, "error": None}
        delivery.attempts.append(record)
        try:
            response = await client.post(delivery.url, content=delivery.body, headers=headers)
        except httpx.HTTPError as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"
            return False
        record["status_code"] = response.status_code
        return 200 <= response.status_code < 300

    def _release_held(self, delivered: Delivery) -> None:
        """Release the held deliveries that ``delivered`` overtook: the older ones of its subscription. A newer
        one was published after ``delivered`` set off, so letting it go now would reorder nothing."""
        for other in self.deliveries:
            if other is delivered:
                return
            if other.subscription_id == delivered.subscription_id and other.state == "held":
                other.state = "pending"
                other.due = time.monotonic()
