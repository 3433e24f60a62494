"""What the gateway hands to the sync flows: plain frozen values, already coerced (ids int, flags bool)."""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from bitrix_inflow.errors import IntegrationError


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
    person_type_id: int | None = None  # the payer type (individual, company): an eligibility rule
    version: int | None = None  # one more on every save of the order (None: the shop did not say)


@dataclass(frozen=True)
class BasketProperty:
    code: str | None
    name: str
    value: str
    id: int | None = None
    xml_id: str | None = None


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
    """Where the last poll stopped: highest order id seen, latest ``dateUpdate`` seen, and where an unfinished
    scan of changed orders goes on (0: none unfinished)."""

    last_id: int = 0
    updated_at: datetime | None = None
    resume_id: int = 0


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
    version: int | None = None  # the order's version after the write (None: not written, or not said)


@dataclass(frozen=True)
class StatusRequest:
    """Set ``order_id`` to ``status_id``, only if its status now is one of ``allowed_from``."""

    order_id: int
    status_id: str
    allowed_from: Collection[str]


@dataclass(frozen=True)
class StatusBatch:
    """What a batched compare-and-set did per order, and the orders it read ahead (each: a bundle or the error
    about it)."""

    changes: Mapping[int, StatusChange | IntegrationError]
    read: Mapping[int, OrderBundle | IntegrationError]


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
    failed: dict[int, str] = field(default_factory=dict)  # product id -> why it was not written
    missing: tuple[int, ...] = ()  # of ``failed``: the ones Bitrix says do not exist (re-read the catalogue)


@dataclass(frozen=True)
class TradeCatalog:
    """A row of ``catalog.catalog.list``. A trade-offer catalog names its products' iblock and the property
    holding each offer's product; Bitrix24 has one product catalog and, with variations, one offer catalog."""

    id: int
    iblock_id: int
    name: str
    product_iblock_id: int | None  # set on an offers catalog only
    sku_property_id: int | None  # set on an offers catalog only

    @property
    def is_offers(self) -> bool:
        return self.product_iblock_id is not None


class ProductType(enum.Enum):
    """``type`` of a catalog row (read-only in Bitrix). The REST docs list 1, 3, 4, 5, 6, 7; 2 is the core's
    ``ProductTable::TYPE_SET``. A value Bitrix adds later arrives as UNKNOWN instead of failing the read."""

    UNKNOWN = 0
    SIMPLE = 1
    SET = 2
    WITH_OFFERS = 3  # a parent product: sold through its trade offers, holds no stock of its own
    OFFER = 4
    FREE_OFFER = 5  # a trade offer without a parent product
    EMPTY_SKU = 6  # a parent product whose offers are all gone
    SERVICE = 7


@dataclass(frozen=True)
class CatalogItem:
    """A product or trade offer as the stock sync matches it against warehouse SKUs."""

    id: int
    iblock_id: int
    name: str
    type: ProductType
    xml_id: str | None
    key: str | None  # the value of the matching key asked for (xmlId or propertyN); None when empty
    parent_id: int | None = None  # a trade offer's product (its ``parentId.value``)
    barcode_multi: bool = False  # one barcode per unit: stock documents need them, so such items are left out
    quantity: Decimal | None = None  # what the shop shows now (read-only under inventory management)

    @property
    def is_offer(self) -> bool:
        return self.type in (ProductType.OFFER, ProductType.FREE_OFFER)

    @property
    def has_offers(self) -> bool:
        return self.type is ProductType.WITH_OFFERS


@dataclass(frozen=True)
class StoreAmount:
    """A row of ``catalog.storeproduct.list``: one product's stock in one store (changed by documents only)."""

    id: int
    product_id: int
    store_id: int
    amount: Decimal
    reserved: Decimal


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


class DocumentStatus(enum.Enum):
    DRAFT = "N"
    CONDUCTED = "Y"
    CANCELLED = "C"


@dataclass(frozen=True)
class StockDocumentHeader:
    """A row of ``catalog.document.list``."""

    id: int
    doc_type: str
    status: DocumentStatus
    title: str | None
    doc_number: str | None
    currency: str | None
    date_create: datetime | None
    date_status: datetime | None


@dataclass(frozen=True)
class StockDocumentLine:
    """A row of ``catalog.document.element.list``: one product line of a stock document."""

    id: int
    document_id: int
    product_id: int
    amount: Decimal
    store_from: int | None
    store_to: int | None
    purchasing_price: Decimal | None


@dataclass(frozen=True)
class OfflineRecord:
    """One record of the shop's offline event queue: an object that changed since it was last read."""

    event: str  # upper-cased, as the shop names it (ONSALEORDERSAVED)
    entity_id: int | None  # EVENT_DATA.FIELDS.ID; None when the record does not say
    message_id: str


@dataclass(frozen=True)
class OfflineBatch:
    process_id: str | None  # the reservation to clear; None: the shop removed the records already
    records: tuple[OfflineRecord, ...]
    full: bool  # a whole page: more records may wait


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


@dataclass(frozen=True)
class ShipmentLineCodes:
    """A shipment line as the companion module sees it: the marking codes its units carry (``b_sale_store_barcode``)."""

    shipment_id: int
    basket_id: int
    product_id: int
    quantity: Decimal
    group: str  # the product's marking group as the shop names it; "" = not marked
    deducted: bool
    codes: tuple[str, ...]


@dataclass(frozen=True)
class ProductMarking:
    """A product's barcodes (its GTIN among them) and marking group, as the companion module reads them."""

    barcodes: tuple[str, ...]
    group: str
