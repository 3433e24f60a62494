"""The two systems a flow talks to, opened from the settings; a missing side is a configuration error naming it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from bitrix_inflow.adapters.bitrix import BitrixGateway
from bitrix_inflow.adapters.inflow import InflowClient
from bitrix_inflow.config import Settings
from bitrix_inflow.errors import ValidationError


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
    with InflowClient(settings.inflow) as wms, BitrixGateway(settings.bitrix) as gateway:
        yield wms, gateway
