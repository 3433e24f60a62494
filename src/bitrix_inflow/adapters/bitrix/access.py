"""The start-up check: which scopes and methods the sync flows need that this webhook/app cannot use.

On-prem REST lags the cloud and modules may be missing, so the docs advise checking at install time.
"""

from __future__ import annotations

from collections.abc import Mapping

from bitrix_inflow.errors import PermanentError

from . import error_map, replies
from .models import AccessReport
from .settings import BitrixSettings
from .transport import JSON, Transport

# What the sync flows call; tasks.task.add is added on Bitrix24, the only edition with tasks.
_NEEDED_METHODS = (
    "sale.order.list",
    "sale.order.get",
    "sale.order.update",
    "sale.basketitem.list",
    "sale.basketitem.add",
    "sale.basketitem.delete",
    "sale.shipmentitem.add",
    "sale.shipment.list",
    "sale.shipment.update",
    "sale.status.list",
    "catalog.catalog.list",
    "catalog.product.list",
    "catalog.product.offer.list",
    "catalog.product.update",
    "catalog.product.offer.update",
    "catalog.store.list",
    "catalog.storeproduct.list",
    "catalog.document.mode.status",
    "catalog.document.add",
    "catalog.document.element.add",
    "catalog.document.element.list",
    "catalog.document.conduct",
    "catalog.document.cancel",
    "catalog.document.delete",
    "catalog.document.list",
    "im.notify.system.add",
)


def check_access(transport: Transport, settings: BitrixSettings) -> AccessReport:
    """One ``batch`` request: ``scope`` plus ``method.get`` per needed method."""
    on_bitrix24 = settings.profile == "bitrix24"
    needed = _NEEDED_METHODS + (("tasks.task.add",) if on_bitrix24 else ())
    commands: dict[str, tuple[str, JSON]] = {"scope": ("scope", {})}
    commands.update({f"m{i}": ("method.get", {"name": name}) for i, name in enumerate(needed)})
    reply = transport.batch(commands)
    replies.raise_first(reply, "scope")
    granted = tuple(str(s) for s in _rows_or_scalars(reply.results.get("scope")))
    wanted_scopes = {"sale", "catalog", "im"} | ({"task"} if on_bitrix24 else set())
    unavailable: dict[str, str] = {}
    for i, name in enumerate(needed):
        key = f"m{i}"
        if key in reply.errors:
            unavailable[name] = str(reply.errors[key])
            continue
        info = reply.results.get(key)
        if not isinstance(info, Mapping) or not info.get("isExisting"):
            unavailable[name] = "not on this Bitrix (module not installed or edition without it)"
        elif not info.get("isAvailable"):
            unavailable[name] = f"needs the scope {error_map.scope_for(name)}"
    return AccessReport(
        scopes=granted,
        missing_scopes=tuple(sorted(wanted_scopes - set(granted))),
        unavailable_methods=unavailable,
    )


def _rows_or_scalars(value: object) -> list[object]:
    if isinstance(value, list):
        return value
    if isinstance(value, Mapping):
        return list(value.values())
    raise PermanentError(f"scope: expected a list of scopes, got {str(value)[:100]}")
