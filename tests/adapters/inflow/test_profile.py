"""Installation profiles and settings: shipped profiles, bad profiles named by key, local limit checks."""

from __future__ import annotations

import datetime as dt

import pydantic
import pytest

from bitrix_inflow.adapters.inflow import InflowPort
from bitrix_inflow.adapters.inflow.models import NewOrderLine, NewPickingOrder
from bitrix_inflow.adapters.inflow.profile import load_profile
from bitrix_inflow.adapters.inflow.settings import InflowSettings
from bitrix_inflow.errors import NotFoundError, ValidationError


def test_shipped_profiles():
    default = load_profile("default")
    assert (
        default.is_identity and default.rest.base_path == "/api/v1" and default.paging.max_page_size == 1000
    )
    legacy = load_profile("legacy-example")
    assert legacy.rest.base_path == "/wms/rest/v2" and legacy.paging.max_page_size == 200
    assert legacy.rest.endpoints.order_cancel == "/picking-orders/{id}/cancel"
    assert legacy.to_wire({"lines": [{"sku": "A", "qty": 1}], "status": "NEW"}) == {
        "lines": [{"article": "A", "quantity": 1}],
        "status": "CREATED",
    }
    assert legacy.from_wire({"order_status": "SHORT_PICK", "shortages": [{"article": "A"}]}) == {
        "order_status": "PICKING_ERROR",
        "shortages": [{"sku": "A"}],
    }
    assert legacy.canonical_field_path("lines[3].quantity") == "lines[3].qty"


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ('name = "x"\n[rest]\nbase_pth = "/a"\n', "rest.base_pth", "unknown key"),
        ('name = "x"\n[paging]\npage_size = 300\nmax_page_size = 200\n', "paging.page_size", "max_page_size"),
        ('name = "x"\n[paging]\npage_size = "many"\n', "paging.page_size", "integer"),
        ('name = "x"\n[statuses]\nNEWISH = "CREATED"\n', "statuses.NEWISH", "not a contract status"),
        ('name = "x"\n[fields]\nsku = "code"\nqty = "code"\n', "fields.qty", "already the name"),
        ('name = "x"\n[fields]\nsku = "two words"\n', "fields.sku", "plain name"),
        ('name = "x"\n[rest.endpoints]\norder = "/orders"\n', "rest.endpoints.order", "{id}"),
        ('name = "x"\n[rest.endpoints]\nstock = "/stock/{id}"\n', "rest.endpoints.stock", "not contain"),
        ('name = "x"\n[rest]\nbase_path = "api/v1"\n', "rest.base_path", "absolute path"),
        ('[rest]\nbase_path = "/a"\n', "name", "required"),
        ('name = "x"\nname = "y"\n', "profile", "TOML"),
    ],
)
def test_bad_profile_names_the_key(tmp_path, text, key, words):
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValidationError) as raised:
        load_profile(path)
    assert key in raised.value.field and str(path) in raised.value.field
    assert words in raised.value.problem or words in raised.value.field
    assert raised.value.fix


def test_missing_profile_file_says_what_to_give(tmp_path):
    with pytest.raises(ValidationError) as raised:
        load_profile(tmp_path / "nope.toml")
    assert raised.value.field == "profile" and "legacy-example" in (raised.value.fix or "")


def test_a_partial_profile_keeps_the_contract_defaults(tmp_path):
    path = tmp_path / "small.toml"
    path.write_text('name = "small"\n[paging]\npage_size = 50\n', encoding="utf-8")
    profile = load_profile(path)
    assert profile.paging.page_size == 50 and profile.rest.endpoints.stock == "/stock"


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"base_url": "wms.example.com", "api_key": "k"}, "full URL"),
        ({"base_url": "http://wms", "auth": "api_key"}, "api_key"),
        ({"base_url": "http://wms", "auth": "oauth2", "client_id": "c"}, "client_secret"),
        ({"base_url": "http://wms", "api_key": "k", "transport": "grpc"}, "transport"),
        ({"base_url": "http://wms", "api_key": "k", "timeouts": {"read": 0}}, "timeouts.read"),
        ({"base_url": "http://wms", "api_key": "k", "retry": {"attempts": 0}}, "retry.attempts"),
        ({"base_url": "http://wms", "api_key": "k", "proxy": "x"}, "proxy"),
    ],
)
def test_bad_settings_name_the_field(values, words):
    with pytest.raises(pydantic.ValidationError) as raised:
        InflowSettings.model_validate(values)
    assert words in str(raised.value)


def test_secrets_are_not_printed():
    settings = InflowSettings.model_validate({"base_url": "http://wms", "api_key": "super-secret-key"})
    assert "super-secret-key" not in repr(settings) and "super-secret-key" not in str(settings.model_dump())


def test_limit_above_the_installation_cap_is_refused_locally(sandboxes, make_client, sleeps):
    client = make_client(sandboxes["legacy-example"], profile="legacy-example")
    assert len(client.available_stock_page(limit=200).items) <= 200
    with pytest.raises(ValidationError) as raised:
        client.available_stock_page(limit=201)
    assert raised.value.field == "limit" and "200" in raised.value.problem
    with pytest.raises(ValidationError):
        client.changes_page(limit=0)


def test_bad_arguments_are_refused_before_any_request(ctl, make_client):
    client = make_client(ctl.running)
    with pytest.raises(ValidationError) as naive:
        client.available_stock_page(updated_since=dt.datetime(2026, 1, 1))  # naive on purpose
    assert naive.value.field == "updated_since"
    new = NewPickingOrder(
        external_ref="B-1-1", customer_order_ref="1", lines=(NewOrderLine(1, "SKU-000001", 1),)
    )
    with pytest.raises(ValidationError) as key:
        client.create_picking_order(new, idempotency_key="has spaces in it")
    assert key.value.field == "idempotency_key"
    assert ctl.state()["orders"] == 0


@pytest.mark.parametrize("transport", ["rest"])
def test_a_profile_for_another_installation_fails_loudly(sandboxes, make_client, transport):
    # The default profile against the legacy installation: its paths do not exist there.
    client = make_client(sandboxes["legacy-example"], transport=transport, profile="default")
    with pytest.raises(NotFoundError):
        client.available_stock_page()
    # And the other way round: the legacy profile's renamed parameters are refused by a default installation.
    other = make_client(sandboxes["default"], transport=transport, profile="legacy-example")
    with pytest.raises((NotFoundError, ValidationError)):
        other.available_stock_page()


def test_settings_refuse_a_bad_profile_when_read(tmp_path):
    path = tmp_path / "typo.toml"
    path.write_text('name = "typo"\n[pagin]\npage_size = 10\n', encoding="utf-8")
    with pytest.raises(pydantic.ValidationError) as raised:
        InflowSettings.model_validate({"base_url": "http://wms", "api_key": "k", "profile": str(path)})
    assert "pagin" in str(raised.value) and "unknown key" in str(raised.value)
    with pytest.raises(pydantic.ValidationError, match="legacy-example"):
        InflowSettings.model_validate({"base_url": "http://wms", "api_key": "k", "profile": "legacy"})


def test_the_client_satisfies_the_port(ctl, make_client):
    port: InflowPort = make_client(
        ctl.running
    )  # checked by mypy in src; here: it really runs through the port
    assert port.available_stock_page(limit=1).items


@pytest.mark.parametrize("url", ["https://ops:hunter2-pw@wms.example.com", "wms:hunter2-pw@wms.example.com"])
def test_credentials_in_the_base_url_are_refused_without_echoing_them(url):
    """base_url is printed by `config check` and sits in every request log line; it must never hold a password."""
    with pytest.raises(pydantic.ValidationError) as raised:
        InflowSettings.model_validate({"base_url": url, "api_key": "k"})
    text = str(raised.value)
    assert "base_url" in text and "hunter2-pw" not in text
