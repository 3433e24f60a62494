"""Which status a Bitrix order shows, given the statuses of its picking orders: pure rules, tested without I/O.

One customer order may be several picking orders (one per storage zone and carrier), each moving through the
warehouse on its own. The order as a whole is where its *least advanced* live part is; a picking error anywhere
needs a person and dominates; cancelled parts do not hold the order back, unless every part is cancelled.

Statuses go to Bitrix only forward: an event that arrives late (an older webhook, a feed page read after a newer
webhook) never moves the order back. A status the mapping table has no Bitrix status for leaves the order as it
is, and says so (it is reported, never dropped).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bitrix_inflow.domain.status_mapping import StatusMapping
from bitrix_inflow.domain.vocabulary import InflowStatus

# How far an order has come. A picking error happens while picking, so it is past PICKING and before PICKED;
# CANCELLED is the end of the road for the parts it covers.
PROGRESS: dict[InflowStatus, float] = {
    InflowStatus.NEW: 1,
    InflowStatus.ASSIGNED: 2,
    InflowStatus.PICKING: 3,
    InflowStatus.PICKING_ERROR: 3.5,
    InflowStatus.PICKED: 4,
    InflowStatus.PACKING: 5,
    InflowStatus.SHIPPED: 6,
    InflowStatus.DELIVERED: 7,
    InflowStatus.CANCELLED: 8,
}


def aggregate(statuses: Iterable[InflowStatus]) -> InflowStatus | None:
    """The status of the whole order from its parts' (None: no parts yet).

    * cancelled parts are ignored, unless every part is cancelled;
    * a picking error in any live part is the order's status (a person has to decide);
    * otherwise the least advanced live part: the order is delivered when its last part is.
    """
    parts = list(statuses)
    if not parts:
        return None
    live = [status for status in parts if status is not InflowStatus.CANCELLED]
    if not live:
        return InflowStatus.CANCELLED
    if InflowStatus.PICKING_ERROR in live:
        return InflowStatus.PICKING_ERROR
    return min(live, key=PROGRESS.__getitem__)


def further(status: InflowStatus, other: InflowStatus | None) -> InflowStatus:
    """The further on of two steps (``other`` None: ``status``)."""
    if other is None or PROGRESS[status] >= PROGRESS[other]:
        return status
    return other


@dataclass(frozen=True)
class Decision:
    """What to do with a Bitrix order: ``record`` the aggregate as applied, ``write`` a Bitrix status (None:
    write nothing), and why."""

    record: InflowStatus | None
    write: str | None
    why: str


def decide(
    new: InflowStatus | None,
    applied: InflowStatus | None,
    shown: str | None,
    mapping: StatusMapping,
) -> Decision:
    """``new``: the parts' aggregate now; ``applied``: the aggregate last applied to the order (None: never);
    ``shown``: the Bitrix status the order has now.

    Only forward: an aggregate not further than the applied one changes nothing. An aggregate without a mapping
    writes nothing and is not recorded as applied, so the order gets its status once the operators map it.
    """
    if new is None:
        return Decision(None, None, "the order has no picking orders yet")
    if applied is not None and PROGRESS[new] <= PROGRESS[applied]:
        if new is applied:
            return Decision(None, None, f"{new} is applied already")
        return Decision(None, None, f"{new} is behind {applied}, which is applied already: an older event")
    target = mapping.bitrix_status_for(new)
    if target is None:
        return Decision(
            None, None, f"{new} has no Bitrix status in the mapping table: the order keeps {shown}"
        )
    if target == shown:
        return Decision(new, None, f"{new} maps to {target}, which the order shows already")
    return Decision(new, target, f"{new} maps to {target}")


def set_by_service(mapping: StatusMapping, below: InflowStatus) -> frozenset[str]:
    """The Bitrix statuses the service itself sets for the steps before ``below``: it may overwrite those (and the
    statuses orders are forwarded from); anything else was set by a person, and stays."""
    if below not in PROGRESS:
        return frozenset()
    return frozenset(
        target
        for status, target in mapping.entries.items()
        if InflowStatus(status) in PROGRESS and PROGRESS[InflowStatus(status)] < PROGRESS[below]
    )
