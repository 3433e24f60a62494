"""``ManagerChannel`` over the Bitrix gateway: a task on Bitrix24 (found again by its title's marker), a tagged
system notification on Site Management (a second one with the same tag replaces the first)."""

from __future__ import annotations

from bitrix_inflow.adapters.bitrix import BitrixGateway, Notice
from bitrix_inflow.sync.incidents.tell import Told


class BitrixManagerChannel:
    def __init__(self, gateway: BitrixGateway) -> None:
        self.gateway = gateway

    def tell(self, title: str, body: str, *, tag: str) -> Told:
        if self.gateway.settings.profile == "bitrix24":
            notice = self.gateway.create_task(title, body, tag=tag)
        else:
            notice = self.gateway.notify_manager(f"[b]{title}[/b]\n{body}", tag=tag)
        return _told(notice)

    def find(self, tag: str) -> Told | None:
        if self.gateway.settings.profile != "bitrix24":
            return None  # a notification cannot be looked up, and asking again with its tag replaces it
        found = self.gateway.find_task(tag)
        return None if found is None else _told(found)

    def order_link(self, order_id: int) -> str:
        return self.gateway.order_url(order_id)


def _told(notice: Notice) -> Told:
    return Told(notice.kind.value, None if notice.id is None else str(notice.id))
