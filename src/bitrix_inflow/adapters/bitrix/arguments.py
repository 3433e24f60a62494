"""Checks on what callers pass, before anything is sent: a bad id or quantity is a ``ValidationError`` naming
the argument, not a request Bitrix refuses (or, worse, accepts as 0)."""

from __future__ import annotations

from decimal import Decimal

from bitrix_inflow.errors import ValidationError

from .wire import to_id


def positive_id(value: object, field: str) -> int:
    try:
        number = to_id(value, field=field)
    except (ValueError, TypeError) as exc:
        raise ValidationError(field, str(exc), "pass the numeric Bitrix id") from None
    if number <= 0:
        raise ValidationError(field, f"must be a positive id, got {number}", "pass the numeric Bitrix id")
    return number


def quantity(value: object, field: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise ValidationError(field, f"expected a number, got {value!r}")
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        raise ValidationError(field, f"expected a number, got {value!r}") from None
    if not number.is_finite() or number < 0:
        raise ValidationError(field, f"must be a finite number >= 0, got {value!r}")
    return int(number) if number == number.to_integral_value() else float(number)
