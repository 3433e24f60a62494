"""The Bitrix adapter: ``BitrixGateway`` and its settings. Built on b24pysdk; see README.md.

Everything it returns is a frozen model (``models``); everything it raises is from ``bitrix_inflow.errors``,
with the refinements of ``errors`` where a caller acts on the difference.
"""

from typing import TYPE_CHECKING, Any

from .errors import (
    CancelRefusedError,
    DeductRefusedError,
    DocumentStatusError,
    EntityNotFoundError,
    InsufficientScopeError,
    InventoryManagementOffError,
    MarkingRefusedError,
    MethodNotFoundError,
    StatusOverruledError,
    StockDocumentError,
)
from .models import (
    AccessReport,
    BasketLine,
    CatalogItem,
    CatalogStore,
    ChangedOrders,
    DocumentStatus,
    Notice,
    NoticeKind,
    OfflineBatch,
    OfflineRecord,
    OrderBundle,
    OrderHeader,
    OrderWatermark,
    ProductMarking,
    ProductType,
    PropertyValue,
    QuantityUpdate,
    SaleStatus,
    Shipment,
    ShipmentLine,
    ShipmentLineCodes,
    StatusBatch,
    StatusChange,
    StatusOutcome,
    StatusRequest,
    StockDocument,
    StockDocumentHeader,
    StockDocumentLine,
    StockLine,
    StoreAmount,
    TradeCatalog,
)
from .settings import BitrixSettings, OAuthCredentials

if TYPE_CHECKING:
    from .gateway import BitrixGateway


def __getattr__(name: str) -> Any:
    # The gateway (b24pysdk, requests) loads when first asked for: the configuration and every command that does not
    # talk to the shop import this package for its settings and models alone, and start a second sooner.
    if name == "BitrixGateway":
        from .gateway import BitrixGateway  # noqa: PLC0415 - loaded on first use

        return BitrixGateway
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AccessReport",
    "BasketLine",
    "BitrixGateway",
    "BitrixSettings",
    "CancelRefusedError",
    "CatalogItem",
    "CatalogStore",
    "ChangedOrders",
    "DeductRefusedError",
    "DocumentStatus",
    "DocumentStatusError",
    "EntityNotFoundError",
    "InsufficientScopeError",
    "InventoryManagementOffError",
    "MarkingRefusedError",
    "MethodNotFoundError",
    "Notice",
    "NoticeKind",
    "OAuthCredentials",
    "OfflineBatch",
    "OfflineRecord",
    "OrderBundle",
    "OrderHeader",
    "OrderWatermark",
    "ProductMarking",
    "ProductType",
    "PropertyValue",
    "QuantityUpdate",
    "SaleStatus",
    "Shipment",
    "ShipmentLine",
    "ShipmentLineCodes",
    "StatusBatch",
    "StatusChange",
    "StatusOutcome",
    "StatusOverruledError",
    "StatusRequest",
    "StockDocument",
    "StockDocumentError",
    "StockDocumentHeader",
    "StockDocumentLine",
    "StockLine",
    "StoreAmount",
    "TradeCatalog",
]
