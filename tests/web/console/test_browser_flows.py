"""The console in Chromium over the real flows, both sandboxes running: a picking error resolved by cancellation and
by substitution (the way out chosen on the page, carried out by its job, seen resolved), and a mapping edited on the
page that the next status applied follows. Each page's screenshot is kept (var/test-artifacts/screenshots)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from bitrix_inflow.domain.status_mapping import DEFAULT_MAPPING
from bitrix_inflow.ops import console as people
from bitrix_inflow.ops import mapping as mapping_ops
from bitrix_inflow.store import incidents
from bitrix_inflow.store import orders as order_store
from bitrix_inflow.store import stock as stock_store
from bitrix_inflow.store.status_map import load as load_mapping
from bitrix_inflow.sync.incidents.ways import carry_out
from bitrix_inflow.sync.orders.forward import forward_order
from bitrix_inflow.sync.orders.statuses import apply_statuses, read_changes
from bitrix_inflow.timing import SystemClock
from bitrix_inflow.web.console import Console
from bitrix_inflow.web.console.health import Connections
from bitrix_inflow.web.console.shop_statuses import ShopStatuses
from sync.conftest import Sides, running_sides
from web_app import serve

from .browser import Shots, chromium, shots
from .conftest import PASSWORD

__all__ = ["chromium", "shots"]

CLOCK = SystemClock()
HOODIE, TEE = "SB-HOODIE-URBAN-M", "SB-TEE-CLASSIC-S"


class World:
    def __init__(self, engine: Engine, sides: Sides, url: str) -> None:
        self.engine, self.sides, self.url = engine, sides, url


@pytest.fixture
def world(engine: Engine) -> Iterator[World]:
    people.set_password(engine, "operator", PASSWORD, clock=CLOCK, actor="test")
    mapping_ops.import_table(engine, dict(DEFAULT_MAPPING), clock=CLOCK, actor="test")
    with running_sides(engine, "site") as sides:
        statuses = ShopStatuses(lambda: sides.gateway, language="en")
        probes = Connections(warehouse=lambda: sides.client, shop=lambda: sides.gateway, ttl=0)
        console = Console(engine, CLOCK, default_language="en", shop_statuses=statuses, connections=probes)
        for url in serve(engine, console=console):
            yield World(engine, sides, url)


@pytest.fixture
def page(chromium: Any, world: World) -> Iterator[Any]:
    context = chromium.new_context(
        base_url=world.url, locale="en-US", viewport={"width": 1280, "height": 900}
    )
    try:
        yield context.new_page()
    finally:
        context.close()


def sign_in(page: Any, shots: Shots, path: str) -> None:
    page.goto(path)
    page.fill("input[name=username]", "operator")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]:has-text('Sign in')")
    page.wait_for_url(f"**{path}")
    shots.take(page, "first-page")


def forwarded_order(world: World) -> int:
    with world.engine.connect() as conn:
        links = stock_store.load_links(conn, "default")
    lines = [{"productId": links[sku].product_id, "quantity": 1} for sku in (HOODIE, TEE)]
    shop = world.sides.shop.control
    order_id = int(shop.place_order(lines=lines, shipments=[{"deliveryId": 2, "lines": [0, 1]}])["id"])
    options = world.sides.forward_options()
    done = forward_order(world.engine, world.sides.client, world.sides.orders, options, order_id, clock=CLOCK)
    assert done.outcome == "forwarded"
    return order_id


def advance_all(world: World, to: str) -> None:
    base = world.sides.warehouse.base_url + "/_sandbox"
    for order in httpx.get(base + "/orders", timeout=30).json()["items"]:
        httpx.post(f"{base}/orders/{order['id']}/advance", json={"to": to}, timeout=30)


def picking_error(world: World) -> tuple[int, int]:
    order_id = forwarded_order(world)
    base = world.sides.warehouse.base_url + "/_sandbox"
    httpx.put(base + "/faults", json={"picking_error_skus": [HOODIE]}, timeout=30).raise_for_status()
    advance_all(world, "PICKING")
    httpx.put(base + "/faults", json={"picking_error_skus": []}, timeout=30).raise_for_status()
    read_changes(world.engine, world.sides.client, clock=CLOCK)
    with world.engine.connect() as conn:
        [incident] = incidents.listed(conn, "default")
    assert incident.kind == "picking_error"
    return order_id, incident.id


def choose(page: Any, shots: Shots, incident_id: int, way: str, *, sku: str | None = None) -> None:
    page.goto(f"/console/incidents/{incident_id}")
    shots.take(page, "incident")
    page.click(f"a.way[data-way='{way}']")
    page.wait_for_selector("#confirm")
    if sku is not None:
        page.fill("input[name=sku]", sku)
    shots.take(page, f"confirm-{way}")
    page.click("#confirm")
    page.wait_for_selector("#incident-state:has-text('being carried out')")
    shots.take(page, "carrying-out")


def carried_out(world: World, page: Any, shots: Shots, incident_id: int) -> None:
    """The job the choice queued, run as a worker would; the page then shows the incident resolved."""
    sides = world.sides
    assert carry_out(world.engine, sides.client, sides.orders, incident_id, clock=CLOCK) == "done"
    page.reload()
    page.wait_for_selector("#incident-state:has-text('resolved')")
    assert "console:operator" in page.locator("#trail").inner_text()
    shots.take(page, "resolved")


def test_a_picking_error_cancelled_from_the_console(world: World, page: Any, shots: Shots) -> None:
    order_id, incident_id = picking_error(world)
    sign_in(page, shots, "/console/incidents")
    assert page.locator(f"#incidents a[href='/console/incidents/{incident_id}']").count() == 2
    choose(page, shots, incident_id, "cancel")
    carried_out(world, page, shots, incident_id)
    assert world.sides.shop.control.entity("orders", order_id)["canceled"] == "Y"
    sides = world.sides
    queued_run = forward_order(
        world.engine, sides.client, sides.orders, sides.forward_options(), order_id, clock=CLOCK
    )
    assert queued_run.outcome == "cancelled"
    assert {p["status"] for p in sides.wms_orders()} == {"CANCELLED"}
    # The order found by a picking order's reference: its timeline tells the story.
    ref = next(p["external_ref"] for p in sides.wms_orders())
    page.goto("/console/orders")
    page.fill("#order-search", ref)
    page.click("form.search button")
    page.wait_for_url(f"**/console/orders/{order_id}")
    timeline = page.locator("#timeline").inner_text()
    assert "picking_error" in timeline and "incidents.carry_out" in timeline
    shots.take(page, "order-timeline")
    # The dashboard over the same day: both connections answer, and the charts count what happened.
    page.goto("/console/")
    assert (
        "✓" in page.locator("#health-warehouse").inner_text()
        and "✓" in page.locator("#health-shop").inner_text()
    )
    assert page.locator("#chart-forwarded figcaption strong").inner_text() == "2"
    assert page.locator("#chart-incidents figcaption strong").inner_text() == "1"
    shots.take(page, "dashboard")


def a_substitute(world: World, incident_id: int) -> str:
    """A linked SKU, not the order's, with a free unit in the failed part's zone."""
    with world.engine.connect() as conn:
        incident = incidents.load(conn, incident_id)
        assert incident is not None
        parts = order_store.parts_of(conn, "default", incident.order_id)
        links = stock_store.load_links(conn, "default")
    zone = next(p for p in parts if p.external_ref == incident.subject).zone
    for sku in sorted(set(links) - {HOODIE, TEE}):
        free = sum(
            row.qty_on_hand - row.qty_reserved - row.qty_in_picking
            for row in world.sides.client.iter_bin_stock(warehouse="MAIN", sku=sku)
            if row.zone == zone
        )
        if free >= 1:
            return sku
    raise AssertionError(f"no SKU free in zone {zone}")


def test_a_picking_error_resolved_by_substitution_from_the_console(
    world: World, page: Any, shots: Shots
) -> None:
    order_id, incident_id = picking_error(world)
    other = a_substitute(world, incident_id)
    sign_in(page, shots, "/console/incidents")
    choose(page, shots, incident_id, "substitute", sku=other)
    carried_out(world, page, shots, incident_id)
    forward_order(
        world.engine,
        world.sides.client,
        world.sides.orders,
        world.sides.forward_options(),
        order_id,
        clock=CLOCK,
    )
    sent = [ln["sku"] for p in world.sides.wms_orders() if p["status"] != "CANCELLED" for ln in p["lines"]]
    assert other in sent and HOODIE not in sent
    basket = world.sides.shop.control.entities("basketItems", orderId=order_id)
    with world.engine.connect() as conn:
        links = stock_store.load_links(conn, "default")
    assert {int(b["productId"]) for b in basket} == {links[other].product_id, links[TEE].product_id}


def test_a_mapping_edited_on_the_page_is_what_the_next_status_follows(
    world: World, page: Any, shots: Shots
) -> None:
    world.sides.shop.control.add_status("W", "Being picked in the warehouse", sort=36)
    order_id = forwarded_order(world)
    sign_in(page, shots, "/console/mapping")
    page.select_option("select[name='status-PICKING']", "W")
    shots.take(page, "mapping-edited")
    page.click("#save-mapping")
    page.wait_for_selector("#saved")
    shots.take(page, "mapping-saved")
    assert "console:operator" in page.locator("#mapping-history").inner_text()

    advance_all(world, "PICKING")
    read_changes(world.engine, world.sides.client, clock=CLOCK)
    with world.engine.connect() as conn:
        mapping = load_mapping(conn, "default")  # as the apply job reads it at each run
    report = apply_statuses(
        world.engine,
        world.sides.orders,
        mapping,
        order_id,
        forwarded_from=world.sides.forward_options().rules.statuses,
        clock=CLOCK,
    )
    assert report.written == "W"
    assert world.sides.shop.control.entity("orders", order_id)["statusId"] == "W"
