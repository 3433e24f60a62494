"""The two systems a flow talks to, opened from the settings; a missing side is a configuration error naming it.

A worker thread keeps its clients from one job to the next (same settings): opening them afresh per job cost a TLS
context, a TCP connection and a TLS handshake to each side every time, more than the work of a short job. A job
that fails drops them, so the next one starts clean.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from bitrix_inflow.adapters.bitrix import BitrixGateway
from bitrix_inflow.adapters.inflow import InflowClient
from bitrix_inflow.config import Settings
from bitrix_inflow.errors import ValidationError

_kept = threading.local()


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
    held: tuple[Settings, InflowClient, BitrixGateway] | None = getattr(_kept, "clients", None)
    # The same sections, the same clients: settings changed at run time (intervals, rules) keep the connections
    # and their refreshed tokens; a new [inflow] or [bitrix] is a restart anyway.
    if held is None or held[0].inflow is not settings.inflow or held[0].bitrix is not settings.bitrix:
        _drop()
        held = (settings, InflowClient(settings.inflow), BitrixGateway(settings.bitrix))
        _kept.clients = held
    try:
        yield held[1], held[2]
    except BaseException:
        _drop()
        raise


def _drop() -> None:
    held: tuple[Settings, InflowClient, BitrixGateway] | None = getattr(_kept, "clients", None)
    _kept.clients = None
    if held is not None:
        held[1].close()
        held[2].close()
