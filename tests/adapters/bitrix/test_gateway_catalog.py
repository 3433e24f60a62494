"""Stock, stores and manager notices through the gateway, against sandbox shops over HTTPS."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from bitrix_inflow.adapters.bitrix import NoticeKind, StockDocumentError, StockLine
from bitrix_inflow.errors import PermanentError, ValidationError
from bitrix_inflow.sandboxes.bitrix import RunningSandbox

from .conftest import MakeGateway, product_ids


def test_quantities_are_set_in_batches_of_fifty(site_shop: RunningSandbox, gateway_for: MakeGateway) -> None:
    gateway = gateway_for(site_shop)
    ids = product_ids(site_shop)
    wanted = {pid: 100 + pid for pid in ids}
    # Products beyond the catalogue push the call over one batch: 12 real + 45 unknown = 57 commands.
    unknown = {900_000 + n: 1 for n in range(45)}
    before = gateway.transport.requests_sent
    result = gateway.set_product_quantities({**wanted, **unknown})
    assert gateway.transport.requests_sent - before == 2
    assert sorted(result.updated) == ids
    assert set(result.failed) == set(unknown)
    assert all("not found" in reason for reason in result.failed.values())
    for pid in ids:
        assert Decimal(str(site_shop.control.entity("products", pid)["quantity"])) == wanted[pid]


def test_fractional_quantities_keep_their_value(site_shop: RunningSandbox, gateway_for: MakeGateway) -> None:
    gateway = gateway_for(site_shop)
    pid = product_ids(site_shop)[0]
    assert gateway.set_product_quantities({pid: Decimal("2.5")}).updated == (pid,)
    assert Decimal(str(site_shop.control.entity("products", pid)["quantity"])) == Decimal("2.5")


@pytest.mark.parametrize(
    ("quantities", "field"),
    [
        ({1: -1}, "quantities[1]"),
        ({1: "lots"}, "quantities[1]"),
        ({1: True}, "quantities[1]"),
        ({1: Decimal("NaN")}, "quantities[1]"),
        ({0: 5}, "quantities[0]"),
    ],
)
def test_bad_quantities_are_refused_before_sending(
    site_shop: RunningSandbox, gateway_for: MakeGateway, quantities: dict[int, object], field: str
) -> None:
    gateway = gateway_for(site_shop)
    with pytest.raises(ValidationError) as caught:
        gateway.set_product_quantities(quantities)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert gateway.transport.requests_sent == 0


def test_quantity_under_inventory_management_is_reported_not_silently_lost(
    cloud_shop: RunningSandbox, gateway_for: MakeGateway
) -> None:
    gateway = gateway_for(cloud_shop, profile="bitrix24")
    pid = product_ids(cloud_shop)[0]
    stored = cloud_shop.control.entity("products", pid)["quantity"]
    result = gateway.set_product_quantities({pid: int(stored) + 17})
    assert result.updated == ()
    assert "inventory management" in result.failed[pid]


def _store_amount(running: RunningSandbox, product_id: int, store_id: int) -> Decimal:
    rows = running.control.entities("storeProducts", productId=product_id, storeId=store_id)
    return sum((Decimal(str(r["amount"])) for r in rows), Decimal(0))


def test_stock_documents_receive_and_write_off(cloud_shop: RunningSandbox, gateway_for: MakeGateway) -> None:
    gateway = gateway_for(cloud_shop, profile="bitrix24")
    first, second = product_ids(cloud_shop)[:2]
    before = (_store_amount(cloud_shop, first, 1), _store_amount(cloud_shop, second, 2))

    # S (acquisition) adds stock without a supplier; an A receipt needs one to be conducted.
    receipt = gateway.post_stock_document(
        "S",
        [
            StockLine(product_id=first, amount=Decimal(5), store_to=1, purchasing_price=Decimal("10.5")),
            StockLine(product_id=second, amount=Decimal(3), store_to=2),
        ],
    )
    assert receipt.conducted and len(receipt.element_ids) == 2
    assert cloud_shop.control.entity("documents", receipt.id)["status"] == "Y"
    assert _store_amount(cloud_shop, first, 1) == before[0] + 5
    assert _store_amount(cloud_shop, second, 2) == before[1] + 3

    write_off = gateway.post_stock_document(
        "D", [StockLine(product_id=first, amount=Decimal(2), store_from=1)]
    )
    assert write_off.conducted
    assert _store_amount(cloud_shop, first, 1) == before[0] + 3


def test_stock_document_left_as_draft_when_asked(
    cloud_shop: RunningSandbox, gateway_for: MakeGateway
) -> None:
    gateway = gateway_for(cloud_shop, profile="bitrix24")
    pid = product_ids(cloud_shop)[0]
    draft = gateway.post_stock_document(
        "S", [StockLine(product_id=pid, amount=Decimal(1), store_to=1)], conduct=False
    )
    assert not draft.conducted
    assert cloud_shop.control.entity("documents", draft.id)["status"] == "N"


@pytest.mark.parametrize(
    ("doc_type", "line", "field"),
    [
        ("X", StockLine(product_id=1, amount=Decimal(1), store_to=1), "doc_type"),
        ("A", StockLine(product_id=1, amount=Decimal(1)), "lines[0].store_to"),
        ("D", StockLine(product_id=1, amount=Decimal(1), store_to=1), "lines[0].store_from"),
        ("M", StockLine(product_id=1, amount=Decimal(1), store_from=1), "lines[0].store_to"),
        ("A", StockLine(product_id=1, amount=Decimal(-1), store_to=1), "lines[0].amount"),
        ("S", StockLine(product_id=1, amount=Decimal(0), store_to=1), "lines[0].amount"),
        ("A", StockLine(product_id=0, amount=Decimal(1), store_to=1), "lines[0].product_id"),
    ],
)
def test_bad_stock_documents_are_refused_before_anything_is_created(
    cloud_shop: RunningSandbox, gateway_for: MakeGateway, doc_type: str, line: StockLine, field: str
) -> None:
    gateway = gateway_for(cloud_shop, profile="bitrix24")
    with pytest.raises(ValidationError) as caught:
        gateway.post_stock_document(doc_type, [line])
    assert caught.value.field == field
    assert gateway.transport.requests_sent == 0


def test_stock_document_without_inventory_management_names_the_problem(
    site_shop: RunningSandbox, gateway_for: MakeGateway
) -> None:
    gateway = gateway_for(site_shop)
    # A real shop adds the draft and refuses the conduct (InventoryManagementOffError); either way the
    # refusal says why.
    with pytest.raises(PermanentError, match=r"(?i)inventory management"):
        gateway.post_stock_document("S", [StockLine(product_id=1, amount=Decimal(1), store_to=1)])


def test_stock_line_for_an_unknown_product_fails_the_conduct_and_names_the_draft(
    cloud_shop: RunningSandbox, gateway_for: MakeGateway
) -> None:
    """Like the module, the line is stored and the conduct refuses it: the error names the draft left behind."""
    gateway = gateway_for(cloud_shop, profile="bitrix24")
    with pytest.raises(StockDocumentError, match=r"stock document \d+ \(draft, not conducted\)") as caught:
        gateway.post_stock_document("S", [StockLine(product_id=987654, amount=Decimal(1), store_to=1)])
    error = caught.value
    assert not error.conducted and "987654" in str(error)
    [draft] = [d for d in cloud_shop.control.entities("documents") if int(d["id"]) == error.document_id]
    assert draft["status"] == "N"  # nothing of it applied; an operator (or the stock flow) deletes it


def test_stores(site_shop: RunningSandbox, gateway_for: MakeGateway) -> None:
    stores = gateway_for(site_shop).stores()
    expected = {int(s["id"]): s["title"] for s in site_shop.control.entities("stores")}
    assert {s.id: s.title for s in stores} == expected
    assert all(s.active for s in stores)


def test_notification_reaches_the_manager(site_shop: RunningSandbox, gateway_for: MakeGateway) -> None:
    notice = gateway_for(site_shop).notify_manager("Order [b]42[/b] has a picking error")
    assert notice.kind is NoticeKind.NOTIFICATION and notice.id is not None
    stored = [n for n in site_shop.control.entities("notifications") if int(n["id"]) == notice.id]
    assert len(stored) == 1
    assert "picking error" in str(stored[0])


def test_task_on_bitrix24(cloud_shop: RunningSandbox, gateway_for: MakeGateway) -> None:
    notice = gateway_for(cloud_shop, profile="bitrix24").create_task("Check order 42", "Picking error: SSCC")
    assert notice.kind is NoticeKind.TASK and notice.id is not None
    stored = [t for t in cloud_shop.control.entities("tasks") if int(t["id"]) == notice.id]
    assert len(stored) == 1 and "Check order 42" in str(stored[0])


def test_task_falls_back_to_a_notification_on_site(
    site_shop: RunningSandbox, gateway_for: MakeGateway
) -> None:
    notice = gateway_for(site_shop).create_task("Check order 43", "Picking error")
    assert notice.kind is NoticeKind.NOTIFICATION
    assert site_shop.control.entities("tasks") == []


def test_task_falls_back_when_the_method_is_missing(
    site_shop: RunningSandbox, gateway_for: MakeGateway
) -> None:
    # A shop configured as bitrix24 by mistake: tasks.task.add does not exist on Site Management.
    notice = gateway_for(site_shop, profile="bitrix24").create_task("Check order 44", "Picking error")
    assert notice.kind is NoticeKind.NOTIFICATION


def test_notices_need_a_manager(site_shop: RunningSandbox, gateway_for: MakeGateway) -> None:
    gateway = gateway_for(site_shop, manager_user_id=None)
    with pytest.raises(ValidationError) as caught:
        gateway.notify_manager("hello")
    assert caught.value.field == "manager_user_id"
    with pytest.raises(ValidationError):
        gateway_for(site_shop).notify_manager("   ")


def test_task_deadline_must_carry_an_offset(cloud_shop: RunningSandbox, gateway_for: MakeGateway) -> None:
    gateway = gateway_for(cloud_shop, profile="bitrix24")
    with pytest.raises(ValidationError) as caught:
        gateway.create_task("T", "D", deadline=datetime(2030, 1, 1, 12, 0))
    assert caught.value.field == "deadline"
    task = gateway.create_task("T", "D", deadline=datetime(2030, 1, 1, 12, 0, tzinfo=UTC))
    stored = [t for t in cloud_shop.control.entities("tasks") if int(t["id"]) == task.id]
    assert "2030-01-01" in str(stored[0])


def test_stock_document_currency_is_checked(cloud_shop: RunningSandbox, gateway_for: MakeGateway) -> None:
    gateway = gateway_for(cloud_shop, profile="bitrix24")
    with pytest.raises(ValidationError) as caught:
        gateway.post_stock_document(
            "A", [StockLine(product_id=1, amount=Decimal(1), store_to=1)], currency="rubles"
        )
    assert caught.value.field == "currency"


def test_a_write_off_beyond_the_stock_names_the_draft(
    cloud_shop: RunningSandbox, gateway_for: MakeGateway
) -> None:
    gateway = gateway_for(cloud_shop, profile="bitrix24")
    pid = product_ids(cloud_shop)[-1]
    too_many = _store_amount(cloud_shop, pid, 2) + 1000
    with pytest.raises(StockDocumentError, match=r"stock document \d+ \(draft, not conducted\)") as caught:
        gateway.post_stock_document("D", [StockLine(product_id=pid, amount=too_many, store_from=2)])
    error = caught.value
    assert not error.conducted and error.draft_left
    assert cloud_shop.control.entity("documents", error.document_id)["status"] == "N"
