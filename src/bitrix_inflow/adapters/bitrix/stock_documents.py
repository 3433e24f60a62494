"""Stock documents (``catalog.document.*``, inventory-management mode): an acquisition, write-off, transfer,
receipt or return, in steps a caller can journal between — add a draft with its lines, conduct it, and find,
read, cancel or delete it after a crash.

Bitrix answers nearly every refusal of these methods with code ``0`` and a message in the portal's language, so
a refusal is confirmed by reading the document (and the inventory-management switch) back, not by its text.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from bitrix_inflow.errors import (
    AuthError,
    IntegrationError,
    NotFoundError,
    PermanentError,
    TransientError,
    ValidationError,
)

from . import mappers, replies
from .arguments import ids, positive_amount, positive_id, quantity
from .errors import (
    DocumentStatusError,
    EntityNotFoundError,
    InventoryManagementOffError,
    MethodNotFoundError,
    StockDocumentError,
)
from .models import DocumentStatus, StockDocument, StockDocumentHeader, StockDocumentLine, StockLine
from .paging import BATCH, chunks, models_by_id
from .settings import BitrixSettings
from .transport import JSON, Transport
from .wire import assert_wire_safe

# Stock document types (catalog-enum-get-store-document-types.md) and which stores their lines need.
_DOC_STORES = {
    "A": ("storeTo",),  # receipt: conducting needs a supplier (catalog.documentcontractor.add)
    "S": ("storeTo",),  # acquisition: adds stock, no supplier
    "M": ("storeFrom", "storeTo"),  # transfer
    "R": ("storeTo",),  # return
    "D": ("storeFrom",),  # write-off
}

_DOCUMENT = "stock document"


@dataclass(frozen=True)
class _Found:
    """What reading a document back told: ``exists`` None when the read itself failed."""

    exists: bool | None
    header: StockDocumentHeader | None = None
    inventory_on: bool | None = None

    @property
    def status(self) -> DocumentStatus | None:
        return self.header.status if self.header else None

    def gone(self, refusal: IntegrationError) -> bool:
        """No such document: read back, or (when the read failed) said by Bitrix's refusal."""
        return self.exists is False or (self.exists is None and isinstance(refusal, NotFoundError))


class StockDocuments:
    def __init__(self, transport: Transport, settings: BitrixSettings) -> None:
        self._transport = transport
        self._settings = settings

    def inventory_management_on(self) -> bool:
        reply = self._transport.call("catalog.document.mode.status", {})
        return _mode(reply.get("result"))

    # -- adding ---------------------------------------------------------------------------------------------

    def add_stock_document(
        self,
        doc_type: str,
        lines: Sequence[StockLine],
        *,
        title: str,
        currency: str,
        responsible_id: int | None,
        commentary: str | None = None,
    ) -> tuple[int, list[int]]:
        """The draft's id and its lines' ids. Nothing is left behind when a line fails, if Bitrix lets the
        draft be deleted; otherwise the error names it."""
        if doc_type not in _DOC_STORES:
            raise ValidationError(
                "doc_type", f"unknown stock document type {doc_type!r}", "one of A, S, M, R, D"
            )
        if not lines:
            raise ValidationError("lines", "a stock document needs at least one line")
        if not (isinstance(currency, str) and len(currency) == 3 and currency.isalpha()):
            raise ValidationError("currency", f"expected an ISO 4217 code, got {currency!r}", "e.g. 'RUB'")
        if not isinstance(title, str) or not title.strip():
            raise ValidationError(
                "title", "must be a non-empty text", "put the run's reference in it, to find the draft again"
            )
        responsible = responsible_id if responsible_id is not None else self._settings.manager_user_id
        if responsible is None:
            raise ValidationError(
                "responsible_id",
                "Bitrix requires a responsible user on every stock document",
                "pass responsible_id or set manager_user_id in the Bitrix settings",
            )
        element_fields = [_element_fields(doc_type, i, line) for i, line in enumerate(lines)]
        header: JSON = {
            "docType": doc_type,
            "currency": currency.upper(),
            "title": title,
            "responsibleId": positive_id(responsible, "responsible_id"),
        }
        if commentary:
            header["commentary"] = str(commentary)
        # Not repeated after an ambiguous failure: a timed-out add may have created the document. The title
        # is how the caller finds such a draft (find_stock_documents).
        reply = self._transport.call("catalog.document.add", {"fields": header}, idempotent=False)
        doc_id = replies.result_id(reply.get("result"), "document", "catalog.document.add")
        try:
            element_ids, refused = self._add_elements(doc_id, element_fields)
        except IntegrationError as failed:
            raise self._abandon(doc_id, failed, line=None) from None
        if refused is not None:
            line, refusal = refused
            raise self._abandon(doc_id, refusal, line=line) from None
        return doc_id, element_ids

    def _add_elements(
        self, doc_id: int, element_fields: list[JSON]
    ) -> tuple[list[int], tuple[int, IntegrationError] | None]:
        """The lines' ids, or up to the first line Bitrix refused: its index and the error."""
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
                    line = int(key[1:])
                    refusal = batch.errors[key]
                    product_id = int(element_fields[line]["elementId"])
                    if isinstance(refusal, EntityNotFoundError) and refusal.entity == "product":
                        refusal.entity_id = product_id
                    elif isinstance(refusal, NotFoundError) and not isinstance(refusal, EntityNotFoundError):
                        # The document exists (we just made it), so what is missing is the line's product.
                        refusal = EntityNotFoundError(
                            f"lines[{line}].product_id: {refusal}", entity="product", entity_id=product_id
                        )
                    return element_ids, (line, refusal)
                element_ids.append(
                    replies.result_id(
                        batch.results.get(key), "documentElement", "catalog.document.element.add"
                    )
                )
        return element_ids, None

    def _abandon(self, doc_id: int, error: IntegrationError, *, line: int | None) -> IntegrationError:
        """A line could not be added: delete the half-filled draft (it can never be conducted as meant), and
        say which document it was and whether it is gone."""
        deleted = self._try_delete(doc_id)
        where = f"{_DOCUMENT} {doc_id} (draft {'deleted' if deleted else 'left in Bitrix'})"
        if line is not None:
            where += f" line {line}"
        if isinstance(error, DocumentStatusError):
            error.document_id = doc_id
        if isinstance(error, TransientError | AuthError | DocumentStatusError):
            # The job engine decides on these types (retry, re-authorise): they stay what they are.
            return replies.with_context(error, where)
        return StockDocumentError(
            f"{where}: {error}",
            document_id=doc_id,
            conducted=False,
            draft_left=not deleted,
            line=line,
            cause=error,
        )

    def _try_delete(self, doc_id: int) -> bool:
        try:
            reply = self._transport.call("catalog.document.delete", {"id": doc_id}, idempotent=False)
        except IntegrationError:
            return False
        return reply.get("result") not in (False, None)

    # -- conducting, cancelling, deleting ------------------------------------------------------------------

    def conduct_stock_document(self, document_id: int) -> bool:
        """True when this call conducted it, False when it was conducted already (a retry after a crash)."""
        doc_id = positive_id(document_id, "document_id")
        return self._step("catalog.document.conduct", doc_id, "conduct", self._conduct_refused)

    def _step(
        self, method: str, doc_id: int, what: str, refused: Callable[[int, IntegrationError], bool]
    ) -> bool:
        """Conduct, cancel or delete: True when Bitrix answered ``true``; a refusal goes to ``refused``, which
        reads the document back to tell "done already" from a real refusal."""
        try:
            reply = self._transport.call(method, {"id": doc_id}, idempotent=False)
        except (TransientError, AuthError, MethodNotFoundError) as error:
            # Nothing to learn from the document: rights, a missing method, or a failure that is not repeated
            # (whether a timed-out step went through shows in stock_document(id).status).
            raise replies.with_context(error, f"{_DOCUMENT} {doc_id} ({what})") from None
        except IntegrationError as error:
            return refused(doc_id, error)
        result = reply.get("result")
        if result in (False, None):
            # catalog-document-delete.md: null means "conducted: cancel it first".
            return refused(doc_id, PermanentError(f"{method} answered {result!r}"))
        return True

    def _conduct_refused(self, doc_id: int, error: IntegrationError) -> bool:
        found = self._existing(doc_id, error, with_mode=True)
        status = found.status
        if status is DocumentStatus.CONDUCTED:
            return False
        if status is DocumentStatus.CANCELLED:
            raise DocumentStatusError(
                f"{_DOCUMENT} {doc_id} is cancelled; Bitrix refused to conduct it again ({error})",
                document_id=doc_id,
                status=status.value,
            )
        if found.inventory_on is False:
            raise InventoryManagementOffError(
                f"{_DOCUMENT} {doc_id} (draft, not conducted): inventory management is off in the shop, so "
                f"Bitrix conducts no documents; write product quantities instead and delete the draft ({error})",
                document_id=doc_id,
                conducted=False,
                draft_left=True,
                cause=error,
            )
        # e.g. a write-off beyond the stock, a receipt without a supplier: a refused conduct changes nothing.
        raise StockDocumentError(
            f"{_DOCUMENT} {doc_id} (draft, not conducted): {error}",
            document_id=doc_id,
            conducted=False,
            draft_left=True,
            cause=error,
        )

    def cancel_stock_document(self, document_id: int) -> bool:
        """True when this call cancelled it, False when it was cancelled already."""
        doc_id = positive_id(document_id, "document_id")
        return self._step("catalog.document.cancel", doc_id, "cancel", self._cancel_refused)

    def _cancel_refused(self, doc_id: int, error: IntegrationError) -> bool:
        status = self._existing(doc_id, error).status
        if status is DocumentStatus.CANCELLED:
            return False
        if status is DocumentStatus.DRAFT:
            raise DocumentStatusError(
                f"{_DOCUMENT} {doc_id} is a draft: nothing to cancel (delete it instead)",
                document_id=doc_id,
                status=status.value,
            )
        # e.g. the stock it added has been sold meanwhile: the document stays conducted.
        raise StockDocumentError(
            f"{_DOCUMENT} {doc_id} (conducted, not cancelled): {error}",
            document_id=doc_id,
            conducted=True,
            draft_left=False,
            cause=error,
        )

    def delete_stock_document(self, document_id: int) -> bool:
        """True when this call deleted it, False when there was no such document (deleted already)."""
        doc_id = positive_id(document_id, "document_id")
        return self._step("catalog.document.delete", doc_id, "delete", self._delete_refused)

    def _delete_refused(self, doc_id: int, error: IntegrationError) -> bool:
        found = self._look_up(doc_id)
        if found.gone(error):
            return False
        if found.status is DocumentStatus.CONDUCTED:
            raise DocumentStatusError(
                f"{_DOCUMENT} {doc_id} is conducted: Bitrix deletes drafts only (cancel it first)",
                document_id=doc_id,
                status=DocumentStatus.CONDUCTED.value,
            )
        raise replies.with_context(error, f"{_DOCUMENT} {doc_id} (not deleted)")

    def _existing(self, doc_id: int, refusal: IntegrationError, *, with_mode: bool = False) -> _Found:
        found = self._look_up(doc_id, with_mode=with_mode)
        if found.gone(refusal):
            raise EntityNotFoundError(
                f"{_DOCUMENT} {doc_id} does not exist in Bitrix ({refusal})",
                entity=_DOCUMENT,
                entity_id=doc_id,
            )
        return found

    def _look_up(self, doc_id: int, *, with_mode: bool = False) -> _Found:
        """The document's header and, if asked, the inventory-management switch: one ``batch`` request."""
        commands: dict[str, tuple[str, JSON]] = {
            "doc": (
                "catalog.document.list",
                {"select": list(mappers.DOCUMENT_SELECT), "filter": {"id": doc_id}},
            )
        }
        if with_mode:
            commands["mode"] = ("catalog.document.mode.status", {})
        try:
            reply = self._transport.batch(commands)
        except IntegrationError:
            return _Found(exists=None)
        inventory_on: bool | None = None
        if with_mode and "mode" in reply.results and "mode" not in reply.errors:
            try:
                inventory_on = _mode(reply.results["mode"])
            except PermanentError:
                inventory_on = None
        if "doc" in reply.errors or "doc" not in reply.results:
            return _Found(exists=None, inventory_on=inventory_on)
        try:
            rows = replies.rows(
                replies.wrapped({"result": reply.results["doc"]}, "documents", "catalog.document.list"),
                field="catalog.document.list.documents",
            )
            headers = replies.mapped("catalog.document.list", mappers.stock_document_header, rows)
        except IntegrationError:
            return _Found(exists=None, inventory_on=inventory_on)
        header = next((h for h in headers if h.id == doc_id), None)
        return _Found(exists=header is not None, header=header, inventory_on=inventory_on)

    # -- reading --------------------------------------------------------------------------------------------

    def stock_document_lines(self, document_id: int) -> list[StockDocumentLine]:
        doc_id = positive_id(document_id, "document_id")
        params: JSON = {"select": list(mappers.DOCUMENT_LINE_SELECT), "filter": {"docId": doc_id}}
        return list(
            models_by_id(
                self._transport,
                "catalog.document.element.list",
                params,
                "documentElements",
                mappers.stock_document_line,
            )
        )

    def find_stock_documents(
        self,
        *,
        title: str | None,
        title_contains: str | None,
        document_ids: Collection[int] | None,
        status: DocumentStatus | None,
        doc_type: str | None,
    ) -> list[StockDocumentHeader]:
        filter_: JSON = {}
        if title is not None:
            filter_["=title"] = _text(title, "title")
        if title_contains is not None:
            filter_["%title"] = _text(title_contains, "title_contains")
        if document_ids is not None:
            wanted = ids(document_ids, "document_ids")
            if not wanted:
                return []
            filter_["@id"] = wanted
        if status is not None:
            if not isinstance(status, DocumentStatus):
                raise ValidationError("status", f"expected a DocumentStatus, got {status!r}")
            filter_["status"] = status.value
        if doc_type is not None:
            if doc_type not in _DOC_STORES:
                raise ValidationError(
                    "doc_type", f"unknown stock document type {doc_type!r}", "A, S, M, R, D"
                )
            filter_["docType"] = doc_type
        params: JSON = {"select": list(mappers.DOCUMENT_SELECT), "filter": filter_}
        found = list(
            models_by_id(
                self._transport, "catalog.document.list", params, "documents", mappers.stock_document_header
            )
        )
        # The database compares titles without regard to case and LIKE has wildcards of its own; the run
        # reference is matched exactly here.
        if title is not None:
            found = [h for h in found if h.title == title]
        if title_contains is not None:
            found = [h for h in found if title_contains in (h.title or "")]
        return found

    def stock_document(self, document_id: int) -> StockDocumentHeader:
        doc_id = positive_id(document_id, "document_id")
        found = self.find_stock_documents(
            title=None, title_contains=None, document_ids=[doc_id], status=None, doc_type=None
        )
        if not found:
            raise EntityNotFoundError(
                f"{_DOCUMENT} {doc_id} does not exist in Bitrix", entity=_DOCUMENT, entity_id=doc_id
            )
        return found[0]

    # -- all in one -----------------------------------------------------------------------------------------

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
        doc_id, element_ids = self.add_stock_document(
            doc_type, lines, title=title, currency=currency, responsible_id=responsible_id
        )
        if conduct:
            self.conduct_stock_document(doc_id)
        return StockDocument(id=doc_id, doc_type=doc_type, element_ids=tuple(element_ids), conducted=conduct)


def _mode(result: object) -> bool:
    # catalog-document-mode-status.md: the string "Y" or "N".
    if result == "Y":
        return True
    if result == "N":
        return False
    raise PermanentError(f"catalog.document.mode.status: expected 'Y' or 'N', got {str(result)[:100]}")


def _text(value: object, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, "must be a non-empty text")
    return value


def _element_fields(doc_type: str, index: int, line: StockLine) -> JSON:
    field = f"lines[{index}]"
    fields: JSON = {
        "elementId": positive_id(line.product_id, f"{field}.product_id"),
        "amount": positive_amount(line.amount, f"{field}.amount"),
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
