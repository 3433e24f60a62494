"""Each typed Bitrix error is raised for the reply the sandbox shop gives, carrying what a caller acts on."""

from __future__ import annotations

import pytest

from bitrix_inflow.adapters.bitrix import (
    BitrixGateway,
    EntityNotFoundError,
    InsufficientScopeError,
    MethodNotFoundError,
)
from bitrix_inflow.adapters.bitrix.errors import concerning
from bitrix_inflow.errors import AuthError, NotFoundError, PermanentError
from bitrix_inflow.sandboxes.bitrix import RunningSandbox

from .conftest import MakeGateway


@pytest.fixture
def gateway(site_shop: RunningSandbox, gateway_for: MakeGateway) -> BitrixGateway:
    return gateway_for(site_shop)


def test_a_method_of_a_module_the_edition_lacks(gateway: BitrixGateway) -> None:
    with pytest.raises(MethodNotFoundError) as caught:
        gateway.transport.call("tasks.task.add", {"fields": {"TITLE": "T"}}, idempotent=False)
    assert caught.value.method == "tasks.task.add"
    assert isinstance(caught.value, PermanentError)


def test_a_scope_the_webhook_was_not_granted(faults: RunningSandbox, gateway_for: MakeGateway) -> None:
    faults.control.add_webhook(user_id=1, code="saleonly3", scopes=["sale"])
    gateway = gateway_for(faults, webhook_url=faults.base_url + "/rest/1/saleonly3/", profile="bitrix24")
    with pytest.raises(InsufficientScopeError) as caught:
        gateway.stores()
    assert (caught.value.method, caught.value.scope) == ("catalog.store.list", "catalog")
    assert isinstance(caught.value, AuthError)


def test_a_missing_order_names_the_order(gateway: BitrixGateway) -> None:
    for ask in (
        lambda: gateway.get_order(987654),
        lambda: gateway.set_order_status(987654, "P", allowed_from={"N"}),
    ):
        with pytest.raises(EntityNotFoundError) as caught:
            ask()
        assert (caught.value.entity, caught.value.entity_id) == ("order", 987654)


def test_a_missing_shipment_names_the_shipment(gateway: BitrixGateway) -> None:
    with pytest.raises(EntityNotFoundError) as caught:
        gateway.update_shipment(987654, tracking_number="X")
    assert (caught.value.entity, caught.value.entity_id) == ("shipment", 987654)


def test_concerning_keeps_a_not_found_of_another_entity() -> None:
    item = EntityNotFoundError("shipment item does not exist in Bitrix", entity="shipment item")
    with pytest.raises(EntityNotFoundError) as caught, concerning("order", 5):
        raise item
    assert caught.value is item


def test_concerning_names_a_not_found_that_named_nothing() -> None:
    with pytest.raises(EntityNotFoundError) as caught, concerning("order", 5):
        raise NotFoundError("not found in Bitrix (sale.order.list: NOT_FOUND)")
    assert (caught.value.entity, caught.value.entity_id) == ("order", 5)
    assert str(caught.value) == "order 5: not found in Bitrix (sale.order.list: NOT_FOUND)"
