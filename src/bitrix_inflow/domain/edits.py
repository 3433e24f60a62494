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
    """A part to send, and the live parts it waits for: those whose lines it takes over, each to be confirmed
    cancelled first (none: it takes nothing from a picking order in force, and goes at once)."""

    part: PlannedPart
    waits_for: tuple[str, ...]

    @property
    def replaces(self) -> str | None:
        return self.waits_for[0] if self.waits_for else None


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


def line_keys(lines: Iterable[PlanLine]) -> set[tuple[int, int]]:
    """The (basket item, shipment) pairs of lines: what says two parts hold the same goods."""
    return {(line.basket_id, line.shipment_id) for line in lines}


def revise(live: Sequence[LivePart], plan: Sequence[PlannedPart]) -> Revision:
    """What an edit does to the live picking orders (see the module's rule).

    A new part waits for every live part it takes lines over from (a line moved by a changed delivery, say): the
    goods are never reserved twice. If one of those stands (picking started), the new part is not sent at all
    and the conflict says what the shop wanted."""
    by_group = {(p.zone, p.carrier): p for p in live}
    if len(by_group) != len(live):
        raise ValueError("two live picking orders share a (zone, carrier) group")
    keep: list[str] = []
    changed: list[tuple[PlannedPart, LivePart | None]] = []
    for part in plan:
        old = by_group.get((part.zone, part.carrier))
        if old is not None and _same(old.lines, part.lines):
            keep.append(old.ref)
        else:
            changed.append((part, old))
    kept = set(keep)
    touched = [p for p in live if p.ref not in kept]  # changed or removed groups
    waits = {
        id(part): [p.ref for p in touched if p is old or line_keys(p.lines) & line_keys(part.lines)]
        for part, old in changed
    }
    standing = {p.ref for p in touched if p.status not in CANCELLABLE}
    # A new part waiting on a part that stands is not sent; then the other parts it would have taken lines from
    # stand too (cancelling them would leave their lines nowhere). Until nothing more changes.
    while True:
        blocked = [part for part, _ in changed if any(ref in standing for ref in waits[id(part)])]
        grown = standing | {ref for part in blocked for ref in waits[id(part)]}
        if grown == standing:
            break
        standing = grown
    cancel = [p.ref for p in touched if p.ref not in standing]
    send: list[Replacement] = []
    wanted: dict[str, list[PlanLine]] = {ref: [] for ref in standing}
    for part, _ in changed:
        if any(ref in standing for ref in waits[id(part)]):
            for ref in waits[id(part)]:
                wanted[ref].extend(part.lines)
        else:
            send.append(Replacement(part, tuple(waits[id(part)])))
    conflicts = [
        Conflict(p.ref, p.status, p.lines, tuple(wanted[p.ref])) for p in touched if p.ref in standing
    ]
    return Revision(tuple(keep), tuple(cancel), tuple(send), tuple(conflicts))


def seen_after_own_writes(
    seen: int | None, *, shipment_writes: int, status_version: int | None
) -> int | None:
    """The order version the service may record as its own after an apply: shipments (and marking codes, each a save
    of the order) written first, then the status. Bitrix adds one to an order's ``version`` on every save, so a
    status write answering ``seen`` plus our writes means nobody else saved in between. None: record nothing (the
    next poll checks the order for an edit, which costs one read and loses nothing)."""
    if seen is None:
        return None
    if status_version is not None:
        return status_version if status_version == seen + shipment_writes + 1 else None
    # Only shipments written (their answer carries no order version): claimed; a wrong claim costs one check.
    return seen + shipment_writes if shipment_writes else None
