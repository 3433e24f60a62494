"""Telling the shop's manager about an incident, exactly once however often the job runs or the service restarts.

The notice moves ``pending → telling → told`` in the incidents table. ``telling`` is committed before the request:
a run that finds it there knows an earlier request may have reached the shop, and does not blindly ask again. A task
(Bitrix24) is then looked up by the incident's marker in its title and recorded if found; a notification (Site
Management) carries the incident's tag, and the shop replaces a notification with the same tag, so asking again
still shows the manager one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import structlog
from sqlalchemy import Engine

from bitrix_inflow.domain.incidents import Language, marker, message
from bitrix_inflow.store import incidents as store
from bitrix_inflow.store import orders as order_store
from bitrix_inflow.timing import Clock

log = structlog.get_logger("bitrix_inflow.sync.incidents")


@dataclass(frozen=True)
class Told:
    kind: str  # task | notification
    ref: str | None  # its id in the shop


class ManagerChannel(Protocol):
    """How the shop's manager is reached."""

    def tell(self, title: str, body: str, *, tag: str) -> Told: ...

    def find(self, tag: str) -> Told | None:
        """What an earlier ``tell`` with ``tag`` left in the shop, where that can be seen (a task); None."""
        ...

    def order_link(self, order_id: int) -> str:
        """Where the manager opens the order."""
        ...


def tell_manager(
    engine: Engine,
    channel: ManagerChannel,
    incident_id: int,
    *,
    clock: Clock,
    language: Language,
) -> Told | None:
    """The manager told of the incident, once; what told them (None: told before, or nothing to tell)."""
    with engine.begin() as conn:
        incident = store.load(conn, incident_id)
        if incident is None or incident.notice_state not in ("pending", "telling"):
            return None
        binding = order_store.load_binding(conn, incident.connection_id, incident.order_id)
        # Only the run that moved it from pending may tell without looking first: any other (a second worker after
        # a lease ran out) treats it as telling, since a request may be on its way.
        first = incident.notice_state == "pending" and store.move_notice(
            conn, incident_id, expected={"pending"}, state="telling", now=clock.now()
        )
    tag = marker(incident_id)
    told = None if first else channel.find(tag)
    if told is None:
        account = (binding.account_number if binding is not None else None) or str(incident.order_id)
        words = message(
            incident.kind,
            incident_id=incident_id,
            account=account,
            detail=incident.detail,
            order_link=channel.order_link(incident.order_id),
            language=language,
        )
        told = channel.tell(words.title, words.body, tag=tag)
    with engine.begin() as conn:
        now = clock.now()
        if store.move_notice(
            conn, incident_id, expected={"telling"}, state="told", kind=told.kind, ref=told.ref, now=now
        ):
            store.add_audit(
                conn, incident_id, store.SERVICE, "told", {"by": told.kind, "ref": told.ref}, now=now
            )
    log.info("incidents.told", incident_id=incident_id, by=told.kind, ref=told.ref)
    return told
