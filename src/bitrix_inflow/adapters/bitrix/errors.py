"""Bitrix's refinements of the taxonomy (``bitrix_inflow.errors``): each carries what a caller acts on.

``error_map.translate`` builds them from the reply's ``error`` code, the gateway from what it asked for, so a
caller tells a missing module from a missing scope, or a deleted order from a deleted shipment, by type and
attributes, never by message text.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from bitrix_inflow.errors import AuthError, ConflictError, IntegrationError, NotFoundError, PermanentError


class MethodNotFoundError(PermanentError):
    """``ERROR_METHOD_NOT_FOUND``: the module is not installed, or this edition has no such method."""

    def __init__(self, message: str, *, method: str) -> None:
        super().__init__(message)
        self.method = method


class InsufficientScopeError(AuthError):
    """``insufficient_scope``: the webhook/app was not granted ``scope`` (None if the method's is unknown)."""

    def __init__(self, message: str, *, method: str, scope: str | None) -> None:
        super().__init__(message)
        self.method = method
        self.scope = scope


class EntityNotFoundError(NotFoundError):
    """An order, shipment or shipment item Bitrix does not have (deleted, or never there).

    ``entity_id`` is None when only the reply is known (Bitrix does not echo the id); the gateway fills it in
    for the entity a method was asked about.
    """

    def __init__(self, message: str, *, entity: str, entity_id: int | None = None) -> None:
        super().__init__(message)
        self.entity = entity
        self.entity_id = entity_id


class StatusOverruledError(ConflictError):
    """Bitrix accepted a status change but kept another status: a shop rule won."""

    def __init__(self, message: str, *, order_id: int, requested: str, kept: str) -> None:
        super().__init__(message)
        self.order_id = order_id
        self.requested = requested
        self.kept = kept


class AlreadyThereError(ConflictError):
    """What a write would add is there already: ``201250000001``, the shipment holds that basket item
    (sale-shipment-item-add.md)."""


class CancelRefusedError(ConflictError):
    """The shop refused to cancel the order: a payment is paid (``SALE_ORDER_CANCEL_PAYMENT_EXIST_ACTIVE``) or a
    shipment shipped. Asking again changes nothing until a person acts."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


class MarkingRefusedError(ConflictError):
    """The companion module would not write a line's marking codes: ``code`` says why
    (``BITRIXINFLOW_SHIPMENT_DEDUCTED``, ``BITRIXINFLOW_NOT_MARKED``, ``BITRIXINFLOW_TOO_MANY_CODES``,
    ``BITRIXINFLOW_DUPLICATE_CODE``). Asking again changes nothing until a person acts."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


class DeductRefusedError(ConflictError):
    """The shop would not mark a shipment deducted: a marked line without its codes
    (``ShipmentItem::checkMarkingCodeOnDeducted``), too little in the store under inventory management. Asking
    again changes nothing until a person acts."""


class DocumentStatusError(ConflictError):
    """The stock document is not in a state that allows the step: ``ERROR_DOCUMENT_STATUS`` (lines added to a
    conducted document, or to one gone meanwhile), deleting a conducted document, cancelling a draft.

    ``status`` is what the gateway found (None when only the reply is known); ``document_id`` is filled by the
    method that asked.
    """

    def __init__(self, message: str, *, document_id: int | None = None, status: str | None = None) -> None:
        super().__init__(message)
        self.document_id = document_id
        self.status = status


class StockDocumentError(PermanentError):
    """Bitrix refused a step of stock document ``document_id``; the caller cleans up or hands it to an operator.

    ``conducted`` says whether the document's stock moves are in effect (a refused conduct changes nothing, so
    it is False then). ``draft_left`` is True when a draft remains in Bitrix: conduct, fix or delete it (the
    gateway deletes a half-filled draft itself when it can). ``line`` is the index of the refused line, if one
    was; ``cause`` is the error Bitrix's answer was translated to.
    """

    def __init__(
        self,
        message: str,
        *,
        document_id: int,
        conducted: bool,
        draft_left: bool,
        line: int | None = None,
        cause: IntegrationError | None = None,
    ) -> None:
        super().__init__(message)
        self.document_id = document_id
        self.conducted = conducted
        self.draft_left = draft_left
        self.line = line
        self.cause = cause


class InventoryManagementOffError(StockDocumentError):
    """Conducting was refused because inventory management is off in the shop (``catalog.document.mode.status``
    answers ``N``): write product quantities instead, and delete the draft."""


@contextmanager
def concerning(entity: str, entity_id: int) -> Iterator[None]:
    """Inside, a not-found is about ``entity`` ``entity_id``, unless Bitrix said it is about another entity.

    Bitrix's not-found replies do not echo the id, and some name no entity at all; the method asked about one
    entity knows which, so the error carries it.
    """
    try:
        yield
    except NotFoundError as exc:
        if isinstance(exc, EntityNotFoundError) and (exc.entity != entity or exc.entity_id is not None):
            raise
        raise EntityNotFoundError(f"{entity} {entity_id}: {exc}", entity=entity, entity_id=entity_id) from exc
