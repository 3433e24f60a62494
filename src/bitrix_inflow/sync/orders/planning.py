"""What a plan is made from, shared by the first forwarding and by a re-plan after an edit: the order's lines as
warehouse SKUs (through the stock binder), the carriers of its shipments, the free stock per zone, and the
fingerprint of those inputs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import Engine

from bitrix_inflow.adapters.inflow import InflowPort
from bitrix_inflow.domain import edits, split
from bitrix_inflow.domain.stock import free_by_zone
from bitrix_inflow.store import stock as stock_store
from bitrix_inflow.store.engine import reading
from bitrix_inflow.sync.orders.shop import ShopOrder
from bitrix_inflow.timing import Clock


@dataclass(frozen=True)
class OrderRun:
    """What every step of one run over one order shares."""

    engine: Engine
    connection_id: str
    clock: Clock
    order: ShopOrder

    @property
    def order_id(self) -> int:
        return self.order.facts.id


def fingerprint_of(order: ShopOrder) -> str:
    return edits.fingerprint(
        ((ln.basket_id, ln.shipment_id, ln.product_id, ln.qty) for ln in order.lines),
        ((s.id, s.delivery_id) for s in order.facts.shipments),
    )


def plan_lines(run: OrderRun) -> tuple[list[split.PlanLine], list[str]]:
    """The order's lines as warehouse SKUs, and what stops them (said in words an operator acts on)."""
    order = run.order
    with reading(run.engine).connect() as conn:
        skus = stock_store.skus_of_products(
            conn, run.connection_id, {ln.product_id for ln in order.lines if ln.product_id is not None}
        )
    lines: list[split.PlanLine] = []
    problems: list[str] = []
    for line in order.lines:
        sku = skus.get(line.product_id) if line.product_id is not None else None
        if sku is None:
            problems.append(
                f"{line.name} (basket item {line.basket_id}): no warehouse SKU is linked to product "
                f"{line.product_id} (see `bitrix-inflow products unmatched`)"
            )
        elif line.qty != line.qty.to_integral_value() or line.qty <= 0:
            problems.append(
                f"{line.name} (basket item {line.basket_id}): {line.qty} is not a whole number of units"
            )
        else:
            lines.append(split.PlanLine(line.basket_id, line.shipment_id, sku, int(line.qty)))
    if not order.lines:
        problems.append("no lines in any shipment")
    return lines, problems


def carriers_of(order: ShopOrder, carriers: Mapping[int, str]) -> tuple[dict[int, str], list[str]]:
    """Each shipment's carrier through the delivery → carrier table, and the shipments it does not cover."""
    found: dict[int, str] = {}
    problems: list[str] = []
    for shipment in order.facts.shipments:
        carrier = carriers.get(shipment.delivery_id)
        if carrier is None:
            problems.append(
                f"shipment {shipment.id}: delivery service {shipment.delivery_id} has no carrier "
                "(add it to [orders] carriers)"
            )
        else:
            found[shipment.id] = carrier
    return found, problems


def free_stock(
    wms: InflowPort, warehouse: str, skus: Iterable[str], *, held: Iterable[tuple[str, str, int]] = ()
) -> dict[str, dict[str, int]]:
    """SKU → zone → free units now, plus ``held`` (sku, zone, units) the service's own picking orders reserve
    and would give back if they were replaced: a re-plan sees the stock as it would be after its own cancels."""
    free = free_by_zone(
        row for sku in sorted(set(skus)) for row in wms.iter_bin_stock(warehouse=warehouse, sku=sku)
    )
    for sku, zone, units in held:
        if zone != split.NO_ZONE:
            zones = free.setdefault(sku, {})
            zones[zone] = zones.get(zone, 0) + units
    return free
