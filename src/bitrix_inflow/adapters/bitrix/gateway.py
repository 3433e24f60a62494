"""BitrixGateway: the one place bitrix-inflow talks to 1C-Bitrix (on-prem "Site Management" or Bitrix24).

Written from the documented REST contract (shared/reference/bitrix-rest.md). Every method returns frozen
models or raises an error of ``bitrix_inflow.errors`` (refined in ``errors``); nothing of b24pysdk or
``requests`` leaks out. The work is done per entity (``orders``, ``shipments``, ``catalog``,
``stock_documents``, ``notifications``, ``access``), all over this gateway's one ``Transport``, so they
share its pacing, lock and token.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from bitrix_inflow.errors import IntegrationError
from bitrix_inflow.timing import Clock

from .access import check_access
from .basket_properties import BasketProperties
from .catalog import Catalog
from .discovery import Discovery, ShopIdentity, ShopSnapshot
from .events import Events
from .marking import Marking
from .models import (
    AccessReport,
    BasketProperty,
    CatalogItem,
    CatalogStore,
    ChangedOrders,
    DocumentStatus,
    Notice,
    OfflineBatch,
    OrderBundle,
    OrderWatermark,
    ProductMarking,
    QuantityUpdate,
    SaleStatus,
    Shipment,
    ShipmentLineCodes,
    StatusBatch,
    StatusChange,
    StatusRequest,
    StockDocument,
    StockDocumentHeader,
    StockDocumentLine,
    StockLine,
    StoreAmount,
    TradeCatalog,
)
from .notifications import Notifications
from .orders import Orders
from .pacing import Backoff
from .settings import BitrixSettings
from .shipments import Shipments
from .stock_documents import StockDocuments
from .transport import TokenListener, Transport


class BitrixGateway:
    """Typed access to the Bitrix REST methods the sync flows need.

    One gateway per shop; calls are sequential (Bitrix wants one worker per portal), the leaky bucket and
    the back-off are per gateway.
    """

    def __init__(
        self,
        settings: BitrixSettings,
        *,
        clock: Clock | None = None,
        backoff: Backoff | None = None,
        on_token_refreshed: TokenListener | None = None,
    ) -> None:
        self.settings = settings
        self.transport = Transport(
            settings, clock=clock, backoff=backoff, on_token_refreshed=on_token_refreshed
        )
        self._orders = Orders(self.transport, settings)
        self._shipments = Shipments(self.transport)
        self._catalog = Catalog(self.transport)
        self._marking = Marking(self.transport)
        self._basket_properties = BasketProperties(self.transport)
        self._stock_documents = StockDocuments(self.transport, settings)
        self._notifications = Notifications(self.transport, settings)
        self._events = Events(self.transport, settings)
        self._discovery = Discovery(self.transport)

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> BitrixGateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- start-up -----------------------------------------------------------------------------------------

    def check_access(self) -> AccessReport:
        """Which needed scopes and methods this webhook/app lacks, in one ``batch`` request."""
        return check_access(self.transport, self.settings)

    # -- orders -------------------------------------------------------------------------------------------

    def identify(self) -> ShopIdentity:
        """Which installation this is (Site Management, Bitrix24 cloud or self-hosted), and what the credential may
        call: one ``batch`` request."""
        return self._discovery.identify()

    def discover(self, *, language: str = "ru") -> ShopSnapshot:
        """What the shop has configured, for onboarding: statuses, stores, delivery services, person types, trade
        catalogs and their properties, inventory-management mode. A refused read is named in ``unread``."""
        return self._discovery.snapshot(language=language)

    def add_order_status(self, status_id: str, names: Mapping[str, str], *, sort: int) -> None:
        """Create an order status with its names (administrator rights); onboarding's only write, once confirmed."""
        self._discovery.add_status(status_id, names, sort=sort)

    def orders_created_since(self, since: datetime, *, max_pages: int = 200) -> tuple[list[int], bool]:
        """Ids of the orders created at or after ``since``, oldest first, and whether that is all (False: the page
        bound ran out first)."""
        return self._orders.orders_created_since(since, max_pages=max_pages)

    def orders_changed_since(self, watermark: OrderWatermark, *, max_pages: int = 20) -> ChangedOrders:
        """New orders (``>id`` the watermark) and changed ones (``>=dateUpdate`` minus the overlap buffer).

        Both use the bulk read Bitrix recommends: ``order {id: asc}``, ``start=-1`` (no COUNT), an ``>id``
        cursor, stop on a short page. Changed orders repeat across polls inside the overlap window: callers
        deduplicate on (id, date_update). ``max_pages`` bounds one poll; the watermark only moves past
        what was really read.
        """
        return self._orders.orders_changed_since(watermark, max_pages=max_pages)

    def get_order(self, order_id: int) -> OrderBundle:
        """The order, its basket, shipments with their lines and properties: one ``batch`` request.

        A missing order raises ``EntityNotFoundError`` (entity ``"order"``, ``entity_id``).
        """
        return self._orders.get_order(order_id)

    def get_orders(self, order_ids: Sequence[int]) -> dict[int, OrderBundle | IntegrationError]:
        """Up to 50 orders whole in one request; each order's bundle or the error about it (``get_order``'s)."""
        return self._orders.get_orders(order_ids)

    def set_order_status(
        self, order_id: int, status_id: str, *, allowed_from: Collection[str]
    ) -> StatusChange:
        """Compare-and-set: write ``status_id`` only if the order's current status is in ``allowed_from``.

        Bitrix has no conditional update, so this is read-then-write; the window between them is one
        request long. The answer says what happened; nothing is written unless the outcome is CHANGED.
        A missing order raises ``EntityNotFoundError``; a status a shop rule replaced right away,
        ``StatusOverruledError`` (with the status ``kept``).
        """
        return self._orders.set_order_status(order_id, status_id, allowed_from=allowed_from)

    def cancel_order(self, order_id: int, reason: str) -> bool:
        """Cancel the order (the ``canceled`` flag, which releases its reservations): True when cancelled now, False
        when it was already. ``CancelRefusedError`` when the shop refuses (a paid payment, a shipped shipment)."""
        return self._orders.cancel_order(order_id, reason)

    def delete_basket_item(self, basket_id: int) -> bool:
        """Remove a line from its order (``sale.basketitem.delete``; its reservation is released): True when deleted
        now, False when it was gone already. A line of a shipped shipment cannot go (a ``PermanentError``)."""
        return self._orders.delete_basket_item(basket_id)

    def add_basket_item(
        self, order_id: int, product_id: int, quantity: Decimal, *, xml_id: str
    ) -> tuple[int, bool]:
        """Add a catalogue product's line to an order, once (``xml_id`` marks it: a line with it already is the
        answer). (basket item id, added now); the line is in no shipment until ``add_shipment_item``."""
        return self._orders.add_basket_item(order_id, product_id, quantity, xml_id=xml_id)

    def add_shipment_item(self, shipment_id: int, basket_id: int, quantity: Decimal) -> bool:
        """Put units of a basket item in a shipment (reserved there): True when added now, False when there."""
        return self._orders.add_shipment_item(shipment_id, basket_id, quantity)

    # -- the companion module (bitrix-module/): marking codes, barcodes, one line's reservation --------------------

    def set_marking_codes(
        self, shipment_id: int, basket_id: int, codes: Sequence[str], *, store_id: int = 0
    ) -> bool:
        """The shipment line's units carry exactly ``codes`` (``MARKING_CODE`` of its store rows, what the cashbox's
        receipt reads). ``MarkingRefusedError`` when the shop will not (deducted, not a marked product, more codes
        than units); ``MethodNotFoundError`` without the module. True when the shop changed (it saved the order)."""
        return self._marking.set_codes(shipment_id, basket_id, codes, store_id=store_id)

    def marking_codes(self, order_id: int) -> list[ShipmentLineCodes]:
        """Every shipment line of the order with the codes its units carry in the shop."""
        return self._marking.codes_of_order(order_id)

    def product_marking(self, product_ids: Sequence[int]) -> dict[int, ProductMarking]:
        """Each product's barcodes (its GTIN) and marking group; products the shop does not have are left out."""
        return self._marking.products(product_ids)

    def release_reservation(self, basket_id: int) -> Decimal:
        """Let go of one basket line's reservation (the line stays): the units released, 0 when none were held."""
        return self._marking.release_reservation(basket_id)

    # -- basket line properties (where a shop without the module keeps marking codes) ----------------------------

    def basket_properties(self, basket_id: int) -> list[BasketProperty]:
        """The line's properties, with their ids and xmlIds (``sale.basketproperties.list``)."""
        return self._basket_properties.of_line(basket_id)

    def add_basket_property(self, basket_id: int, *, name: str, code: str, value: str, xml_id: str) -> int:
        """A property added to the line (the order is saved); not retried: list the line first to find a lost one."""
        return self._basket_properties.add(basket_id, name=name, code=code, value=value, xml_id=xml_id)

    def delete_basket_property(self, property_id: int) -> bool:
        """True when deleted now (the order is saved), False when it was gone already."""
        return self._basket_properties.delete(property_id)

    def set_order_statuses(
        self, requests: Sequence[StatusRequest], *, also_read: Sequence[int] = ()
    ) -> StatusBatch:
        """``set_order_status`` for up to 49 orders in two requests (one list reads their statuses, one batch
        writes); the first request's free places read ``also_read`` orders whole. Per order: its
        ``StatusChange`` or the error about it."""
        return self._orders.set_order_statuses(requests, also_read=also_read)

    def statuses(self) -> list[SaleStatus]:
        """Order (``O``) and delivery (``D``) statuses as configured in the shop; read them, never assume."""
        return self._orders.statuses()

    def status_names(self, language: str = "ru") -> dict[str, str]:
        """Each status's name as the shop shows it in ``language`` (``sale.statusLang.list``)."""
        return self._orders.status_names(language)

    # -- the offline event queue ---------------------------------------------------------------------------

    def feature(self, code: str) -> bool:
        """``feature.get``: whether the shop's plan has a REST feature (``rest_offline_extended``: reading the
        offline queue without clearing it; ``rest_auth_connector``: writes that stay out of it)."""
        return self.transport.feature(code)

    def offline_connector(self) -> str | None:
        """The source key of the service's offline queue and writes: ``auth_connector`` when it reads the queue
        and the plan has ``rest_auth_connector``, else None (no key: a plan without the feature refuses one)."""
        return self.transport.connector()

    def bind_offline(self, event: str) -> bool:
        """The application's offline binding of ``event`` under ``offline_connector()``, made unless it exists.
        True when made now. Needs an administrator's application token."""
        return self._events.bind_offline(event, connector=self.offline_connector())

    def take_offline(self, process_id: str | None = None, *, reserve: bool = True) -> OfflineBatch:
        """Up to 50 records of the service's offline queue: reserved under a process id until ``clear_offline``
        (``process_id`` re-reads an earlier reservation), or, with ``reserve=False`` (plans without
        ``rest_offline_extended``), removed as they are read."""
        return self._events.take_offline(process_id, connector=self.offline_connector(), reserve=reserve)

    def clear_offline(self, process_id: str) -> None:
        """Drop a reservation's records from the offline queue, once acted on."""
        self._events.clear_offline(process_id, connector=self.offline_connector())

    # -- shipments ----------------------------------------------------------------------------------------

    def update_shipment(
        self,
        shipment_id: int,
        *,
        tracking_number: str | None = None,
        status_id: str | None = None,
        deducted: bool | None = None,
        allow_delivery: bool | None = None,
        delivery_doc_num: str | None = None,
    ) -> Shipment:
        """Change a shipment. Bitrix re-requires ``allowDelivery``, ``deducted`` and ``deliveryId`` on every
        update, so the current values are read first and echoed back unless the caller changes them."""
        return self._shipments.update_shipment(
            shipment_id,
            tracking_number=tracking_number,
            status_id=status_id,
            deducted=deducted,
            allow_delivery=allow_delivery,
            delivery_doc_num=delivery_doc_num,
        )

    # -- catalog ------------------------------------------------------------------------------------------

    def inventory_management_on(self) -> bool:
        """Whether the shop keeps stock by documents (``catalog.document.mode.status`` ``Y``): then product
        quantities are read-only and stock moves only through stock documents."""
        return self._stock_documents.inventory_management_on()

    def trade_catalogs(self) -> list[TradeCatalog]:
        """The shop's trade catalogs (``catalog.catalog.list``); an offers catalog names its products' iblock."""
        return self._catalog.trade_catalogs()

    def catalog_items(
        self,
        *,
        key: str = "xmlId",
        offer_key: str | None = None,
        product_ids: Collection[int] | None = None,
        keys: Collection[str] | None = None,
        catalogs: Sequence[TradeCatalog] | None = None,
    ) -> Iterator[CatalogItem]:
        """Every product and trade offer of the shop, streamed a page (50 rows, one request) at a time.

        ``key`` is the field matched against warehouse SKUs: ``xmlId`` or an article property ``propertyN``;
        offers live in an iblock of their own whose article property has another id: ``offer_key`` (the
        same as ``key`` unless given). ``product_ids`` or ``keys`` narrow the read to a targeted sync.
        Products are read with ``catalog.product.list``, offers with ``catalog.product.offer.list`` (which
        gives their ``parentId``), by an ``>id`` cursor; ``catalogs`` saves the ``catalog.catalog.list``
        request when the caller has them. Services and parent products come too: see ``CatalogItem.type``.
        """
        return self._catalog.catalog_items(
            key=key, offer_key=offer_key, product_ids=product_ids, keys=keys, catalogs=catalogs
        )

    def store_amounts(
        self, product_ids: Collection[int] | None = None, store_ids: Collection[int] | None = None
    ) -> Iterator[StoreAmount]:
        """Stock per product and store (``catalog.storeproduct.list``), streamed a page at a time."""
        return self._catalog.store_amounts(product_ids, store_ids)

    def set_product_quantities(
        self, quantities: Mapping[int, Decimal | int], *, offers: Collection[int] = ()
    ) -> QuantityUpdate:
        """Total available quantity per product (no inventory management), 50 writes per request.

        Ids in ``offers`` are trade offers, written with ``catalog.product.offer.update``; the others with
        ``catalog.product.update``. Per-product refusals (unknown product, bad value, read-only quantity) are
        reported in ``failed`` (the unknown ones also in ``missing``); limits, auth and server trouble raise,
        since they concern the whole call.
        """
        return self._catalog.set_product_quantities(quantities, offers=offers)

    def stores(self) -> list[CatalogStore]:
        return self._catalog.stores()

    # -- stock documents ----------------------------------------------------------------------------------

    def add_stock_document(
        self,
        doc_type: str,
        lines: Sequence[StockLine],
        *,
        title: str,
        currency: str = "RUB",
        responsible_id: int | None = None,
        commentary: str | None = None,
    ) -> int:
        """A draft document with its lines (``catalog.document.add``, then ``element.add`` in batches of 50):
        its id, for the caller to journal before conducting it.

        Put the run's reference in ``title``: a timed-out add may have created the draft, and
        ``find_stock_documents(title=…)`` finds it again. When a line is refused the half-filled draft is
        deleted if Bitrix lets it be (``StockDocumentError.draft_left`` says), so a retry starts clean.
        """
        doc_id, _ = self._stock_documents.add_stock_document(
            doc_type,
            lines,
            title=title,
            currency=currency,
            responsible_id=responsible_id,
            commentary=commentary,
        )
        return doc_id

    def conduct_stock_document(self, document_id: int) -> bool:
        """Apply a draft to the stock (``catalog.document.conduct``): True when this call did, False when it
        was conducted already (so a run that crashed after conducting can call it again).

        A refusal raises ``StockDocumentError`` (``InventoryManagementOffError`` when the shop conducts no
        documents) carrying the document id: the draft stays, nothing of it applied. Not repeated after a
        timeout; ``stock_document(id).status`` tells whether it went through.
        """
        return self._stock_documents.conduct_stock_document(document_id)

    def cancel_stock_document(self, document_id: int) -> bool:
        """Undo a conducted document's stock moves (``catalog.document.cancel``): True when this call did,
        False when it was cancelled already; a draft raises ``DocumentStatusError`` (delete it instead)."""
        return self._stock_documents.cancel_stock_document(document_id)

    def delete_stock_document(self, document_id: int) -> bool:
        """Delete a draft (``catalog.document.delete``): True when this call did, False when there was no such
        document; a conducted one raises ``DocumentStatusError`` (cancel it first)."""
        return self._stock_documents.delete_stock_document(document_id)

    def stock_document_lines(self, document_id: int) -> list[StockDocumentLine]:
        """The lines of a document (``catalog.document.element.list``), to check a draft found after a crash."""
        return self._stock_documents.stock_document_lines(document_id)

    def find_stock_documents(
        self,
        *,
        title: str | None = None,
        title_contains: str | None = None,
        document_ids: Collection[int] | None = None,
        status: DocumentStatus | None = None,
        doc_type: str | None = None,
    ) -> list[StockDocumentHeader]:
        """Documents by exact title, a part of it, ids, status or type (``catalog.document.list``), all pages.
        Titles are compared exactly (case included) after Bitrix's filter, which ignores case."""
        return self._stock_documents.find_stock_documents(
            title=title,
            title_contains=title_contains,
            document_ids=document_ids,
            status=status,
            doc_type=doc_type,
        )

    def stock_document(self, document_id: int) -> StockDocumentHeader:
        """One document's header (``catalog.document.list`` by id); ``EntityNotFoundError`` if there is none."""
        return self._stock_documents.stock_document(document_id)

    def post_stock_document(
        self,
        doc_type: str,
        lines: Sequence[StockLine],
        *,
        currency: str = "RUB",
        responsible_id: int | None = None,
        title: str = "Inflow WMS stock sync",
        conduct: bool = True,
    ) -> StockDocument:
        """``add_stock_document`` then, unless ``conduct=False``, ``conduct_stock_document``, in one call, for
        callers that journal nothing in between. A refused conduct leaves the draft, named in the error."""
        return self._stock_documents.post_stock_document(
            doc_type, lines, currency=currency, responsible_id=responsible_id, title=title, conduct=conduct
        )

    # -- telling people -----------------------------------------------------------------------------------

    def order_url(self, order_id: int) -> str:
        """Where a person opens the order: the admin page on Site Management, the CRM store page on Bitrix24."""
        base = self.transport.portal_url
        if self.settings.profile == "bitrix24":
            return f"{base}/shop/orders/details/{order_id}/"
        return f"{base}/bitrix/admin/sale_order_view.php?ID={order_id}"

    def notify_manager(self, message: str, *, user_id: int | None = None, tag: str | None = None) -> Notice:
        """A system notification (``im.notify.system.add``) to the manager; BB-codes allowed."""
        return self._notifications.notify_manager(message, user_id=user_id, tag=tag)

    def find_task(self, title_part: str) -> Notice | None:
        """The newest task whose title contains ``title_part`` (``tasks.task.list``): how a task created by a call
        whose answer was lost is found again instead of made twice. None where there is none or no tasks module."""
        return self._notifications.find_task(title_part)

    def create_task(
        self,
        title: str,
        description: str,
        *,
        responsible_id: int | None = None,
        deadline: datetime | None = None,
        tag: str | None = None,
    ) -> Notice:
        """A task for the manager on Bitrix24; on-prem "site" has no tasks module: a notification (also where
        ``tasks.task.add`` turns out to be missing: ``MethodNotFoundError``), carrying ``tag`` if given."""
        return self._notifications.create_task(
            title, description, responsible_id=responsible_id, deadline=deadline, tag=tag
        )
