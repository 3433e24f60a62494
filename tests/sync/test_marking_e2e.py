"""Labelled goods end to end over HTTP: the sandbox warehouse scans a code per marked unit at packing, the service
checks them, keeps them in the ledger and writes them to the shop's shipment lines (the companion module) before the
shipment is deducted, and the receipt the sandbox's cashbox prints at deduction carries exactly the shipped codes.
Codes missing, repeated or sold before hold the shipment with an incident; a run killed half way repeats nothing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from bitrix_inflow.config.settings import MarkingSettings
from bitrix_inflow.domain.incidents import Kind
from bitrix_inflow.domain.marking import DEFAULT_GROUP_NAMES
from bitrix_inflow.store import incidents as incident_store
from bitrix_inflow.store import marking as ledger
from bitrix_inflow.store import orders as order_store
from bitrix_inflow.store import stock as stock_store
from bitrix_inflow.store.tables import jobs, order_parts
from bitrix_inflow.sync.incidents.release import RELEASE_KIND, release_reservations
from bitrix_inflow.sync.marking.bitrix_shop import marking_shop
from bitrix_inflow.sync.marking.given import held_by_shop
from bitrix_inflow.sync.marking.returns import RETURNED_KIND, mark_returned, read_returns
from bitrix_inflow.sync.marking.shop import CodesRefused
from bitrix_inflow.sync.orders.forward import forward_order
from bitrix_inflow.sync.orders.statuses import ApplyReport, apply_statuses, read_changes
from bitrix_inflow.sync.stock import jobs as stock_jobs
from bitrix_inflow.timing import SystemClock

from .conftest import Sides, running_sides

CLOCK = SystemClock()
# Zones A (textile), B (shoes), P (not marked), P (textile): a mixed order over three picking orders.
HOODIE, SNEAKER, CAP, TEE = "SB-HOODIE-URBAN-M", "SB-SNEAKER-RUN-41", "SB-CAP-BLACK", "SB-TEE-CLASSIC-S"
GS = "\x1d"


@pytest.fixture
def sides(engine: Engine) -> Iterator[Sides]:
    with running_sides(engine, "site") as both:
        yield both


def stock_store_links(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {sku: link.product_id for sku, link in stock_store.load_links(conn, "default").items()}


def place(sides: Sides, engine: Engine, lines: list[tuple[str, int]]) -> int:
    with engine.connect() as conn:
        links = stock_store.load_links(conn, "default")
    body = [{"productId": links[sku].product_id, "quantity": qty} for sku, qty in lines]
    return int(
        sides.shop.control.place_order(
            lines=body, shipments=[{"deliveryId": 2, "lines": list(range(len(lines)))}]
        )["id"]
    )


def ship(sides: Sides, engine: Engine, lines: list[tuple[str, int]]) -> int:
    """An order placed, forwarded and taken by the warehouse to SHIPPED."""
    order_id = place(sides, engine, lines)
    forwarded = forward_order(
        engine, sides.client, sides.orders, sides.forward_options(), order_id, clock=CLOCK
    )
    assert forwarded.outcome == "forwarded"
    for picking in sides.wms_orders():
        if picking["status"] not in ("SHIPPED", "DELIVERED", "CANCELLED"):
            url = f"{sides.warehouse.base_url}/_sandbox/orders/{picking['id']}/advance"
            httpx.post(url, json={"to": "SHIPPED"}, timeout=30).raise_for_status()
    return order_id


def follow(
    engine: Engine, sides: Sides, order_id: int, marking: Any = None, *, reapply: bool = False
) -> ApplyReport:
    read_changes(engine, sides.client, clock=CLOCK)
    options = sides.forward_options()
    return apply_statuses(
        engine,
        sides.orders,
        options.mapping,
        order_id,
        forwarded_from=options.rules.statuses,
        clock=CLOCK,
        marking=marking or sides.marking,
        reapply=reapply,
    )


def warehouse_codes(sides: Sides, order_id: int) -> dict[str, list[str]]:
    """SKU → the codes the warehouse scanned for the order's lines."""
    codes: dict[str, list[str]] = {}
    for picking in sides.wms_orders():
        if picking["customer_order_ref"] == str(order_id) or picking["external_ref"].startswith(
            f"B-{order_id}-"
        ):
            for line in picking["lines"]:
                codes.setdefault(line["sku"], []).extend(line["marking_codes"])
    return codes


def receipt_codes(sides: Sides, order_id: int) -> list[str]:
    receipts = sides.shop.control.entities("receipts", orderId=order_id)
    assert receipts, "no receipt: the shipment was never deducted"
    return [
        item["marking_code"]
        for r in receipts
        for item in r["items"]
        if item["payment_object"] == "commodity_marking"
    ]


def deducted(sides: Sides, order_id: int) -> set[str]:
    return {
        s["deducted"]
        for s in sides.shop.control.entities("shipments", orderId=order_id)
        if s["system"] != "Y"
    }


def marking_incidents(engine: Engine, order_id: int) -> list[incident_store.Incident]:
    with engine.connect() as conn:
        return [i for i in incident_store.of_order(conn, "default", order_id) if i.kind == Kind.MARKING]


def test_a_mixed_order_ships_with_exactly_its_codes_on_the_receipt(engine: Engine, sides: Sides) -> None:
    order_id = ship(sides, engine, [(HOODIE, 2), (SNEAKER, 3), (CAP, 1), (TEE, 1)])
    report = follow(engine, sides, order_id)
    assert report.held == set()
    assert deducted(sides, order_id) == {"Y"}
    scanned = warehouse_codes(sides, order_id)
    assert len(scanned[SNEAKER]) == 3 and len(scanned[HOODIE]) == 2 and scanned[CAP] == []
    every = sorted(scanned[HOODIE] + scanned[SNEAKER] + scanned[TEE])
    assert sorted(receipt_codes(sides, order_id)) == every
    (receipt,) = sides.shop.control.entities("receipts", orderId=order_id)
    assert receipt["valid"] is True
    assert all(GS in code for code in every), "codes reach the receipt with their GS separators"

    with engine.connect() as conn:
        units = ledger.listed(conn, "default", order_id=order_id)
    assert sorted(u.code for u in units) == every
    assert {u.state for u in units} == {"shipped"}
    assert all(u.sscc and u.shipment_id and u.basket_id for u in units)
    assert marking_incidents(engine, order_id) == []

    # The feed read again and the apply run again: nothing new in the ledger, the shop or the receipts.
    follow(engine, sides, order_id)
    with engine.connect() as conn:
        assert len(ledger.listed(conn, "default", order_id=order_id)) == len(every)
    assert len(sides.shop.control.entities("receipts", orderId=order_id)) == 1


@pytest.mark.parametrize(
    ("fault", "kind"),
    [("marking_missing_skus", "missing"), ("marking_repeat_skus", "duplicate")],
)
def test_missing_or_repeated_codes_hold_the_shipment_with_an_incident(
    engine: Engine, sides: Sides, fault: str, kind: str
) -> None:
    httpx.put(sides.warehouse.base_url + "/_sandbox/faults", json={fault: [SNEAKER]}).raise_for_status()
    order_id = ship(sides, engine, [(SNEAKER, 3), (CAP, 1)])
    report = follow(engine, sides, order_id)
    assert report.held, "the shipment is held"
    assert deducted(sides, order_id) == {"N"}
    assert sides.shop.control.entities("receipts", orderId=order_id) == []
    (incident,) = marking_incidents(engine, order_id)
    assert incident.state == "open"
    assert kind in {p["kind"] for p in incident.detail["problems"]}
    assert incident.detail["sku"] == SNEAKER
    with engine.connect() as conn:
        assert ledger.listed(conn, "default", order_id=order_id) == [], "nothing of a bad line is recorded"
    # Asked again (a retry, the next feed page): the same single incident, still held.
    follow(engine, sides, order_id)
    assert len(marking_incidents(engine, order_id)) == 1
    assert deducted(sides, order_id) == {"N"}


def test_a_code_sold_on_an_earlier_order_holds_the_shipment(engine: Engine, sides: Sides) -> None:
    first = ship(sides, engine, [(SNEAKER, 2)])
    follow(engine, sides, first)
    assert deducted(sides, first) == {"Y"}
    httpx.put(
        sides.warehouse.base_url + "/_sandbox/faults", json={"marking_reuse_skus": [SNEAKER]}
    ).raise_for_status()
    second = ship(sides, engine, [(SNEAKER, 2)])
    follow(engine, sides, second)
    assert deducted(sides, second) == {"N"}
    (incident,) = marking_incidents(engine, second)
    (sold,) = [p for p in incident.detail["problems"] if p["kind"] == "sold"]
    assert f"order {first}" in sold["detail"]
    with engine.connect() as conn:
        assert ledger.listed(conn, "default", order_id=second) == []
        assert len(ledger.listed(conn, "default", order_id=first)) == 2
    # The unit comes back on the first order (a return): a cause on the shop's side, checked again on the next run,
    # which now ships the second order and settles its incident.
    with engine.begin() as conn:
        reused = next(u for u in ledger.listed(conn, "default", order_id=first) if u.code == sold["code"])
        ledger.move(conn, "default", [reused.identity], state="returned", now=CLOCK.now(), order_id=first)
    follow(engine, sides, second)
    assert deducted(sides, second) == {"Y"}
    (settled,) = marking_incidents(engine, second)
    assert settled.state == "resolved"


def test_a_run_killed_after_the_ledger_and_before_the_shop_writes_each_code_once(
    engine: Engine, sides: Sides
) -> None:
    order_id = ship(sides, engine, [(SNEAKER, 2), (HOODIE, 1)])

    class Killed(Exception):
        pass

    class DiesOnWrite:
        def __init__(self, real: Any) -> None:
            self.real = real

        def __getattr__(self, name: str) -> Any:
            return getattr(self.real, name)

        def write(self, shipment_id: int, basket_id: int, codes: Any) -> bool:
            raise Killed

    with pytest.raises(Killed):
        follow(engine, sides, order_id, marking=DiesOnWrite(sides.marking))
    with engine.connect() as conn:
        states = {row.marking_state for row in conn.execute(select(order_parts.c.marking_state))}
        assert states == {"checked"}
        recorded = len(ledger.listed(conn, "default", order_id=order_id))
    assert recorded == 3
    assert deducted(sides, order_id) == {"N"}, "not deducted before the codes are in the shop"

    follow(engine, sides, order_id)
    assert deducted(sides, order_id) == {"Y"}
    scanned = warehouse_codes(sides, order_id)
    assert sorted(receipt_codes(sides, order_id)) == sorted(scanned[SNEAKER] + scanned[HOODIE])
    with engine.connect() as conn:
        assert len(ledger.listed(conn, "default", order_id=order_id)) == recorded
        parts = order_store.parts_of(conn, "default", order_id)
    assert {p.marking_state for p in parts} == {"written"}


def test_a_shop_without_the_companion_module_holds_marked_shipments_and_says_why(engine: Engine) -> None:
    with running_sides(engine, "bitrix24") as cloud:
        order_id = ship(cloud, engine, [(SNEAKER, 1), (CAP, 1)])
        report = follow(engine, cloud, order_id)
        assert report.held
        assert deducted(cloud, order_id) == {"N"}
        (incident,) = marking_incidents(engine, order_id)
        assert "companion module" in incident.detail["why"]


def test_the_refusal_of_the_shop_to_take_codes_is_an_incident_not_a_retry_loop(
    engine: Engine, sides: Sides
) -> None:
    order_id = ship(sides, engine, [(SNEAKER, 1)])

    class Refuses:
        def __init__(self, real: Any) -> None:
            self.real = real
            self.writes = 0

        def __getattr__(self, name: str) -> Any:
            return getattr(self.real, name)

        def write(self, shipment_id: int, basket_id: int, codes: Any) -> bool:
            self.writes += 1
            raise CodesRefused("the shipment is deducted already: its codes can no longer change")

    refusing = Refuses(sides.marking)
    follow(engine, sides, order_id, marking=refusing)
    follow(engine, sides, order_id, marking=refusing)
    assert refusing.writes == 1
    (incident,) = marking_incidents(engine, order_id)
    assert "deducted already" in incident.detail["why"]
    assert deducted(sides, order_id) == {"N"}


def test_codes_the_shop_holds_travel_with_the_picking_order_and_come_back_on_the_receipt(
    engine: Engine, sides: Sides
) -> None:
    """A manager scanned two of three sneakers' codes in the shop before the order went: the warehouse uses them for
    the first units and scans the third; a code the shop holds that is not a valid code stays in the shop."""
    order_id = place(sides, engine, [(SNEAKER, 4), (CAP, 1)])
    order = sides.shop.control.entity("orders", order_id)
    # Another size's code (GTIN of SB-SNEAKER-RUN-42): a valid code, but not of this product.
    foreign = f"0104620070000050215ShopScan0003{GS}91EE06{GS}92" + "B" * 88
    shipment = next(s for s in order["shipments"] if s["system"] != "Y")
    sneaker = next(b for b in order["basketItems"] if b["productXmlId"] == SNEAKER)
    gtin = "04620070000043"
    held = [f"01{gtin}21{serial}{GS}91EE06{GS}92" + "B" * 88 for serial in ("5ShopScan0001", "5ShopScan0002")]
    sides.admin(
        "bitrixinflow.marking.set",
        {
            "shipmentId": shipment["id"],
            "basketId": int(sneaker["id"]),
            "codes": [*held, f"01{gtin}21TOOSHORT", foreign],
        },
    )
    options = replace(
        sides.forward_options(),
        shop_codes=lambda oid: held_by_shop(sides.marking, oid, group_names=DEFAULT_GROUP_NAMES),
    )
    assert (
        forward_order(engine, sides.client, sides.orders, options, order_id, clock=CLOCK).outcome
        == "forwarded"
    )
    (picking,) = [p for p in sides.wms_orders() if any(ln["sku"] == SNEAKER for ln in p["lines"])]
    url = f"{sides.warehouse.base_url}/_sandbox/orders/{picking['id']}/advance"
    httpx.post(url, json={"to": "SHIPPED"}, timeout=30).raise_for_status()
    for other in sides.wms_orders():
        if other["id"] != picking["id"]:
            advance = f"{sides.warehouse.base_url}/_sandbox/orders/{other['id']}/advance"
            httpx.post(advance, json={"to": "SHIPPED"}, timeout=30).raise_for_status()
    follow(engine, sides, order_id)
    scanned = warehouse_codes(sides, order_id)[SNEAKER]
    assert scanned[:2] == held and len(scanned) == 4 and foreign not in scanned
    assert sorted(receipt_codes(sides, order_id)) == sorted(scanned)


def test_a_shop_code_the_warehouse_refuses_does_not_hold_the_order(engine: Engine, sides: Sides) -> None:
    """The manager typed a code the warehouse has seen on another order: the picking order goes without the shop's
    codes (the warehouse scans its own at packing), not blocked."""
    first = ship(sides, engine, [(SNEAKER, 1)])
    (used,) = warehouse_codes(sides, first)[SNEAKER]
    order_id = place(sides, engine, [(SNEAKER, 1)])
    order = sides.shop.control.entity("orders", order_id)
    shipment = next(s for s in order["shipments"] if s["system"] != "Y")
    sneaker = next(b for b in order["basketItems"] if b["productXmlId"] == SNEAKER)
    sides.admin(
        "bitrixinflow.marking.set",
        {"shipmentId": shipment["id"], "basketId": int(sneaker["id"]), "codes": [used]},
    )
    options = replace(
        sides.forward_options(),
        shop_codes=lambda oid: held_by_shop(sides.marking, oid, group_names=DEFAULT_GROUP_NAMES),
    )
    report = forward_order(engine, sides.client, sides.orders, options, order_id, clock=CLOCK)
    assert report.outcome == "forwarded", report.reasons
    (picking,) = [p for p in sides.wms_orders() if p["customer_order_ref"] == order["accountNumber"]]
    url = f"{sides.warehouse.base_url}/_sandbox/orders/{picking['id']}/advance"
    httpx.post(url, json={"to": "SHIPPED"}, timeout=30).raise_for_status()
    (scanned,) = warehouse_codes(sides, order_id)[SNEAKER]
    assert scanned != used


def test_a_return_puts_its_codes_in_state_returned_tells_the_manager_and_restocks(
    engine: Engine, sides: Sides
) -> None:
    order_id = ship(sides, engine, [(SNEAKER, 3), (CAP, 1)])
    follow(engine, sides, order_id)
    assert deducted(sides, order_id) == {"Y"}
    (picking,) = [p for p in sides.wms_orders() if any(ln["sku"] == SNEAKER for ln in p["lines"])]
    sneaker_line = next(ln for ln in picking["lines"] if ln["sku"] == SNEAKER)
    back = sneaker_line["marking_codes"][:2]
    available_before = httpx.get(f"{sides.warehouse.base_url}/_sandbox/stock/MAIN/{SNEAKER}").json()[
        "qty_available"
    ]
    body = {
        "lines": [
            {
                "line_no": sneaker_line["line_no"],
                "qty": 1,
                "disposition": "restock",
                "marking_codes": back[:1],
            },
            {
                "line_no": sneaker_line["line_no"],
                "qty": 1,
                "disposition": "quarantine",
                "marking_codes": back[1:],
            },
        ]
    }
    url = f"{sides.warehouse.base_url}/_sandbox/orders/{picking['id']}/return"
    httpx.post(url, json=body, timeout=30).raise_for_status()

    report = read_returns(engine, sides.client, clock=CLOCK)
    assert report.units_returned == 2 and len(report.taken) == 1
    again = read_returns(engine, sides.client, clock=CLOCK)  # the feed read again: the return is taken once
    assert again.taken == [] and again.units_returned == 0
    with engine.connect() as conn:
        units = {u.code: u.state for u in ledger.listed(conn, "default", order_id=order_id)}
        (told,) = [
            i for i in incident_store.of_order(conn, "default", order_id) if i.kind == Kind.RETURN_RECEIVED
        ]
        queued = conn.execute(select(jobs.c.kind, jobs.c.payload).where(jobs.c.kind.like("%return%"))).all()
        hinted = conn.execute(select(jobs.c.kind).where(jobs.c.kind == stock_jobs.SYNC_KIND)).all()
    assert sorted(code for code, state in units.items() if state == "returned") == sorted(back)
    assert list(units.values()).count("shipped") == 1
    assert told.detail["returned_units"] == 2 and told.notice_state == "pending"
    assert queued == [(RETURNED_KIND, {"order_id": order_id})]
    assert hinted, "the restocked SKU's stock is read again at once"
    available_after = httpx.get(f"{sides.warehouse.base_url}/_sandbox/stock/MAIN/{SNEAKER}").json()[
        "qty_available"
    ]
    assert available_after == available_before + 1  # restocked: sellable; quarantined: not

    sides.shop.control.add_status("R", "Returned")
    outcome = mark_returned(
        engine, sides.orders, sides.forward_options().mapping, order_id, status="R", clock=CLOCK
    )
    assert outcome == "changed"
    assert sides.shop.control.entity("orders", order_id)["statusId"] == "R"
    # A later apply of the warehouse's step (a reconciliation re-apply) leaves the return's status, and opens nothing.
    options = sides.forward_options()
    reapplied = apply_statuses(
        engine,
        sides.orders,
        options.mapping,
        order_id,
        forwarded_from={"N"},
        clock=CLOCK,
        reapply=True,
        marking=sides.marking,
    )
    assert reapplied.written is None and "came back" in reapplied.why
    assert sides.shop.control.entity("orders", order_id)["statusId"] == "R"
    with engine.connect() as conn:
        assert not [
            i for i in incident_store.of_order(conn, "default", order_id) if i.kind == Kind.STATUS_REFUSED
        ]

    # A returned unit may be sold again: shipped on a new order, it is recorded, not refused as sold before.
    with engine.begin() as conn:
        recorded = ledger.record_shipped(
            conn,
            "default",
            [
                ledger.Unit(
                    identity=back[0].split(GS)[0],
                    code=back[0],
                    gtin=back[0][2:16],
                    bitrix_order_id=999,
                    picking_ref="B-999-1-1",
                )
            ],
            now=CLOCK.now(),
        )
    assert recorded.sold_elsewhere == () and len(recorded.added) == 1


def test_a_picking_error_releases_the_failed_lines_reservation_in_the_shop_once(
    engine: Engine, sides: Sides
) -> None:
    httpx.put(
        sides.warehouse.base_url + "/_sandbox/faults", json={"picking_error_skus": [CAP]}
    ).raise_for_status()
    order_id = place(sides, engine, [(CAP, 2), (SNEAKER, 1)])
    cap_product = int(stock_store_links(engine)[CAP])
    held = float(sides.shop.control.entity("products", cap_product)["quantityReserved"])
    assert held >= 2
    forwarded = forward_order(
        engine, sides.client, sides.orders, sides.forward_options(), order_id, clock=CLOCK
    )
    assert forwarded.outcome == "forwarded"
    for picking in sides.wms_orders():
        url = f"{sides.warehouse.base_url}/_sandbox/orders/{picking['id']}/advance"
        httpx.post(url, json={"to": "PICKED"})  # the CAP's picking order stops at PICKING_ERROR (a 400 here)
    assert sorted(p["status"] for p in sides.wms_orders()) == ["PICKED", "PICKING_ERROR"]
    read_changes(engine, sides.client, clock=CLOCK)
    with engine.connect() as conn:
        (payload,) = conn.execute(select(jobs.c.payload).where(jobs.c.kind == RELEASE_KIND)).scalars()
    order = sides.shop.control.entity("orders", order_id)
    cap_line = next(b for b in order["basketItems"] if b["productXmlId"] == CAP)
    assert payload["basket_ids"] == [int(cap_line["id"])]
    released = release_reservations(
        engine, sides.marking, "default", order_id, payload["basket_ids"], clock=CLOCK
    )
    assert released == {int(cap_line["id"]): 2}
    assert float(sides.shop.control.entity("products", cap_product)["quantityReserved"]) == held - 2
    again = release_reservations(
        engine, sides.marking, "default", order_id, payload["basket_ids"], clock=CLOCK
    )
    assert again == {int(cap_line["id"]): 0}
    still = sides.shop.control.entity("orders", order_id)
    assert any(b["productXmlId"] == CAP for b in still["basketItems"]), (
        "the line stays for a person's way out"
    )


def test_a_line_another_picking_order_still_carries_keeps_its_reservation(
    engine: Engine, sides: Sides
) -> None:
    """One line over two shipments of two carriers: two picking orders carry it. When one fails, releasing the
    line would free the units the other is taking to the customer: nothing is released, the incident stands."""
    links = stock_store_links(engine)
    placed = sides.shop.control.place_order(
        lines=[{"productId": links[CAP], "quantity": 2}],
        shipments=[{"deliveryId": 2, "lines": [0]}, {"deliveryId": 3, "lines": []}],
    )
    order_id = int(placed["id"])
    first, second = (int(s["id"]) for s in placed["shipments"])
    (item,) = sides.shop.control.entities("shipmentItems", orderDeliveryId=first)
    sides.admin("sale.shipmentitem.update", {"id": item["id"], "fields": {"quantity": 1}})
    sides.admin(
        "sale.shipmentitem.add",
        {"fields": {"orderDeliveryId": second, "basketId": item["basketId"], "quantity": 1}},
    )
    forwarded = forward_order(
        engine, sides.client, sides.orders, sides.forward_options(), order_id, clock=CLOCK
    )
    assert forwarded.outcome == "forwarded"
    one, other = sorted(sides.wms_orders(), key=lambda p: p["external_ref"])
    base = sides.warehouse.base_url + "/_sandbox/orders/"
    httpx.post(base + f"{one['id']}/advance", json={"to": "PICKED"}, timeout=30).raise_for_status()
    httpx.put(
        sides.warehouse.base_url + "/_sandbox/faults", json={"picking_error_skus": [CAP]}
    ).raise_for_status()
    httpx.post(base + f"{other['id']}/advance", json={"to": "PICKED"}, timeout=30)
    assert sorted(p["status"] for p in sides.wms_orders()) == ["PICKED", "PICKING_ERROR"]
    read_changes(engine, sides.client, clock=CLOCK)
    with engine.connect() as conn:
        assert conn.execute(select(jobs.c.id).where(jobs.c.kind == RELEASE_KIND)).all() == []
        picking = [
            i for i in incident_store.of_order(conn, "default", order_id) if i.kind == Kind.PICKING_ERROR
        ]
    assert len(picking) == 1


# -- without the companion module (Bitrix24 in the cloud): basket-line properties and a person at the shipment -----

CLOUD_KEYS = MarkingSettings(
    companion_module=False,
    group_property="property103",
    gtin_property="property102",
    offer_gtin_property="property112",
)


def basket_codes(sides: Sides, order_id: int) -> dict[int, list[str]]:
    """Basket line → the codes the service put on it, as the shop's admin panel lists them."""
    found: dict[int, list[str]] = {}
    for item in sides.shop.control.entities("basketItems", orderId=order_id):
        rows = sides.admin("sale.basketproperties.list", {"filter": {"basketId": item["id"]}})[
            "basketProperties"
        ]
        ours = [
            r["value"]
            for r in rows
            if r["code"].startswith("MARKING_CODE_") and r["xmlId"].startswith("bitrix-inflow:")
        ]
        if ours:
            found[int(item["id"])] = sorted(ours)
    return found


def by_hand_incidents(engine: Engine, order_id: int) -> list[incident_store.Incident]:
    with engine.connect() as conn:
        return [
            i for i in incident_store.of_order(conn, "default", order_id) if i.kind == Kind.MARKING_BY_HAND
        ]


def test_without_the_module_the_codes_go_to_the_order_lines_and_the_manager_deducts(engine: Engine) -> None:
    with running_sides(engine, "bitrix24") as cloud:
        shop = marking_shop(cloud.gateway, settings=CLOUD_KEYS, profile="bitrix24", language="ru")
        order_id = ship(cloud, engine, [(SNEAKER, 2), (HOODIE, 1), (CAP, 1)])
        report = follow(engine, cloud, order_id, marking=shop)
        assert report.held, "the shipment waits for the manager"
        assert deducted(cloud, order_id) == {"N"}
        with engine.connect() as conn:
            units = ledger.listed(conn, "default", order_id=order_id)
            parts = order_store.parts_of(conn, "default", order_id)
        assert len(units) == 3, "checked and kept in the ledger like any other shipment's codes"
        expected: dict[int, list[str]] = {}
        for unit in units:
            expected.setdefault(unit.basket_id or 0, []).append(unit.code)
        assert basket_codes(cloud, order_id) == {k: sorted(v) for k, v in expected.items()}
        assert {p.marking_state for p in parts if p.marking} == {"by_hand"}
        assert marking_incidents(engine, order_id) == []
        incidents = by_hand_incidents(engine, order_id)
        assert incidents and all(i.state == "open" for i in incidents)
        listed = " ".join(str(p["detail"]) for i in incidents for p in i.detail["problems"])
        assert all(unit.code in listed for unit in units), "the incident lists every code to enter"
        assert {i.subject for i in incidents} == {str(u.shipment_id) for u in units}, "one per shipment"
        # Every save of the order by the service was announced as its own: the binding accounts for the shop's
        # version, so no save is taken for a person's edit.
        with engine.connect() as conn:
            binding = order_store.load_binding(conn, "default", order_id)
        shop_order = cloud.shop.control.entity("orders", order_id)
        assert binding is not None and binding.seen_version == int(shop_order["version"])
        codes = [r for rows in basket_codes(cloud, order_id).values() for r in rows]
        assert len(codes) == len(set(codes)) == 3

        # Asked again: the lines already carry exactly these codes, nothing is added, no second incident.
        again = follow(engine, cloud, order_id, marking=shop)
        assert again.held == report.held
        assert basket_codes(cloud, order_id) == {k: sorted(v) for k, v in expected.items()}
        assert len(by_hand_incidents(engine, order_id)) == len(incidents)
        assert deducted(cloud, order_id) == {"N"}


def test_without_the_module_a_run_killed_between_two_codes_adds_each_once(engine: Engine) -> None:
    with running_sides(engine, "bitrix24") as cloud:
        shop = marking_shop(cloud.gateway, settings=CLOUD_KEYS, profile="bitrix24")
        order_id = ship(cloud, engine, [(SNEAKER, 3)])

        class Killed(Exception):
            pass

        class DiesAfterOneAdd:
            def __init__(self, real: Any) -> None:
                self.real, self.added = real, 0

            def __getattr__(self, name: str) -> Any:
                return getattr(self.real, name)

            def add_basket_property(self, *args: Any, **kwargs: Any) -> int:
                if self.added:
                    raise Killed
                self.added += 1
                return int(self.real.add_basket_property(*args, **kwargs))

        dying = marking_shop(DiesAfterOneAdd(cloud.gateway), settings=CLOUD_KEYS, profile="bitrix24")  # type: ignore[arg-type]
        with pytest.raises(Killed):
            follow(engine, cloud, order_id, marking=dying)
        assert sum(len(v) for v in basket_codes(cloud, order_id).values()) == 1
        follow(engine, cloud, order_id, marking=shop)
        (codes,) = basket_codes(cloud, order_id).values()
        with engine.connect() as conn:
            assert codes == sorted(u.code for u in ledger.listed(conn, "default", order_id=order_id))
        assert len(codes) == 3
        assert len(by_hand_incidents(engine, order_id)) == 1


def test_without_the_module_or_the_catalog_properties_the_incident_names_the_settings(engine: Engine) -> None:
    with running_sides(engine, "bitrix24") as cloud:
        shop = marking_shop(cloud.gateway, settings=MarkingSettings(), profile="bitrix24")
        order_id = ship(cloud, engine, [(SNEAKER, 1)])
        follow(engine, cloud, order_id, marking=shop)
        assert deducted(cloud, order_id) == {"N"}
        (incident,) = marking_incidents(engine, order_id)
        assert "group_property" in incident.detail["why"] and "gtin_property" in incident.detail["why"]
        # The operator sets them: the next run checks the part again, and the codes go to the lines.
        follow(
            engine,
            cloud,
            order_id,
            marking=marking_shop(cloud.gateway, settings=CLOUD_KEYS, profile="bitrix24"),
        )
        assert marking_incidents(engine, order_id)[0].state == "resolved"
        assert len(by_hand_incidents(engine, order_id)) == 1
        assert sum(len(v) for v in basket_codes(cloud, order_id).values()) == 1


def test_a_shipment_the_shop_will_not_deduct_is_an_incident_and_not_asked_again(
    engine: Engine, sides: Sides
) -> None:
    """The cap is marked in the shop but not in the warehouse: no codes come, and the shop refuses the deduction
    (ShipmentItem::checkMarkingCodeOnDeducted). The tracking and the status still go; the shipment is the manager's."""
    order_id = ship(sides, engine, [(CAP, 1)])
    cap = stock_store_links(engine)[CAP]
    with sides.shop.sandbox.shop.lock:
        sides.shop.sandbox.shop.t("products").get(cap)["_markingGroup"] = "Головные уборы"

    deductions: list[int] = []

    class Counting:
        def __init__(self, real: Any) -> None:
            self.real = real

        def __getattr__(self, name: str) -> Any:
            return getattr(self.real, name)

        def update_shipment(self, shipment_id: int, *, tracking_number: str, shipped: bool) -> bool:
            if shipped:
                deductions.append(shipment_id)
            return bool(
                self.real.update_shipment(shipment_id, tracking_number=tracking_number, shipped=shipped)
            )

    real_orders = sides.orders
    sides.orders = Counting(real_orders)  # type: ignore[assignment]
    try:
        report = follow(engine, sides, order_id)
        assert report.refused and "marking codes" in next(iter(report.refused.values()))
        assert report.written, "the order's status still follows the warehouse"
        assert deducted(sides, order_id) == {"N"}
        (shipment,) = [
            s for s in sides.shop.control.entities("shipments", orderId=order_id) if s["system"] != "Y"
        ]
        assert shipment["trackingNumber"], "the tracking number is written all the same"
        with engine.connect() as conn:
            found = [
                i for i in incident_store.of_order(conn, "default", order_id) if i.kind == Kind.DEDUCT_REFUSED
            ]
        assert len(found) == 1 and found[0].subject == str(shipment["id"])
        assert "marking codes" in found[0].detail["why"]
        tried = len(deductions)
        assert tried == 1

        # The next run, and a re-apply: the shipment is the manager's now; nothing is asked of the shop again.
        follow(engine, sides, order_id)
        follow(engine, sides, order_id, reapply=True)
        assert len(deductions) == tried
        with engine.connect() as conn:
            again = [
                i for i in incident_store.of_order(conn, "default", order_id) if i.kind == Kind.DEDUCT_REFUSED
            ]
        assert len(again) == 1
    finally:
        sides.orders = real_orders


def test_without_the_module_the_manager_is_asked_only_once_the_shipment_has_left(engine: Engine) -> None:
    """Codes are captured at packing and go to the lines then; asking the manager to deduct before the warehouse
    shipped would deduct half a shipment."""
    with running_sides(engine, "bitrix24") as cloud:
        shop = marking_shop(cloud.gateway, settings=CLOUD_KEYS, profile="bitrix24")
        order_id = place(cloud, engine, [(SNEAKER, 2)])
        forwarded = forward_order(
            engine, cloud.client, cloud.orders, cloud.forward_options(), order_id, clock=CLOCK
        )
        assert forwarded.outcome == "forwarded"
        for picking in cloud.wms_orders():
            url = f"{cloud.warehouse.base_url}/_sandbox/orders/{picking['id']}/advance"
            httpx.post(url, json={"to": "PACKING"}, timeout=30).raise_for_status()
        follow(engine, cloud, order_id, marking=shop)
        assert sum(len(v) for v in basket_codes(cloud, order_id).values()) == 2, "the codes are on the line"
        assert by_hand_incidents(engine, order_id) == [], "nobody is asked to deduct a shipment still packing"
        for picking in cloud.wms_orders():
            url = f"{cloud.warehouse.base_url}/_sandbox/orders/{picking['id']}/advance"
            httpx.post(url, json={"to": "SHIPPED"}, timeout=30).raise_for_status()
        follow(engine, cloud, order_id, marking=shop)
        assert len(by_hand_incidents(engine, order_id)) == 1
        assert deducted(cloud, order_id) == {"N"}
