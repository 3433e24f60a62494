"""The Bitrix adapter: ``BitrixGateway`` and its settings. Built on b24pysdk; see README.md."""

from .errors import EntityNotFoundError, InsufficientScopeError, MethodNotFoundError, StatusOverruledError
from .gateway import BitrixGateway
from .models import (
    AccessReport,
    BasketLine,
    ChangedOrders,
    Notice,
    NoticeKind,
    OrderBundle,
    OrderHeader,
    OrderStatus,
    OrderWatermark,
    PropertyValue,
    QuantityUpdate,
    Shipment,
    ShipmentLine,
    StatusChange,
    StatusOutcome,
    StockDocument,
    StockLine,
    Store,
)
from .settings import BitrixSettings, OAuthCredentials

__all__ = [
    "AccessReport",
    "BasketLine",
    "BitrixGateway",
    "BitrixSettings",
    "ChangedOrders",
    "EntityNotFoundError",
    "InsufficientScopeError",
    "MethodNotFoundError",
    "Notice",
    "NoticeKind",
    "OAuthCredentials",
    "OrderBundle",
    "OrderHeader",
    "OrderStatus",
    "OrderWatermark",
    "PropertyValue",
    "QuantityUpdate",
    "Shipment",
    "ShipmentLine",
    "StatusChange",
    "StatusOutcome",
    "StatusOverruledError",
    "StockDocument",
    "StockLine",
    "Store",
]
