"""Picking errors end to end over HTTP, on both shop profiles: the warehouse fails a line, the feed opens one
incident with the SKU, bin and reason, the manager is told once (a task on Bitrix24, a tagged notification on Site
Management), however often the job runs, and when the service dies between telling and recording it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from bitrix_inflow.adapters.bitrix import BitrixGateway, BitrixSettings
from bitrix_inflow.errors import IntegrationError, ValidationError
from bitrix_inflow.ops import incidents as ops
from bitrix_inflow.store import incidents
from bitrix_inflow.store import orders as order_store
from bitrix_inflow.store import stock as stock_store
from bitrix_inflow.store.tables import jobs, stock_hints
from bitrix_inflow.sync.incidents.bitrix_channel import BitrixManagerChannel
from bitrix_inflow.sync.incidents.inbox import TELL_KIND
from bitrix_inflow.sync.incidents.tell import tell_manager
from bitrix_inflow.sync.incidents.ways import carry_out
from bitrix_inflow.sync.orders.bitrix_shop import BitrixOrdersShop
from bitrix_inflow.sync.orders.forward import forward_order
from bitrix_inflow.sync.orders.planning import fingerprint_of
from bitrix_inflow.sync.orders.statuses import read_changes
from bitrix_inflow.timing import SystemClock

from .conftest import Sides, running_sides

CLOCK = SystemClock()
HOODIE, TEE = "SB-HOODIE-URBAN-M", "SB-TEE-CLASSIC-S"


@pytest.fixture(params=["site", "bitrix24"])
def sides(request: pytest.FixtureRequest, engine: Engine) -> Iterator[Sides]:
    with running_sides(engine, str(request.param), manager_user_id=2) as both:
        yield both


def forwarded_order(engine: Engine, sides: Sides) -> int:
    with engine.connect() as conn:
        links = stock_store.load_links(conn, "default")
    lines = [{"productId": links[sku].product_id, "quantity": 1} for sku in (HOODIE, TEE)]
    order_id = int(
        sides.shop.control.place_order(lines=lines, shipments=[{"deliveryId": 2, "lines": [0, 1]}])["id"]
    )
    options = sides.forward_options()
    assert (
        forward_order(engine, sides.client, sides.orders, options, order_id, clock=CLOCK).outcome
        == "forwarded"
    )
    return order_id


def fail_picking(sides: Sides, sku: str) -> None:
    base = sides.warehouse.base_url + "/_sandbox"
    httpx.put(base + "/faults", json={"picking_error_skus": [sku]}, timeout=30).raise_for_status()
    for order in httpx.get(base + "/orders", timeout=30).json()["items"]:
        httpx.post(f"{base}/orders/{order['id']}/advance", json={"to": "PICKING"}, timeout=30)


def told_in_shop(sides: Sides, incident_id: int) -> list[dict[str, Any]]:
    """What the manager sees of the incident in the shop: its tasks, or its notifications."""
    marker = f"[BI-{incident_id}]"
    if sides.gateway.settings.profile == "bitrix24":
        return [t for t in sides.shop.control.entities("tasks") if marker in t["title"]]
    return [n for n in sides.shop.control.entities("notifications") if n["tag"] == marker]


def test_a_picking_error_opens_one_incident_and_the_manager_is_told_once(
    engine: Engine, sides: Sides
) -> None:
    order_id = forwarded_order(engine, sides)
    fail_picking(sides, HOODIE)
    for _ in range(2):  # the feed read twice (a retry): still one incident
        read_changes(engine, sides.client, clock=CLOCK)
    with engine.connect() as conn:
        [incident] = incidents.listed(conn, "default")
        tell_jobs = conn.execute(select(jobs.c.payload).where(jobs.c.kind == TELL_KIND)).all()
        hinted = {row.sku for row in conn.execute(select(stock_hints.c.sku)).all()}
    assert incident.kind == "picking_error" and incident.order_id == order_id
    assert incident.detail["sku"] == HOODIE and incident.detail["code"] == "POSITION_UNAVAILABLE"
    assert incident.detail["reason"] and "bin" in incident.detail
    assert list(incident.ways_out) == ["cancel", "substitute", "ship_rest", "retry_when_stock"]
    assert [dict(p)["incident_id"] for (p,) in tell_jobs] == [incident.id]
    assert HOODIE in hinted  # its stock is read again at once

    language = "ru" if sides.gateway.settings.profile == "site" else "en"
    told = tell_manager(engine, sides.channel, incident.id, clock=CLOCK, language=language)
    assert told is not None
    assert (
        tell_manager(engine, sides.channel, incident.id, clock=CLOCK, language=language) is None
    )  # told before
    [shown] = told_in_shop(sides, incident.id)
    text = shown.get("description") or shown["message"]
    assert HOODIE in text and str(order_id) in text and "substitute" in text
    assert ("Ошибка сборки" if language == "ru" else "Picking error") in (
        shown.get("title") or shown["message"]
    )
    if sides.gateway.settings.profile == "bitrix24":
        assert shown["responsibleId"] == "2"
    else:
        assert shown["userId"] == 2
    with engine.connect() as conn:
        stored = incidents.load(conn, incident.id)
        trail = [(e.actor, e.action) for e in incidents.trail(conn, incident.id)]
    assert stored is not None and stored.notice_state == "told" and stored.notice_ref == str(shown["id"])
    assert trail == [("service", "opened"), ("service", "told")]


def test_the_service_killed_between_telling_and_recording_it_tells_the_manager_once(
    engine: Engine, sides: Sides, monkeypatch: pytest.MonkeyPatch
) -> None:
    forwarded_order(engine, sides)
    fail_picking(sides, HOODIE)
    read_changes(engine, sides.client, clock=CLOCK)
    with engine.connect() as conn:
        [incident] = incidents.listed(conn, "default")

    real_tell = sides.channel.tell

    def told_then_killed(title: str, body: str, *, tag: str) -> Any:
        real_tell(title, body, tag=tag)
        raise KeyboardInterrupt("killed before the local commit")

    with monkeypatch.context() as patch:
        patch.setattr(sides.channel, "tell", told_then_killed)
        with pytest.raises(KeyboardInterrupt):
            tell_manager(engine, sides.channel, incident.id, clock=CLOCK, language="en")
    assert len(told_in_shop(sides, incident.id)) == 1  # the shop has it; the service did not record it
    with engine.connect() as conn:
        assert (stored := incidents.load(conn, incident.id)) is not None and stored.notice_state == "telling"
    for _ in range(3):  # the job's retries after the restart
        tell_manager(engine, sides.channel, incident.id, clock=CLOCK, language="en")
    [shown] = told_in_shop(sides, incident.id)  # still one: found again (task) or replaced by its tag
    with engine.connect() as conn:
        stored = incidents.load(conn, incident.id)
    assert stored is not None and stored.notice_state == "told" and stored.notice_ref == str(shown["id"])


def picking_error_incident(engine: Engine, sides: Sides) -> tuple[int, int]:
    order_id = forwarded_order(engine, sides)
    fail_picking(sides, HOODIE)
    read_changes(engine, sides.client, clock=CLOCK)
    with engine.connect() as conn:
        [incident] = incidents.listed(conn, "default")
    return order_id, incident.id


def test_cancel_as_the_way_out_cancels_the_order_on_both_sides_once(engine: Engine, sides: Sides) -> None:
    order_id, incident_id = picking_error_incident(engine, sides)
    chosen = ops.resolve(engine, incident_id, "cancel", actor="ops:anna", clock=CLOCK)
    assert chosen.state == "resolving"
    assert carry_out(engine, sides.client, sides.orders, incident_id, clock=CLOCK) == "done"
    assert (
        carry_out(engine, sides.client, sides.orders, incident_id, clock=CLOCK) == "nothing"
    )  # a retry does nothing again
    order = sides.shop.control.entity("orders", order_id)
    assert order["canceled"] == "Y"
    lines = sides.shop.control.entities("basketItems", orderId=order_id)
    assert all(not any(float(r["quantity"]) for r in line["reservations"]) for line in lines)  # released
    options = sides.forward_options()
    report = forward_order(
        engine, sides.client, sides.orders, options, order_id, clock=CLOCK
    )  # the queued run
    assert report.outcome == "cancelled", report
    statuses = [
        o["status"]
        for o in httpx.get(sides.warehouse.base_url + "/_sandbox/orders", timeout=30).json()["items"]
    ]
    assert statuses and set(statuses) == {"CANCELLED"}
    with engine.connect() as conn:
        done = incidents.load(conn, incident_id)
        trail = [(e.actor, e.action) for e in incidents.trail(conn, incident_id)]
    assert (
        done is not None
        and done.state == "resolved"
        and done.resolution
        == {
            "way_out": "cancel",
            "by": "ops:anna",
            "shop": "cancelled",
        }
    )
    assert trail == [("service", "opened"), ("ops:anna", "chose"), ("service", "resolved")]


def test_a_cancel_the_shop_refuses_sends_the_incident_back_open_with_the_reason(
    engine: Engine, sides: Sides
) -> None:
    order_id, incident_id = picking_error_incident(engine, sides)
    [payment] = sides.shop.control.entities("payments", orderId=order_id)
    paid = {"paid": "Y", "paySystemId": payment["paySystemId"]}
    sides.gateway.transport.call("sale.payment.update", {"id": payment["id"], "fields": paid})
    ops.resolve(engine, incident_id, "cancel", actor="ops:anna", clock=CLOCK)
    assert carry_out(engine, sides.client, sides.orders, incident_id, clock=CLOCK) == "refused"
    assert sides.shop.control.entity("orders", order_id)["canceled"] == "N"
    with engine.connect() as conn:
        again = incidents.load(conn, incident_id)
        [failed] = [e for e in incidents.trail(conn, incident_id) if e.action == "failed"]
    assert again is not None and again.state == "open" and again.resolution is None  # a person chooses again
    assert "paid" in str(failed.detail["why"])


def empty_the_bins(sides: Sides, sku: str) -> None:
    """Every free unit of ``sku`` taken out of its bins: nothing left to reserve."""
    url = sides.warehouse.base_url + "/_sandbox/stock"
    for row in sides.client.iter_bin_stock(warehouse="MAIN", sku=sku):
        free = row.qty_on_hand - row.qty_reserved - row.qty_in_picking
        if free > 0:
            body = {"warehouse": "MAIN", "sku": sku, "bin": row.bin, "delta": -free}
            httpx.post(url, json=body, timeout=30).raise_for_status()


def stock_arrives(sides: Sides, sku: str, units: int) -> None:
    url = sides.warehouse.base_url + "/_sandbox/stock"
    httpx.post(url, json={"warehouse": "MAIN", "sku": sku, "delta": units}, timeout=30).raise_for_status()


def test_retry_when_stock_sends_the_failed_lines_again_once_the_stock_is_there(
    engine: Engine, sides: Sides
) -> None:
    order_id, incident_id = picking_error_incident(engine, sides)
    httpx.put(sides.warehouse.base_url + "/_sandbox/faults", json={"picking_error_skus": []}, timeout=30)
    empty_the_bins(sides, HOODIE)  # none left to reserve
    ops.resolve(engine, incident_id, "retry_when_stock", actor="ops:anna", clock=CLOCK)
    assert carry_out(engine, sides.client, sides.orders, incident_id, clock=CLOCK) == "done"
    assert carry_out(engine, sides.client, sides.orders, incident_id, clock=CLOCK) == "nothing"
    options = sides.forward_options()
    waiting = forward_order(engine, sides.client, sides.orders, options, order_id, clock=CLOCK)
    assert waiting.outcome == "waiting" and "short" in " ".join(waiting.reasons)
    in_warehouse = httpx.get(sides.warehouse.base_url + "/_sandbox/orders", timeout=30).json()["items"]
    failed = [o for o in in_warehouse if o["status"] == "CANCELLED"]
    assert len(failed) == 1 and len(in_warehouse) == 2  # the failed one cancelled, nothing new yet
    stock_arrives(sides, HOODIE, 5)  # the sweep's next run sends the replacement
    sent = forward_order(engine, sides.client, sides.orders, options, order_id, clock=CLOCK)
    assert sent.outcome == "forwarded", sent
    refs = [
        o["external_ref"]
        for o in httpx.get(sides.warehouse.base_url + "/_sandbox/orders", timeout=30).json()["items"]
    ]
    assert sorted(refs) == sorted(
        [failed[0]["external_ref"], *[r for r in refs if r != failed[0]["external_ref"]]]
    )
    assert f"B-{order_id}r2-{failed[0]['external_ref'].rsplit('-', 1)[1]}" in refs and len(refs) == 3
    with engine.connect() as conn:
        done = incidents.load(conn, incident_id)
    assert done is not None and done.state == "resolved" and done.resolution is not None
    assert done.resolution["replacement"].startswith(f"B-{order_id}r2-")


def test_ship_rest_removes_the_failed_line_in_the_shop_and_ships_the_others_once(
    engine: Engine, sides: Sides
) -> None:
    order_id, incident_id = picking_error_incident(
        engine, sides
    )  # HOODIE failed; TEE is a picking order of its own
    before = {o["external_ref"]: o["status"] for o in sides.wms_orders()}
    ops.resolve(engine, incident_id, "ship_rest", actor="ops:anna", clock=CLOCK)
    assert carry_out(engine, sides.client, sides.orders, incident_id, clock=CLOCK) == "done"
    assert carry_out(engine, sides.client, sides.orders, incident_id, clock=CLOCK) == "nothing"
    with engine.connect() as conn:
        links = stock_store.load_links(conn, "default")
    lines = sides.shop.control.entities("basketItems", orderId=order_id)
    assert [int(line["productId"]) for line in lines] == [links[TEE].product_id]  # the failed line is gone
    report = forward_order(engine, sides.client, sides.orders, sides.forward_options(), order_id, clock=CLOCK)
    assert report.outcome == "unchanged", report  # the removal is not an edit to re-plan
    after = {o["external_ref"]: o["status"] for o in sides.wms_orders()}
    assert after.keys() == before.keys()  # nothing new sent
    assert sorted(after.values()) == sorted(
        ["CANCELLED", before[next(r for r, s in before.items() if s != "PICKING_ERROR")]]
    )
    with engine.connect() as conn:
        done = incidents.load(conn, incident_id)
    assert done is not None and done.state == "resolved" and done.resolution is not None
    assert done.resolution["removed"] == [HOODIE] and done.resolution["replacement"] is None


def test_ship_rest_is_refused_when_nothing_would_be_left(engine: Engine, sides: Sides) -> None:
    with engine.connect() as conn:
        links = stock_store.load_links(conn, "default")
    order_id = int(
        sides.shop.control.place_order(
            lines=[{"productId": links[HOODIE].product_id, "quantity": 1}],
            shipments=[{"deliveryId": 2, "lines": [0]}],
        )["id"]
    )
    forward_order(engine, sides.client, sides.orders, sides.forward_options(), order_id, clock=CLOCK)
    fail_picking(sides, HOODIE)
    read_changes(engine, sides.client, clock=CLOCK)
    with engine.connect() as conn:
        [incident] = incidents.listed(conn, "default")
    ops.resolve(engine, incident.id, "ship_rest", actor="ops:anna", clock=CLOCK)
    assert carry_out(engine, sides.client, sides.orders, incident.id, clock=CLOCK) == "refused"
    with engine.connect() as conn:
        again = incidents.load(conn, incident.id)
        why = [e.detail.get("why") for e in incidents.trail(conn, incident.id) if e.action == "failed"]
    assert (
        again is not None
        and again.state == "open"
        and why == ["nothing would be left to ship: choose cancel"]
    )
    assert len(sides.shop.control.entities("basketItems", orderId=order_id)) == 1  # nothing removed


@pytest.mark.parametrize("fault", [{"overload": True}, {"error_500_rate": 1.0}], ids=["503-burst", "500s"])
def test_the_manager_is_told_once_through_shop_503_bursts_and_500s(
    engine: Engine, sides: Sides, fault: dict[str, Any]
) -> None:
    _, incident_id = picking_error_incident(engine, sides)
    impatient = BitrixSettings(
        **{
            **sides.gateway.settings.model_dump(),
            "max_attempts": 2,
            "backoff_base": 0.01,
            "backoff_cap": 0.02,
        }
    )
    with BitrixGateway(impatient) as gateway:
        channel = BitrixManagerChannel(gateway)
        sides.shop.control.faults(**fault)
        try:
            for _ in range(3):  # the job's attempts while the shop is down
                with pytest.raises(IntegrationError):
                    tell_manager(engine, channel, incident_id, clock=CLOCK, language="en")
        finally:
            sides.shop.control.faults(overload=False, error_500_rate=0.0)
        for _ in range(2):  # the shop is back: the next attempt tells, the one after finds it told
            tell_manager(engine, channel, incident_id, clock=CLOCK, language="en")
    assert len(told_in_shop(sides, incident_id)) == 1
    with engine.connect() as conn:
        told = incidents.load(conn, incident_id)
    assert told is not None and told.notice_state == "told"


def test_a_picking_error_of_an_order_the_shop_cancels_needs_no_way_out_and_sends_nothing(
    engine: Engine, sides: Sides
) -> None:
    order_id, incident_id = picking_error_incident(engine, sides)
    ops.resolve(
        engine, incident_id, "retry_when_stock", actor="ops:anna", clock=CLOCK
    )  # chosen, not carried out yet
    sides.gateway.transport.call("sale.order.update", {"id": order_id, "fields": {"canceled": "Y"}})
    assert carry_out(engine, sides.client, sides.orders, incident_id, clock=CLOCK) == "refused"
    report = forward_order(engine, sides.client, sides.orders, sides.forward_options(), order_id, clock=CLOCK)
    assert report.outcome == "cancelled", report
    assert {o["status"] for o in sides.wms_orders()} == {"CANCELLED"} and len(
        sides.wms_orders()
    ) == 2  # nothing new
    with engine.connect() as conn:
        again = incidents.load(conn, incident_id)
        why = [e.detail.get("why") for e in incidents.trail(conn, incident_id) if e.action == "failed"]
    assert why == ["the order is cancelled: there is nothing to send again"]
    assert again is not None and again.state == "resolved"  # the cancellation settled it


def test_an_open_picking_error_is_settled_when_the_shop_cancels_the_order(
    engine: Engine, sides: Sides
) -> None:
    order_id, incident_id = picking_error_incident(engine, sides)
    sides.gateway.transport.call("sale.order.update", {"id": order_id, "fields": {"canceled": "Y"}})
    forward_order(engine, sides.client, sides.orders, sides.forward_options(), order_id, clock=CLOCK)
    with engine.connect() as conn:
        settled = incidents.load(conn, incident_id)
    assert settled is not None and settled.state == "resolved"
    assert settled.resolution == {"by": "service", "why": "the order was cancelled"}


def _failed_zone(engine: Engine, incident_id: int) -> tuple[str, int]:
    with engine.connect() as conn:
        incident = incidents.load(conn, incident_id)
        assert incident is not None
        parts = order_store.parts_of(conn, "default", incident.order_id)
    part = next(p for p in parts if p.external_ref == incident.subject)
    return part.zone, sum(ln.qty for ln in part.lines if ln.sku == HOODIE)


def _a_substitute(engine: Engine, sides: Sides, zone: str, *, units: int) -> str:
    """A linked SKU (not the order's) with ``units`` free in ``zone`` (0: with none free there)."""
    with engine.connect() as conn:
        links = stock_store.load_links(conn, "default")
    for sku in sorted(set(links) - {HOODIE, TEE}):
        there = sum(
            row.qty_on_hand - row.qty_reserved - row.qty_in_picking
            for row in sides.client.iter_bin_stock(warehouse="MAIN", sku=sku)
            if row.zone == zone
        )
        if (there >= units > 0) or (units == 0 and there == 0):
            return sku
    raise AssertionError(f"no SKU with {units or 'no'} free units in zone {zone}")


class _Dies:
    """The shop's side of the orders flow, killed once right after one of its writes landed (the worker died
    before it heard the answer)."""

    def __init__(self, inner: BitrixOrdersShop, after: str) -> None:
        self.inner, self.after, self.died = inner, after, False

    def __getattr__(self, name: str) -> Any:
        found = getattr(self.inner, name)
        if name != self.after or self.died:
            return found

        def then_die(*args: Any, **kwargs: Any) -> Any:
            found(*args, **kwargs)
            self.died = True
            raise IntegrationError(f"killed after {name}")

        return then_die


def _reserved(sides: Sides, links: dict[str, Any], *skus: str) -> dict[str, float]:
    return {
        sku: float(sides.shop.control.entity("products", links[sku].product_id)["quantityReserved"])
        for sku in skus
    }


@pytest.mark.parametrize("killed_after", ["add_line", "put_in_shipment", "remove_line"])
def test_substitute_replaces_the_failed_line_in_the_shop_and_sends_it_in_a_new_picking_order_once(
    engine: Engine, sides: Sides, killed_after: str
) -> None:
    """Killed after each of its shop writes, with the poll's forwarding run between the kill and the retry: the
    half-changed order is not taken for an edit, and the retry ends the change once."""
    order_id, incident_id = picking_error_incident(engine, sides)
    httpx.put(sides.warehouse.base_url + "/_sandbox/faults", json={"picking_error_skus": []}, timeout=30)
    zone, units = _failed_zone(engine, incident_id)
    other = _a_substitute(engine, sides, zone, units=units)
    with engine.connect() as conn:
        links = stock_store.load_links(conn, "default")
    [hoodie_line] = [
        i
        for i in sides.shop.control.entities("basketItems", orderId=order_id)
        if int(i["productId"]) == links[HOODIE].product_id
    ]
    [hoodie_shipment] = {
        s["orderDeliveryId"] for s in sides.shop.control.entities("shipmentItems", basketId=hoodie_line["id"])
    }
    reserved = _reserved(sides, links, HOODIE, other)
    chosen = ops.resolve(engine, incident_id, "substitute", actor="ops:anna", clock=CLOCK, sku=other)
    assert chosen.state == "resolving" and chosen.resolution is not None and chosen.resolution["sku"] == other
    dies = _Dies(sides.orders, killed_after)
    with pytest.raises(IntegrationError, match=f"killed after {killed_after}"):
        carry_out(engine, sides.client, dies, incident_id, clock=CLOCK)  # type: ignore[arg-type]
    options = sides.forward_options()
    meanwhile = forward_order(engine, sides.client, sides.orders, options, order_id, clock=CLOCK)
    assert meanwhile.outcome == "waiting" and f"incident {incident_id}" in meanwhile.reasons[0]
    assert len(sides.wms_orders()) == 2  # nothing sent while the way out is half done
    assert carry_out(engine, sides.client, sides.orders, incident_id, clock=CLOCK) == "done"
    assert carry_out(engine, sides.client, sides.orders, incident_id, clock=CLOCK) == "nothing"

    lines = sides.shop.control.entities("basketItems", orderId=order_id)
    assert sorted(int(i["productId"]) for i in lines) == sorted(
        [links[TEE].product_id, links[other].product_id]
    )  # the hoodie's line replaced, once, though the first run died in the middle
    [new_line] = [i for i in lines if int(i["productId"]) == links[other].product_id]
    assert float(new_line["quantity"]) == units
    placed = sides.shop.control.entities("shipmentItems", basketId=new_line["id"])
    assert [p["orderDeliveryId"] for p in placed] == [hoodie_shipment]
    # The failed line's reservation is released; the docs' sale.shipmentitem.add reserves nothing.
    assert _reserved(sides, links, HOODIE, other) == {
        HOODIE: reserved[HOODIE] - units,
        other: reserved[other],
    }

    assert (
        forward_order(engine, sides.client, sides.orders, options, order_id, clock=CLOCK).outcome
        == "forwarded"
    )
    assert (
        forward_order(engine, sides.client, sides.orders, options, order_id, clock=CLOCK).outcome
        == "unchanged"
    )
    in_warehouse = sides.wms_orders()
    assert len(in_warehouse) == 3 and sum(o["status"] == "CANCELLED" for o in in_warehouse) == 1
    with engine.connect() as conn:
        done = incidents.load(conn, incident_id)
        binding = order_store.load_binding(conn, "default", order_id)
    assert done is not None and done.state == "resolved" and done.resolution is not None
    assert done.resolution["replaced"] == {HOODIE: other}
    [replacement] = [o for o in in_warehouse if o["external_ref"] == done.resolution["replacement"]]
    assert {ln["sku"] for ln in replacement["lines"]} == {other} and replacement["status"] != "CANCELLED"
    assert binding is not None and binding.fingerprint == fingerprint_of(sides.orders.order(order_id))


def test_a_substitute_the_shop_refuses_goes_back_to_a_person_and_cancel_still_works(
    engine: Engine, sides: Sides
) -> None:
    """An inactive product cannot be added: the incident is open again with the shop's reason, the warehouse's
    cancel on record, and the next way out (cancel) carries on from there."""
    order_id, incident_id = picking_error_incident(engine, sides)
    zone, units = _failed_zone(engine, incident_id)
    other = _a_substitute(engine, sides, zone, units=units)
    with engine.connect() as conn:
        product_id = stock_store.load_links(conn, "default")[other].product_id
    sides.admin(_product_update(sides, product_id), {"id": product_id, "fields": {"active": "N"}})
    ops.resolve(engine, incident_id, "substitute", actor="ops:anna", clock=CLOCK, sku=other)
    assert carry_out(engine, sides.client, sides.orders, incident_id, clock=CLOCK) == "refused"
    with engine.connect() as conn:
        again = incidents.load(conn, incident_id)
        [failed] = [e for e in incidents.trail(conn, incident_id) if e.action == "failed"]
    assert again is not None and again.state == "open" and "the shop refused" in str(failed.detail["why"])
    assert again.resolution == {"failed_cancelled": True}
    assert len(sides.shop.control.entities("basketItems", orderId=order_id)) == 2  # nothing added or removed
    ops.resolve(engine, incident_id, "cancel", actor="ops:anna", clock=CLOCK)
    assert carry_out(engine, sides.client, sides.orders, incident_id, clock=CLOCK) == "done"
    assert sides.shop.control.entity("orders", order_id)["canceled"] == "Y"


class _RefusesRemoval:
    """The shop's side of the orders flow, whose shop refuses to remove one basket line (a shipped shipment's)."""

    def __init__(self, inner: BitrixOrdersShop, basket_id: int) -> None:
        self.inner, self.basket_id = inner, basket_id

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def remove_line(self, basket_id: int) -> bool:
        if basket_id == self.basket_id:
            raise ValidationError("sale.basketitem.delete", "The basket item is in a shipped shipment")
        return self.inner.remove_line(basket_id)


def _line_of(engine: Engine, sides: Sides, order_id: int, sku: str) -> int:
    with engine.connect() as conn:
        product_id = stock_store.load_links(conn, "default")[sku].product_id
    [line] = [
        int(i["id"])
        for i in sides.shop.control.entities("basketItems", orderId=order_id)
        if int(i["productId"]) == product_id
    ]
    return line


def test_a_substitute_refused_half_way_takes_its_added_line_back_and_nothing_is_re_planned(
    engine: Engine, sides: Sides
) -> None:
    order_id, incident_id = picking_error_incident(engine, sides)
    zone, units = _failed_zone(engine, incident_id)
    other = _a_substitute(engine, sides, zone, units=units)
    lines_before = sorted(int(i["id"]) for i in sides.shop.control.entities("basketItems", orderId=order_id))
    refusing = _RefusesRemoval(sides.orders, _line_of(engine, sides, order_id, HOODIE))
    ops.resolve(engine, incident_id, "substitute", actor="ops:anna", clock=CLOCK, sku=other)
    assert carry_out(engine, sides.client, refusing, incident_id, clock=CLOCK) == "refused"  # type: ignore[arg-type]
    lines_after = sorted(int(i["id"]) for i in sides.shop.control.entities("basketItems", orderId=order_id))
    assert lines_after == lines_before  # the added line went back out
    with engine.connect() as conn:
        again = incidents.load(conn, incident_id)
    assert again is not None and again.state == "open"
    before = sides.wms_orders()
    report = forward_order(engine, sides.client, sides.orders, sides.forward_options(), order_id, clock=CLOCK)
    assert report.outcome == "unchanged", report  # the order's lines are what they were: no edit to re-plan
    assert sides.wms_orders() == before


def test_after_a_refused_ship_rest_a_substitute_still_replaces_the_picking_order_once(
    engine: Engine, sides: Sides
) -> None:
    order_id, incident_id = picking_error_incident(engine, sides)
    httpx.put(sides.warehouse.base_url + "/_sandbox/faults", json={"picking_error_skus": []}, timeout=30)
    refusing = _RefusesRemoval(sides.orders, _line_of(engine, sides, order_id, HOODIE))
    ops.resolve(engine, incident_id, "ship_rest", actor="ops:anna", clock=CLOCK)
    assert carry_out(engine, sides.client, refusing, incident_id, clock=CLOCK) == "refused"  # type: ignore[arg-type]
    with engine.connect() as conn:
        parts = order_store.parts_of(conn, "default", order_id)
        again = incidents.load(conn, incident_id)
    assert again is not None and again.resolution == {"failed_cancelled": True}
    assert not [p for p in parts if p.generation > 1]  # no replacement left behind by the refused way out
    zone, units = _failed_zone(engine, incident_id)
    other = _a_substitute(engine, sides, zone, units=units)
    ops.resolve(engine, incident_id, "substitute", actor="ops:anna", clock=CLOCK, sku=other)
    assert carry_out(engine, sides.client, sides.orders, incident_id, clock=CLOCK) == "done"
    options = sides.forward_options()
    assert (
        forward_order(engine, sides.client, sides.orders, options, order_id, clock=CLOCK).outcome
        == "forwarded"
    )
    live = [o for o in sides.wms_orders() if o["status"] != "CANCELLED"]
    assert len(live) == 2 and any({ln["sku"] for ln in o["lines"]} == {other} for o in live)


def _product_update(sides: Sides, product_id: int) -> str:
    product = sides.shop.control.entity("products", product_id)
    return "catalog.product.offer.update" if product.get("parentId") else "catalog.product.update"


def test_substitute_is_refused_before_anything_changes_when_the_sku_is_not_in_the_zone(
    engine: Engine, sides: Sides
) -> None:
    order_id, incident_id = picking_error_incident(engine, sides)
    zone, _ = _failed_zone(engine, incident_id)
    if not zone:
        pytest.skip("the picking order has no zone: the warehouse picks where it can")
    other = _a_substitute(engine, sides, zone, units=0)
    before = sides.wms_orders()
    ops.resolve(engine, incident_id, "substitute", actor="ops:anna", clock=CLOCK, sku=other)
    assert carry_out(engine, sides.client, sides.orders, incident_id, clock=CLOCK) == "refused"
    with engine.connect() as conn:
        again = incidents.load(conn, incident_id)
        [failed] = [e for e in incidents.trail(conn, incident_id) if e.action == "failed"]
    assert again is not None and again.state == "open"
    assert f"SKU {other} has 0 free units in zone {zone}" in str(failed.detail["why"])
    assert sides.wms_orders() == before  # the failed picking order is not cancelled
    assert len(sides.shop.control.entities("basketItems", orderId=order_id)) == 2


@pytest.mark.parametrize(
    ("way_out", "sku", "said"),
    [
        ("substitute", None, "substitute needs the SKU"),
        ("substitute", "NO-SUCH-SKU", "'NO-SUCH-SKU' is not linked to any product of the shop"),
        ("substitute", HOODIE, "is the SKU that failed"),
        ("ship_rest", TEE, "'ship_rest' takes no SKU"),
    ],
)
def test_a_bad_substitute_sku_is_refused_naming_the_field_and_changes_nothing(
    engine: Engine, sides: Sides, way_out: str, sku: str | None, said: str
) -> None:
    _, incident_id = picking_error_incident(engine, sides)
    with pytest.raises(ValidationError) as refused:
        ops.resolve(engine, incident_id, way_out, actor="ops:anna", clock=CLOCK, sku=sku)
    assert refused.value.field == "sku" and said in str(refused.value)
    with engine.connect() as conn:
        still = incidents.load(conn, incident_id)
        trail = incidents.trail(conn, incident_id)
    assert still is not None and still.state == "open" and not [e for e in trail if e.action == "chose"]
