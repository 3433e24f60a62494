"""Stock documents (``catalog.document.*``, inventory-management mode): a receipt, adjustment, transfer,
return or write-off, added with its lines and conducted."""

from __future__ import annotations

from collections.abc import Sequence

from bitrix_inflow.errors import IntegrationError, PermanentError, ValidationError

from . import replies
from .arguments import positive_id, quantity
from .models import StockDocument, StockLine
from .paging import BATCH, chunks
from .settings import BitrixSettings
from .transport import JSON, Transport
from .wire import assert_wire_safe

# Stock document types (catalog.enum.getStoreDocumentTypes) and which stores their lines need.
_DOC_STORES = {
    "A": ("storeTo",),  # receipt
    "S": ("storeTo",),  # stock adjustment (acquisition)
    "M": ("storeFrom", "storeTo"),  # transfer
    "R": ("storeTo",),  # return
    "D": ("storeFrom",),  # write-off
}


class StockDocuments:
    def __init__(self, transport: Transport, settings: BitrixSettings) -> None:
        self._transport = transport
        self._settings = settings

    def post_stock_document(
        self,
        doc_type: str,
        lines: Sequence[StockLine],
        *,
        currency: str,
        responsible_id: int | None,
        title: str,
        conduct: bool,
    ) -> StockDocument:
        if doc_type not in _DOC_STORES:
            raise ValidationError(
                "doc_type", f"unknown stock document type {doc_type!r}", "one of A, S, M, R, D"
            )
        if not lines:
            raise ValidationError("lines", "a stock document needs at least one line")
        if not (isinstance(currency, str) and len(currency) == 3 and currency.isalpha()):
            raise ValidationError("currency", f"expected an ISO 4217 code, got {currency!r}", "e.g. 'RUB'")
        element_fields = [_element_fields(doc_type, i, line) for i, line in enumerate(lines)]
        header: JSON = {"docType": doc_type, "currency": currency, "title": title}
        if responsible_id is not None or self._settings.manager_user_id is not None:
            header["responsibleId"] = responsible_id or self._settings.manager_user_id
        # Adds are not repeated after an ambiguous failure (a timeout may have created the document); errors
        # after the add name the draft document, so nothing is booked twice.
        reply = self._transport.call("catalog.document.add", {"fields": header}, idempotent=False)
        doc_id = replies.result_id(reply.get("result"), "document", "catalog.document.add")
        element_ids = self._add_elements(doc_id, element_fields)
        conducted = False
        if conduct:
            self._conduct(doc_id)
            conducted = True
        return StockDocument(
            id=doc_id, doc_type=doc_type, element_ids=tuple(element_ids), conducted=conducted
        )

    def _add_elements(self, doc_id: int, element_fields: list[JSON]) -> list[int]:
        element_ids: list[int] = []
        for chunk_no, chunk in enumerate(chunks(element_fields, BATCH)):
            commands = {
                f"e{chunk_no * BATCH + i}": (
                    "catalog.document.element.add",
                    {"fields": {"docId": doc_id, **f}},
                )
                for i, f in enumerate(chunk)
            }
            batch = self._transport.batch(commands, idempotent=False)
            for key in commands:
                if key in batch.errors:
                    raise replies.with_context(
                        batch.errors[key], f"stock document {doc_id} (draft) line {key[1:]}"
                    )
                element_ids.append(
                    replies.result_id(
                        batch.results.get(key), "documentElement", "catalog.document.element.add"
                    )
                )
        return element_ids

    def _conduct(self, doc_id: int) -> None:
        try:
            reply = self._transport.call("catalog.document.conduct", {"id": doc_id}, idempotent=False)
        except IntegrationError as error:
            # e.g. a write-off beyond the stock: the draft stays for an operator to fix or delete.
            raise replies.with_context(error, f"stock document {doc_id} (draft, not conducted)") from None
        result = reply.get("result")
        if result in (False, None):
            raise PermanentError(f"stock document {doc_id}: Bitrix refused to conduct it (answer {result!r})")


def _element_fields(doc_type: str, index: int, line: StockLine) -> JSON:
    field = f"lines[{index}]"
    fields: JSON = {
        "elementId": positive_id(line.product_id, f"{field}.product_id"),
        "amount": quantity(line.amount, f"{field}.amount"),
    }
    for key in _DOC_STORES[doc_type]:
        store = line.store_to if key == "storeTo" else line.store_from
        if store is None:
            wanted = "store_to" if key == "storeTo" else "store_from"
            raise ValidationError(
                f"{field}.{wanted}", f"document type {doc_type} needs it", "give the store id"
            )
        fields[key] = positive_id(store, f"{field}.{key}")
    if line.purchasing_price is not None:
        fields["purchasingPrice"] = quantity(line.purchasing_price, f"{field}.purchasing_price")
    assert_wire_safe(fields, field)
    return fields
