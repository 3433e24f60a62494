"""Inflow WMS adapter: ``InflowClient`` (REST or SOAP) behind the ``InflowPort`` protocol.

    settings = InflowSettings(base_url="https://wms.example.com", api_key="...", profile="legacy-example")
    with InflowClient(settings) as wms:
        for row in wms.iter_available_stock(updated_since=last_seen):
            ...
        order = wms.create_picking_order(new_order, idempotency_key=key_stored_with_the_job)

Everything it returns is a frozen model in the contract's canonical vocabulary (``models``); everything it
raises is from ``bitrix_inflow.errors`` (with the richer subclasses of ``problems``).
"""

from typing import TYPE_CHECKING, Any

from bitrix_inflow.adapters.inflow.models import (
    AvailableStock,
    BinStock,
    ChangesPage,
    NewOrderLine,
    NewPickingOrder,
    OrderLine,
    Package,
    PackageLine,
    PickedFrom,
    PickingFailure,
    PickingOrder,
    ReturnedLine,
    ReturnReceived,
    ReturnsPage,
    Shortage,
    StockPage,
    Tracking,
)
from bitrix_inflow.adapters.inflow.port import InflowPort
from bitrix_inflow.adapters.inflow.problems import (
    CancelRejectedError,
    ContractViolationError,
    DuplicateExternalRefError,
    IdempotencyInFlightError,
    InsufficientStockError,
    InvalidMarkingCodeError,
    UnavailableError,
    UnknownSkuError,
    UnknownWarehouseError,
    UnsupportedOperationError,
    VersionMismatchError,
)
from bitrix_inflow.adapters.inflow.profile import InstallationProfile, load_profile
from bitrix_inflow.adapters.inflow.settings import InflowRetry, InflowSettings, InflowTimeouts

if TYPE_CHECKING:
    from bitrix_inflow.adapters.inflow.client import InflowClient


def __getattr__(name: str) -> Any:
    # The client (httpx, zeep) loads when first asked for: see adapters.bitrix.
    if name == "InflowClient":
        from bitrix_inflow.adapters.inflow.client import InflowClient  # noqa: PLC0415 - loaded on first use

        return InflowClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AvailableStock",
    "BinStock",
    "CancelRejectedError",
    "ChangesPage",
    "ContractViolationError",
    "DuplicateExternalRefError",
    "IdempotencyInFlightError",
    "InflowClient",
    "InflowPort",
    "InflowRetry",
    "InflowSettings",
    "InflowTimeouts",
    "InstallationProfile",
    "InsufficientStockError",
    "InvalidMarkingCodeError",
    "NewOrderLine",
    "NewPickingOrder",
    "OrderLine",
    "Package",
    "PackageLine",
    "PickedFrom",
    "PickingFailure",
    "PickingOrder",
    "ReturnReceived",
    "ReturnedLine",
    "ReturnsPage",
    "Shortage",
    "StockPage",
    "Tracking",
    "UnavailableError",
    "UnknownSkuError",
    "UnknownWarehouseError",
    "UnsupportedOperationError",
    "VersionMismatchError",
    "load_profile",
]
