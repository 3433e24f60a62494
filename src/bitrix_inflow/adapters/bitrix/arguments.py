"""Checks on what callers pass, before anything is sent: a bad id or quantity is a ``ValidationError`` naming
the argument, not a request Bitrix refuses (or, worse, accepts as 0)."""

from __future__ import annotations

import re
from collections.abc import Collection
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


def positive_amount(value: object, field: str) -> int | float:
    """A stock document line's amount: Bitrix refuses to conduct a document with a line of 0."""
    number = quantity(value, field)
    if number == 0:
        raise ValidationError(field, "must be greater than 0", "leave zero deltas out of the document")
    return number


def ids(values: Collection[object], field: str) -> list[int]:
    """A set of ids for an IN filter, checked and de-duplicated in a stable order."""
    if isinstance(values, str | bytes) or not isinstance(values, Collection):
        raise ValidationError(field, f"expected a collection of ids, got {values!r}", "e.g. [12, 15]")
    return list(dict.fromkeys(positive_id(v, f"{field}[{v!r}]") for v in values))


def texts(values: Collection[object], field: str) -> list[str]:
    if isinstance(values, str | bytes) or not isinstance(values, Collection):
        raise ValidationError(field, f"expected a collection of strings, got {values!r}", "e.g. ['A-1']")
    if not all(isinstance(v, str) for v in values):
        raise ValidationError(field, "every value must be a string")
    return list(dict.fromkeys(str(v) for v in values))


_KEY = re.compile(r"xmlId|property[1-9][0-9]*")


def matching_key(value: object, field: str) -> str:
    """The catalog field products are matched by: ``xmlId`` or an iblock property ``propertyN``."""
    if not isinstance(value, str) or not _KEY.fullmatch(value):
        raise ValidationError(
            field, f"expected 'xmlId' or 'property<N>', got {value!r}", "e.g. 'xmlId' or 'property102'"
        )
    return value
