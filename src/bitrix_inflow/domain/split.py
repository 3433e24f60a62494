"""How one customer order becomes picking orders: one per (storage zone, carrier), decided without I/O.

* **Carrier**: each Bitrix shipment has a delivery service; the configured delivery → carrier table names the
  carrier the warehouse hands its parcels to.
* **Zone**: where the warehouse can pick the line's SKU, lines placed one after the other (by shipment, basket
  item), each taking its units off what is left. When the SKU is free in several zones the rule is, in this
  order: a zone that holds the whole line (a line is never split over zones, so a parcel's lines stay together),
  the operators' zone preference, then the zone code; when no zone holds it all, the zone with the most free units
  (the warehouse may then answer "insufficient stock", which the flow reports). A SKU the zone read knows nothing
  of goes without a zone: the warehouse picks where it can.

The plan is deterministic: the same order and stock always give the same parts in the same order, so a retry
sends the same picking orders under the same references.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

NO_ZONE = ""  # the warehouse chooses


@dataclass(frozen=True, slots=True)
class PlanLine:
    basket_id: int
    shipment_id: int
    sku: str
    qty: int


@dataclass(frozen=True)
class PlannedPart:
    part_no: int  # from 1, in (zone, carrier) order
    zone: str  # NO_ZONE: any
    carrier: str
    lines: tuple[PlanLine, ...]


def choose_zone(qty: int, free_by_zone: Mapping[str, int], preference: Sequence[str] = ()) -> str:
    """The zone a line of ``qty`` units is picked from (see the module's rule)."""
    if not free_by_zone:
        return NO_ZONE

    def rank(zone: str) -> tuple[int, str]:
        return (preference.index(zone) if zone in preference else len(preference), zone)

    whole = [zone for zone, free in free_by_zone.items() if free >= qty]
    if whole:
        return min(whole, key=rank)
    return min(free_by_zone, key=lambda zone: (-free_by_zone[zone], *rank(zone)))


def plan(
    lines: Iterable[PlanLine],
    *,
    free: Mapping[str, Mapping[str, int]],
    carrier_of_shipment: Mapping[int, str],
    preference: Sequence[str] = (),
    pinned: Mapping[tuple[int, int], str] | None = None,
) -> tuple[PlannedPart, ...]:
    """The parts of one order. ``free``: SKU → zone → free units; ``carrier_of_shipment``: every shipment's
    carrier (a shipment without one is the caller's error: it decides eligibility first); ``pinned``: (basket
    item, shipment) → the zone a picking order in force already picks it from (a re-plan after an edit keeps
    every line where it is, so only what changed moves)."""
    groups: dict[tuple[str, str], list[PlanLine]] = {}
    # What is left free as lines are placed: two lines of one SKU do not both count on the same units.
    left = {sku: dict(zones) for sku, zones in free.items()}
    for line in sorted(lines, key=lambda ln: (ln.shipment_id, ln.basket_id, ln.sku)):
        if line.qty <= 0:
            raise ValueError(f"basket item {line.basket_id}: a line of {line.qty} units cannot be picked")
        zones = left.get(line.sku, {})
        held = (pinned or {}).get((line.basket_id, line.shipment_id))
        zone = held if held is not None else choose_zone(line.qty, zones, preference)
        if zone != NO_ZONE and zone in zones:
            zones[zone] -= line.qty
        carrier = carrier_of_shipment[line.shipment_id]
        groups.setdefault((zone, carrier), []).append(line)
    return tuple(
        PlannedPart(number, zone, carrier, tuple(groups[(zone, carrier)]))
        for number, (zone, carrier) in enumerate(sorted(groups), start=1)
    )


_REF = re.compile(r"^B-(?P<order>[1-9][0-9]*)(?:r(?P<generation>[2-9]|[1-9][0-9]+))?-(?P<part>[1-9][0-9]*)$")


def order_of_ref(ref: str) -> int | None:
    """The shop order a warehouse reference of this service's form names (None: not one of the form)."""
    found = _REF.match(ref)
    return int(found["order"]) if found else None


def external_ref(order_id: int, generation: int, part_no: int) -> str:
    """The warehouse reference of a part: the same for every retry, new for every re-plan (``generation``)."""
    if order_id <= 0 or generation <= 0 or part_no <= 0:
        raise ValueError("order id, generation and part number count from 1")
    prefix = f"B-{order_id}" if generation == 1 else f"B-{order_id}r{generation}"
    return f"{prefix}-{part_no}"
