"""The shared words of bitrix-inflow, one copy: the adapters translate the remote systems' names into these.

Inflow's state machine is fixed by the contract (contracts/inflow-v1): NEW → ASSIGNED → PICKING → PICKED → PACKING →
SHIPPED → DELIVERED, plus CANCELLED and PICKING_ERROR. An installation may call them otherwise on the wire; its
profile renames them before anything here is built.
"""

from __future__ import annotations

from enum import StrEnum


class InflowStatus(StrEnum):
    """The status of one picking order in the warehouse."""

    NEW = "NEW"
    ASSIGNED = "ASSIGNED"
    PICKING = "PICKING"
    PICKED = "PICKED"
    PACKING = "PACKING"
    SHIPPED = "SHIPPED"
    DELIVERED = "DELIVERED"
    CANCELLED = "CANCELLED"
    PICKING_ERROR = "PICKING_ERROR"

    @property
    def is_final(self) -> bool:
        """The warehouse will not move the order on by itself (PICKING_ERROR waits for a person's decision)."""
        return self in _FINAL


_FINAL = frozenset({InflowStatus.DELIVERED, InflowStatus.CANCELLED, InflowStatus.PICKING_ERROR})
