"""Request body shapes, checked strictly: wrong types, unknown fields and out-of-range values are 400s."""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from bitrix_inflow.sandboxes.wms.problems import Problem, field_error

M = TypeVar("M", bound=BaseModel)
URI_PATTERN = r"^https?://(?:%[0-9A-Fa-f]{2}|[A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=-])+$"
Code = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Ref = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:/-]+$")]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class LineIn(StrictModel):
    line_no: int = Field(ge=1, le=9999)
    sku: Code
    qty: int = Field(ge=1, le=100_000)
    marking_codes: list[Annotated[str, StringConstraints(min_length=20, max_length=256)]] | None = Field(
        default=None, max_length=100_000
    )


class CreateOrderIn(StrictModel):
    external_ref: Ref
    customer_order_ref: Code
    warehouse: Code
    zone: Code | None = None
    carrier: Code | None = None
    lines: list[LineIn] = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _unique_line_numbers(self) -> CreateOrderIn:
        seen: set[int] = set()
        for i, line in enumerate(self.lines):
            if line.line_no in seen:
                raise Problem(
                    "validation",
                    f"line_no {line.line_no} appears twice",
                    errors=[field_error(f"lines[{i}].line_no", "line_no must be unique within the order")],
                )
            seen.add(line.line_no)
        return self


class CancelIn(StrictModel):
    reason: Annotated[str, StringConstraints(max_length=500)] | None = None


class WebhookIn(StrictModel):
    url: Annotated[str, StringConstraints(min_length=8, max_length=2000, pattern=URI_PATTERN)]
    events: list[Literal["order.status_changed", "stock.changed"]] = Field(min_length=1)
    secret: Annotated[str, StringConstraints(min_length=16, max_length=256)]

    @model_validator(mode="after")
    def _unique_events(self) -> WebhookIn:
        try:
            host = urlsplit(self.url).hostname
        except ValueError:
            host = None
        if not host:
            raise Problem(
                "validation", "url has no valid host", errors=[field_error("url", "use http(s)://host/path")]
            )
        if len(set(self.events)) != len(self.events):
            raise Problem(
                "validation", "events repeat", errors=[field_error("events", "list each event once")]
            )
        return self


def parse_body(model: type[M], body: Any) -> M:
    if not isinstance(body, dict):
        raise Problem(
            "validation", "the body must be a JSON object", errors=[field_error("body", "send a JSON object")]
        )
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        errors = [field_error(_path(err["loc"]) or "body", _message(err)) for err in exc.errors()]
        raise Problem(
            "validation",
            f"{len(errors)} invalid field(s): "
            + "; ".join(f"{e['field']}: {e['problem']}" for e in errors[:5]),
            errors=errors,
        ) from None


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _message(err: Any) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown field; remove it"
    if err["type"] == "missing":
        return "required field is missing"
    return str(err["msg"])
