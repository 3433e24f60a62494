"""The Bitrix adapter: ``BitrixGateway`` and its settings. Built on b24pysdk; see README.md.

Everything it returns is a frozen model (``models``); everything it raises is from ``bitrix_inflow.errors``,
with the refinements of ``errors`` where a caller acts on the difference.
"""

from .errors import EntityNotFoundError, InsufficientScopeError, MethodNotFoundError, StatusOverruledError
from .gateway import BitrixGateway
from .models import (
    AccessReport,
    BasketLine,
    CatalogStore,
    ChangedOrders,
    Notice,
    NoticeKind,
    OrderBundle,
    OrderHeader,
    OrderWatermark,
    PropertyValue,
    QuantityUpdate,
    SaleStatus,
    Shipment,
    ShipmentLine,
    StatusChange,
    StatusOutcome,
    StockDocument,
    StockLine,
)
from .settings import BitrixSettings, OAuthCredentials

__all__ = [
    "AccessReport",
    "BasketLine",
    "BitrixGateway",
    "BitrixSettings",
    "CatalogStore",
    "ChangedOrders",
    "EntityNotFoundError",
    "InsufficientScopeError",
    "MethodNotFoundError",
    "Notice",
    "NoticeKind",
    "OAuthCredentials",
    "OrderBundle",
    "OrderHeader",
    "OrderWatermark",
    "PropertyValue",
    "QuantityUpdate",
    "SaleStatus",
    "Shipment",
    "ShipmentLine",
    "StatusChange",
    "StatusOutcome",
    "StatusOverruledError",
    "StockDocument",
    "StockLine",
]
