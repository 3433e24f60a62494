"""The translation table from Bitrix error replies to the product taxonomy."""

from __future__ import annotations

from typing import Any

import pytest

from bitrix_inflow.adapters.bitrix import (
    DocumentStatusError,
    EntityNotFoundError,
    InsufficientScopeError,
    MethodNotFoundError,
    error_map,
)
from bitrix_inflow.errors import (
    AuthError,
    IntegrationError,
    NotFoundError,
    PermanentError,
    RateLimitedError,
    TransientError,
    ValidationError,
)


def err(code: Any, description: str = "", **extra: Any) -> dict[str, Any]:
    return {"error": code, "error_description": description, **extra}


CASES: list[tuple[int | None, dict[str, Any] | None, str, type[IntegrationError]]] = [
    (503, err("QUERY_LIMIT_EXCEEDED", "Too many requests"), "sale.order.list", RateLimitedError),
    (429, err("OPERATION_TIME_LIMIT"), "sale.order.list", RateLimitedError),
    (503, err("OVERLOAD_LIMIT", "REST API is blocked due to overload."), "sale.order.list", RateLimitedError),
    (500, err("INTERNAL_SERVER_ERROR"), "sale.order.get", TransientError),
    (500, err("ERROR_UNEXPECTED_ANSWER"), "sale.order.get", TransientError),
    (500, err("ERROR_CORE", "SQL query error!"), "sale.order.get", TransientError),
    (502, None, "sale.order.get", TransientError),
    (504, None, "sale.order.get", TransientError),
    (401, err("expired_token", "The access token provided has expired."), "sale.order.get", AuthError),
    (401, err("INVALID_CREDENTIALS", "Invalid request credentials"), "sale.order.get", AuthError),
    (403, err("INVALID_CREDENTIALS", "Invalid request credentials"), "sale.order.get", AuthError),
    (
        401,
        err("insufficient_scope", "The request requires higher privileges"),
        "catalog.store.list",
        InsufficientScopeError,
    ),
    (401, err("NO_AUTH_FOUND", "Wrong authorization data"), "sale.order.get", AuthError),
    (403, err("ACCESS_DENIED", "Access denied!"), "sale.order.get", AuthError),
    (403, err("WRONG_AUTH_TYPE"), "im.notify.system.add", AuthError),
    (401, err("INVALID_REQUEST", "Https required."), "sale.order.get", ValidationError),
    (404, err("ERROR_METHOD_NOT_FOUND", "Method not found!"), "tasks.task.add", MethodNotFoundError),
    (400, err(200540400001, "order is not exists"), "sale.order.get", EntityNotFoundError),
    (400, err(201140400001, "shipment is not exists"), "sale.shipment.get", EntityNotFoundError),
    (400, err(201240400001, "shipment item is not exists"), "sale.shipmentitem.get", EntityNotFoundError),
    (400, err("200540400001", "order is not exists"), "sale.order.get", EntityNotFoundError),
    (400, err(200040300010, "Access denied"), "sale.order.list", AuthError),
    (400, err(200040300020, "Access denied"), "sale.order.update", AuthError),
    (
        400,
        err(0, "Required fields: allowDelivery, deducted, deliveryId"),
        "sale.shipment.update",
        ValidationError,
    ),
    (400, err(100, "Could not find value for parameter {id}"), "sale.order.update", ValidationError),
    (400, err(0, "Product not found"), "catalog.product.update", ValidationError),
    # The product controller's own text for a missing product; code 0 alone says nothing (addendum).
    (400, err(0, "Product is not exists"), "catalog.product.update", EntityNotFoundError),
    (400, err("0", "Store is not exists"), "catalog.store.get", NotFoundError),
    (400, err("ERROR_ARGUMENT", "Wrong value", argument="fields"), "catalog.document.add", ValidationError),
    (400, err("ERROR_CORE", "Task title is not specified<br>"), "tasks.task.add", ValidationError),
    (400, err("ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded"), "batch", PermanentError),
    (None, err(200540400001, "order is not exists"), "sale.order.get", EntityNotFoundError),
    (None, err("QUERY_LIMIT_EXCEEDED"), "catalog.product.update", RateLimitedError),
    (418, None, "sale.order.get", PermanentError),
    (408, None, "sale.order.get", TransientError),  # a proxy gave up waiting for the request: try again
    (404, None, "sale.order.get", PermanentError),  # a web server's page: the URL is wrong, not the id
    (404, err("NOT_FOUND", "Not found"), "crm.timeline.comment.add", NotFoundError),
    # catalog-product-update.md, catalog-product-offer-update.md: a missing product answers code 0.
    (
        400,
        err(0, "The product with the specified identifier does not exist"),
        "catalog.product.update",
        EntityNotFoundError,
    ),
    (
        400,
        err("0", "Product variation with the specified identifier does not exist"),
        "catalog.product.offer.update",
        EntityNotFoundError,
    ),
    (None, err(0, "Product is not exists"), "catalog.product.update", EntityNotFoundError),
    (
        400,
        err(0, "Section with the specified identifier does not exist"),
        "catalog.product.update",
        ValidationError,
    ),
    # catalog-document-conduct.md / -delete.md and document-element/catalog-document-element-add.md
    (400, err("0", "Document not found"), "catalog.document.conduct", EntityNotFoundError),
    (
        None,
        err("ERROR_DOCUMENT_STATUS", "Conducted document"),
        "catalog.document.element.add",
        DocumentStatusError,
    ),
    (400, err("ERROR_DOCUMENT_RIGHTS", "Access denied"), "catalog.document.element.list", AuthError),
]


def test_catalog_not_found_names_the_entity() -> None:
    product = error_map.translate(
        400,
        err(0, "The product with the specified identifier does not exist"),
        method="catalog.product.update",
    )
    assert isinstance(product, EntityNotFoundError) and product.entity == "product"
    document = error_map.translate(400, err("0", "Document not found"), method="catalog.document.delete")
    assert isinstance(document, EntityNotFoundError) and document.entity == "stock document"
    status = error_map.translate(None, err("ERROR_DOCUMENT_STATUS"), method="catalog.document.element.add")
    assert isinstance(status, DocumentStatusError) and status.document_id is None


@pytest.mark.parametrize(("status", "body", "method", "expected"), CASES)
def test_translation_table(
    status: int | None, body: dict[str, Any] | None, method: str, expected: type[IntegrationError]
) -> None:
    error = error_map.translate(status, body, method=method)
    assert type(error) is expected
    assert method in str(error) or isinstance(error, ValidationError)


def test_auth_errors_name_what_to_fix() -> None:
    scope = error_map.translate(401, err("insufficient_scope"), method="catalog.store.list")
    assert "catalog" in str(scope)
    webhook = error_map.translate(401, err("INVALID_CREDENTIALS"), method="sale.order.get")
    assert "webhook_url" in str(webhook)
    expired = error_map.translate(401, err("expired_token"), method="sale.order.get")
    assert "refresh" in str(expired)
    write = error_map.translate(400, err(200040300020), method="sale.order.update")
    assert "write" in str(write)


def test_required_fields_become_a_validation_error_naming_them() -> None:
    error = error_map.translate(
        400, err(0, "Required fields: allowDelivery, deducted, deliveryId"), method="sale.shipment.update"
    )
    assert isinstance(error, ValidationError)
    assert error.field == "sale.shipment.update.fields.allowDelivery, deducted, deliveryId"
    assert error.fix is not None and "deliveryId" in error.fix


def test_missing_argument_names_the_argument() -> None:
    error = error_map.translate(
        400, err(100, "Could not find value for parameter {id}"), method="sale.order.get"
    )
    assert isinstance(error, ValidationError)
    assert error.field == "sale.order.get.id"


def test_error_argument_names_the_argument() -> None:
    error = error_map.translate(
        400, err("ERROR_ARGUMENT", "bad", argument="docType"), method="catalog.document.add"
    )
    assert isinstance(error, ValidationError)
    assert error.field == "catalog.document.add.docType"


def test_rate_limit_carries_the_server_wait() -> None:
    error = error_map.translate(429, err("OPERATION_TIME_LIMIT"), method="x", retry_after=42.0)
    assert isinstance(error, RateLimitedError)
    assert error.retry_after == 42.0


@pytest.mark.parametrize(
    ("body", "header", "expected"),
    [
        (None, "7", 7.0),
        (None, "soon", None),
        ({"error": "OPERATION_TIME_LIMIT", "time": {"operating_reset_at": 1_000_030}}, None, 30.0),
        ({"error": "OPERATION_TIME_LIMIT", "time": {"operating_reset_at": 999_000}}, None, 0.0),
        ({"error": "QUERY_LIMIT_EXCEEDED"}, None, None),
        ({"time": {"operating_reset_at": 1_000_030}}, "3", 3.0),
    ],
)
def test_retry_after_sources(body: dict[str, Any] | None, header: str | None, expected: float | None) -> None:
    assert error_map.retry_after_from(body, header, now=1_000_000.0) == expected


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"error": 200540400001}, 200540400001),
        ({"error": "200540400001"}, 200540400001),
        ({"error": 0}, 0),
        ({"error": "expired_token"}, "expired_token"),
        (
            {"error": {"code": "BITRIX_REST_V3_EXCEPTION_ACCESSDENIEDEXCEPTION"}},
            "BITRIX_REST_V3_EXCEPTION_ACCESSDENIEDEXCEPTION",
        ),
        ({"error": None}, None),
        ({}, None),
        (None, None),
    ],
)
def test_error_code_reads_ints_and_strings(body: dict[str, Any] | None, code: object) -> None:
    assert error_map.error_code(body) == code


def test_scope_for_method_families() -> None:
    assert error_map.scope_for("sale.order.list").startswith("sale")
    assert error_map.scope_for("tasks.task.add").startswith("task")
    assert error_map.scope_for("profile") == "the scope of profile"


def test_typed_errors_carry_what_a_caller_acts_on() -> None:
    missing = error_map.translate(404, err("ERROR_METHOD_NOT_FOUND"), method="tasks.task.add")
    assert isinstance(missing, MethodNotFoundError) and missing.method == "tasks.task.add"
    scope = error_map.translate(401, err("insufficient_scope"), method="catalog.store.list")
    assert isinstance(scope, InsufficientScopeError)
    assert (scope.method, scope.scope) == ("catalog.store.list", "catalog")
    unknown = error_map.translate(401, err("insufficient_scope"), method="profile")
    assert isinstance(unknown, InsufficientScopeError) and unknown.scope is None
    gone = error_map.translate(400, err(201140400001, "shipment is not exists"), method="sale.shipment.get")
    assert isinstance(gone, EntityNotFoundError)
    assert (gone.entity, gone.entity_id) == ("shipment", None)  # Bitrix does not echo the id


def test_scope_of_names_the_scope_bitrix_grants() -> None:
    assert error_map.scope_of("tasks.task.add") == "task"
    assert error_map.scope_of("im.notify.system.add") == "im"
    assert error_map.scope_of("profile") is None
