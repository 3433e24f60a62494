"""Incidents: what a person must decide, the ways out each kind offers, and the words the shop's manager reads
(Russian or English, the shop's language). Pure: the flows store, tell and carry out."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Language = Literal["ru", "en"]


class Kind(enum.StrEnum):
    PICKING_ERROR = "picking_error"  # the warehouse could not pick a line
    EDIT_AFTER_PICKING = "edit_after_picking"  # the shop's order changed once picking had started
    EDIT_BLOCKED = "edit_blocked"  # an edit that cannot be planned (a product without a SKU link)
    STATUS_REFUSED = "status_refused"  # a person set the order's status meanwhile; the service's stood back
    CANCEL_REFUSED = "cancel_refused"  # the shop cancelled; the warehouse had picked a part's goods
    SHOP_CANCEL_REFUSED = "shop_cancel_refused"  # the warehouse cancelled; the shop will not (paid, shipped)
    CANCELLED_IN_SHOP = (
        "cancelled_in_shop"  # recorded by earlier versions instead of cancelling in the warehouse
    )
    STUCK = "stuck"  # reconciliation: the order's picking orders have not moved for too long
    UNKNOWN_IN_WMS = (
        "unknown_in_wms"  # reconciliation: a picking order of the service's form it has no record of
    )
    GONE_FROM_WMS = (
        "gone_from_wms"  # reconciliation: a picking order the service sent is not in the warehouse
    )
    MARKING = "marking_codes"  # the codes of marked goods are wrong or incomplete: the shipment is held
    RETURN_RECEIVED = "return_received"  # goods came back to the warehouse: a refund, a return receipt
    RECEIPT_REJECTED = "receipt_rejected"  # the fiscal operator refused a receipt's marking codes
    # Good codes the shop cannot take into the receipt by itself (no module): a person enters them.
    MARKING_BY_HAND = "marking_by_hand"
    DEDUCT_REFUSED = "deduct_refused"  # the warehouse shipped; the shop would not mark the shipment deducted
    # The warehouse cancelled one picking order while others of the order go on: its lines will not ship.
    CANCELLED_IN_WMS = "cancelled_in_wms"


class WayOut(enum.StrEnum):
    CANCEL = "cancel"  # the order cancelled on both sides (releases its reservations)
    SUBSTITUTE = "substitute"  # the failed line replaced by another SKU, a new picking order sent
    SHIP_REST = "ship_rest"  # the failed lines removed, the rest shipped
    RETRY_WHEN_STOCK = "retry_when_stock"  # sent again by itself once the SKU is in stock
    DISMISS = "dismiss"  # a person settled it outside the service: nothing is done, the record stays


WAYS_OUT: Mapping[Kind, tuple[WayOut, ...]] = {
    Kind.PICKING_ERROR: (WayOut.CANCEL, WayOut.SUBSTITUTE, WayOut.SHIP_REST, WayOut.RETRY_WHEN_STOCK),
    Kind.EDIT_AFTER_PICKING: (WayOut.DISMISS,),
    Kind.EDIT_BLOCKED: (WayOut.DISMISS,),
    Kind.STATUS_REFUSED: (WayOut.DISMISS,),
    Kind.CANCEL_REFUSED: (WayOut.DISMISS,),
    Kind.SHOP_CANCEL_REFUSED: (WayOut.DISMISS,),
    Kind.CANCELLED_IN_SHOP: (WayOut.DISMISS,),
    Kind.STUCK: (WayOut.CANCEL, WayOut.DISMISS),
    Kind.UNKNOWN_IN_WMS: (WayOut.DISMISS,),
    Kind.GONE_FROM_WMS: (WayOut.CANCEL, WayOut.DISMISS),
    # Corrected codes come back from the warehouse by themselves (a re-scan is a new version of the picking order);
    # dismissing says a person put the codes in the shop and deducted the shipment by hand.
    Kind.MARKING: (WayOut.DISMISS,),
    # A person refunds and issues the return receipt (its marking codes come back into circulation with it).
    Kind.RETURN_RECEIVED: (WayOut.DISMISS,),
    # The unit cannot be sold as it is: a person replaces it or refunds, outside the service.
    Kind.RECEIPT_REJECTED: (WayOut.DISMISS,),
    # The codes are checked and on the order's lines; a person enters them in the shipment and deducts it.
    Kind.MARKING_BY_HAND: (WayOut.DISMISS,),
    # Never asked again: a person removes the cause, deducts the shipment in the shop and dismisses.
    Kind.DEDUCT_REFUSED: (WayOut.DISMISS,),
    # A person removes the lines from the shop's order (or sends them again by hand), or cancels the whole order.
    Kind.CANCELLED_IN_WMS: (WayOut.CANCEL, WayOut.DISMISS),
}


def ways_out(kind: str) -> tuple[WayOut, ...]:
    """The ways out of an incident of ``kind`` (an unknown kind, from a newer version: dismiss only)."""
    try:
        return WAYS_OUT[Kind(kind)]
    except ValueError:
        return (WayOut.DISMISS,)


@dataclass(frozen=True)
class Message:
    title: str
    body: str


_TITLES: Mapping[Language, Mapping[Kind, str]] = {
    "ru": {
        Kind.PICKING_ERROR: "Ошибка сборки заказа {account}",
        Kind.EDIT_AFTER_PICKING: "Заказ {account} изменён после начала сборки",
        Kind.EDIT_BLOCKED: "Изменение заказа {account} не может быть передано на склад",
        Kind.STATUS_REFUSED: "Статус заказа {account} изменён вручную",
        Kind.CANCEL_REFUSED: "Заказ {account} отменён, но склад уже начал сборку",
        Kind.CANCELLED_IN_SHOP: "Заказ {account} отменён после передачи на склад",
        Kind.SHOP_CANCEL_REFUSED: "Склад отменил заказ {account}; магазин отказал в отмене",
        Kind.STUCK: "Заказ {account} давно не движется на складе",
        Kind.UNKNOWN_IN_WMS: "Склад хранит неизвестный сервису заказ на сборку {account}",
        Kind.GONE_FROM_WMS: "Заказ на сборку {account} пропал из списка склада",
        Kind.MARKING: "Коды маркировки заказа {account} неполны или неверны: отгрузка задержана",
        Kind.RETURN_RECEIVED: "Товар по заказу {account} вернулся на склад",
        Kind.RECEIPT_REJECTED: "Оператор фискальных данных отклонил чек по заказу {account}",
        Kind.MARKING_BY_HAND: "Внесите коды маркировки заказа {account} в отгрузку и проведите её",
        Kind.DEDUCT_REFUSED: "Магазин не провёл отгрузку заказа {account}, отгруженную складом",
        Kind.CANCELLED_IN_WMS: "Склад отменил часть заказа {account}: эти позиции не будут отгружены",
    },
    "en": {
        Kind.PICKING_ERROR: "Picking error in order {account}",
        Kind.EDIT_AFTER_PICKING: "Order {account} changed after picking started",
        Kind.EDIT_BLOCKED: "The change to order {account} cannot go to the warehouse",
        Kind.STATUS_REFUSED: "The status of order {account} was set by hand",
        Kind.CANCEL_REFUSED: "Order {account} was cancelled, but the warehouse is already picking it",
        Kind.CANCELLED_IN_SHOP: "Order {account} was cancelled after it went to the warehouse",
        Kind.SHOP_CANCEL_REFUSED: "The warehouse cancelled order {account}; the shop will not cancel it",
        Kind.STUCK: "Order {account} has not moved in the warehouse for a long time",
        Kind.UNKNOWN_IN_WMS: "The warehouse has a picking order for {account} the service does not know",
        Kind.GONE_FROM_WMS: "A picking order of order {account} is gone from the warehouse",
        Kind.MARKING: "The marking codes of order {account} are incomplete or wrong: the shipment is held",
        Kind.RETURN_RECEIVED: "Goods of order {account} came back to the warehouse",
        Kind.RECEIPT_REJECTED: "The fiscal data operator rejected the receipt of order {account}",
        Kind.MARKING_BY_HAND: "Enter the marking codes of order {account} in its shipment and deduct it",
        Kind.DEDUCT_REFUSED: "The shop would not deduct a shipment of order {account} the warehouse shipped",
        Kind.CANCELLED_IN_WMS: "The warehouse cancelled part of order {account}: those lines will not ship",
    },
}

_WAYS: Mapping[Language, Mapping[WayOut, str]] = {
    "ru": {
        WayOut.CANCEL: "отменить заказ (в магазине и на складе, резерв снимается)",
        WayOut.SUBSTITUTE: "заменить товар другим артикулом (будет отправлен новый заказ на сборку)",
        WayOut.SHIP_REST: "убрать несобранные позиции и отгрузить остальное",
        WayOut.RETRY_WHEN_STOCK: "дождаться поступления товара: заказ будет отправлен повторно автоматически",
        WayOut.DISMISS: "закрыть: решено вне сервиса",
    },
    "en": {
        WayOut.CANCEL: "cancel the order (in the shop and the warehouse; the reservation is released)",
        WayOut.SUBSTITUTE: "substitute another SKU (a new picking order is sent)",
        WayOut.SHIP_REST: "remove the lines that failed and ship the rest",
        WayOut.RETRY_WHEN_STOCK: "wait for stock: the order is sent again by itself",
        WayOut.DISMISS: "dismiss: settled outside the service",
    },
}

# What a person should do about a kind, beyond its ways out.
_HINTS: Mapping[Language, Mapping[Kind, str]] = {
    "ru": {
        Kind.MARKING: "Попросите склад пересканировать коды: исправленные коды сервис получит сам, и отгрузка "
        "продолжится.",
        Kind.RETURN_RECEIVED: "Оформите возврат денег и чек возврата: по этому чеку коды маркировки вернутся "
        "в оборот.",
        Kind.RECEIPT_REJECTED: "Эти единицы нельзя продать по этим кодам: замените товар или верните деньги "
        "покупателю.",
        Kind.DEDUCT_REFUSED: "Причина отказа указана выше. Частые причины: товар маркирован в магазине, но "
        "не маркирован на складе (коды не пришли); на складе магазина не хватает остатка. Устраните причину, "
        "проведите отгрузку вручную и закройте инцидент: dismiss. Сервис больше не пытается провести отгрузку сам.",
        Kind.MARKING_BY_HAND: "Склад отгрузил товар, коды проверены и записаны в свойства позиций заказа, но без "
        "модуля-компаньона они не попадут в чек сами. Откройте отгрузку, внесите эти коды (отсканируйте или "
        "вставьте) и проведите отгрузку, затем закройте инцидент: dismiss.",
    },
    "en": {
        Kind.MARKING: "Ask the warehouse to scan the codes again: the service picks up corrected codes by itself "
        "and the shipment goes on.",
        Kind.RETURN_RECEIVED: "Refund the customer and issue the return receipt: the marking codes go back into "
        "circulation with it.",
        Kind.RECEIPT_REJECTED: "These units cannot be sold with these codes: replace the goods or refund the "
        "customer.",
        Kind.DEDUCT_REFUSED: "The shop's reason is above. Common causes: the product is marked in the shop but not "
        "in the warehouse (no codes came); too little stock in the shop's store. Remove the cause, deduct the "
        "shipment by hand and close the incident: dismiss. The service does not try it again.",
        Kind.MARKING_BY_HAND: "The warehouse shipped the goods; the codes are checked and in the order lines' "
        "properties, but without the companion module they do not reach the receipt by themselves. Open the "
        "shipment, enter these codes (scan or paste them), deduct it, then close the incident: dismiss.",
    },
}

# A marking problem's kind (domain.marking.Problem, or a unit sold on another order), in words.
_CODE_PROBLEMS: Mapping[Language, Mapping[str, str]] = {
    "ru": {
        "missing": "не хватает кодов",
        "surplus": "лишние коды",
        "duplicate": "код повторяется",
        "invalid": "неверный код",
        "foreign": "код другого товара",
        "sold": "код уже продан в другом заказе",
        "unknown_group": "неизвестная товарная группа",
        "no_gtin": "товар без GTIN",
        "refused": "магазин не принял коды",
        "no_module": "в магазине нет модуля-компаньона",
        "rejected": "код отклонён оператором фискальных данных",
        "by_hand": "коды для отгрузки",
    },
    "en": {
        "missing": "codes missing",
        "surplus": "more codes than units",
        "duplicate": "a code appears twice",
        "invalid": "an invalid code",
        "foreign": "another product's code",
        "sold": "a code already sold on another order",
        "unknown_group": "an unknown product group",
        "no_gtin": "the product has no GTIN",
        "refused": "the shop refused the codes",
        "no_module": "the shop has no companion module",
        "rejected": "the code was rejected by the fiscal data operator",
        "by_hand": "codes for the shipment",
    },
}

_LABELS: Mapping[Language, Mapping[str, str]] = {
    "ru": {
        "sku": "Артикул",
        "bin": "Ячейка",
        "reason": "Причина",
        "ref": "Заказ на сборку",
        "why": "Что случилось",
        "wanted": "Статус сервиса",
        "shown": "Статус в магазине",
        "aggregate": "Статус на складе",
        "since": "Последнее движение",
        "ways": "Варианты решения",
        "resolve": "Выбрать: bitrix-inflow incidents resolve {id} <вариант>",
        "link": "Заказ",
        "unknown_bin": "не указана",
    },
    "en": {
        "sku": "SKU",
        "bin": "Bin",
        "reason": "Reason",
        "ref": "Picking order",
        "why": "What happened",
        "wanted": "The service's status",
        "shown": "The status in the shop",
        "aggregate": "The warehouse's status",
        "since": "No movement since",
        "ways": "Ways out",
        "resolve": "Choose: bitrix-inflow incidents resolve {id} <way out>",
        "link": "Order",
        "unknown_bin": "not given",
    },
}


def message(
    kind: str,
    *,
    incident_id: int,
    account: str,
    detail: Mapping[str, object],
    order_link: str | None,
    language: Language,
    with_ways: bool = True,
) -> Message:
    """What the manager reads: which order, which SKU and bin, why, and the ways out with how to choose one. The
    title carries the incident's marker (``[BI-<id>]``), by which a task is found again after a crash."""
    labels = _LABELS[language]
    try:
        title = _TITLES[language][Kind(kind)].format(account=account)
    except ValueError:
        title = f"{kind}: {account}"
    lines: list[str] = []
    if detail.get("ref"):
        lines.append(f"{labels['ref']}: {detail['ref']}")
    if detail.get("sku"):
        lines.append(f"{labels['sku']}: {detail['sku']}")
    if "bin" in detail:
        lines.append(f"{labels['bin']}: {detail.get('bin') or labels['unknown_bin']}")
    if detail.get("reason"):
        lines.append(f"{labels['reason']}: {detail['reason']}")
    if detail.get("why"):
        lines.append(f"{labels['why']}: {detail['why']}")
    for key in ("aggregate", "shown", "wanted", "since"):
        if detail.get(key):
            lines.append(f"{labels[key]}: {detail[key]}")
    problems = detail.get("problems")
    if isinstance(problems, list):
        words = _CODE_PROBLEMS[language]
        for problem in problems:
            if isinstance(problem, Mapping):
                kind_word = words.get(str(problem.get("kind")), str(problem.get("kind")))
                lines.append(f"- {problem.get('sku', '')}: {kind_word} ({problem.get('detail', '')})")
    hint = _HINTS[language].get(Kind(kind)) if kind in Kind._value2member_map_ else None
    if hint:
        lines.append(hint)
    if order_link:
        lines.append(f"{labels['link']}: {order_link}")
    if with_ways:  # the console shows them as buttons instead
        lines.append("")
        lines.append(f"{labels['ways']}:")
        lines.extend(f"- {way.value}: {_WAYS[language][way]}" for way in ways_out(kind))
        lines.append(labels["resolve"].format(id=incident_id))
    return Message(f"{marker(incident_id)} {title}", "\n".join(lines))


def way_out_text(way: str, language: Language) -> str:
    """A way out as the manager reads it (its name when a newer version offers one this one does not know)."""
    try:
        return _WAYS[language][WayOut(way)]
    except ValueError:
        return way


def marker(incident_id: int) -> str:
    return f"[BI-{incident_id}]"
