"""Forwarding orders end to end over HTTP: the sandbox shop and the sandbox warehouse from one catalogue, the real
gateway and Inflow client, the state database on both backends. Exactly once, split by zone and carrier, and the
crash between the warehouse's acceptance and the local commit."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, func, select

from bitrix_inflow.adapters.bitrix import BitrixGateway, BitrixSettings, OAuthCredentials
from bitrix_inflow.adapters.inflow import InflowClient, NewPickingOrder, PickingOrder
from bitrix_inflow.domain.eligibility import OrderRules
from bitrix_inflow.domain.status_mapping import DEFAULT_MAPPING, StatusMapping
from bitrix_inflow.errors import RateLimitedError, TransientError
from bitrix_inflow.store import orders as order_store
from bitrix_inflow.store import stock as stock_store
from bitrix_inflow.store.tables import incidents, jobs, order_bindings, order_parts
from bitrix_inflow.sync.marking.bitrix_shop import BitrixMarkingShop
from bitrix_inflow.sync.orders import edit as edit_module
from bitrix_inflow.sync.orders import forward as forward_module
from bitrix_inflow.sync.orders.bitrix_shop import BitrixOfflineQueue, BitrixOrdersShop
from bitrix_inflow.sync.orders.cohort import forward_cohort
from bitrix_inflow.sync.orders.forward import ForwardOptions, ForwardReport, forward_order
from bitrix_inflow.sync.orders.notice import FORWARD_KIND, NOTICE_KIND, notice_orders, sweep_waiting
from bitrix_inflow.sync.orders.offline import read_offline_events
from bitrix_inflow.sync.orders.read_ahead import READ_AHEAD, ReadAhead
from bitrix_inflow.sync.orders.shop import ShopOrder
from bitrix_inflow.sync.orders.statuses import APPLY_KIND, REFRESH_KIND, apply_statuses, read_changes, refresh
from bitrix_inflow.timing import SystemClock
from web_app import serve

from .conftest import Sides, running_sides

CLOCK = SystemClock()
HOODIE, SNEAKER, TEE = "SB-HOODIE-URBAN-M", "SB-SNEAKER-RUN-41", "SB-TEE-CLASSIC-S"  # zones A, B, P


@pytest.fixture
def sides(engine: Engine) -> Iterator[Sides]:
    with running_sides(engine, "site") as both:
        yield both


def product_of(engine: Engine, sku: str) -> int:
    with engine.connect() as conn:
        return stock_store.load_links(conn, "default")[sku].product_id


def place(sides: Sides, engine: Engine, lines: list[tuple[str, int]], shipments: list[dict[str, Any]]) -> int:
    body = [{"productId": product_of(engine, sku), "quantity": qty} for sku, qty in lines]
    return int(sides.shop.control.place_order(lines=body, shipments=shipments)["id"])


def test_an_order_over_three_zones_and_two_carriers_goes_as_its_picking_orders_once(
    engine: Engine, sides: Sides
) -> None:
    order_id = place(
        sides,
        engine,
        [(HOODIE, 1), (SNEAKER, 2), (TEE, 1)],
        [{"deliveryId": 2, "lines": [0, 1]}, {"deliveryId": 3, "lines": [2]}],
    )
    options = sides.forward_options()
    report = forward_order(engine, sides.client, sides.orders, options, order_id, clock=CLOCK)
    assert report.outcome == "forwarded", report.reasons
    assert report.created == [f"B-{order_id}-{n}" for n in (1, 2, 3)]
    placed = {o["external_ref"]: o for o in sides.wms_orders()}
    carriers = options.rules.carriers
    assert {(o["zone"], o["carrier"], tuple(ln["sku"] for ln in o["lines"])) for o in placed.values()} == {
        ("A", carriers[2], (HOODIE,)),
        ("B", carriers[2], (SNEAKER,)),
        ("P", carriers[3], (TEE,)),
    }
    assert all(o["customer_order_ref"] == str(order_id) for o in placed.values())
    assert sides.shop.control.entity("orders", order_id)["statusId"] == "P"  # NEW maps to P

    again = forward_order(engine, sides.client, sides.orders, options, order_id, clock=CLOCK)
    assert again.outcome == "unchanged" and len(sides.wms_orders()) == 3
    with engine.connect() as conn:
        kinds = [kind for _, _, kind, _ in order_store.timeline(conn, "default", order_id)]
    assert kinds == ["planned", "accepted", "accepted", "accepted", "forwarded"]


class DiesAfterTheWarehouseAnswers:
    """The process is killed after the warehouse accepted a picking order and before the service committed it."""

    def __init__(self, client: InflowClient) -> None:
        self.client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def create_picking_order(
        self, order: NewPickingOrder, *, idempotency_key: str | None = None
    ) -> PickingOrder:
        self.client.create_picking_order(order, idempotency_key=idempotency_key)
        raise SystemExit("killed before the local commit")


def test_a_crash_between_the_warehouse_accepting_and_the_commit_creates_nothing_twice(
    engine: Engine, sides: Sides
) -> None:
    order_id = place(sides, engine, [(HOODIE, 1), (SNEAKER, 1)], [{"deliveryId": 2, "lines": [0, 1]}])
    options = sides.forward_options()
    with pytest.raises(SystemExit):
        forward_order(
            engine, DiesAfterTheWarehouseAnswers(sides.client), sides.orders, options, order_id, clock=CLOCK
        )
    with engine.connect() as conn:
        # The part whose request was cut off may have gone; the other surely did not, and is planned again.
        assert [p.state for p in order_store.parts_of(conn, "default", order_id)] == ["sending", "planned"]
    assert [o["external_ref"] for o in sides.wms_orders()] == [f"B-{order_id}-1"]

    report = forward_order(engine, sides.client, sides.orders, options, order_id, clock=CLOCK)
    assert report.outcome == "forwarded"
    refs = sorted(o["external_ref"] for o in sides.wms_orders())
    assert refs == [f"B-{order_id}-1", f"B-{order_id}-2"], "the first part was not created a second time"
    with engine.connect() as conn:
        parts = order_store.parts_of(conn, "default", order_id)
    assert {p.wms_order_id for p in parts} == {o["id"] for o in sides.wms_orders()}


def test_a_picking_order_that_moved_on_before_its_acceptance_was_committed_brings_its_status_along(
    engine: Engine, sides: Sides
) -> None:
    """The service died between the warehouse's acceptance and its own commit; meanwhile the warehouse started picking,
    and its feed spoke of a picking order the service did not know yet. The retry's answer carries that state."""
    order_id = place(sides, engine, [(HOODIE, 1)], [{"deliveryId": 2, "lines": [0]}])
    options = sides.forward_options()
    with pytest.raises(SystemExit):
        forward_order(
            engine, DiesAfterTheWarehouseAnswers(sides.client), sides.orders, options, order_id, clock=CLOCK
        )
    advance(sides, "PICKING")
    assert read_changes(engine, sides.client, clock=CLOCK).updated == 0  # not the service's picking order yet

    assert (
        forward_order(engine, sides.client, sides.orders, options, order_id, clock=CLOCK).outcome
        == "forwarded"
    )
    [picking] = sides.wms_orders()
    with engine.connect() as conn:
        [part] = order_store.parts_of(conn, "default", order_id)
        refreshes = [
            row.payload for row in conn.execute(select(jobs.c.payload).where(jobs.c.kind == REFRESH_KIND))
        ]
    # The retry was answered from the warehouse's idempotency store: the order as it was accepted, NEW.
    assert part.wms_status == "NEW"
    assert refreshes == [{"wms_order_id": picking["id"]}], "so it is read once more, for the steps since"
    assert refresh(engine, sides.client, picking["id"], clock=CLOCK).updated == 1
    assert apply_now(engine, sides, order_id) == "Q"  # PICKING → Q, not left at P


def test_an_order_that_is_not_eligible_is_held_with_its_reasons_and_sends_nothing(
    engine: Engine, sides: Sides
) -> None:
    order_id = place(sides, engine, [(HOODIE, 1)], [{"deliveryId": 2, "lines": [0]}])
    options = sides.forward_options()
    strict = ForwardOptions(
        rules=OrderRules(
            go_live=options.rules.go_live,
            statuses=frozenset({"N"}),
            paid_only=True,
            carriers=options.rules.carriers,
        ),
        mapping=options.mapping,
        warehouse="MAIN",
    )
    report = forward_order(engine, sides.client, sides.orders, strict, order_id, clock=CLOCK)
    assert report.outcome == "ineligible" and any("not paid" in r for r in report.reasons)
    assert sides.wms_orders() == []
    with engine.connect() as conn:
        binding = order_store.load_binding(conn, "default", order_id)
    assert binding is not None and binding.state == "ineligible" and "not paid" in (binding.reason or "")


def queued_forwards(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(jobs.c.payload).where(jobs.c.kind == FORWARD_KIND, jobs.c.status == "queued")
        )
        return sorted(int(payload["order_id"]) for (payload,) in rows)


def test_the_poll_queues_each_new_order_once_and_the_services_own_status_writes_start_no_round(
    engine: Engine, sides: Sides
) -> None:
    placed = [place(sides, engine, [(HOODIE, 1)], [{"deliveryId": 2, "lines": [0]}]) for _ in range(3)]
    first = notice_orders(engine, sides.orders, clock=CLOCK)
    assert sorted(first.queued) == placed and queued_forwards(engine) == placed
    again = notice_orders(engine, sides.orders, clock=CLOCK)  # nothing new: the jobs are not doubled
    assert queued_forwards(engine) == placed and again.queued == placed  # joined the waiting jobs (dedupe)

    options = sides.forward_options()
    for order_id in placed:
        assert (
            forward_order(engine, sides.client, sides.orders, options, order_id, clock=CLOCK).outcome
            == "forwarded"
        )
    with engine.begin() as conn:
        conn.execute(jobs.delete().where(jobs.c.kind == FORWARD_KIND))  # (as if the workers had run them)
    # Forwarding wrote each order's status (N → P): the shop reports them changed, and nothing starts again.
    after = notice_orders(engine, sides.orders, clock=CLOCK)
    assert sorted(after.left_alone) == placed and after.queued == [] and queued_forwards(engine) == []
    assert len(sides.wms_orders()) == 3


def advance(sides: Sides, to: str) -> None:
    for order in sides.wms_orders():
        url = f"{sides.warehouse.base_url}/_sandbox/orders/{order['id']}/advance"
        httpx.post(url, json={"to": to}, timeout=30).raise_for_status()


def follow(engine: Engine, sides: Sides, order_id: int) -> str:
    """A feed read and the apply jobs it queued, then the order's status in the shop."""
    report = read_changes(engine, sides.client, clock=CLOCK)
    assert order_id in report.orders
    return apply_now(engine, sides, order_id)


def apply_now(engine: Engine, sides: Sides, order_id: int) -> str:
    """The order's apply job, run now; then its status in the shop."""
    options = sides.forward_options()
    apply_statuses(
        engine,
        sides.orders,
        options.mapping,
        order_id,
        forwarded_from=options.rules.statuses,
        clock=CLOCK,
        marking=sides.marking,
    )
    return str(sides.shop.control.entity("orders", order_id)["statusId"])


def test_an_order_follows_its_picking_orders_to_delivered_with_the_mapped_statuses_and_tracking(
    engine: Engine, sides: Sides
) -> None:
    order_id = place(
        sides,
        engine,
        [(HOODIE, 1), (SNEAKER, 1), (TEE, 1)],
        [{"deliveryId": 2, "lines": [0, 1]}, {"deliveryId": 3, "lines": [2]}],
    )
    assert forward_order(
        engine, sides.client, sides.orders, sides.forward_options(), order_id, clock=CLOCK
    ).outcome == ("forwarded")
    advance(sides, "PICKING")
    assert follow(engine, sides, order_id) == "Q"  # PICKING → Q
    advance(sides, "SHIPPED")
    assert follow(engine, sides, order_id) == "D"  # SHIPPED → D
    shipments = sides.shop.control.entities("shipments", orderId=order_id)
    tracking = {o["external_ref"]: o["tracking"]["number"] for o in sides.wms_orders()}
    by_id = {int(s["id"]): s for s in shipments}
    with engine.connect() as conn:
        parts = order_store.parts_of(conn, "default", order_id)
    for shipment_id in {line.shipment_id for part in parts for line in part.lines}:
        numbers = [
            tracking[p.external_ref] for p in parts if any(ln.shipment_id == shipment_id for ln in p.lines)
        ]
        assert by_id[shipment_id]["trackingNumber"] == ", ".join(numbers)
        assert by_id[shipment_id]["deducted"] == "Y"
        assert float(by_id[shipment_id]["priceDelivery"]) > 0, "the delivery price survived the update"
    advance(sides, "DELIVERED")
    assert follow(engine, sides, order_id) == "F"  # DELIVERED → F
    # The feed read again: nothing newer, nothing written.
    again = read_changes(engine, sides.client, clock=CLOCK)
    assert again.updated == 0


def test_a_webhook_re_read_moves_the_order_and_a_late_one_changes_nothing(
    engine: Engine, sides: Sides
) -> None:
    order_id = place(sides, engine, [(HOODIE, 1)], [{"deliveryId": 2, "lines": [0]}])
    options = sides.forward_options()
    assert (
        forward_order(engine, sides.client, sides.orders, options, order_id, clock=CLOCK).outcome
        == "forwarded"
    )
    [picking] = sides.wms_orders()
    advance(sides, "PICKING")
    moved = refresh(engine, sides.client, picking["id"], clock=CLOCK)
    assert moved.updated == 1 and moved.orders == {order_id}
    assert apply_now(engine, sides, order_id) == "Q"
    late = refresh(
        engine, sides.client, picking["id"], clock=CLOCK
    )  # the same version again (a retried webhook)
    assert late.updated == 0 and late.stale == 1


@pytest.mark.soak  # ~30 s a database of backoffs: in the soak run (.ci/run), not in make test
def test_under_warehouse_errors_resets_and_429s_and_shop_500s_every_order_ends_with_its_parts_once(
    engine: Engine, sides: Sides
) -> None:
    """The job engine retries a forwarding run that failed on a transient error; whatever failed where, each order
    ends forwarded with exactly its planned picking orders."""
    placed = [
        place(sides, engine, [(HOODIE, 1), (SNEAKER, 1)], [{"deliveryId": 2, "lines": [0, 1]}])
        for _ in range(8)
    ]
    faults = {"seed": 11, "error_rate": 0.25, "reset_rate": 0.1, "burst_429": 3, "retry_after": 0}
    httpx.put(sides.warehouse.base_url + "/_sandbox/faults", json=faults, timeout=30).raise_for_status()
    sides.shop.control.faults(error_500_rate=0.2)
    options = sides.forward_options()
    failures = 0
    try:
        for order_id in placed:
            for _attempt in range(20):  # the job engine's retries
                try:
                    report = forward_order(engine, sides.client, sides.orders, options, order_id, clock=CLOCK)
                except (TransientError, RateLimitedError):
                    failures += 1
                    continue
                if report.outcome == "forwarded":
                    break
            else:
                raise AssertionError(f"order {order_id} was not forwarded")
    finally:
        httpx.delete(sides.warehouse.base_url + "/_sandbox/faults", timeout=30)
        sides.shop.control.faults(error_500_rate=0.0)
    assert sum(sides.shop.control.info()["errors_answered"].values()) > 0, "the shop's faults were met"
    refs = sorted(o["external_ref"] for o in sides.wms_orders())
    assert refs == sorted(f"B-{order_id}-{n}" for order_id in placed for n in (1, 2)), "each part once"
    with engine.connect() as conn:
        for order_id in placed:
            binding = order_store.load_binding(conn, "default", order_id)
            assert binding is not None and binding.state == "forwarded"
            assert [p.state for p in order_store.parts_of(conn, "default", order_id)] == [
                "accepted",
                "accepted",
            ]
    assert all(sides.shop.control.entity("orders", order_id)["statusId"] == "P" for order_id in placed)


class DiesBeforeTheSecondPart:
    """The process is killed between the parts of a split order: the first created and committed, the second
    about to be sent."""

    def __init__(self, client: InflowClient) -> None:
        self.client, self.calls = client, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def create_picking_order(
        self, order: NewPickingOrder, *, idempotency_key: str | None = None
    ) -> PickingOrder:
        self.calls += 1
        if self.calls == 2:
            raise SystemExit("killed between the parts")
        return self.client.create_picking_order(order, idempotency_key=idempotency_key)


def test_a_crash_between_the_parts_of_a_split_order_sends_the_rest_once(engine: Engine, sides: Sides) -> None:
    order_id = place(
        sides, engine, [(HOODIE, 1), (SNEAKER, 1), (TEE, 1)], [{"deliveryId": 2, "lines": [0, 1, 2]}]
    )
    options = sides.forward_options()
    with pytest.raises(SystemExit):
        forward_order(
            engine, DiesBeforeTheSecondPart(sides.client), sides.orders, options, order_id, clock=CLOCK
        )
    with engine.connect() as conn:
        assert [p.state for p in order_store.parts_of(conn, "default", order_id)] == [
            "accepted",  # the answers it had were recorded as it went down
            "sending",
            "planned",
        ]
    report = forward_order(engine, sides.client, sides.orders, options, order_id, clock=CLOCK)
    assert report.outcome == "forwarded" and report.created == [f"B-{order_id}-2", f"B-{order_id}-3"]
    assert sorted(o["external_ref"] for o in sides.wms_orders()) == [f"B-{order_id}-{n}" for n in (1, 2, 3)]


class WarehouseDownAtFirst:
    """The warehouse fails the first create request (a timeout: it may or may not have taken it)."""

    def __init__(self, client: InflowClient) -> None:
        self.client, self.calls = client, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def create_picking_order(
        self, order: NewPickingOrder, *, idempotency_key: str | None = None
    ) -> PickingOrder:
        self.calls += 1
        if self.calls == 1:
            raise TransientError("the warehouse timed out")
        return self.client.create_picking_order(order, idempotency_key=idempotency_key)


def test_parts_never_sent_when_a_request_failed_are_not_sent_once_the_order_is_cancelled(
    engine: Engine, sides: Sides
) -> None:
    order_id = place(
        sides, engine, [(HOODIE, 1), (SNEAKER, 1), (TEE, 1)], [{"deliveryId": 2, "lines": [0, 1, 2]}]
    )
    options = sides.forward_options()
    with pytest.raises(TransientError):
        forward_order(
            engine, WarehouseDownAtFirst(sides.client), sides.orders, options, order_id, clock=CLOCK
        )
    with engine.connect() as conn:
        # The first may have reached the warehouse; the others surely did not.
        assert [p.state for p in order_store.parts_of(conn, "default", order_id)] == [
            "sending",
            "planned",
            "planned",
        ]
    sides.gateway.transport.call("sale.order.update", {"id": order_id, "fields": {"canceled": "Y"}})
    report = forward_order(engine, sides.client, sides.orders, options, order_id, clock=CLOCK)
    # The uncertain part was looked up in the warehouse (it never got there); nothing went for a cancelled order.
    assert report.outcome == "cancelled" and sides.wms_orders() == []
    with engine.connect() as conn:
        assert [p.state for p in order_store.parts_of(conn, "default", order_id)] == ["cancelled"] * 3


def test_an_order_cancelled_after_a_crash_between_planning_and_sending_sends_nothing(
    engine: Engine, sides: Sides, monkeypatch: pytest.MonkeyPatch
) -> None:
    order_id = place(sides, engine, [(HOODIE, 1), (SNEAKER, 1)], [{"deliveryId": 2, "lines": [0, 1]}])
    options = sides.forward_options()

    def killed(*args: Any, **kwargs: Any) -> None:
        raise SystemExit("killed after the plan was stored")

    with monkeypatch.context() as patch:
        patch.setattr(forward_module, "_send_all", killed)
        with pytest.raises(SystemExit):
            forward_order(engine, sides.client, sides.orders, options, order_id, clock=CLOCK)
    with engine.connect() as conn:
        assert [p.state for p in order_store.parts_of(conn, "default", order_id)] == ["planned", "planned"]
    sides.gateway.transport.call("sale.order.update", {"id": order_id, "fields": {"canceled": "Y"}})
    report = forward_order(engine, sides.client, sides.orders, options, order_id, clock=CLOCK)
    assert report.outcome == "ineligible" and sides.wms_orders() == []
    assert sides.shop.control.entity("orders", order_id)["statusId"] == "N"


def wms_by_ref(sides: Sides) -> dict[str, dict[str, Any]]:
    return {o["external_ref"]: o for o in sides.wms_orders()}


def advance_one(sides: Sides, wms_order_id: str, to: str) -> None:
    url = f"{sides.warehouse.base_url}/_sandbox/orders/{wms_order_id}/advance"
    httpx.post(url, json={"to": to}, timeout=30).raise_for_status()


def basket_ids(sides: Sides, order_id: int) -> list[int]:
    return sorted(int(row["id"]) for row in sides.shop.control.entities("basketItems", orderId=order_id))


def notice_and_forward(engine: Engine, sides: Sides, order_id: int) -> Any:
    """A poll, and the forwarding run it queued for ``order_id`` (None: it queued none)."""
    report = notice_orders(engine, sides.orders, clock=CLOCK)
    if order_id not in report.queued:
        return None
    with engine.begin() as conn:
        conn.execute(jobs.delete().where(jobs.c.kind == FORWARD_KIND))  # (as if the worker ran it)
    return forward_order(engine, sides.client, sides.orders, sides.forward_options(), order_id, clock=CLOCK)


def test_an_edit_before_picking_cancels_the_changed_part_and_sends_its_replacement_once(
    engine: Engine, sides: Sides
) -> None:
    order_id = place(sides, engine, [(HOODIE, 1), (SNEAKER, 1)], [{"deliveryId": 2, "lines": [0, 1]}])
    assert notice_and_forward(engine, sides, order_id).outcome == "forwarded"
    hoodie_line = basket_ids(sides, order_id)[0]
    sides.shop.control.edit_line(order_id, hoodie_line, 2)  # a manager: two hoodies, not one

    report = notice_and_forward(engine, sides, order_id)
    assert report is not None and report.outcome == "forwarded", report.reasons
    assert report.created == [f"B-{order_id}r2-1"]
    placed = wms_by_ref(sides)
    assert placed[f"B-{order_id}-1"]["status"] == "CANCELLED"  # the hoodie part, before anyone picked it
    assert placed[f"B-{order_id}-2"]["status"] == "NEW"  # the sneaker part: unchanged, kept
    replacement = placed[f"B-{order_id}r2-1"]
    assert [(ln["sku"], ln["qty"]) for ln in replacement["lines"]] == [(HOODIE, 2)]
    assert replacement["zone"] == "A" and len(placed) == 3
    with engine.connect() as conn:
        parts = {p.external_ref: p.state for p in order_store.parts_of(conn, "default", order_id)}
        kinds = [kind for _, _, kind, _ in order_store.timeline(conn, "default", order_id)]
    assert parts == {
        f"B-{order_id}-1": "superseded",
        f"B-{order_id}-2": "accepted",
        f"B-{order_id}r2-1": "accepted",
    }
    assert "edited" in kinds and "cancelled" in kinds
    assert sides.shop.control.entity("orders", order_id)["statusId"] == "P"  # still "sent": nothing went back

    # Nothing changed since: the next poll leaves it alone, and a second run sends nothing again.
    assert notice_and_forward(engine, sides, order_id) is None
    again = forward_order(engine, sides.client, sides.orders, sides.forward_options(), order_id, clock=CLOCK)
    assert again.outcome == "unchanged" and len(sides.wms_orders()) == 3

    # And on to delivered: the live parts' statuses and tracking, not the cancelled one's.
    for ref in (f"B-{order_id}-2", f"B-{order_id}r2-1"):
        advance_one(sides, placed[ref]["id"], "SHIPPED")
    assert follow(engine, sides, order_id) == "D"
    [shipment] = sides.shop.control.entities("shipments", orderId=order_id)
    numbers = [
        wms_by_ref(sides)[ref]["tracking"]["number"] for ref in (f"B-{order_id}-2", f"B-{order_id}r2-1")
    ]
    assert sorted(shipment["trackingNumber"].split(", ")) == sorted(numbers) and shipment["deducted"] == "Y"


class DiesAfterTheWarehouseCancels:
    """The process is killed after the warehouse cancelled a picking order and before the service committed it."""

    def __init__(self, client: InflowClient) -> None:
        self.client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def cancel(self, order_id: str, **kwargs: Any) -> PickingOrder:
        self.client.cancel(order_id, **kwargs)
        raise SystemExit("killed after the cancel, before the local commit")


def test_a_crash_after_the_warehouse_cancelled_an_edited_part_sends_its_replacement_once(
    engine: Engine, sides: Sides
) -> None:
    order_id = place(sides, engine, [(HOODIE, 1), (SNEAKER, 1)], [{"deliveryId": 2, "lines": [0, 1]}])
    assert notice_and_forward(engine, sides, order_id).outcome == "forwarded"
    sides.shop.control.edit_line(order_id, basket_ids(sides, order_id)[0], 2)
    assert order_id in notice_orders(engine, sides.orders, clock=CLOCK).queued
    options = sides.forward_options()
    with pytest.raises(SystemExit):
        forward_order(
            engine, DiesAfterTheWarehouseCancels(sides.client), sides.orders, options, order_id, clock=CLOCK
        )
    with engine.connect() as conn:
        states = {p.external_ref: p.state for p in order_store.parts_of(conn, "default", order_id)}
    assert states == {
        f"B-{order_id}-1": "cancelling",
        f"B-{order_id}-2": "accepted",
        f"B-{order_id}r2-1": "waiting",
    }
    assert wms_by_ref(sides)[f"B-{order_id}-1"]["status"] == "CANCELLED"

    # The restarted run confirms the cancel (the warehouse moved the version on; it looks, sees CANCELLED) and
    # sends the replacement, once.
    report = forward_order(engine, sides.client, sides.orders, options, order_id, clock=CLOCK)
    assert report.outcome == "forwarded" and report.created == [f"B-{order_id}r2-1"]
    again = forward_order(engine, sides.client, sides.orders, options, order_id, clock=CLOCK)
    assert again.outcome == "unchanged"
    assert sorted(wms_by_ref(sides)) == sorted([f"B-{order_id}-1", f"B-{order_id}-2", f"B-{order_id}r2-1"])


def test_an_edit_after_picking_started_is_recorded_and_the_picking_order_stands(
    engine: Engine, sides: Sides
) -> None:
    order_id = place(sides, engine, [(HOODIE, 1)], [{"deliveryId": 2, "lines": [0]}])
    assert notice_and_forward(engine, sides, order_id).outcome == "forwarded"
    [picking] = sides.wms_orders()
    advance_one(sides, picking["id"], "PICKING")
    assert follow(engine, sides, order_id) == "Q"
    sides.shop.control.edit_line(order_id, basket_ids(sides, order_id)[0], 3)

    report = notice_and_forward(engine, sides, order_id)
    assert report is not None and report.outcome == "conflict"
    assert [o["status"] for o in sides.wms_orders()] == ["PICKING"]  # not cancelled, nothing new sent
    with engine.connect() as conn:
        conflicts = conn.execute(select(incidents.c.kind, incidents.c.detail)).all()
        parts = order_store.parts_of(conn, "default", order_id)
    [(kind, detail)] = conflicts
    assert kind == "edit_after_picking" and detail["wanted"][0]["qty"] == 3 and detail["had"][0]["qty"] == 1
    assert [p.state for p in parts] == ["accepted"]
    assert notice_and_forward(engine, sides, order_id) is None  # recorded once; the poll does not ask again


def test_an_edit_meeting_a_picking_order_that_moved_unseen_keeps_it_and_sends_nothing(
    engine: Engine, sides: Sides
) -> None:
    """The service still thinks the part is NEW (no feed read yet); the warehouse has picked it: the cancel is
    refused, the old part stands, its replacement is dropped, and a person is told."""
    order_id = place(sides, engine, [(HOODIE, 1)], [{"deliveryId": 2, "lines": [0]}])
    assert notice_and_forward(engine, sides, order_id).outcome == "forwarded"
    [picking] = sides.wms_orders()
    advance_one(sides, picking["id"], "PICKED")
    sides.shop.control.edit_line(order_id, basket_ids(sides, order_id)[0], 2)

    report = notice_and_forward(engine, sides, order_id)
    assert report is not None and report.created == []  # the replacement was never sent
    assert [o["status"] for o in sides.wms_orders()] == ["PICKED"]
    with engine.connect() as conn:
        parts = {
            p.external_ref: (p.state, p.wms_status) for p in order_store.parts_of(conn, "default", order_id)
        }
        binding = order_store.load_binding(conn, "default", order_id)
        kinds = [k for (k,) in conn.execute(select(incidents.c.kind))]
    assert parts == {f"B-{order_id}-1": ("accepted", "PICKED"), f"B-{order_id}r2-1": ("dropped", None)}
    assert kinds == ["edit_after_picking"]
    assert binding is not None and binding.state == "forwarded"  # statuses follow the part that stands
    options = sides.forward_options()
    applied = apply_statuses(
        engine,
        sides.orders,
        options.mapping,
        order_id,
        forwarded_from={"N"},
        clock=CLOCK,
        marking=sides.marking,
    )
    assert applied.aggregate is not None and applied.aggregate.value == "PICKED"


def test_the_services_own_status_and_tracking_writes_to_delivered_start_no_round(
    engine: Engine, sides: Sides
) -> None:
    orders = [
        place(sides, engine, [(HOODIE, 1), (TEE, 1)], [{"deliveryId": 2, "lines": [0, 1]}]) for _ in range(3)
    ]
    for order_id in orders:
        assert notice_and_forward(engine, sides, order_id).outcome == "forwarded"
    writes = 0
    for stage in ("PICKING", "SHIPPED", "DELIVERED"):
        advance(sides, stage)
        read_changes(engine, sides.client, clock=CLOCK)
        options = sides.forward_options()
        for order_id in orders:
            report = apply_statuses(
                engine,
                sides.orders,
                options.mapping,
                order_id,
                forwarded_from={"N"},
                clock=CLOCK,
                marking=sides.marking,
            )
            writes += bool(report.written) + len(report.shipments)
        rounds = notice_orders(engine, sides.orders, clock=CLOCK)
        assert rounds.queued == [] and sorted(rounds.left_alone) == orders, stage
    assert writes == 3 * (3 + 1)  # Q, D, F and one shipment each: 12 writes, no round
    assert queued_forwards(engine) == []
    assert {sides.shop.control.entity("orders", o)["statusId"] for o in orders} == {"F"}


def test_an_order_short_of_stock_is_retried_by_the_sweep_and_goes_once_the_stock_came(
    engine: Engine, sides: Sides
) -> None:
    stock = httpx.get(f"{sides.warehouse.base_url}/_sandbox/stock/MAIN/{HOODIE}", timeout=30).json()
    free = int(stock["qty_available"])
    order_id = place(sides, engine, [(HOODIE, free + 5)], [{"deliveryId": 2, "lines": [0]}])
    first = notice_and_forward(engine, sides, order_id)
    assert first.outcome == "waiting" and any("short" in r for r in first.reasons)
    assert sweep_waiting(engine, clock=CLOCK) == [order_id]  # nothing in the shop changes: the sweep retries
    options = sides.forward_options()
    still = forward_order(engine, sides.client, sides.orders, options, order_id, clock=CLOCK)
    assert still.outcome == "waiting" and sides.wms_orders() == []
    body = {"warehouse": "MAIN", "sku": HOODIE, "delta": free + 10}
    httpx.post(f"{sides.warehouse.base_url}/_sandbox/stock", json=body, timeout=30).raise_for_status()
    assert sweep_waiting(engine, clock=CLOCK) == [order_id]
    done = forward_order(engine, sides.client, sides.orders, options, order_id, clock=CLOCK)
    assert done.outcome == "forwarded" and len(sides.wms_orders()) == 1
    assert sweep_waiting(engine, clock=CLOCK) == []  # forwarded: nothing left to retry
    with engine.connect() as conn:
        kinds = [kind for _, _, kind, _ in order_store.timeline(conn, "default", order_id)]
    assert kinds.count("short") == 1, "a retry that is still short is not said again"


def early_polls(engine: Engine) -> int:
    """Early polls the shop's events queued since the last call (taken off the queue, as a worker would)."""
    with engine.begin() as conn:
        found = conn.execute(jobs.delete().where(jobs.c.kind == NOTICE_KIND).returning(jobs.c.id)).all()
    return len(found)


def test_shop_events_start_a_poll_for_a_new_order_and_an_edit_and_none_for_the_services_own_writes(
    engine: Engine, sides: Sides
) -> None:
    token = "jvh9y1ulvt2m6k5or90v9mg8nn32ozas"
    for url in serve(engine, bitrix_application_token=token):
        sides.shop.control.configure_events(handler_url=url + "/hooks/bitrix", application_token=token)
        order_id = place(sides, engine, [(HOODIE, 1), (TEE, 1)], [{"deliveryId": 2, "lines": [0, 1]}])
        sides.shop.control.event_log()  # (waits until the shop sent what it emitted)
        assert early_polls(engine) == 1  # a customer ordered: polled at once, not at the next interval
        assert notice_and_forward(engine, sides, order_id).outcome == "forwarded"
        writes = 1  # N → P
        options = sides.forward_options()
        for stage in ("PICKING", "SHIPPED", "DELIVERED"):
            advance(sides, stage)
            read_changes(engine, sides.client, clock=CLOCK)
            report = apply_statuses(
                engine,
                sides.orders,
                options.mapping,
                order_id,
                forwarded_from={"N"},
                clock=CLOCK,
                marking=sides.marking,
            )
            writes += bool(report.written) + len(report.shipments)
        log = sides.shop.control.event_log()
        echoes = [d for d in log if d["outcome"] == "delivered"]
        assert writes == 5 and len(echoes) >= 1 + writes  # the order's creation and every write came back
        assert early_polls(engine) == 0, "the service's own writes started a poll"
        # A delivered order's lines cannot change any more; a manager's note is still a save the shop announces.
        sides.admin("sale.order.update", {"id": order_id, "fields": {"comments": "called the customer"}})
        sides.shop.control.event_log()
        assert early_polls(engine) == 1  # a manager's edit: polled at once


def settle_webhooks(sides: Sides) -> list[dict[str, Any]]:
    """Wait until the warehouse has delivered, dropped or given up on every webhook (held ones wait ≤ 2 s)."""
    url = sides.warehouse.base_url + "/_sandbox/webhooks/deliveries"
    for _ in range(400):
        items = list(httpx.get(url, timeout=30).json()["items"])
        if all(d["state"] in ("delivered", "dropped", "failed") for d in items):
            return items
        time.sleep(0.02)
    raise AssertionError("the warehouse's webhooks did not settle")


def drain(engine: Engine, sides: Sides, shop: BitrixOrdersShop, *, rounds: int = 60) -> int:
    """Run the queued re-reads and applies as a worker would; a transient failure leaves the job for its retry.
    Returns the failures met; jobs still failing after ``rounds`` are an error unless ``rounds`` was given."""
    failures = 0
    mapping = StatusMapping(DEFAULT_MAPPING)
    for _round in range(rounds):
        with engine.connect() as conn:
            queued = conn.execute(
                select(jobs.c.id, jobs.c.kind, jobs.c.payload)
                .where(jobs.c.kind.in_([REFRESH_KIND, APPLY_KIND]), jobs.c.status == "queued")
                .order_by(jobs.c.id)
            ).all()
        if not queued:
            return failures
        for job_id, kind, payload in queued:
            try:
                if kind == REFRESH_KIND:
                    refresh(engine, sides.client, str(payload["wms_order_id"]), clock=CLOCK)
                else:
                    apply_statuses(
                        engine,
                        shop,
                        mapping,
                        int(payload["order_id"]),
                        forwarded_from={"N"},
                        clock=CLOCK,
                        marking=BitrixMarkingShop(shop.gateway),
                    )
            except TransientError:
                failures += 1
                continue
            with engine.begin() as conn:
                conn.execute(jobs.delete().where(jobs.c.id == job_id))
    if rounds == 60:
        raise AssertionError("the jobs did not drain")
    return failures


def test_statuses_arrive_whole_through_dropped_duplicated_reordered_webhooks_and_shop_503_bursts(
    engine: Engine, sides: Sides
) -> None:
    """The warehouse's webhooks are dropped, doubled and reordered; the shop answers 503 for a while as statuses
    are applied. Every order still ends delivered with its tracking, its Bitrix status only ever moved forward,
    and the feed (the fallback) brings what the webhooks lost."""
    secret = "webhook-secret-of-this-test"
    settings = BitrixSettings(
        webhook_url=SecretStr(sides.shop.webhook_url),
        verify=sides.shop.ca_file,
        backoff_base=0.01,
        backoff_cap=0.05,
        max_attempts=2,
    )
    placed = [
        place(sides, engine, [(HOODIE, 1), (TEE, 1)], [{"deliveryId": 2, "lines": [0, 1]}]) for _ in range(6)
    ]
    for order_id in placed:
        assert notice_and_forward(engine, sides, order_id).outcome == "forwarded"
    faults = {"seed": 5, "webhook_drop_rate": 0.3, "webhook_duplicate_rate": 0.3, "webhook_reorder_rate": 0.3}
    httpx.put(sides.warehouse.base_url + "/_sandbox/faults", json=faults, timeout=30).raise_for_status()
    failures = 0
    with BitrixGateway(settings) as gateway:
        shop = BitrixOrdersShop(gateway)
        for url in serve(engine, inflow_webhook_secret=secret):
            subscription = {
                "url": url + "/hooks/inflow",
                "events": ["order.status_changed"],
                "secret": secret,
            }
            httpx.post(
                sides.warehouse.base_url + "/api/v1/webhooks",
                json=subscription,
                headers={"X-API-Key": "sandbox-key"},
                timeout=30,
            ).raise_for_status()
            for stage in ("PICKING", "PACKING", "SHIPPED", "DELIVERED"):
                advance(sides, stage)
                settle_webhooks(sides)
                sides.shop.control.faults(overload=stage in ("SHIPPED", "DELIVERED"))  # a 503 burst
                failures += drain(engine, sides, shop, rounds=2)
                sides.shop.control.faults(overload=False)
                failures += drain(engine, sides, shop)
            deliveries = settle_webhooks(sides)
        # What the webhooks lost, the feed brings.
        read_changes(engine, sides.client, clock=CLOCK)
        failures += drain(engine, sides, shop)
    httpx.delete(sides.warehouse.base_url + "/_sandbox/faults", timeout=30)
    assert {d["state"] for d in deliveries} >= {"dropped", "delivered"} and any(
        d["copies"] > 1 for d in deliveries
    )
    assert failures > 0 and sides.shop.control.info()["errors_answered"], "the 503 burst was met"
    tracking = {o["external_ref"]: o["tracking"]["number"] for o in sides.wms_orders()}
    assert len(tracking) == 2 * len(placed)  # each part once
    rank = {"N": 0, "P": 1, "Q": 2, "D": 3, "F": 4}
    for order_id in placed:
        assert sides.shop.control.entity("orders", order_id)["statusId"] == "F"
        [shipment] = sides.shop.control.entities("shipments", orderId=order_id)
        assert sorted(shipment["trackingNumber"].split(", ")) == sorted(
            tracking[f"B-{order_id}-{n}"] for n in (1, 2)
        )
        with engine.connect() as conn:
            written = [
                detail["status"]
                for _, _, kind, detail in order_store.timeline(conn, "default", order_id)
                if kind in ("forwarded", "applied") and detail.get("status")
            ]
        assert [rank[s] for s in written] == sorted(rank[s] for s in written), f"{order_id}: {written}"
        assert len(written) == len(set(written)), f"{order_id}: a status written twice: {written}"


def test_a_second_edit_while_the_first_is_half_done_is_carried_out_after_it(
    engine: Engine, sides: Sides
) -> None:
    order_id = place(sides, engine, [(HOODIE, 1), (SNEAKER, 1)], [{"deliveryId": 2, "lines": [0, 1]}])
    assert notice_and_forward(engine, sides, order_id).outcome == "forwarded"
    hoodie = basket_ids(sides, order_id)[0]
    sides.shop.control.edit_line(order_id, hoodie, 2)
    assert order_id in notice_orders(engine, sides.orders, clock=CLOCK).queued
    options = sides.forward_options()
    with pytest.raises(SystemExit):
        forward_order(
            engine, DiesAfterTheWarehouseCancels(sides.client), sides.orders, options, order_id, clock=CLOCK
        )
    sides.shop.control.edit_line(order_id, hoodie, 3)  # meanwhile, a second edit
    resumed = forward_order(engine, sides.client, sides.orders, options, order_id, clock=CLOCK)
    assert resumed.created == [f"B-{order_id}r2-1"]  # the first edit's replacement, as planned
    with engine.connect() as conn:
        followups = conn.execute(
            select(jobs.c.id).where(jobs.c.kind == FORWARD_KIND, jobs.c.status == "queued")
        ).all()
    assert followups, "the second edit got a follow-up run"
    checked = forward_order(engine, sides.client, sides.orders, options, order_id, clock=CLOCK)
    assert checked.outcome == "forwarded" and checked.created == [f"B-{order_id}r3-1"]
    live = [o for o in sides.wms_orders() if o["status"] != "CANCELLED"]
    assert sorted((o["external_ref"], o["lines"][0]["qty"]) for o in live) == [
        (f"B-{order_id}-2", 1),
        (f"B-{order_id}r3-1", 3),
    ]
    assert notice_and_forward(engine, sides, order_id) is None  # all accounted for


def test_an_order_forwarded_before_fingerprints_were_kept_is_not_taken_for_an_edit(
    engine: Engine, sides: Sides
) -> None:
    order_id = place(sides, engine, [(HOODIE, 1)], [{"deliveryId": 2, "lines": [0]}])
    assert notice_and_forward(engine, sides, order_id).outcome == "forwarded"
    with engine.begin() as conn:
        conn.execute(
            order_bindings.update().values(fingerprint=None, seen_version=None)  # as an older version left it
        )
    report = forward_order(engine, sides.client, sides.orders, sides.forward_options(), order_id, clock=CLOCK)
    assert report.outcome == "unchanged" and [o["status"] for o in sides.wms_orders()] == ["NEW"]
    with engine.connect() as conn:
        binding = order_store.load_binding(conn, "default", order_id)
    assert binding is not None and binding.fingerprint is not None and binding.seen_version is not None


def cancel_in_shop(sides: Sides, order_id: int) -> None:
    sides.gateway.transport.call("sale.order.update", {"id": order_id, "fields": {"canceled": "Y"}})


def test_an_order_cancelled_in_the_shop_cancels_its_picking_orders_once(engine: Engine, sides: Sides) -> None:
    order_id = place(sides, engine, [(HOODIE, 1), (SNEAKER, 1)], [{"deliveryId": 2, "lines": [0, 1]}])
    assert notice_and_forward(engine, sides, order_id).outcome == "forwarded"
    assert len(sides.wms_orders()) == 2
    cancel_in_shop(sides, order_id)
    report = notice_and_forward(engine, sides, order_id)
    assert report is not None and report.outcome == "cancelled", report
    assert sorted(o["status"] for o in sides.wms_orders()) == ["CANCELLED", "CANCELLED"]
    with engine.connect() as conn:
        binding = order_store.load_binding(conn, "default", order_id)
        kinds = [k for (k,) in conn.execute(select(incidents.c.kind))]
    assert binding is not None and binding.state == "cancelled" and kinds == []
    with engine.connect() as conn:
        assert [p.state for p in order_store.parts_of(conn, "default", order_id)] == ["cancelled"] * 2
    again = forward_order(engine, sides.client, sides.orders, sides.forward_options(), order_id, clock=CLOCK)
    assert again.outcome == "unchanged"  # settled: nothing sent or cancelled again
    # Found by the soak: whether the feed or the cancel's answer came first, the order shows the mapped CANCELLED.
    assert read_changes(engine, sides.client, clock=CLOCK).updated == 0  # nothing newer than the answers
    assert apply_now(engine, sides, order_id) == "Z"


def test_a_cancel_the_warehouse_refuses_once_goods_are_picked_is_an_incident_once(
    engine: Engine, sides: Sides
) -> None:
    order_id = place(sides, engine, [(HOODIE, 1), (SNEAKER, 1)], [{"deliveryId": 2, "lines": [0, 1]}])
    assert notice_and_forward(engine, sides, order_id).outcome == "forwarded"
    first = sides.wms_orders()[0]
    advance_one(sides, first["id"], "PICKED")  # its goods left their bins: the contract refuses a cancel
    read_changes(engine, sides.client, clock=CLOCK)
    cancel_in_shop(sides, order_id)
    report = notice_and_forward(engine, sides, order_id)
    assert report is not None and report.outcome == "cancel_refused", report
    statuses = {o["external_ref"]: o["status"] for o in sides.wms_orders()}
    assert statuses[first["external_ref"]] == "PICKED" and list(statuses.values()).count("CANCELLED") == 1
    again = forward_order(engine, sides.client, sides.orders, sides.forward_options(), order_id, clock=CLOCK)
    assert again.outcome == "cancel_refused"
    with engine.connect() as conn:
        found = conn.execute(select(incidents.c.kind, incidents.c.subject)).all()
    assert found == [("cancel_refused", first["external_ref"])]  # once, however often it is tried
    # The polls that see this version again leave the order alone: no cancel is tried on every poll.
    assert order_id not in notice_orders(engine, sides.orders, clock=CLOCK).queued


def test_a_part_left_sending_by_a_dead_run_is_found_and_cancelled_when_the_order_is_cancelled(
    engine: Engine, sides: Sides
) -> None:
    order_id = place(sides, engine, [(HOODIE, 1)], [{"deliveryId": 2, "lines": [0]}])
    assert notice_and_forward(engine, sides, order_id).outcome == "forwarded"
    with (
        engine.begin() as conn
    ):  # as a run killed after the warehouse accepted and before the commit leaves it
        conn.execute(
            order_parts.update()
            .where(order_parts.c.bitrix_order_id == order_id)
            .values(state="sending", wms_order_id=None, wms_version=None, wms_status=None)
        )
    cancel_in_shop(sides, order_id)
    report = forward_order(engine, sides.client, sides.orders, sides.forward_options(), order_id, clock=CLOCK)
    assert report.outcome == "cancelled", report
    assert [o["status"] for o in sides.wms_orders()] == ["CANCELLED"]


# -- cohorts: many orders read together, their statuses written together, the next cohort read ahead ----------


def served(sides: Sides) -> int:
    return int(sides.shop.control.info()["requests_served"])


def test_a_cohort_costs_the_shop_two_requests_once_the_next_is_read_ahead(
    engine: Engine, sides: Sides
) -> None:
    shapes = [
        ([(HOODIE, 1), (TEE, 1)], [{"deliveryId": 2, "lines": [0, 1]}]),
        ([(SNEAKER, 1)], [{"deliveryId": 3, "lines": [0]}]),
        ([(HOODIE, 1), (SNEAKER, 1)], [{"deliveryId": 2, "lines": [0]}, {"deliveryId": 3, "lines": [1]}]),
    ]
    placed = [place(sides, engine, *shapes[n % 3]) for n in range(60)]
    notice_orders(engine, sides.orders, clock=CLOCK)
    options = sides.forward_options()
    first, rest = placed[:49], placed[49:]

    def waiting(count: int, skip: set[int]) -> list[int]:
        return [i for i in rest if i not in skip][:count]

    before = served(sides)
    results = forward_cohort(
        engine, sides.client, sides.orders, options, first, clock=CLOCK, next_waiting=waiting
    )
    assert (
        served(sides) - before == 3
    )  # the read of 49, the check (reading ahead), the writes (reading ahead)
    assert all(isinstance(r, ForwardReport) and r.outcome == "forwarded" for r in results.values()), results
    assert READ_AHEAD.holds("default") >= set(rest)

    # Another process's poll saw a newer version of one of them: that copy is read again, the others are used.
    version = int(sides.shop.control.entity("orders", rest[0])["version"])
    with engine.begin() as conn:
        order_store.set_polled_version(conn, "default", rest[0], version + 1, now=CLOCK.now())
    before = served(sides)
    results = forward_cohort(
        engine, sides.client, sides.orders, options, rest, clock=CLOCK, next_waiting=waiting
    )
    assert served(sides) - before == 3  # the stale copy read again, then the check and the writes
    assert all(isinstance(r, ForwardReport) and r.outcome == "forwarded" for r in results.values()), results

    assert [sides.shop.control.entity("orders", i)["statusId"] for i in placed] == ["P"] * 60
    refs = [o["external_ref"] for o in sides.wms_orders()]
    assert len(refs) == len(set(refs))  # nothing twice
    with engine.connect() as conn:
        parts = conn.execute(select(func.count()).select_from(order_parts)).scalar_one()
    assert len(refs) == parts == 20 * 2 + 20 * 1 + 20 * 2


def test_an_order_queued_again_after_its_read_ahead_is_read_afresh() -> None:
    now = [100.0]
    held = ReadAhead(keep_seconds=60, clock=lambda: now[0])
    order: Any = object()
    snapshot: dict[int, ShopOrder] = {7: order, 8: order}

    started = held.started()
    now[0] += 1
    held.forget("default", 7)  # a poll saw order 7 change while the read was under way
    now[0] += 1
    held.keep("default", snapshot, read_at=started)
    assert held.take("default", [7, 8]) == {8: order}
    assert held.take("default", [8]) == {}  # handed out once

    held.keep("default", snapshot, read_at=held.started())
    now[0] += 61
    assert held.take("default", [7, 8]) == {}  # too old to trust


def offline_gateway(sides: Sides) -> BitrixGateway:
    """The shop through an installed application (the offline queue answers applications only), reading it."""
    token = sides.shop.control.issue_token()
    config = sides.shop.sandbox.config
    settings = BitrixSettings(
        oauth=OAuthCredentials(
            portal_url=sides.shop.base_url,
            client_id=config.oauth_client_id,
            client_secret=config.oauth_client_secret,
            access_token=token["access_token"],
            refresh_token=token["refresh_token"],
            token_url=sides.shop.base_url + "/oauth/token/",
        ),
        verify=sides.shop.ca_file,
        offline_events=True,
        manager_user_id=1,
    )
    return BitrixGateway(settings)


def drive_to_delivered(engine: Engine, sides: Sides, shop: BitrixOrdersShop, order_id: int) -> int:
    """The order's picking orders moved through to DELIVERED, each step applied; the shop writes made."""
    options = sides.forward_options()
    writes = 0
    for stage in ("PICKING", "SHIPPED", "DELIVERED"):
        advance(sides, stage)
        read_changes(engine, sides.client, clock=CLOCK)
        report = apply_statuses(
            engine,
            shop,
            options.mapping,
            order_id,
            forwarded_from={"N"},
            clock=CLOCK,
            marking=BitrixMarkingShop(shop.gateway),
        )
        writes += bool(report.written) + len(report.shipments)
    return writes


@pytest.mark.parametrize("kept_out", [True, False], ids=["auth-connector", "plan-without-auth-connector"])
def test_the_offline_queue_starts_a_poll_for_a_new_order_and_an_edit_and_none_for_the_services_own_writes(
    engine: Engine, sides: Sides, kept_out: bool
) -> None:
    sides.shop.control.settings(auth_connector=kept_out)
    with offline_gateway(sides) as gateway:
        queue, shop = BitrixOfflineQueue(gateway), BitrixOrdersShop(gateway)
        first = read_offline_events(engine, queue, clock=CLOCK)
        assert first.bound_now and first.records == 0 and early_polls(engine) == 0
        order_id = place(sides, engine, [(HOODIE, 1), (TEE, 1)], [{"deliveryId": 2, "lines": [0, 1]}])
        report = read_offline_events(engine, queue, clock=CLOCK)
        assert (report.records, report.polls_queued, early_polls(engine)) == (1, 1, 1)
        notice_orders(engine, shop, clock=CLOCK)
        with engine.begin() as conn:
            conn.execute(jobs.delete().where(jobs.c.kind == FORWARD_KIND))
        assert forward_order(
            engine, sides.client, shop, sides.forward_options(), order_id, clock=CLOCK
        ).outcome == ("forwarded")
        writes = 1 + drive_to_delivered(engine, sides, shop, order_id)  # N → P, then statuses and tracking
        assert writes == 5
        assert sides.shop.control.entity("orders", order_id)["statusId"] == "F"
        report = read_offline_events(engine, queue, clock=CLOCK)
        # With the connector the shop logged none of the writes; without it, their one merged record is spent.
        assert report.records == (0 if kept_out else 1) and report.own_writes == (0 if kept_out else 1)
        assert early_polls(engine) == 0, "the service's own writes started a poll"
        assert not read_offline_events(engine, queue, clock=CLOCK).bound_now  # (bound once)
        # A delivered order's lines cannot change any more; a manager's note is still a save the shop records.
        sides.admin("sale.order.update", {"id": order_id, "fields": {"comments": "called the customer"}})
        report = read_offline_events(engine, queue, clock=CLOCK)
        assert (report.records, report.polls_queued, early_polls(engine)) == (1, 1, 1)  # a manager's edit


def test_a_reader_killed_before_clearing_re_reads_its_reservation_and_queues_one_poll(
    engine: Engine, sides: Sides, monkeypatch: pytest.MonkeyPatch
) -> None:
    with offline_gateway(sides) as gateway:
        queue = BitrixOfflineQueue(gateway)
        read_offline_events(engine, queue, clock=CLOCK)  # bound
        for _ in range(3):
            place(sides, engine, [(HOODIE, 1)], [{"deliveryId": 2, "lines": [0]}])

        def killed(process_id: str) -> None:
            raise KeyboardInterrupt("killed before the clear")

        with monkeypatch.context() as patch:
            patch.setattr(queue, "clear", killed)
            with pytest.raises(KeyboardInterrupt):
                read_offline_events(engine, queue, clock=CLOCK)
        reserved = [r for r in offline_records(sides) if r["PROCESS_ID"]]
        assert len(reserved) == 3  # still in the shop, reserved for the dead reader
        report = read_offline_events(engine, queue, clock=CLOCK)
        assert report.records == 3 and report.pages == 2  # its reservation again, then a fresh (empty) page
        assert early_polls(engine) == 1  # one coalesced poll, however often the records were read
        assert offline_records(sides) == []  # cleared


def offline_records(sides: Sides) -> list[dict[str, Any]]:
    token = sides.shop.control.issue_token()["access_token"]
    reply = httpx.post(
        sides.shop.base_url + "/rest/event.offline.list",
        json={"auth": token},
        verify=ssl.create_default_context(cafile=str(sides.shop.ca_file)),
        timeout=30,
    ).json()
    return list(reply["result"])


def test_on_a_plan_that_cannot_reserve_records_the_queue_is_still_read_and_emptied(
    engine: Engine, sides: Sides
) -> None:
    sides.shop.control.settings(offline_extended=False)
    with offline_gateway(sides) as gateway:
        queue = BitrixOfflineQueue(gateway)
        read_offline_events(engine, queue, clock=CLOCK)  # bound
        place(sides, engine, [(HOODIE, 1)], [{"deliveryId": 2, "lines": [0]}])
        report = read_offline_events(engine, queue, clock=CLOCK)
        assert (report.records, report.polls_queued, early_polls(engine)) == (1, 1, 1)
        assert offline_records(sides) == []  # removed as they were read: there was nothing to clear
        with engine.connect() as conn:
            assert order_store.load_cursor(conn, "default", "bitrix.offline_queue")["reserve"] is False


def test_a_run_killed_between_marking_and_cancelling_cancels_once_on_the_next(
    engine: Engine, sides: Sides, monkeypatch: pytest.MonkeyPatch
) -> None:
    order_id = place(sides, engine, [(HOODIE, 1), (SNEAKER, 1)], [{"deliveryId": 2, "lines": [0, 1]}])
    assert notice_and_forward(engine, sides, order_id).outcome == "forwarded"
    cancel_in_shop(sides, order_id)
    real = edit_module.cancel_picking
    calls: list[str] = []

    def killed_after_the_first(wms: Any, part: Any, *, reason: str) -> Any:
        if calls:
            raise KeyboardInterrupt("killed")
        calls.append(part.external_ref)
        return real(wms, part, reason=reason)

    with monkeypatch.context() as patch:
        patch.setattr(edit_module, "cancel_picking", killed_after_the_first)
        with pytest.raises(KeyboardInterrupt):
            forward_order(engine, sides.client, sides.orders, sides.forward_options(), order_id, clock=CLOCK)
    with engine.connect() as conn:
        assert order_store.load_binding(conn, "default", order_id).state == "cancelling"  # type: ignore[union-attr]
    report = forward_order(engine, sides.client, sides.orders, sides.forward_options(), order_id, clock=CLOCK)
    assert report.outcome == "cancelled", report
    assert sorted(o["status"] for o in sides.wms_orders()) == ["CANCELLED", "CANCELLED"]
    with engine.connect() as conn:
        assert [p.state for p in order_store.parts_of(conn, "default", order_id)] == ["cancelled"] * 2


def warehouse_cancels(engine: Engine, sides: Sides, order_id: int) -> Any:
    """The warehouse cancels every picking order of the order; the feed and the apply follow."""
    for picking in sides.wms_orders():
        sides.client.cancel(picking["id"], reason="damaged in the warehouse")
    read_changes(engine, sides.client, clock=CLOCK)
    return apply_statuses(
        engine,
        sides.orders,
        sides.forward_options().mapping,
        order_id,
        forwarded_from={"N"},
        clock=CLOCK,
        marking=sides.marking,
    )


def test_a_cancellation_in_the_warehouse_cancels_the_shops_order(engine: Engine, sides: Sides) -> None:
    order_id = place(sides, engine, [(HOODIE, 1), (SNEAKER, 1)], [{"deliveryId": 2, "lines": [0, 1]}])
    assert notice_and_forward(engine, sides, order_id).outcome == "forwarded"
    report = warehouse_cancels(engine, sides, order_id)
    assert report.cancel == "cancelled" and report.written == "Z"
    order = sides.shop.control.entity("orders", order_id)
    assert order["canceled"] == "Y" and order["statusId"] == "Z"  # the flag, and the mapped status
    lines = sides.shop.control.entities("basketItems", orderId=order_id)
    assert all(not any(float(r["quantity"]) for r in line["reservations"]) for line in lines)  # released
    with engine.connect() as conn:
        assert order_store.load_binding(conn, "default", order_id).state == "cancelled"  # type: ignore[union-attr]
    # The service's own cancel is a save the next poll sees: its forwarding run leaves the order alone.
    again = notice_and_forward(engine, sides, order_id)
    assert again is None or again.outcome == "unchanged"


def test_a_cancellation_the_shop_refuses_is_one_incident_and_never_a_retry_loop(
    engine: Engine, sides: Sides
) -> None:
    order_id = place(sides, engine, [(HOODIE, 1)], [{"deliveryId": 2, "lines": [0]}])
    assert notice_and_forward(engine, sides, order_id).outcome == "forwarded"
    [payment] = sides.shop.control.entities("payments", orderId=order_id)
    paid = {"paid": "Y", "paySystemId": payment["paySystemId"]}
    sides.gateway.transport.call("sale.payment.update", {"id": payment["id"], "fields": paid})
    report = warehouse_cancels(engine, sides, order_id)
    assert report.cancel == "refused"
    assert sides.shop.control.entity("orders", order_id)["canceled"] == "N"
    before = sides.shop.control.info()["commands_run"].get("sale.order.update", 0)
    for _ in range(3):  # the apply runs again (a retry, a new feed page): the cancel is not asked again
        apply_statuses(
            engine,
            sides.orders,
            sides.forward_options().mapping,
            order_id,
            forwarded_from={"N"},
            clock=CLOCK,
            marking=sides.marking,
        )
    assert sides.shop.control.info()["commands_run"].get("sale.order.update", 0) == before
    with engine.connect() as conn:
        found = conn.execute(select(incidents.c.kind, incidents.c.detail)).all()
    assert [k for k, _ in found] == ["shop_cancel_refused"]
    assert "paid" in found[0][1]["why"]


def test_a_part_the_warehouse_cancels_while_another_ships_is_an_incident_never_a_silent_partial_order(
    engine: Engine, sides: Sides
) -> None:
    """Found by the soak: one picking order cancelled in the warehouse, the other delivered; the order became F
    with lines that will never ship, still reserved, their shipment never deducted, and nobody told."""
    order_id = place(sides, engine, [(HOODIE, 1), (SNEAKER, 1)], [{"deliveryId": 2, "lines": [0, 1]}])
    assert notice_and_forward(engine, sides, order_id).outcome == "forwarded"
    first, second = sides.wms_orders()[:2]
    sides.client.cancel(first["id"], reason="damaged on the shelf")
    advance_one(sides, second["id"], "DELIVERED")
    read_changes(engine, sides.client, clock=CLOCK)
    apply_now(engine, sides, order_id)
    apply_now(engine, sides, order_id)  # applied again: still one incident
    with engine.connect() as conn:
        found = conn.execute(select(incidents.c.kind, incidents.c.subject)).all()
    assert found == [("cancelled_in_wms", first["external_ref"])]


def test_a_part_left_sending_that_shipped_is_taken_when_the_shop_cancels_the_order(
    engine: Engine, sides: Sides
) -> None:
    """Found by the soak: a send cut by a kill leaves its part ``sending``, so the feed passes its picking order by;
    the shop's cancel then found it shipped and recorded the status without its tracking, codes or apply job."""
    order_id = place(sides, engine, [(HOODIE, 1)], [{"deliveryId": 2, "lines": [0]}])
    assert notice_and_forward(engine, sides, order_id).outcome == "forwarded"
    [picking] = sides.wms_orders()
    with engine.begin() as conn:
        conn.execute(jobs.delete().where(jobs.c.kind == APPLY_KIND))
        conn.execute(  # as a kill between the warehouse's answer and the commit leaves it
            order_parts.update()
            .where(order_parts.c.bitrix_order_id == order_id)
            .values(state="sending", wms_order_id=None, wms_version=None, wms_status=None)
        )
    advance_one(sides, picking["id"], "DELIVERED")
    read_changes(engine, sides.client, clock=CLOCK)  # passed by: the service has no id for it yet
    cancel_in_shop(sides, order_id)
    report = forward_order(engine, sides.client, sides.orders, sides.forward_options(), order_id, clock=CLOCK)
    assert report.outcome == "cancel_refused", report
    with engine.connect() as conn:
        [part] = order_store.parts_of(conn, "default", order_id)
        applies = conn.execute(
            select(jobs.c.id).where(jobs.c.kind == APPLY_KIND, jobs.c.status == "queued")
        ).all()
    assert part.wms_status == "DELIVERED" and part.tracking_number, part
    assert applies, "the order's apply is queued (tracking, marking codes, status)"
