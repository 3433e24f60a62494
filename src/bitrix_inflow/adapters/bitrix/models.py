"""What the gateway hands to the sync flows: plain frozen values, already coerced (ids int, flags bool)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True)
class OrderHeader:
    id: int
    account_number: str
    xml_id: str | None
    site_id: str | None
    status_id: str
    canceled: bool
    paid: bool
    price: Decimal
    currency: str
    date_insert: datetime | None
    date_update: datetime | None
    user_description: str | None = None
    comments: str | None = None


@dataclass(frozen=True)
class BasketProperty:
    code: str | None
    name: str
    value: str


@dataclass(frozen=True)
class BasketLine:
    id: int
    order_id: int
    product_id: int | None  # None when the line is not from the catalog (productId 0)
    product_xml_id: str | None
    name: str
    quantity: Decimal
    price: Decimal
    currency: str
    measure_code: str | None
    measure_name: str | None
    xml_id: str | None
    properties: tuple[BasketProperty, ...] = ()


@dataclass(frozen=True)
class ShipmentLine:
    id: int
    shipment_id: int
    basket_id: int
    quantity: Decimal


@dataclass(frozen=True)
class Shipment:
    id: int
    order_id: int
    account_number: str | None
    status_id: str | None
    allow_delivery: bool
    deducted: bool
    delivery_id: int
    delivery_name: str | None
    delivery_xml_id: str | None
    tracking_number: str | None
    lines: tuple[ShipmentLine, ...] = ()


@dataclass(frozen=True)
class PropertyValue:
    id: int | None
    property_id: int | None
    code: str | None
    name: str | None
    value: str


@dataclass(frozen=True)
class OrderBundle:
    """An order with everything a picking order needs, read in one ``batch`` request."""

    order: OrderHeader
    basket: tuple[BasketLine, ...]
    shipments: tuple[Shipment, ...]
    properties: tuple[PropertyValue, ...]


@dataclass(frozen=True)
class OrderWatermark:
    """Where the last poll stopped: highest order id seen, latest ``dateUpdate`` seen."""

    last_id: int = 0
    updated_at: datetime | None = None


@dataclass(frozen=True)
class ChangedOrders:
    new: tuple[OrderHeader, ...]
    changed: tuple[OrderHeader, ...]
    watermark: OrderWatermark
    complete: bool = True  # False when max_pages cut the poll short: poll again soon

    @property
    def all(self) -> tuple[OrderHeader, ...]:
        return self.new + self.changed


class StatusOutcome(enum.Enum):
    CHANGED = "changed"
    ALREADY_SET = "already_set"  # the order already had the wanted status: nothing written
    REFUSED = "refused"  # its current status is not one we may change from: nothing written


@dataclass(frozen=True)
class StatusChange:
    order_id: int
    outcome: StatusOutcome
    previous_status: str
    current_status: str


@dataclass(frozen=True)
class SaleStatus:
    """A row of ``sale.status.list``: an order (``O``) or delivery (``D``) status as configured in the shop."""

    id: str
    type: str  # O = order, D = delivery
    sort: int
    notify: bool
    xml_id: str | None
    color: str | None = None


@dataclass(frozen=True)
class CatalogStore:
    """A row of ``catalog.store.list``: a warehouse of the shop (stock documents name it by ``id``)."""

    id: int
    title: str
    active: bool
    code: str | None
    xml_id: str | None
    address: str | None


@dataclass(frozen=True)
class QuantityUpdate:
    updated: tuple[int, ...]
    failed: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StockLine:
    product_id: int
    amount: Decimal
    store_to: int | None = None
    store_from: int | None = None
    purchasing_price: Decimal | None = None


@dataclass(frozen=True)
class StockDocument:
    id: int
    doc_type: str
    element_ids: tuple[int, ...]
    conducted: bool


class NoticeKind(enum.Enum):
    TASK = "task"
    NOTIFICATION = "notification"


@dataclass(frozen=True)
class Notice:
    kind: NoticeKind
    id: int | None


@dataclass(frozen=True)
class AccessReport:
    """What the webhook/app may do, checked once at start-up (``BitrixGateway.check_access``)."""

    scopes: tuple[str, ...]
    missing_scopes: tuple[str, ...]
    unavailable_methods: dict[str, str] = field(default_factory=dict)  # method -> why

    @property
    def ok(self) -> bool:
        return not self.missing_scopes and not self.unavailable_methods
