"""Deterministic shop content: the same ``seed`` gives the same catalog, stock, carriers and statuses."""

from __future__ import annotations

import random
from typing import Any

from bitrix_inflow.sandboxes import catalogue
from bitrix_inflow.sandboxes.bitrix.shop import Row, Shop
from bitrix_inflow.sandboxes.catalogue import CatalogueError, Item

PRODUCT_IBLOCK_ID = 23
OFFER_IBLOCK_ID = 24
# iblock property ids of the product catalog (numeric ids are how REST filters by property).
PROP_ARTNUMBER = 101
PROP_GTIN = 102
PROP_MARKING_GROUP = 103
PROP_CML2_LINK = 104
PROP_MATERIAL = 105  # a string property that holds no SKU: a distractor for onboarding's key proposal
PROP_COLOR = 106  # a list property
KEY_PLACES = ("both", "xmlId", "property")

# The statuses each product creates on installation (sale/status/index.md "Default Statuses" for Bitrix24; the
# sale module's installation for Site Management, which has no cancelled or shipped order status of its own).
# The cancel flag is not a status on either: Bitrix24's "D" is only a name.
PRODUCT_ORDER_STATUSES = {
    "bitrix24": (
        ("N", "Accepted, awaiting payment", 10, "#BEEDF1"),
        ("S", "Shipped", 20, "#BBDEFB"),
        ("P", "Paid, preparing for shipment", 30, "#C8E6C9"),
        ("D", "Canceled", 40, "#FFCDD2"),
        ("F", "Completed", 200, "#DDDDDD"),
    ),
    "site": (
        ("N", "Accepted, awaiting payment", 10, "#BEEDF1"),
        ("P", "Paid, preparing for shipment", 20, "#C8E6C9"),
        ("F", "Completed", 200, "#DDDDDD"),
    ),
}
PRODUCT_DELIVERY_STATUSES = {
    "bitrix24": (("DN", "Awaiting processing", 10), ("DD", "Canceled", 20), ("DF", "Shipped", 30)),
    "site": (
        ("DN", "Awaiting processing", 10),
        ("DF", "Shipped", 30),
    ),  # [uncertain: the installer may add more]
}
# What an integrator adds (sale.status.add) so the brief's mapping table has its statuses
# (NEW→P, PICKING→Q, SHIPPED→D, DELIVERED→F, CANCELLED→Z): the sandbox's "integrated" shop, its default.
INTEGRATOR_ORDER_STATUSES = (
    ("Q", "Picking", 35, "#FFE0B2"),
    ("D", "In delivery", 40, "#BBDEFB"),  # only where the product has no D (Bitrix24's D is "Canceled")
    ("Z", "Cancelled by the warehouse", 210, "#FFCDD2"),
)
DEFAULT_CARRIERS = ("Courier", "CDEK", "Russian Post", "Pickup point")
MARKING_GROUPS = ("shoes", "clothes", "perfume", "tires", "")
_NOUNS = ("T-Shirt", "Sneakers", "Jacket", "Perfume", "Tire", "Cap", "Socks", "Hoodie", "Boots", "Scarf")
_ADJECTIVES = ("Red", "Blue", "Fire", "Classic", "Urban", "Winter", "Sport", "Light", "Night", "Sea")


def _gtin13(rng: random.Random) -> str:
    body = "46" + "".join(str(rng.randrange(10)) for _ in range(10))
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def install_reference_data(
    shop: Shop, *, carriers: tuple[str, ...] = DEFAULT_CARRIERS, stores: int = 2
) -> None:
    profile = shop.config.profile
    for status_id, name, sort, color in PRODUCT_ORDER_STATUSES[profile]:
        shop.add_status(status_id, name, sort=sort, color=color)
    if shop.config.statuses == "integrated":
        have = {row["id"] for row in shop.t("statuses").all()}
        for status_id, name, sort, color in INTEGRATOR_ORDER_STATUSES:
            if status_id not in have:
                shop.add_status(status_id, name, sort=sort, color=color)
    for status_id, name, sort in PRODUCT_DELIVERY_STATUSES[profile]:
        shop.add_status(status_id, name, kind="D", sort=sort)
    for index, carrier in enumerate(carriers, start=1):
        shop.add_delivery(
            carrier,
            xml_id=f"delivery_{index}",
            carrier=carrier,
            price=250 + 100 * index,
            # A carrier's own service comes with its app (sale.delivery.add: a REST handler); courier, post and
            # pickup are the sale module's built-in handlers.
            rest_made=index == 2,
        )
    for type_id, name, code in ((1, "Физическое лицо", "individual"), (2, "Юридическое лицо", "legal")):
        shop.t("personTypes").insert(
            {
                "id": type_id,
                "name": name,
                "code": code,
                "sort": 100 * type_id,
                "active": "Y",
                "lid": "s1",
                "xmlId": f"bx_{code}",
            }
        )
    shop.add_pay_system("Card Payment", xml_id="bx_pay_card")
    shop.add_pay_system("Cash on delivery", xml_id="bx_pay_cash", is_cash="Y")
    for number in range(1, stores + 1):
        shop.add_store(f"Warehouse {number}", code=f"store_{number}", address=f"Sandbox road {number}")
    shop.add_shipment_property("MARKING_CODES", "Marking codes")
    shop.add_shipment_property("SSCC", "SSCC")
    shop.add_shipment_property("WMS_ORDER", "WMS picking order")
    shop.t("catalogs").insert(
        {
            "iblockId": PRODUCT_IBLOCK_ID,
            "iblockTypeId": "CRM_PRODUCT_CATALOG",
            "lid": "s1",
            "name": "Product catalog",
            "productIblockId": None,
            "skuPropertyId": None,
            "subscription": "N",
            "vatId": 1,
        }
    )
    shop.t("catalogs").insert(
        {
            "iblockId": OFFER_IBLOCK_ID,
            "iblockTypeId": "CRM_PRODUCT_CATALOG",
            "lid": "s1",
            "name": "Product catalog (offers)",
            "productIblockId": PRODUCT_IBLOCK_ID,
            "skuPropertyId": PROP_CML2_LINK,
            "subscription": "N",
            "vatId": 1,
        }
    )
    for prop_id, iblock_id, code, name in (
        (PROP_ARTNUMBER, PRODUCT_IBLOCK_ID, "ARTNUMBER", "Article (SKU)"),
        (PROP_GTIN, PRODUCT_IBLOCK_ID, "GTIN", "GTIN"),
        (PROP_MARKING_GROUP, PRODUCT_IBLOCK_ID, "MARKING_GROUP", "Marking group (Chestny ZNAK)"),
        (PROP_MATERIAL, PRODUCT_IBLOCK_ID, "MATERIAL", "Material"),
        (PROP_COLOR, PRODUCT_IBLOCK_ID, "COLOR", "Colour"),
        (PROP_CML2_LINK, OFFER_IBLOCK_ID, "CML2_LINK", "Parent product"),
        (PROP_ARTNUMBER + 10, OFFER_IBLOCK_ID, "ARTNUMBER", "Article (SKU)"),
        (PROP_GTIN + 10, OFFER_IBLOCK_ID, "GTIN", "GTIN"),
    ):
        table = shop.t("productProperties")
        table.rows[prop_id] = {
            "id": prop_id,
            "iblockId": iblock_id,
            "name": name,
            "code": code,
            "propertyType": {"CML2_LINK": "E", "COLOR": "L"}.get(code, "S"),
            "multiple": "N",
            "active": "Y",
            "sort": 100,
            "xmlId": f"prop_{code.lower()}",
            # The rest of catalog.productProperty's fields (data-types.md#catalog_productproperty).
            "userType": "SKU" if code == "CML2_LINK" else None,
            "linkIblockId": PRODUCT_IBLOCK_ID if code == "CML2_LINK" else None,
            "isRequired": "N",
            "searchable": "N",
            "filtrable": "Y" if code in ("ARTNUMBER", "COLOR") else "N",
            "withDescription": "N",
            "timestampX": shop.clock.iso(),
        }
        table.last_id = max(table.last_id, prop_id)


def _property(value: str, value_id: int) -> dict[str, Any]:
    return {"value": value, "valueId": str(value_id)}


def add_product(
    shop: Shop,
    *,
    name: str,
    sku: str,
    gtin: str,
    marking_group: str,
    price: float,
    stock: dict[int, float],
    iblock_id: int = PRODUCT_IBLOCK_ID,
    product_type: int = 1,
    parent_id: int | None = None,
    xml_id: str | None = None,
    barcode_multi: bool = False,
) -> Row:
    now = shop.clock.iso()
    products = shop.t("products")
    product: Row = {
        "iblockId": iblock_id,
        "name": name,
        "code": sku.lower(),
        "xmlId": "",
        "active": "Y",
        "available": "N",
        "type": product_type,
        "bundle": "N",
        "quantity": 0,
        "quantityReserved": 0,
        "quantityTrace": "Y",
        "canBuyZero": "N",
        "subscribe": "Y",
        "measure": 5,
        "weight": 500,
        "width": None,
        "height": None,
        "length": None,
        "purchasingPrice": round(price * 0.6, 2),
        "purchasingCurrency": "RUB",
        "barcodeMulti": "Y" if barcode_multi else "N",
        "vatIncluded": "Y",
        "dateCreate": now,
        "timestampX": now,
        "iblockSectionId": None,
        "sort": 500,
        "createdBy": 1,
        "modifiedBy": 1,
        "dateActiveFrom": None,
        "dateActiveTo": None,
        "detailPicture": None,
        "detailText": "",
        "detailTextType": "text",
        "previewPicture": None,
        "previewText": "",
        "previewTextType": "text",
        "vatId": 1,
        "_price": price,
        # What the catalog keeps outside the REST product view: the Honest Sign product group (sale's
        # MARKING_CODE_GROUP of the basket item) and the product's barcodes (b_catalog_store_barcode), which only
        # the companion module reads.
        "_markingGroup": marking_group,
        "_barcodes": [gtin[1:] if len(gtin) == 14 and gtin.startswith("0") else gtin] if gtin else [],
    }
    product_id = products.insert(product)
    product["xmlId"] = xml_id if xml_id is not None else f"{1000000000 + product_id}"
    offset = 10 if iblock_id == OFFER_IBLOCK_ID else 0
    value_id = product_id * 10
    product[f"property{PROP_ARTNUMBER + offset}"] = _property(sku, value_id + 1)
    product[f"property{PROP_GTIN + offset}"] = _property(gtin, value_id + 2) if gtin else None
    if iblock_id == PRODUCT_IBLOCK_ID:
        product[f"property{PROP_MARKING_GROUP}"] = (
            _property(marking_group, value_id + 3) if marking_group else None
        )
        product[f"property{PROP_MATERIAL}"] = _property(
            ("cotton", "leather", "wool")[product_id % 3], value_id + 5
        )
    if parent_id is not None:
        link = _property(str(parent_id), value_id + 4)
        product[f"property{PROP_CML2_LINK}"] = link
        # catalog.product.offer.* show the same link as parentId {value, valueId} (offer-list docs).
        product["parentId"] = dict(link)
    for store_id, amount in stock.items():
        shop.store_product(product_id, store_id)
        shop.set_store_amount(product_id, store_id, amount)
    shop.touch_product(product)
    return product


def seed_shop(
    shop: Shop,
    *,
    seed: int = 1,
    products: int | None = None,
    offers_per_product: int = 0,
    stores: int = 2,
    carriers: tuple[str, ...] = DEFAULT_CARRIERS,
    orders: int = 0,
    catalogue_csv: str | None = None,
    catalogue_size: int | None = None,
    key_in: str = "both",
) -> dict[str, Any]:
    """Reset the shop and fill it. Returns a summary with the ids created.

    The products: ``products=N`` generated ones of its own (``ART-00001``..., they match no warehouse); else the
    sandboxes' shared catalogue: ``catalogue_csv`` (the text of a catalogue file), a generated one of
    ``catalogue_size`` rows, or by default the sandbox catalogue file the sandbox warehouse loads too. A
    catalogue that cannot be used raises ``CatalogueError`` before the shop is touched.

    ``key_in`` says where the catalogue's shop key lives: ``both`` (xmlId and the ARTNUMBER property), ``xmlId``
    (the article property holds the shop's own article) or ``property`` (xmlId is the shop's own id, as in a shop
    whose products were created by hand). Onboarding must tell them apart.
    """
    if key_in not in KEY_PLACES:
        raise CatalogueError(f"key_in must be one of {', '.join(KEY_PLACES)}, got {key_in!r}")
    rng = random.Random(seed)
    if products is not None:
        if catalogue_csv is not None or catalogue_size is not None:
            raise CatalogueError("give either products or a catalogue, not both")
        source, items = "generated products", None
    else:
        source, items = catalogue.resolve(csv_text=catalogue_csv, size=catalogue_size, seed=seed)
        check_shop_rows(items)
    shop.reset()
    install_reference_data(shop, carriers=carriers, stores=stores)
    store_ids = [row["id"] for row in shop.t("stores").all()]
    if items is not None:
        _add_catalogue(shop, rng, items, store_ids, key_in)
    else:
        _add_generated(shop, rng, products or 0, offers_per_product, store_ids)
    placed = [random_order(shop, rng)["id"] for _ in range(orders)]
    return {
        "seed": seed,
        "source": source,
        "products": [row["id"] for row in shop.t("products").all()],
        "stores": store_ids,
        "deliveries": [row["id"] for row in shop.t("deliveries").all()],
        "statuses": [row["id"] for row in shop.t("statuses").all()],
        "orders": placed,
    }


# The shop's own names of the Honest Sign product groups (its MARKING_GROUP property holds these).
_GROUP_NAMES = {"5408": "shoes", "5140": "clothes", "8258": "perfume", "8721": "tires"}


def check_shop_rows(items: list[Item]) -> None:
    """What the shop needs of the rows it keeps: a key to be found by, and a product group it knows."""
    for item in items:
        if not item.in_shop:
            continue
        if not item.shop_key:
            raise CatalogueError(f"{item.sku}: a row in the shop needs its shop_key (xmlId and ARTNUMBER)")
        if item.marked and item.marked not in _GROUP_NAMES:
            raise CatalogueError(
                f"{item.sku}: product group {item.marked!r} is not one of {sorted(_GROUP_NAMES)}"
            )


def _add_catalogue(
    shop: Shop, rng: random.Random, items: list[Item], store_ids: list[int], key_in: str = "both"
) -> None:
    """Products (iblock 23) and offers (iblock 24) in the file's order; xmlId and/or ARTNUMBER carry the shop key."""
    parents: dict[str, int] = {}
    for item in items:
        if not item.in_shop:
            continue
        price = float(rng.randrange(100, 5000))
        is_offer = item.kind == "offer"
        product = add_product(
            shop,
            name=item.name,
            sku=item.shop_key if key_in != "xmlId" else f"ART-{item.shop_key.lower()}",
            gtin=item.gtin,
            marking_group=_GROUP_NAMES.get(item.marked, ""),
            price=price,
            # A parent is sold through its offers and holds no stock of its own.
            stock={} if item.kind == "parent" else {s: float(rng.randrange(0, 60)) for s in store_ids},
            iblock_id=OFFER_IBLOCK_ID if is_offer else PRODUCT_IBLOCK_ID,
            product_type={"product": 1, "parent": 3, "offer": 4}[item.kind],
            parent_id=parents[item.parent] if is_offer else None,
            xml_id=item.shop_key if key_in != "property" else None,
            barcode_multi=item.barcode_multi,
        )
        if item.kind == "parent":
            parents[item.sku] = product["id"]


def _add_generated(
    shop: Shop, rng: random.Random, products: int, offers_per_product: int, store_ids: list[int]
) -> None:
    for number in range(1, products + 1):
        name = f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)} #{number}"
        stock = {store_id: float(rng.randrange(0, 60)) for store_id in store_ids}
        price = float(rng.randrange(100, 5000))
        group = rng.choice(MARKING_GROUPS)
        sku = f"ART-{number:05d}"
        if offers_per_product:
            parent = add_product(
                shop,
                name=name,
                sku=sku,
                gtin=_gtin13(rng),
                marking_group=group,
                price=price,
                stock={},
                product_type=3,
            )
            for variant in range(1, offers_per_product + 1):
                add_product(
                    shop,
                    name=f"{name} (size {variant})",
                    sku=f"{sku}-{variant}",
                    gtin=_gtin13(rng),
                    marking_group=group,
                    price=price,
                    stock={store_id: float(rng.randrange(0, 30)) for store_id in store_ids},
                    iblock_id=OFFER_IBLOCK_ID,
                    product_type=4,
                    parent_id=parent["id"],
                )
        else:
            add_product(
                shop, name=name, sku=sku, gtin=_gtin13(rng), marking_group=group, price=price, stock=stock
            )


def sellable_products(shop: Shop) -> list[Row]:
    return [row for row in shop.t("products").all() if row["type"] in (1, 4)]


def random_order(shop: Shop, rng: random.Random, *, shipments: int = 1) -> Row:
    """An order of 1-4 sellable products split over ``shipments`` shipments with random carriers."""
    candidates = sellable_products(shop)
    if not candidates:
        raise ValueError("the shop has no products: seed it first")
    picked = rng.sample(candidates, k=min(len(candidates), rng.randint(1, 4)))
    lines = [(int(row["id"]), float(rng.randint(1, 3))) for row in picked]
    delivery_ids = [row["id"] for row in shop.t("deliveries").all()] or [None]
    count = max(1, min(shipments, len(lines)))
    plan = [
        {"deliveryId": rng.choice(delivery_ids), "lines": list(range(i, len(lines), count))}
        for i in range(count)
    ]
    return shop.place_order(lines, shipments=plan, user_id=rng.randint(2, 50))
