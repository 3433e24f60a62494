"""Field whitelists of the REST entities, with the attributes the sale/catalog internalizers act on.

Rows are stored the way they are answered (camelCase keys, already with the documented mix of value types), so
these specs only decide what a client may select, filter, order by and write.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from bitrix_inflow.sandboxes.bitrix import rest_errors
from bitrix_inflow.sandboxes.bitrix.naming import camel_to_snake


@dataclass(frozen=True)
class Field:
    kind: str = "str"  # int | float | str | date | yn
    readonly: bool = False
    required: bool = False
    immutable: bool = False
    hidden: bool = False


RO = Field(readonly=True)
RO_INT = Field(kind="int", readonly=True)
RO_DATE = Field(kind="date", readonly=True)
INT = Field(kind="int")
FLOAT = Field(kind="float")
STR = Field()
YN = Field(kind="yn")
DATE = Field(kind="date")


@dataclass
class EntitySpec:
    name: str
    fields: dict[str, Field]
    dynamic: re.Pattern[str] | None = None
    exact_upper: bool = False  # legacy methods take UPPER_SNAKE keys as they are
    _by_snake: dict[str, str] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self._by_snake = {camel_to_snake(name): name for name in self.fields}

    def resolve(self, key: str) -> str | None:
        """The camelCase field a client key means, or None when the internalizer would drop it."""
        if self.dynamic is not None and self.dynamic.fullmatch(key):
            return key
        if self.exact_upper:
            return key if key in self.fields else None
        name = self._by_snake.get(camel_to_snake(key))
        if name is None or self.fields[name].hidden:
            return None
        return name

    def kind(self, name: str) -> str:
        spec = self.fields.get(name)
        return spec.kind if spec else "str"

    def visible(self) -> list[str]:
        return [name for name, spec in self.fields.items() if not spec.hidden]


_LEADING_NUMBER = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def _php_number(value: Any) -> float:
    """PHP's (float) cast: the leading number of a string, 0 when there is none."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    found = _LEADING_NUMBER.match(str(value))
    return float(found.group(0)) if found else 0.0


def coerce(name: str, kind: str, value: Any) -> Any:
    """Store a written value with the field's type, the way the ORM casts it.

    Form and query transport send every scalar as a string. Numbers are cast like PHP does ("12abc" -> 12,
    "abc" -> 0). Y/N flags accept only "Y", "N" or a JSON boolean: a client that sends Python's True as the
    string "True" gets an error instead of a silently wrong flag.
    """
    if value is None:
        return None
    if isinstance(value, dict | list):
        raise rest_errors.controller(0, f"Invalid value of field {name}: a scalar is expected")
    if kind in ("int", "float"):
        number = _php_number(value)
        if not math.isfinite(number):
            # JSON's 1e400 decodes to INF: no column holds it and json_encode cannot answer with it.
            raise rest_errors.controller(0, f"Invalid value of field {name}: {value!r}, not a finite number")
        return int(number) if kind == "int" or number.is_integer() else number
    if kind == "yn":
        if isinstance(value, bool):
            return "Y" if value else "N"
        if value in ("Y", "N"):
            return value
        raise rest_errors.controller(0, f"Invalid value of field {name}: {value!r}, use Y or N")
    if isinstance(value, bool):
        return "1" if value else ""
    return value if isinstance(value, str) else str(value)


def internalize(
    spec: EntitySpec, fields: Any, *, for_update: bool, check_required: bool = True
) -> dict[str, Any]:
    """Apply the internalizer: unknown and read-only keys vanish silently; required keys are enforced."""
    if not isinstance(fields, dict):
        raise rest_errors.required_argument("fields")
    clean: dict[str, Any] = {}
    for key, value in fields.items():
        name = spec.resolve(str(key))
        if name is None:
            continue
        attrs = spec.fields.get(name, STR)
        if attrs.readonly or (for_update and attrs.immutable):
            continue
        clean[name] = coerce(name, attrs.kind, value)
    if check_required:
        missing = [
            name
            for name, attrs in spec.fields.items()
            if attrs.required and not (for_update and attrs.immutable) and name not in clean
        ]
        if missing:
            raise rest_errors.required_fields(missing)
    return clean


def _spec(entity: str, /, **fields: Field) -> EntitySpec:
    return EntitySpec(entity, dict(fields))


ORDER = _spec(
    "order",
    id=RO_INT,
    accountNumber=RO,
    xmlId=STR,
    lid=Field(required=True, immutable=True),
    personTypeId=Field(kind="int", required=True, immutable=True),
    personTypeXmlId=RO,
    userId=Field(kind="int", immutable=True),  # the addendum: immutable on update [src]
    currency=Field(required=True, immutable=True),
    price=FLOAT,
    discountValue=FLOAT,
    taxValue=Field(kind="float", readonly=True),
    statusId=STR,
    statusXmlId=RO,
    dateStatus=RO_DATE,
    empStatusId=INT,
    canceled=YN,
    dateCanceled=RO_DATE,
    empCanceledId=INT,
    reasonCanceled=STR,
    payed=Field(kind="yn", readonly=True),
    deducted=Field(kind="yn", readonly=True),
    marked=YN,
    dateMarked=RO_DATE,
    empMarkedId=INT,
    reasonMarked=STR,
    comments=STR,
    userDescription=STR,
    additionalInfo=STR,
    responsibleId=INT,
    companyId=INT,
    affiliateId=INT,
    lockedBy=STR,
    dateLock=RO_DATE,
    recurringId=STR,
    recountFlag=YN,
    orderTopic=STR,
    dateInsert=DATE,
    dateUpdate=RO_DATE,
    version=RO_INT,
    externalOrder=YN,
    id1c=STR,
    version1c=STR,
    updated1c=YN,
)

BASKET_ITEM = _spec(
    "basketItem",
    id=RO,
    orderId=Field(required=True, immutable=True),
    fuserId=INT,
    lid=STR,
    module=STR,
    productId=Field(kind="int", required=True, immutable=True),
    productXmlId=STR,
    catalogXmlId=STR,
    productPriceId=INT,
    priceTypeId=INT,
    name=STR,
    quantity=Field(kind="float", required=True),
    price=FLOAT,
    basePrice=FLOAT,
    discountPrice=FLOAT,
    customPrice=YN,
    currency=Field(required=True, immutable=True),
    measureCode=STR,
    measureName=STR,
    xmlId=STR,
    weight=FLOAT,
    dimensions=STR,
    vatRate=FLOAT,
    vatIncluded=YN,
    type=STR,
    barcodeMulti=YN,
    canBuy=YN,
    sort=INT,
    dateInsert=RO_DATE,
    dateUpdate=RO_DATE,
    dateRefresh=RO_DATE,
    detailPageUrl=STR,
    discountCoupon=RO,
    discountName=RO,
    discountValue=RO,
    productProviderClass=STR,
    recommendation=STR,
    setParentId=RO,
    subscribe=YN,
    notes=STR,
    properties=Field(readonly=True),
    reservations=Field(readonly=True),
)

SHIPMENT = _spec(
    "shipment",
    id=RO_INT,
    orderId=Field(kind="int", required=True, immutable=True),
    accountNumber=RO,
    statusId=STR,
    statusXmlId=RO,
    allowDelivery=Field(kind="yn", required=True),
    dateAllowDelivery=RO_DATE,
    empAllowDeliveryId=RO_INT,
    deducted=Field(kind="yn", required=True),
    dateDeducted=RO_DATE,
    empDeductedId=RO_INT,
    reasonUndoDeducted=STR,
    deliveryId=Field(kind="int", required=True),
    deliveryName=RO,
    deliveryXmlId=RO,
    trackingNumber=STR,
    trackingStatus=STR,
    trackingDescription=STR,
    trackingLastCheck=STR,
    deliveryDocNum=STR,
    deliveryDocDate=DATE,
    basePriceDelivery=FLOAT,
    priceDelivery=FLOAT,
    customPriceDelivery=YN,
    discountPrice=FLOAT,
    currency=STR,
    comments=STR,
    companyId=INT,
    responsibleId=INT,
    xmlId=STR,
    marked=YN,
    dateMarked=RO_DATE,
    reasonMarked=STR,
    dateResponsibleId=RO_DATE,
    empCanceledId=RO_INT,
    empMarkedId=INT,
    empResponsibleId=INT,
    canceled=YN,
    dateCanceled=RO_DATE,
    externalDelivery=YN,
    id1c=STR,
    version1c=STR,
    updated1c=YN,
    dateInsert=RO_DATE,
    system=Field(kind="yn", readonly=True),
)

SHIPMENT_ITEM = _spec(
    "shipmentItem",
    id=RO_INT,
    orderDeliveryId=Field(kind="int", required=True, immutable=True),
    basketId=Field(kind="int", required=True, immutable=True),
    quantity=Field(kind="float", required=True),
    reservedQuantity=Field(kind="float", readonly=True),
    xmlId=STR,
    dateInsert=RO_DATE,
    stores=Field(hidden=True),
)

PAYMENT = _spec(
    "payment",
    id=RO_INT,
    orderId=Field(kind="int", required=True, immutable=True),
    accountNumber=RO,
    paid=YN,
    datePaid=RO_DATE,
    paySystemId=Field(kind="int", required=True),
    paySystemName=RO,
    paySystemXmlId=RO,
    paySystemIsCash=Field(kind="yn", readonly=True),
    sum=FLOAT,
    currency=STR,
    isReturn=YN,
    comments=STR,
    xmlId=STR,
    dateBill=RO_DATE,
    externalPayment=YN,
    companyId=INT,
    dateMarked=RO_DATE,
    datePayBefore=DATE,
    dateResponsibleId=RO_DATE,
    empMarkedId=INT,
    empPaidId=RO_INT,
    empResponsibleId=INT,
    empReturnId=INT,
    marked=YN,
    payReturnComment=STR,
    payReturnDate=DATE,
    payReturnNum=STR,
    payVoucherDate=DATE,
    payVoucherNum=STR,
    priceCod=FLOAT,
    psCurrency=STR,
    psInvoiceId=INT,
    psResponseDate=DATE,
    psStatus=STR,
    psStatusCode=STR,
    psStatusDescription=STR,
    psStatusMessage=STR,
    psSum=FLOAT,
    reasonMarked=STR,
    responsibleId=INT,
    id1c=STR,
    updated1c=YN,
    version1c=STR,
)

STATUS = _spec(
    "status",
    id=STR,
    type=STR,
    notify=YN,
    sort=INT,
    color=STR,
    xmlId=STR,
)

# sale-person-type-list.md; the REST view also carries the site (lid), as the sale controller's view does.
PERSON_TYPE = _spec("personType", id=RO_INT, name=STR, code=STR, sort=INT, active=YN, xmlId=STR, lid=STR)

STATUS_LANG = _spec("statusLang", statusId=STR, lid=STR, name=STR, description=STR)

SHIPMENT_PROPERTY = _spec(
    "shipmentProperty",
    id=RO_INT,
    personTypeId=INT,
    propsGroupId=INT,
    name=STR,
    type=STR,
    required=YN,
    defaultValue=STR,
    sort=INT,
    code=STR,
    active=YN,
    util=YN,
    multiple=YN,
    xmlId=STR,
)

SHIPMENT_PROPERTY_VALUE = _spec(
    "shipmentPropertyValue",
    id=RO_INT,
    shipmentId=INT,
    shipmentPropsId=INT,
    shipmentPropsXmlId=RO,
    name=RO,
    code=RO,
    value=STR,
)

BASKET_PROPERTY = _spec(
    "basketProperty",
    id=RO_INT,
    basketId=Field(kind="int", required=True, immutable=True),
    name=Field(required=True),
    value=Field(required=True),
    code=STR,
    sort=INT,
    xmlId=STR,
)

CATALOG = _spec(
    "catalog",
    id=RO_INT,
    iblockId=INT,
    iblockTypeId=STR,
    lid=STR,
    name=STR,
    productIblockId=INT,
    skuPropertyId=INT,
    subscription=YN,
    vatId=INT,
)

PRODUCT = EntitySpec(
    "product",
    {
        "id": RO_INT,
        "iblockId": Field(kind="int", required=True, immutable=True),
        "name": STR,
        "code": STR,
        "xmlId": STR,
        "active": YN,
        "available": Field(kind="yn", readonly=True),
        "type": RO_INT,
        "bundle": Field(kind="yn", readonly=True),
        "quantity": FLOAT,
        "quantityReserved": FLOAT,
        "quantityTrace": YN,
        "canBuyZero": YN,
        "subscribe": YN,
        "measure": INT,
        "weight": FLOAT,
        "width": FLOAT,
        "height": FLOAT,
        "length": FLOAT,
        "purchasingPrice": FLOAT,
        "purchasingCurrency": STR,
        "barcodeMulti": YN,
        "vatIncluded": YN,
        "dateCreate": RO_DATE,
        "timestampX": RO_DATE,
        "iblockSectionId": INT,
        "sort": INT,
        "createdBy": RO_INT,
        "modifiedBy": RO_INT,
        "dateActiveFrom": DATE,
        "dateActiveTo": DATE,
        "detailPicture": RO,
        "detailText": STR,
        "detailTextType": STR,
        "previewPicture": RO,
        "previewText": STR,
        "previewTextType": STR,
        "vatId": INT,
    },
    dynamic=re.compile(r"property\d+"),
)

# Offers (SKUs) are products of their own iblock; their methods add the parent link (offer-list docs).
OFFER = EntitySpec(
    "offer",
    {**PRODUCT.fields, "parentId": Field(kind="int", readonly=True)},
    dynamic=PRODUCT.dynamic,
)

PRODUCT_PROPERTY = _spec(
    "productProperty",
    id=RO_INT,
    iblockId=INT,
    name=STR,
    code=STR,
    propertyType=STR,
    multiple=YN,
    active=YN,
    sort=INT,
    xmlId=STR,
    userType=STR,
    linkIblockId=INT,
    isRequired=YN,
    searchable=YN,
    filtrable=YN,
    withDescription=YN,
    timestampX=RO_DATE,
)

STORE = _spec(
    "store",
    id=RO_INT,
    title=STR,
    active=YN,
    address=STR,
    description=STR,
    gpsN=FLOAT,
    gpsS=FLOAT,
    imageId=INT,
    dateModify=RO_DATE,
    dateCreate=RO_DATE,
    userId=INT,
    modifiedBy=INT,
    phone=STR,
    schedule=STR,
    xmlId=STR,
    sort=INT,
    email=STR,
    issuingCenter=YN,
    code=STR,
)

STORE_PRODUCT = _spec(
    "storeProduct",
    id=RO_INT,
    productId=RO_INT,
    storeId=RO_INT,
    amount=Field(kind="float", readonly=True),
    quantityReserved=Field(kind="float", readonly=True),
)

DOCUMENT = _spec(
    "document",
    id=RO_INT,
    docType=Field(required=True, immutable=True),
    siteId=STR,
    contractorId=INT,
    responsibleId=Field(kind="int", required=True),
    currency=Field(required=True),
    status=Field(readonly=True),
    dateStatus=RO_DATE,
    dateDocument=DATE,
    dateCreate=RO_DATE,
    dateModify=RO_DATE,
    createdBy=INT,
    modifiedBy=INT,
    statusBy=RO_INT,
    total=FLOAT,
    commentary=STR,
    title=STR,
    docNumber=STR,
)

DOCUMENT_ELEMENT = _spec(
    "documentElement",
    id=RO_INT,
    docId=Field(kind="int", required=True, immutable=True),
    storeFrom=INT,
    storeTo=INT,
    elementId=Field(kind="int", required=True),
    amount=FLOAT,
    purchasingPrice=FLOAT,
)

DELIVERY_SERVICE = EntitySpec(
    "deliveryService",
    {
        "ID": RO_INT,
        "PARENT_ID": INT,
        "NAME": STR,
        "CURRENCY": STR,
        "DESCRIPTION": STR,
        "SORT": INT,
        "ACTIVE": YN,
    },
    exact_upper=True,
)
