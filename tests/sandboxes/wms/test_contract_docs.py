"""The published contract is complete: every error kind documented, WSDL loads offline, dialects load."""

from __future__ import annotations

import yaml
import zeep

from bitrix_inflow.sandboxes.wms.contract import contract_dir
from bitrix_inflow.sandboxes.wms.dialect import Dialect
from bitrix_inflow.sandboxes.wms.problems import KINDS


def test_every_error_kind_is_in_the_readme_table():
    readme = (contract_dir() / "README.md").read_text(encoding="utf-8")
    missing = [kind for kind, (status, _) in KINDS.items() if f"| `{kind}` | {status} |" not in readme]
    assert missing == []


def test_openapi_names_every_operation_and_status_enum():
    spec = yaml.safe_load((contract_dir() / "openapi.yaml").read_text(encoding="utf-8"))
    assert spec["openapi"].startswith("3.1")
    operations = {op["operationId"] for path in spec["paths"].values() for op in path.values()}
    assert operations == {
        "issueToken",
        "getStock",
        "createOrder",
        "listOrders",
        "getOrderChanges",
        "getReturns",
        "getOrder",
        "getOrderStatus",
        "cancelOrder",
        "createWebhook",
        "listWebhooks",
        "deleteWebhook",
    }
    statuses = spec["components"]["schemas"]["OrderStatusName"]["enum"]
    assert statuses == [
        "NEW",
        "ASSIGNED",
        "PICKING",
        "PICKED",
        "PACKING",
        "SHIPPED",
        "DELIVERED",
        "CANCELLED",
        "PICKING_ERROR",
    ]
    assert set(spec["webhooks"]) == {"order.status_changed", "stock.changed"}


def test_wsdl_loads_from_the_file_and_names_all_operations():
    client = zeep.Client(str(contract_dir() / "inflow.wsdl"))
    [service] = client.wsdl.services.values()
    [port] = service.ports.values()
    assert set(port.binding._operations) == {
        "GetStock",
        "CreateOrder",
        "GetOrderStatus",
        "GetChanges",
        "CancelOrder",
    }


def test_legacy_dialect_really_differs():
    legacy = Dialect.load(contract_dir() / "dialects" / "legacy-example.toml")
    assert legacy.base_path != "/api/v1" and legacy.max_page_size < 1000
    assert legacy.fields["sku"] == "article" and legacy.fields["qty"] == "quantity"
    assert legacy.statuses["NEW"] == "CREATED" and legacy.statuses["PICKING_ERROR"] == "SHORT_PICK"
