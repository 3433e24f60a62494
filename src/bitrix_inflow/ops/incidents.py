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
from bitrix_inflow.sync.incidents.ways import queue_carrying_out
from bitrix_inflow.timing import Clock

# Ways out whose work the service does not carry out yet: choosing one is refused, never recorded as done.
NOT_BUILT = frozenset({WayOut.SUBSTITUTE})
# Ways out the service carries out with the remote systems (a job), the incident ``resolving`` meanwhile.
CARRIED_OUT = frozenset({WayOut.CANCEL, WayOut.RETRY_WHEN_STOCK, WayOut.SHIP_REST})


class NotBuiltError(ValidationError):
    """A way out this version cannot carry out yet."""


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


def show(engine: Engine, incident_id: int) -> Shown:
    with engine.connect() as conn:
        incident = _existing(conn, incident_id)
        return Shown(incident, store.trail(conn, incident_id))


def resolve(engine: Engine, incident_id: int, way_out: str, *, actor: str, clock: Clock) -> store.Incident:
    """The way out chosen for an open incident, recorded with who chose it."""
    with engine.begin() as conn:
        incident = _existing(conn, incident_id)
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
        if way_out in NOT_BUILT:
            raise NotBuiltError(
                "way_out",
                f"{way_out!r} cannot be carried out by this version yet",
                "choose it in a later version",
            )
        now = clock.now()
        resolution = {"way_out": way_out, "by": actor}
        if way_out in CARRIED_OUT:
            store.choose(conn, incident_id, resolution=resolution, actor=actor, now=now)
            queue_carrying_out(conn, incident.connection_id, incident_id, now=now)
        else:
            store.add_audit(conn, incident_id, actor, "chose", resolution, now=now)
            store.resolve(conn, incident_id, resolution=resolution, actor=actor, now=now)
        resolved = store.load(conn, incident_id)
        assert resolved is not None
        return resolved


def _existing(conn: Connection, incident_id: int) -> store.Incident:
    found = store.load(conn, incident_id)
    if found is None:
        raise ValidationError(
            "incident_id",
            f"there is no incident {incident_id}",
            "see the open ones: bitrix-inflow incidents list",
        )
    return found
