"""An order changed in the shop after it went to the warehouse: what changed, and what to do with each picking
order, decided without I/O.

* **What counts as an edit** (``fingerprint``): the plan's inputs only: the basket lines in the visible shipments
  (basket item, product, units) and each shipment's delivery service. A status, payment, comment, price or the
  tracking the service wrote itself is not an edit.
* **What to do** (``revise``): the new plan is compared with the live picking orders group by group (zone,
  carrier). A group whose lines are the same keeps its picking order. A group that changed or went away is
  cancelled in the warehouse while nobody works on it yet (NEW, ASSIGNED) and its new lines are sent after the
  warehouse confirmed the cancellation (never two reservations of the same goods); once picking has started the
  old picking order stands, nothing is sent for that group, and the difference is a conflict for a person. A new
  group is simply sent.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from bitrix_inflow.domain.split import PlanLine, PlannedPart
from bitrix_inflow.domain.vocabulary import InflowStatus

# A picking order nobody has started on: cancelling it costs the warehouse nothing. One the warehouse cancelled
# already is confirmed again (the contract answers 200, unchanged).
CANCELLABLE = frozenset({InflowStatus.NEW, InflowStatus.ASSIGNED, InflowStatus.CANCELLED})


def fingerprint(
    lines: Iterable[tuple[int, int, int | None, Decimal]], deliveries: Iterable[tuple[int, int]]
) -> str:
    """Of an order's plan inputs: ``lines`` as (basket item, shipment, product, units), ``deliveries`` as (shipment,
    delivery service). Order-independent; the same inputs always give the same text."""
    body = {
        "lines": sorted(
            [basket, shipment, product or 0, str(qty.normalize())] for basket, shipment, product, qty in lines
        ),
        "deliveries": sorted([shipment, delivery] for shipment, delivery in deliveries),
    }
    return hashlib.sha256(json.dumps(body, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class LivePart:
    """A picking order in force: its group, reference, last known warehouse status and lines."""

    zone: str
    carrier: str
    ref: str
    status: InflowStatus | None
    lines: tuple[PlanLine, ...]


@dataclass(frozen=True)
class Replacement:
    """A new group's part, and the live part it replaces (None: a group that had no picking order)."""

    part: PlannedPart
    replaces: str | None


@dataclass(frozen=True)
class Conflict:
    ref: str
    status: InflowStatus | None
    had: tuple[PlanLine, ...]
    wanted: tuple[PlanLine, ...]  # () when the edit removed the group


@dataclass(frozen=True)
class Revision:
    keep: tuple[str, ...]  # references that stay as they are
    cancel: tuple[str, ...]  # references to cancel (replaced, or their group went away)
    send: tuple[
        Replacement, ...
    ]  # parts to send: at once if they replace nothing, else after the cancellation
    conflicts: tuple[Conflict, ...]  # picking started: the old part stands, a person decides

    @property
    def changes_anything(self) -> bool:
        return bool(self.cancel or self.send or self.conflicts)


def _same(a: Sequence[PlanLine], b: Sequence[PlanLine]) -> bool:
    def key(line: PlanLine) -> tuple[int, int, str, int]:
        return (line.shipment_id, line.basket_id, line.sku, line.qty)

    return sorted(map(key, a)) == sorted(map(key, b))


def revise(live: Sequence[LivePart], plan: Sequence[PlannedPart]) -> Revision:
    """What an edit does to the live picking orders (see the module's rule)."""
    by_group = {(p.zone, p.carrier): p for p in live}
    if len(by_group) != len(live):
        raise ValueError("two live picking orders share a (zone, carrier) group")
    keep: list[str] = []
    cancel: list[str] = []
    send: list[Replacement] = []
    conflicts: list[Conflict] = []
    for part in plan:
        old = by_group.pop((part.zone, part.carrier), None)
        if old is None:
            send.append(Replacement(part, None))
        elif _same(old.lines, part.lines):
            keep.append(old.ref)
        elif old.status in CANCELLABLE:
            cancel.append(old.ref)
            send.append(Replacement(part, old.ref))
        else:
            conflicts.append(Conflict(old.ref, old.status, old.lines, part.lines))
    for old in by_group.values():  # groups the edit removed
        if old.status in CANCELLABLE:
            cancel.append(old.ref)
        else:
            conflicts.append(Conflict(old.ref, old.status, old.lines, ()))
    return Revision(tuple(keep), tuple(cancel), tuple(send), tuple(conflicts))


def seen_after_own_writes(
    seen: int | None, *, shipment_writes: int, status_version: int | None
) -> int | None:
    """The order version the service may record as its own after an apply: shipments written first, then the
    status. Bitrix adds one to an order's ``version`` on every save, so a status write answering ``seen`` plus our
    writes means nobody else saved in between. None: record nothing (the next poll checks the order for an edit,
    which costs one read and loses nothing)."""
    if seen is None:
        return None
    if status_version is not None:
        return status_version if status_version == seen + shipment_writes + 1 else None
    # Only shipments written (their answer carries no order version): claimed; a wrong claim costs one check.
    return seen + shipment_writes if shipment_writes else None
