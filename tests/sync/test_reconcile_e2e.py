"""Reconciliation end to end over HTTP, on both shop profiles: divergences planted directly in the sandboxes (an order
the service never saw, a picking order it has no record of, a status a write lost or a person set, an order that
stopped moving, a shop quantity edited by hand) are found; without repair nothing changes, with it the safe ones
are repaired once and the rest become one incident each, however often it runs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select

from bitrix_inflow.adapters.inflow import NewOrderLine, NewPickingOrder
from bitrix_inflow.ops import incidents as ops
from bitrix_inflow.store import incidents
from bitrix_inflow.store import orders as order_store
from bitrix_inflow.store import stock as stock_store
from bitrix_inflow.store.tables import jobs, order_parts
from bitrix_inflow.sync.incidents.inbox import raise_incident
from bitrix_inflow.sync.orders.forward import forward_order
from bitrix_inflow.sync.orders.notice import FORWARD_KIND
from bitrix_inflow.sync.orders.statuses import APPLY_KIND, apply_statuses, read_changes
from bitrix_inflow.sync.reconcile.run import ReconcileOptions, ReconcileReport, reconcile
from bitrix_inflow.sync.stock import jobs as stock_jobs
from bitrix_inflow.sync.stock.flow import StockOptions, sync_stock
from bitrix_inflow.timing import SystemClock

from .conftest import Sides, running_sides

CLOCK = SystemClock()
HOODIE, TEE = "SB-HOODIE-URBAN-M", "SB-TEE-CLASSIC-S"


class Later(SystemClock):
    """The service's clock, some time from now (an order placed now is past the grace, or stuck)."""

    def __init__(self, **ahead: float) -> None:
        self.ahead = dt.timedelta(**ahead)

    def now(self) -> dt.datetime:
        return super().now() + self.ahead


@pytest.fixture(params=["site", "bitrix24"])
def sides(request: pytest.FixtureRequest, engine: Engine) -> Iterator[Sides]:
    with running_sides(engine, str(request.param), manager_user_id=2) as both:
        yield both


def options(sides: Sides, *, stock: bool = False) -> ReconcileOptions:
    return ReconcileOptions(
        forward=sides.forward_options(), stock=StockOptions(warehouses=("MAIN",)) if stock else None
    )


def run(
    engine: Engine, sides: Sides, *, repair: bool, clock: Any = None, stock: bool = False
) -> ReconcileReport:
    return reconcile(
        engine,
        sides.client,
        sides.orders,
        sides.stock,
        options(sides, stock=stock),
        repair=repair,
        clock=clock or Later(hours=1),
        connection_id="default",
    )


def found(report: ReconcileReport, check: str) -> list[tuple[str, str]]:
    return [(f.subject, f.action) for f in report.findings if f.check == check]


def place(engine: Engine, sides: Sides, *skus: str) -> int:
    with engine.connect() as conn:
        links = stock_store.load_links(conn, "default")
    lines = [{"productId": links[sku].product_id, "quantity": 1} for sku in skus]
    shipments = [{"deliveryId": 2, "lines": list(range(len(skus)))}]
    return int(sides.shop.control.place_order(lines=lines, shipments=shipments)["id"])


def forwarded(engine: Engine, sides: Sides, *skus: str) -> int:
    order_id = place(engine, sides, *skus)
    report = forward_order(engine, sides.client, sides.orders, sides.forward_options(), order_id, clock=CLOCK)
    assert report.outcome == "forwarded", report
    return order_id


def forward_jobs(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(jobs).where(jobs.c.kind == FORWARD_KIND)
            ).scalar_one()
        )


def advance(sides: Sides, to: str) -> None:
    base = sides.warehouse.base_url + "/_sandbox/orders"
    for order in httpx.get(base, timeout=30).json()["items"]:
        if order["status"] not in ("CANCELLED", "DELIVERED"):
            httpx.post(f"{base}/{order['id']}/advance", json={"to": to}, timeout=30).raise_for_status()


def test_an_order_the_service_never_saw_is_found_and_sent_once(engine: Engine, sides: Sides) -> None:
    order_id = place(engine, sides, HOODIE, TEE)  # no event, no poll: the service never looked at it
    young = run(engine, sides, repair=True, clock=CLOCK)
    assert found(young, "missing_in_wms") == []  # younger than the grace: the poll's to notice yet

    looked = run(engine, sides, repair=False)
    assert found(looked, "missing_in_wms") == [(str(order_id), "would repair")]
    assert forward_jobs(engine) == 0 and sides.wms_orders() == []  # nothing changed without --repair

    repaired = run(engine, sides, repair=True)
    assert found(repaired, "missing_in_wms") == [(str(order_id), "repaired")]
    assert forward_jobs(engine) == 1  # its forwarding run, the exactly-once path
    run(engine, sides, repair=True)
    assert forward_jobs(engine) == 1  # asked again before it ran: still one run
    sent = forward_order(engine, sides.client, sides.orders, sides.forward_options(), order_id, clock=CLOCK)
    assert sent.outcome == "forwarded"
    assert found(run(engine, sides, repair=True), "missing_in_wms") == []
    assert sorted(o["external_ref"] for o in sides.wms_orders()) == [f"B-{order_id}-1", f"B-{order_id}-2"]


def test_a_picking_order_the_service_has_no_record_of_is_one_incident(engine: Engine, sides: Sides) -> None:
    mine = forwarded(engine, sides, TEE)
    stray = NewPickingOrder("B-999999-1", "999999", (NewOrderLine(1, TEE, 1),), warehouse="MAIN")
    sides.client.create_picking_order(stray)  # a restored backup, or made by hand in the warehouse
    foreign = NewPickingOrder("POS-77", "77", (NewOrderLine(1, TEE, 1),), warehouse="MAIN")
    sides.client.create_picking_order(foreign)  # not of the service's form: someone else's, left alone

    assert found(run(engine, sides, repair=False), "unknown_in_wms") == [
        ("B-999999-1", "would open an incident")
    ]
    with engine.connect() as conn:
        assert incidents.listed(conn, "default") == []
    assert found(run(engine, sides, repair=True), "unknown_in_wms") == [("B-999999-1", "incident")]
    assert found(run(engine, sides, repair=True), "unknown_in_wms") == [
        ("B-999999-1", "incident open already")
    ]
    with engine.connect() as conn:
        [incident] = incidents.listed(conn, "default")
    assert (incident.kind, incident.order_id, incident.subject) == ("unknown_in_wms", 999999, "B-999999-1")
    assert list(incident.ways_out) == ["dismiss"]
    assert not [f for f in run(engine, sides, repair=False).findings if f.order_id == mine]


def test_a_picking_order_gone_from_the_warehouse_is_one_incident(engine: Engine, sides: Sides) -> None:
    order_id = forwarded(engine, sides, TEE)
    # Planted on the service's side: a picking order it recorded as accepted that the warehouse has never had.
    with engine.begin() as conn:
        [part] = order_store.parts_of(conn, "default", order_id)
        conn.execute(
            order_parts.update()
            .where(order_parts.c.id == part.id)
            .values(external_ref=f"B-{order_id}-9", wms_order_id="PO-99999999")
        )
    report = run(engine, sides, repair=True)
    assert found(report, "gone_from_wms") == [(f"B-{order_id}-9", "incident")]
    assert found(report, "unknown_in_wms") == [(f"B-{order_id}-1", "incident")]  # its real one is now unknown
    with engine.connect() as conn:
        kinds = {i.kind: list(i.ways_out) for i in incidents.listed(conn, "default")}
    assert kinds == {"gone_from_wms": ["cancel", "dismiss"], "unknown_in_wms": ["dismiss"]}


def test_a_status_a_write_lost_is_re_applied_and_one_a_person_set_is_an_incident(
    engine: Engine, sides: Sides
) -> None:
    lost, handset = forwarded(engine, sides, HOODIE), forwarded(engine, sides, TEE)
    advance(sides, "PICKING")
    read_changes(engine, sides.client, clock=CLOCK)
    mapping = sides.forward_options().mapping
    for order_id in (lost, handset):
        apply_statuses(
            engine, sides.orders, mapping, order_id, forwarded_from={"N"}, clock=CLOCK, marking=sides.marking
        )
    wanted = mapping.bitrix_status_for("PICKING")
    assert {sides.shop.control.entity("orders", o)["statusId"] for o in (lost, handset)} == {wanted}
    sides.admin("sale.order.update", {"id": lost, "fields": {"statusId": "N"}})  # as if the write was lost
    sides.admin("sale.order.update", {"id": handset, "fields": {"statusId": "F"}})  # a person's choice

    looked = run(engine, sides, repair=False)
    assert sorted(found(looked, "status_diverges")) == sorted(
        [(str(lost), "would repair"), (str(handset), "would open an incident")]
    )
    assert sides.shop.control.entity("orders", lost)["statusId"] == "N"  # nothing written without --repair
    assert apply_jobs(engine) == []

    repaired = run(engine, sides, repair=True)
    assert sorted(found(repaired, "status_diverges")) == sorted(
        [(str(lost), "re-applying"), (str(handset), "re-applying")]
    )
    assert sorted(apply_jobs(engine)) == sorted([lost, handset])
    assert sorted(found(run(engine, sides, repair=True), "status_diverges")) == sorted(
        [(str(lost), "re-applying"), (str(handset), "re-applying")]
    )
    assert sorted(apply_jobs(engine)) == sorted(
        [lost, handset]
    )  # asked again before it ran: still one job each
    for order_id in apply_jobs(engine):  # the apply jobs, as a worker runs them (under each order's lock)
        apply_statuses(
            engine,
            sides.orders,
            mapping,
            order_id,
            forwarded_from={"N"},
            clock=CLOCK,
            reapply=True,
            marking=sides.marking,
        )
    assert sides.shop.control.entity("orders", lost)["statusId"] == wanted
    assert sides.shop.control.entity("orders", handset)["statusId"] == "F"  # a person's status stands
    with engine.connect() as conn:
        [incident] = incidents.listed(conn, "default")
    assert (incident.kind, incident.order_id, incident.subject) == ("status_refused", handset, wanted)
    assert found(run(engine, sides, repair=True), "status_diverges") == []  # repaired; the other a person's

    ops.resolve(engine, incident.id, "dismiss", actor="ops:anna", clock=CLOCK)  # the manager keeps F
    assert found(run(engine, sides, repair=False), "status_diverges") == []  # settled: not found again


def test_a_replacement_behind_the_applied_step_is_not_a_divergence(engine: Engine, sides: Sides) -> None:
    """A part sent again under a new generation counts as NEW: the order's status stays where it was applied."""
    order_id = forwarded(engine, sides, TEE)
    mapping = sides.forward_options().mapping
    with engine.begin() as conn:  # planted: the order went on to PICKING before its part was replaced
        order_store.set_applied_status(conn, "default", order_id, "PICKING", now=CLOCK.now())
    sides.admin(
        "sale.order.update",
        {"id": order_id, "fields": {"statusId": mapping.bitrix_status_for("PICKING")}},
    )
    assert found(run(engine, sides, repair=False), "status_diverges") == []


def apply_jobs(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        rows = conn.execute(select(jobs.c.payload).where(jobs.c.kind == APPLY_KIND)).all()
    return [int(payload["order_id"]) for (payload,) in rows if payload.get("reapply")]


def test_an_order_that_stopped_moving_is_one_incident(engine: Engine, sides: Sides) -> None:
    order_id, shipped = forwarded(engine, sides, TEE), forwarded(engine, sides, TEE)
    base = sides.warehouse.base_url + "/_sandbox/orders"
    [picking] = [o for o in sides.wms_orders() if o["external_ref"] == f"B-{shipped}-1"]
    httpx.post(f"{base}/{picking['id']}/advance", json={"to": "SHIPPED"}, timeout=30).raise_for_status()
    read_changes(engine, sides.client, clock=CLOCK)  # out of the warehouse: the carrier's days are not stuck
    assert found(run(engine, sides, repair=True, clock=Later(hours=47)), "stuck") == []
    report = run(engine, sides, repair=True, clock=Later(hours=49))
    assert found(report, "stuck") == [("stuck", "incident")]
    with engine.connect() as conn:
        [incident] = incidents.listed(conn, "default")
    assert (incident.kind, incident.order_id, list(incident.ways_out)) == (
        "stuck",
        order_id,
        ["cancel", "dismiss"],
    )
    assert incident.detail["aggregate"] == "NEW"
    assert found(run(engine, sides, repair=True, clock=Later(hours=50)), "stuck") == []  # in a person's hands
    ops.resolve(engine, incident.id, "dismiss", actor="ops:anna", clock=CLOCK)
    assert (
        found(run(engine, sides, repair=False, clock=Later(hours=51)), "stuck") == []
    )  # settled by a person


def test_a_way_out_carried_out_for_too_long_is_shown_to_a_person(engine: Engine, sides: Sides) -> None:
    order_id = forwarded(engine, sides, TEE)
    with engine.begin() as conn:
        incident_id = raise_incident(
            conn,
            "default",
            order_id,
            kind="picking_error",
            subject=f"B-{order_id}-1",
            detail={},
            now=CLOCK.now(),
        )
    assert incident_id is not None
    ops.resolve(engine, incident_id, "cancel", actor="ops:anna", clock=CLOCK)  # its job never gets to run
    assert found(run(engine, sides, repair=False, clock=Later(hours=47)), "way_out_stuck") == []
    late = run(engine, sides, repair=False, clock=Later(hours=49))
    assert found(late, "way_out_stuck") == [(f"incident {incident_id}", "a person should look")]
    assert found(late, "stuck") == []  # the order itself is in a person's hands


def test_a_shop_quantity_edited_by_hand_is_found_and_written_back(engine: Engine, sides: Sides) -> None:
    with engine.connect() as conn:
        product_id = stock_store.load_links(conn, "default")[TEE].product_id
    truth = float(sides.shop.control.entity("products", product_id)["quantity"])
    offer = sides.shop.control.entity("products", product_id).get("parentId")
    method = "catalog.product.offer.update" if offer else "catalog.product.update"
    sides.admin(method, {"id": product_id, "fields": {"quantity": truth + 40}})

    looked = run(engine, sides, repair=False, stock=True)
    assert [(s, a) for s, a in found(looked, "stock_diverges")] == [(f"product {product_id}", "would repair")]
    assert float(sides.shop.control.entity("products", product_id)["quantity"]) == truth + 40
    repaired = run(engine, sides, repair=True, stock=True)
    assert found(repaired, "stock_diverges") == [(f"product {product_id}", "full stock sync queued")]
    with engine.connect() as conn:
        [payload] = conn.execute(select(jobs.c.payload).where(jobs.c.kind == stock_jobs.SYNC_KIND)).scalars()
    assert payload["full"] is True
    sync_stock(engine, sides.client, sides.stock, StockOptions(warehouses=("MAIN",)), clock=CLOCK, full=True)
    assert float(sides.shop.control.entity("products", product_id)["quantity"]) == truth
    assert found(run(engine, sides, repair=True, stock=True), "stock_diverges") == []

    url = sides.warehouse.base_url + "/_sandbox/stock"
    httpx.post(url, json={"warehouse": "MAIN", "sku": TEE, "delta": 7}, timeout=30).raise_for_status()
    lately = run(engine, sides, repair=True, stock=True)  # the incremental sync's to write: no drift, no job
    assert found(lately, "stock_diverges") == []


def test_everything_agrees_after_a_normal_day(engine: Engine, sides: Sides) -> None:
    orders = [forwarded(engine, sides, *skus) for skus in ((HOODIE, TEE), (TEE,))]
    advance(sides, "SHIPPED")
    read_changes(engine, sides.client, clock=CLOCK)
    mapping = sides.forward_options().mapping
    for order_id in orders:
        apply_statuses(
            engine, sides.orders, mapping, order_id, forwarded_from={"N"}, clock=CLOCK, marking=sides.marking
        )
    report = run(engine, sides, repair=False, stock=True)
    assert report.findings == [] and report.notes == []
