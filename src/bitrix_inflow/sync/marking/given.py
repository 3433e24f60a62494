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
    """(shipment, basket line) → the shop's codes that are valid codes of the line's group; a code that is not is
    left in the shop, not sent (the warehouse would refuse the whole picking order for it)."""
    try:
        lines = shop.lines(order_id)
    except CodesRefused:
        return {}
    found: dict[tuple[int, int], list[str]] = {}
    for line in lines:
        group = marking.group_of(line.group, group_names) if line.group else None
        if group is None or not line.codes:
            continue
        good: list[str] = []
        for code in line.codes:
            try:
                good.append(marking.parse(code, group).full)
            except marking.MarkingError as exc:
                log.warning(
                    "marking.shop_code_not_sent", order_id=order_id, basket_id=line.basket_id, why=exc.problem
                )
        if good:
            found[(line.shipment_id, line.basket_id)] = good
    return found
