"""BitrixGateway: the one place bitrix-inflow talks to 1C-Bitrix (on-prem "Site Management" or Bitrix24).

Written from the documented REST contract (shared/reference/bitrix-rest.md). Every method returns frozen
models or raises an error of ``bitrix_inflow.errors`` (refined in ``errors``); nothing of b24pysdk or
``requests`` leaks out. The work is done per entity (``orders``, ``shipments``, ``catalog``,
``stock_documents``, ``notifications``, ``access``), all over this gateway's one ``Transport``, so they
share its pacing, lock and token.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from bitrix_inflow.timing import Clock

from .access import check_access
from .catalog import Catalog
from .models import (
    AccessReport,
    CatalogStore,
    ChangedOrders,
    Notice,
    OrderBundle,
    OrderWatermark,
    QuantityUpdate,
    SaleStatus,
    Shipment,
    StatusChange,
    StockDocument,
    StockLine,
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
        self._stock_documents = StockDocuments(self.transport, settings)
        self._notifications = Notifications(self.transport, settings)

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

    def statuses(self) -> list[SaleStatus]:
        """Order (``O``) and delivery (``D``) statuses as configured in the shop; read them, never assume."""
        return self._orders.statuses()

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

    def set_product_quantities(self, quantities: Mapping[int, Decimal | int]) -> QuantityUpdate:
        """Total available quantity per product (no inventory management), 50 products per request.

        Per-product refusals (unknown product, bad value, read-only quantity) are reported in ``failed``;
        limits, auth and server trouble raise, since they concern the whole call.
        """
        return self._catalog.set_product_quantities(quantities)

    def stores(self) -> list[CatalogStore]:
        return self._catalog.stores()

    # -- stock documents ----------------------------------------------------------------------------------

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
        """Inventory-management mode: ``catalog.document.add`` → ``element.add`` per line → ``conduct``.

        Adds are not repeated after an ambiguous failure (a timeout may have created the document); the
        error then names the draft document so nothing is booked twice.
        """
        return self._stock_documents.post_stock_document(
            doc_type, lines, currency=currency, responsible_id=responsible_id, title=title, conduct=conduct
        )

    # -- telling people -----------------------------------------------------------------------------------

    def notify_manager(self, message: str, *, user_id: int | None = None, tag: str | None = None) -> Notice:
        """A system notification (``im.notify.system.add``) to the manager; BB-codes allowed."""
        return self._notifications.notify_manager(message, user_id=user_id, tag=tag)

    def create_task(
        self,
        title: str,
        description: str,
        *,
        responsible_id: int | None = None,
        deadline: datetime | None = None,
    ) -> Notice:
        """A task for the manager on Bitrix24; on-prem "site" has no tasks module: a notification (also where
        ``tasks.task.add`` turns out to be missing: ``MethodNotFoundError``)."""
        return self._notifications.create_task(
            title, description, responsible_id=responsible_id, deadline=deadline
        )
