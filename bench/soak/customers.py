"""The people around the service during the soak: customers placing orders, managers editing and cancelling them in
the shop, the warehouse cancelling picking orders, and the shop's own 503 bursts. All random, from one seed."""

from __future__ import annotations

import heapq
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.soak.world import World
from bitrix_inflow.sandboxes.bitrix import ControlError

CANCELLABLE_IN_WMS = ("NEW", "ASSIGNED")


@dataclass(frozen=True)
class Mix:
    """What happens to the placed orders, as shares."""

    edits: float = 0.05
    shop_cancels: float = 0.05
    wms_cancels: float = 0.04
    burst_every_s: float = 25.0  # a shop 503 burst (the manual REST block) about this often
    burst_s: float = 2.0


@dataclass
class Record:
    """What the people did, for the report and the checks."""

    placed: list[int] = field(default_factory=list)
    edited: set[int] = field(default_factory=set)
    shop_cancelled: set[int] = field(default_factory=set)
    wms_cancelled: dict[int, list[str]] = field(default_factory=dict)  # order → picking orders it cancelled
    bursts: int = 0
    refused: list[str] = field(default_factory=list)  # what a person tried and the other side would not do


class Customers:
    def __init__(
        self, world: World, products: list[int], *, orders: int, rate: float, mix: Mix, seed: int
    ) -> None:
        self.world, self.products, self.orders, self.rate, self.mix = world, products, orders, rate, mix
        self.rng = random.Random(seed)
        self.record = Record()
        self.deliveries = [int(row["id"]) for row in world.shop.control.entities("deliveries")]
        self._later: list[tuple[float, int, str, int]] = []  # (due, tie, action, order)
        self._tie = 0
        self.done = threading.Event()
        self.failure: BaseException | None = None

    # -- the run ---------------------------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        try:
            self._run(stop)
        except BaseException as exc:  # reported by the soak, never lost in a thread
            self.failure = exc
        finally:
            self.done.set()

    def _run(self, stop: threading.Event) -> None:
        next_burst = time.monotonic() + self.rng.uniform(0.5, 1.5) * self.mix.burst_every_s
        for _ in range(self.orders):
            if stop.is_set():
                return
            order_id = self._place()
            self.record.placed.append(order_id)
            self._plan_for(order_id)
            self._due_actions()
            if time.monotonic() >= next_burst:
                self._burst()
                next_burst = time.monotonic() + self.rng.uniform(0.5, 1.5) * self.mix.burst_every_s
            stop.wait(1.0 / self.rate)
        while self._later and not stop.is_set():
            self._due_actions()
            stop.wait(0.5)

    def _plan_for(self, order_id: int) -> None:
        roll = self.rng.random()
        mix = self.mix
        if roll < mix.edits:
            self._at(self.rng.uniform(1, 6), "edit", order_id)
        elif roll < mix.edits + mix.shop_cancels:
            self._at(self.rng.uniform(1, 10), "shop_cancel", order_id)
        elif roll < mix.edits + mix.shop_cancels + mix.wms_cancels:
            self._at(self.rng.uniform(3, 10), "wms_cancel", order_id)

    def _at(self, delay: float, action: str, order_id: int) -> None:
        self._tie += 1
        heapq.heappush(self._later, (time.monotonic() + delay, self._tie, action, order_id))

    def _due_actions(self) -> None:
        while self._later and self._later[0][0] <= time.monotonic():
            _, _, action, order_id = heapq.heappop(self._later)
            getattr(self, f"_{action}")(order_id)

    # -- what people do --------------------------------------------------------------------------------------------

    def _place(self) -> int:
        picked = self.rng.sample(self.products, k=self.rng.randint(1, min(4, len(self.products))))
        lines = [{"productId": pid, "quantity": self.rng.randint(1, 3)} for pid in picked]
        count = 1 if len(lines) == 1 else self.rng.choice((1, 2))
        shipments = [
            {"deliveryId": self.rng.choice(self.deliveries), "lines": list(range(i, len(lines), count))}
            for i in range(count)
        ]
        return int(
            _patiently(lambda: self.world.shop.control.place_order(lines=lines, shipments=shipments))["id"]
        )

    # The shop refuses to edit a shipped line or to cancel an order once a shipment is shipped or a payment paid:
    # when the warehouse was quicker than the manager, that is the shop's rule, not a fault, and asking again
    # changes nothing. The refusal is recorded and the order goes on as it is.

    def _edit(self, order_id: int) -> None:
        lines = self.world.shop.control.entities("basketItems", orderId=order_id)
        line = self.rng.choice(lines)
        try:
            _patiently(
                lambda: self.world.shop.control.edit_line(
                    order_id, int(line["id"]), float(line["quantity"]) + 1
                )
            )
        except Refused as refusal:
            self.record.refused.append(f"shop edit of {order_id}: {refusal}")
            return
        self.record.edited.add(order_id)

    def _shop_cancel(self, order_id: int) -> None:
        try:
            _patiently(
                lambda: self.world.shop_admin_answer(
                    "sale.order.update", {"id": order_id, "fields": {"canceled": "Y"}}
                )
            )
        except Refused as refusal:
            self.record.refused.append(f"shop cancel of {order_id}: {refusal}")
            return
        self.record.shop_cancelled.add(order_id)

    def _wms_cancel(self, order_id: int) -> None:
        mine = [o for o in self.world.wms_orders() if o["external_ref"].startswith(f"B-{order_id}-")]
        open_ = [o for o in mine if o["status"] in CANCELLABLE_IN_WMS]
        if not mine:  # not forwarded yet: ask again a little later
            self._at(3, "wms_cancel", order_id)
            return
        with self.world.wms_api() as api:
            for picking in open_:
                answer = _patiently(
                    lambda p=picking: api.put(
                        f"/orders/{p['id']}/cancel", json={"reason": "damaged on the shelf"}
                    ),
                    accept=(200, 409),
                )
                if answer.status_code == 200:
                    self.record.wms_cancelled.setdefault(order_id, []).append(str(picking["id"]))
                else:
                    self.record.refused.append(f"warehouse cancel of {picking['id']}: {answer.text[:200]}")

    def _burst(self) -> None:
        self.world.shop.control.faults(overload=True)
        time.sleep(self.mix.burst_s)
        self.world.shop.control.faults(overload=False)
        self.record.bursts += 1


class Refused(Exception):
    """The other side said no (a 4xx other than 429): a person reads why and does not ask again."""


def _refusal(status: int) -> bool:
    return 400 <= status < 500 and status != 429


def _patiently(call: Callable[[], Any], *, accept: tuple[int, ...] = (200,), attempts: int = 30) -> Any:
    """A person trying again: through the warehouse's 5xx, 429 and hangs, and the shop's 503 bursts."""
    last: object = None
    for _ in range(attempts):
        try:
            answer = call()
        except ControlError as exc:
            if _refusal(exc.status):
                raise Refused(str(exc)[:300]) from exc
            last = exc
        except httpx.HTTPError as exc:
            last = exc
        else:
            if not isinstance(answer, httpx.Response) or answer.status_code in accept:
                return answer
            if _refusal(answer.status_code):
                raise Refused(f"{answer.status_code} {answer.text[:300]}")
            last = f"{answer.status_code} {answer.text[:200]}"
        time.sleep(1.0)
    raise RuntimeError(f"gave up after {attempts} attempts: {last}")
