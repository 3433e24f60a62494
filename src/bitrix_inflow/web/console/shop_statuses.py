"""The shop's order statuses for the mapping editor, asked of the shop at most every few minutes (a cloud shop's
every request counts against its limit); None while the shop cannot be asked, and the editor says so."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

import structlog

from bitrix_inflow.adapters.bitrix import BitrixGateway
from bitrix_inflow.errors import IntegrationError

log = structlog.get_logger("bitrix_inflow.web.console")


class ShopStatuses:
    def __init__(
        self,
        gateway: Callable[[], BitrixGateway],
        *,
        language: str,
        ttl: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._gateway, self._language, self._ttl, self._clock = gateway, language, ttl, clock
        self._kept: tuple[float, Mapping[str, str]] | None = None
        self._lock = threading.Lock()

    def __call__(self) -> Mapping[str, str] | None:
        with self._lock:
            if self._kept is not None and self._clock() - self._kept[0] < self._ttl:
                return self._kept[1]
            try:
                gateway = self._gateway()
                ids = [s.id for s in gateway.statuses() if s.type == "O"]
                names = gateway.status_names(self._language)
            except IntegrationError as exc:
                log.warning("console.shop_statuses_unread", error=str(exc))
                return self._kept[1] if self._kept is not None else None
            found = {status_id: names.get(status_id, "") for status_id in ids}
            self._kept = (self._clock(), found)
            return found
