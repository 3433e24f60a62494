"""The companion module's methods on the sandbox shop (the contract of bitrix-module/README.md), and the receipt a
cashbox builds from a deducted shipment: one quantity-1 line per marking code, payment object 33, the code in tag
2000; a unit without a code leaves the receipt invalid."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bitrix_inflow.sandboxes.bitrix import RunningSandbox, SandboxConfig, running_bitrix_sandbox

GS = "\x1d"
SNEAKER_GTIN = "04620070000043"  # SB-SNEAKER-RUN-41, shoes, in the sandbox catalogue


def _code(serial: str, gtin: str = SNEAKER_GTIN) -> str:
    return f"01{gtin}21{serial}{GS}91EE06{GS}92" + "A" * 44


@pytest.fixture(scope="module")
def site() -> Iterator[RunningSandbox]:
    with running_bitrix_sandbox(SandboxConfig(profile="site")) as running:
        yield running


@pytest.fixture(scope="module")
def rest(site: RunningSandbox, rest_class: Any) -> Iterator[Any]:
    client = rest_class(site)
    yield client
    client.close()


def _product(site: RunningSandbox, xml_id: str) -> dict[str, Any]:
    return next(p for p in site.control.entities("products") if p["xmlId"] == xml_id)


def _order(site: RunningSandbox, place: Any, *lines: tuple[str, float]) -> dict[str, Any]:
    ids = [(_product(site, xml_id)["id"], qty) for xml_id, qty in lines]
    return dict(place(site, *ids))


def _shipment(order: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in order["shipments"] if s["system"] != "Y")


def _deduct(rest: Any, shipment: dict[str, Any]) -> None:
    rest.ok(
        "sale.shipment.update",
        {
            "id": shipment["id"],
            "fields": {
                "allowDelivery": "Y",
                "deducted": "Y",
                "deliveryId": shipment["deliveryId"],
                "statusId": shipment["statusId"],
                "basePriceDelivery": shipment["basePriceDelivery"],
                "priceDelivery": shipment["priceDelivery"],
            },
        },
    )


def test_codes_written_to_a_shipment_line_reach_the_receipt_one_line_per_unit(
    site: RunningSandbox, rest: Any, place: Any
) -> None:
    order = _order(site, place, ("SB-SNEAKER-RUN-41", 2), ("SB-CAP-BLACK", 1))
    shipment = _shipment(order)
    sneaker = next(b for b in order["basketItems"] if b["productXmlId"] == "SB-SNEAKER-RUN-41")
    codes = [_code("AAAAAAAAAAAA1"), _code("AAAAAAAAAAAA2")]
    params = {"shipmentId": shipment["id"], "basketId": int(sneaker["id"]), "codes": codes}
    first = rest.ok("bitrixinflow.marking.set", params)["result"]
    again = rest.ok("bitrixinflow.marking.set", params)["result"]  # the same codes again: nothing new
    assert first["codes"] == again["codes"] == codes
    rows = site.control.entities("storeBarcodes", basketId=sneaker["id"])
    assert sorted(r["markingCode"] for r in rows) == sorted(codes)
    assert {r["quantity"] for r in rows} == {1}

    got = rest.ok("bitrixinflow.marking.get", {"orderId": order["id"]})["result"]["items"]
    by_basket = {item["basketId"]: item for item in got}
    assert by_basket[int(sneaker["id"])]["codes"] == codes
    assert by_basket[int(sneaker["id"])]["markingGroup"] == "shoes"
    cap = next(b for b in order["basketItems"] if b["productXmlId"] == "SB-CAP-BLACK")
    assert by_basket[int(cap["id"])] | {"codes": []} == by_basket[int(cap["id"])]
    assert by_basket[int(cap["id"])]["markingGroup"] == ""

    _deduct(rest, shipment)
    (receipt,) = site.control.entities("receipts", shipmentId=shipment["id"])
    assert receipt["valid"] is True and receipt["problems"] == []
    marked = [i for i in receipt["items"] if i["payment_object"] == "commodity_marking"]
    assert sorted(i["marking_code"] for i in marked) == sorted(codes)
    assert all(i["quantity"] == 1 and i["tags"] == {"1212": 33, "2000": i["marking_code"]} for i in marked)
    (plain,) = [i for i in receipt["items"] if i["payment_object"] == "commodity"]
    assert plain["quantity"] == 1 and plain["marking_code"] == ""

    # Deducted: the codes can no longer change.
    error = rest.error("bitrixinflow.marking.set", {**params, "codes": codes[:1]}, status=400)
    assert error["error"] == "BITRIXINFLOW_SHIPMENT_DEDUCTED"


def test_a_shipment_is_not_deducted_while_a_marked_line_lacks_codes(
    site: RunningSandbox, rest: Any, place: Any
) -> None:
    """The core refuses DEDUCTED=Y when a marked line has fewer coded store rows than units
    (ShipmentItem::checkMarkingCodeOnDeducted): nothing is deducted and no receipt is printed."""
    order = _order(site, place, ("SB-SNEAKER-RUN-41", 2))
    shipment = _shipment(order)
    (sneaker,) = order["basketItems"]
    rest.ok(
        "bitrixinflow.marking.set",
        {"shipmentId": shipment["id"], "basketId": int(sneaker["id"]), "codes": [_code("BBBBBBBBBBBB1")]},
    )
    params = {
        "id": shipment["id"],
        "fields": {
            "allowDelivery": "Y",
            "deducted": "Y",
            "deliveryId": shipment["deliveryId"],
            "statusId": shipment["statusId"],
            "basePriceDelivery": shipment["basePriceDelivery"],
            "priceDelivery": shipment["priceDelivery"],
        },
    }
    error = rest.error("sale.shipment.update", params, status=400)
    assert "marking codes" in error["error_description"]
    assert site.control.entity("shipments", shipment["id"])["deducted"] == "N"
    assert site.control.entities("receipts", shipmentId=shipment["id"]) == []
    rest.ok(
        "bitrixinflow.marking.set",
        {
            "shipmentId": shipment["id"],
            "basketId": int(sneaker["id"]),
            "codes": [_code("BBBBBBBBBBBB1"), _code("BBBBBBBBBBBB2")],
        },
    )
    rest.ok("sale.shipment.update", params)
    (receipt,) = site.control.entities("receipts", shipmentId=shipment["id"])
    assert receipt["valid"] is True and len(receipt["items"]) == 2


def test_refusals_name_the_problem_and_change_nothing(site: RunningSandbox, rest: Any, place: Any) -> None:
    order = _order(site, place, ("SB-SNEAKER-RUN-41", 1), ("SB-CAP-BLACK", 1))
    shipment = _shipment(order)
    sneaker, cap = (
        next(b for b in order["basketItems"] if b["productXmlId"] == key)
        for key in ("SB-SNEAKER-RUN-41", "SB-CAP-BLACK")
    )
    base = {"shipmentId": shipment["id"], "basketId": int(sneaker["id"])}
    cases = [
        ({**base, "codes": [_code("CCCCCCCCCCCC1"), _code("CCCCCCCCCCCC2")]}, "BITRIXINFLOW_TOO_MANY_CODES"),
        ({**base, "basketId": int(cap["id"]), "codes": [_code("CCCCCCCCCCCC3")]}, "BITRIXINFLOW_NOT_MARKED"),
        (
            {**base, "shipmentId": 999999, "codes": [_code("CCCCCCCCCCCC4")]},
            "BITRIXINFLOW_SHIPMENT_NOT_FOUND",
        ),
        ({**base, "basketId": 999999, "codes": []}, "BITRIXINFLOW_BASKET_NOT_IN_SHIPMENT"),
        ({**base, "codes": "not a list"}, "BITRIXINFLOW_WRONG_PARAMETER"),
        ({"basketId": int(sneaker["id"]), "codes": []}, "BITRIXINFLOW_WRONG_PARAMETER"),
    ]
    for params, code in cases:
        assert rest.error("bitrixinflow.marking.set", params, status=400)["error"] == code, params
    assert site.control.entities("storeBarcodes", basketId=sneaker["id"]) == []


def test_product_barcodes_and_marking_groups(site: RunningSandbox, rest: Any) -> None:
    sneaker = _product(site, "SB-SNEAKER-RUN-41")
    cap = _product(site, "SB-CAP-BLACK")
    got = rest.ok("bitrixinflow.barcode.list", {"productIds": [sneaker["id"], cap["id"], 999999]})["result"]
    assert got["products"] == {
        str(sneaker["id"]): {"barcodes": ["4620070000043"], "markingGroup": "shoes"},
        str(cap["id"]): {"barcodes": ["4620070000166"], "markingGroup": ""},
    }


def test_releasing_one_lines_reservation_frees_its_units_and_keeps_the_line(
    site: RunningSandbox, rest: Any, place: Any
) -> None:
    cap = _product(site, "SB-CAP-BLACK")
    before = rest.ok("catalog.product.get", {"id": cap["id"]})["result"]["product"]["quantityReserved"]
    order = _order(site, place, ("SB-CAP-BLACK", 2), ("SB-SNEAKER-RUN-41", 1))
    line = next(b for b in order["basketItems"] if b["productXmlId"] == "SB-CAP-BLACK")
    held = rest.ok("catalog.product.get", {"id": cap["id"]})["result"]["product"]["quantityReserved"]
    assert held == before + 2
    assert rest.ok("bitrixinflow.reservation.release", {"basketId": line["id"]})["result"] == {
        "basketId": int(line["id"]),
        "released": 2,
    }
    assert rest.ok("bitrixinflow.reservation.release", {"basketId": line["id"]})["result"]["released"] == 0
    after = rest.ok("catalog.product.get", {"id": cap["id"]})["result"]["product"]["quantityReserved"]
    assert after == before
    still = rest.ok("sale.basketitem.get", {"id": line["id"]})["result"]["basketItem"]
    assert still["quantity"] == 2


def test_a_cloud_shop_has_no_companion_module(cloud_rest: Any) -> None:
    error = cloud_rest.error("bitrixinflow.marking.get", {"orderId": 1}, status=404)
    assert error["error"] == "ERROR_METHOD_NOT_FOUND"


def test_the_module_is_refused_on_a_cloud_shop_by_configuration() -> None:
    with pytest.raises(ValueError, match="companion_module"):
        SandboxConfig(profile="bitrix24", companion_module=True)
