"""The two systems a flow talks to, opened from the settings; a missing side is a configuration error naming it.

A worker thread keeps its clients from one job to the next (same settings; one set per tenant): opening them afresh
per job cost a TLS context, a TCP connection and a TLS handshake to each side every time, more than the work of a
short job. A job that fails drops its clients, so the next one starts clean.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

from bitrix_inflow.adapters.bitrix import BitrixGateway
from bitrix_inflow.adapters.inflow import InflowClient
from bitrix_inflow.config import Settings
from bitrix_inflow.errors import ValidationError

_kept = threading.local()
# A worker thread takes any tenant's jobs: it keeps each tenant's clients, the least recently used dropped first
# (settings changed at run time make new section objects, and the old ones' clients must not pile up).
KEPT_PER_THREAD = 8

_Held = tuple[Settings, InflowClient, BitrixGateway]


def _held() -> OrderedDict[tuple[int, int], _Held]:
    found: OrderedDict[tuple[int, int], _Held] | None = getattr(_kept, "clients", None)
    if found is None:
        found = _kept.clients = OrderedDict()
    return found


@contextmanager
def open_clients(settings: Settings) -> Iterator[tuple[InflowClient, BitrixGateway]]:
    if settings.inflow is None:
        raise ValidationError(
            "inflow", "the warehouse is not configured", "add an [inflow] section (base_url, auth)"
        )
    if settings.bitrix is None:
        raise ValidationError(
            "bitrix", "the shop is not configured", "add a [bitrix] section and the webhook URL"
        )
    kept = _held()
    key = (id(settings.inflow), id(settings.bitrix))
    held = kept.get(key)
    # The same sections, the same clients: settings changed at run time (intervals, rules) keep the connections
    # and their refreshed tokens; a new [inflow] or [bitrix] is a restart anyway. (The identity check guards
    # against an id reused by a new object after the old one was collected.)
    if held is None or held[0].inflow is not settings.inflow or held[0].bitrix is not settings.bitrix:
        _drop(key)
        held = (settings, InflowClient(settings.inflow), BitrixGateway(settings.bitrix))
        kept[key] = held
        while len(kept) > KEPT_PER_THREAD:
            _drop(next(iter(kept)))
    kept.move_to_end(key)
    try:
        yield held[1], held[2]
    except BaseException:
        _drop(key)
        raise


def _drop(key: tuple[int, int]) -> None:
    held = _held().pop(key, None)
    if held is not None:
        held[1].close()
        held[2].close()
