"""Incidents as a person works them: the inbox, one incident with its trail, and choosing a way out.

A choice is checked before anything changes (the incident exists and is open, the way out is one its kind offers,
the input the way out needs is there) and each problem names the fix; the choice and who made it go to the audit
trail with the resolution, in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Engine

from bitrix_inflow.domain.incidents import WayOut
from bitrix_inflow.errors import ValidationError
from bitrix_inflow.store import incidents as store
from bitrix_inflow.store import stock as stock_store
from bitrix_inflow.sync.incidents.ways import queue_carrying_out
from bitrix_inflow.timing import Clock

# Ways out the service carries out with the remote systems (a job), the incident ``resolving`` meanwhile.
CARRIED_OUT = frozenset({WayOut.CANCEL, WayOut.SUBSTITUTE, WayOut.RETRY_WHEN_STOCK, WayOut.SHIP_REST})


@dataclass(frozen=True)
class Shown:
    incident: store.Incident
    trail: list[store.AuditEntry]


def inbox(
    engine: Engine,
    *,
    connection_id: str,
    everything: bool = False,
    kinds: tuple[str, ...] = (),
    limit: int = 100,
) -> list[store.Incident]:
    states = ("open", "resolving", "resolved") if everything else ("open", "resolving")
    with engine.connect() as conn:
        return store.listed(conn, connection_id, states=states, kinds=kinds, limit=limit)


def show(engine: Engine, incident_id: int, *, connection_id: str | None = None) -> Shown:
    with engine.connect() as conn:
        incident = _existing(conn, incident_id, connection_id)
        return Shown(incident, store.trail(conn, incident_id))


def resolve(
    engine: Engine,
    incident_id: int,
    way_out: str,
    *,
    actor: str,
    clock: Clock,
    sku: str | None = None,
    connection_id: str | None = None,
) -> store.Incident:
    """The way out chosen for an open incident, recorded with who chose it. ``substitute`` needs the ``sku`` to
    put in the failed one's place: a warehouse SKU linked to a shop product, not the failed one."""
    with engine.begin() as conn:
        incident = _existing(conn, incident_id, connection_id)
        if incident.state == "resolving":
            raise ValidationError(
                "incident",
                f"incident {incident_id} is being resolved ({dict(incident.resolution or {})})",
                "wait for it: bitrix-inflow incidents show " + str(incident_id),
            )
        if incident.state != "open":
            raise ValidationError(
                "incident",
                f"incident {incident_id} is resolved already ({dict(incident.resolution or {})})",
                "see its trail: bitrix-inflow incidents show " + str(incident_id),
            )
        if way_out not in incident.ways_out:
            raise ValidationError(
                "way_out",
                f"{way_out!r} is not a way out of a {incident.kind} incident",
                "choose one of: " + ", ".join(incident.ways_out),
            )
        now = clock.now()
        # What an earlier way out did for good (the failed picking order cancelled) goes on with the new one.
        resolution: dict[str, object] = {**dict(incident.resolution or {}), "way_out": way_out, "by": actor}
        if way_out == WayOut.SUBSTITUTE:
            resolution["sku"], resolution["product_id"] = _substitute_sku(conn, incident, sku)
        elif sku is not None:
            raise ValidationError("sku", f"{way_out!r} takes no SKU", "leave --sku out, or choose substitute")
        if way_out in CARRIED_OUT:
            chosen = store.choose(conn, incident_id, resolution=resolution, actor=actor, now=now)
            if chosen:
                queue_carrying_out(conn, incident.connection_id, incident_id, now=now)
        else:
            store.add_audit(conn, incident_id, actor, "chose", resolution, now=now)
            chosen = store.resolve(
                conn, incident_id, resolution=resolution, actor=actor, now=now, from_states=("open",)
            )
        if not chosen:
            # Someone else chose meanwhile (two people on one incident): theirs stands; this transaction is undone.
            raise ValidationError(
                "incident",
                f"incident {incident_id} was resolved by someone else meanwhile",
                "reload it to see who chose what",
            )
        resolved = store.load(conn, incident_id)
        assert resolved is not None
        return resolved


def _existing(conn: Connection, incident_id: int, connection_id: str | None) -> store.Incident:
    """The incident, of ``connection_id`` when given: a person working on one shop never decides for another."""
    found = store.load(conn, incident_id)
    if found is None:
        raise ValidationError(
            "incident_id",
            f"there is no incident {incident_id}",
            "see the open ones: bitrix-inflow incidents list",
        )
    if connection_id is not None and found.connection_id != connection_id:
        raise ValidationError(
            "incident_id",
            f"incident {incident_id} belongs to tenant {found.connection_id!r}, not to {connection_id!r}",
            f"name its tenant: --connection {found.connection_id}",
        )
    return found


def _substitute_sku(conn: Connection, incident: store.Incident, sku: str | None) -> tuple[str, int]:
    """The SKU to put in the failed one's place, and the shop product it is linked to."""
    failed = str(incident.detail.get("sku") or "")
    chosen = (sku or "").strip()
    if not chosen:
        raise ValidationError(
            "sku", "substitute needs the SKU to put in the failed one's place", "pass --sku WAREHOUSE_SKU"
        )
    if chosen == failed:
        raise ValidationError("sku", f"{chosen} is the SKU that failed", "pass another SKU")
    link = stock_store.load_links(conn, incident.connection_id, [chosen]).get(chosen)
    if link is None:
        raise ValidationError(
            "sku",
            f"SKU {chosen!r} is not linked to any product of the shop",
            "pass a warehouse SKU the shop sells (linked by the stock sync, or by bitrix-inflow products import)",
        )
    return chosen, link.product_id
