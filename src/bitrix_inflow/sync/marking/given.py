"""The codes a shop already holds for an order's marked lines (scanned at the counter, entered by a manager), to
travel with the picking orders: the warehouse then uses them for the first units instead of scanning its own."""

from __future__ import annotations

from collections.abc import Mapping

import structlog

from bitrix_inflow.domain import marking
from bitrix_inflow.sync.marking.shop import CodesRefused, MarkingShop

log = structlog.get_logger("bitrix_inflow.sync.marking")


def held_by_shop(
    shop: MarkingShop, order_id: int, *, group_names: Mapping[str, str]
) -> dict[tuple[int, int], list[str]]:
    """(shipment, basket line) → the shop's codes that are valid codes of the line's group and of the product's
    GTIN, each unit once; any other is left in the shop, not sent (the warehouse would refuse the whole picking
    order for it)."""
    try:
        lines = [line for line in shop.lines(order_id) if line.codes]
        products = shop.products(sorted({line.product_id for line in lines})) if lines else {}
    except CodesRefused:
        return {}
    found: dict[tuple[int, int], list[str]] = {}
    for line in lines:
        group = marking.group_of(line.group, group_names) if line.group else None
        facts = products.get(line.product_id)
        gtins = marking.gtins_of(facts.barcodes) if facts else ()
        if group is None or not gtins:
            continue
        good: list[str] = []
        seen: set[str] = set()
        for raw in line.codes:
            try:
                code = marking.parse(raw, group)
                _one_of(code, gtins)
            except marking.MarkingError as exc:
                log.warning(
                    "marking.shop_code_not_sent", order_id=order_id, basket_id=line.basket_id, why=exc.problem
                )
                continue
            if code.identity not in seen:  # a unit once, however often the shop holds its code
                seen.add(code.identity)
                good.append(code.full)
        if good:
            found[(line.shipment_id, line.basket_id)] = good
    return found


def _one_of(code: marking.MarkingCode, gtins: tuple[str, ...]) -> None:
    """The code is of one of the product's GTINs (its barcodes may hold several), or a ``MarkingError``."""
    if code.gtin not in gtins:
        marking.check_gtin(code, gtins[0])  # raises, naming the GTIN expected
