"""Errors the sandbox answers with, in the shapes of the Bitrix REST server (string codes for the REST core,
integer codes with HTTP 400 for the controller-based sale/catalog/tasks modules)."""

from __future__ import annotations

from typing import Any


class RestError(Exception):
    """An error body ``{"error": code, "error_description": text, ...extra}`` with its HTTP status."""

    def __init__(self, status: int, code: str | int, description: str, **extra: Any) -> None:
        super().__init__(f"{code}: {description}")
        self.status = status
        self.code = code
        self.description = description
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "error_description": self.description, **self.extra}


def method_not_found() -> RestError:
    return RestError(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")


def no_auth() -> RestError:
    return RestError(401, "NO_AUTH_FOUND", "Wrong authorization data")


def invalid_credentials() -> RestError:
    return RestError(401, "INVALID_CREDENTIALS", "Invalid request credentials")


def expired_token() -> RestError:
    return RestError(401, "expired_token", "The access token provided has expired.")


def insufficient_scope() -> RestError:
    return RestError(
        401,
        "insufficient_scope",
        "The request requires higher privileges than provided by the webhook token",
    )


def https_required() -> RestError:
    return RestError(401, "INVALID_REQUEST", "Https required.")


def query_limit() -> RestError:
    return RestError(503, "QUERY_LIMIT_EXCEEDED", "Too many requests")


def overload() -> RestError:
    return RestError(503, "OVERLOAD_LIMIT", "REST API is blocked due to overload.")


def operation_time_limit() -> RestError:
    return RestError(429, "OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit.")


def internal_error() -> RestError:
    return RestError(500, "INTERNAL_SERVER_ERROR", "Internal server error")


def controller(code: int, description: str) -> RestError:
    """A sale/catalog controller error: integer code, HTTP 400."""
    return RestError(400, code, description)


def required_argument(name: str) -> RestError:
    return controller(100, f"Could not find value for parameter {{{name}}}")


def required_fields(names: list[str]) -> RestError:
    return controller(0, "Required fields: " + ", ".join(names))


def argument(description: str, name: str) -> RestError:
    return RestError(400, "ERROR_ARGUMENT", description, argument=name)


def core(description: str) -> RestError:
    return RestError(400, "ERROR_CORE", description)


def license_error() -> RestError:
    """What a plan without the REST feature a call asks for answers (reading offline events without clearing them,
    or an ``auth_connector``), after the rest module's source: the docs name the features, not the refusal."""
    return RestError(403, "WRONG_LICENSE", "Wrong license")
