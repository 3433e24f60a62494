"""Whether the service can talk to the warehouse and the shop now: one cheap request to each (a page of one stock
row; the webhook's scopes and methods), kept a minute so that the dashboard does not load either system."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from bitrix_inflow.adapters.bitrix import BitrixGateway
from bitrix_inflow.adapters.inflow import InflowClient
from bitrix_inflow.log import redactor
from bitrix_inflow.web.console.i18n import N_


@dataclass(frozen=True)
class Health:
    system: str  # warehouse | shop
    ok: bool
    detail: str
    checked_at: dt.datetime


class Connections:
    def __init__(
        self,
        *,
        warehouse: Callable[[], InflowClient] | None,
        shop: Callable[[], BitrixGateway] | None,
        ttl: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._warehouse, self._shop, self._ttl, self._clock = warehouse, shop, ttl, clock
        self._kept: tuple[float, list[Health]] | None = None
        self._lock = threading.Lock()

    def __call__(self) -> list[Health]:
        if self._kept is not None and self._clock() - self._kept[0] < self._ttl:
            return self._kept[1]
        # One probe at a time; a page that comes meanwhile shows the last result instead of waiting on a slow side.
        if not self._lock.acquire(blocking=self._kept is None):
            assert self._kept is not None
            return self._kept[1]
        try:
            found = [
                self._probe("warehouse", self._warehouse, _warehouse_ok),
                self._probe("shop", self._shop, _shop_ok),
            ]
            self._kept = (self._clock(), found)
            return found
        finally:
            self._lock.release()

    @staticmethod
    def _probe(system: str, client: Callable[[], object] | None, check: Callable[[object], str]) -> Health:
        now = dt.datetime.now(dt.UTC)
        if client is None:
            return Health(system, False, N_("not configured"), now)
        try:
            return Health(system, True, check(client()), now)
        except Exception as exc:  # any failure is the answer "does not work", never a broken page
            # Scrubbed as the logs are: an error may quote a URL with a webhook's secret in it.
            return Health(system, False, redactor.scrub_text(f"{type(exc).__name__}: {exc}"), now)


def _warehouse_ok(client: object) -> str:
    assert isinstance(client, InflowClient)
    client.available_stock_page(limit=1)
    return N_("answers")


def _shop_ok(gateway: object) -> str:
    assert isinstance(gateway, BitrixGateway)
    access = gateway.check_access()
    if not access.ok:
        missing = ", ".join([*access.missing_scopes, *access.unavailable_methods])
        raise PermissionError(f"the webhook lacks {missing}")
    return N_("answers; the webhook has every scope it needs")
