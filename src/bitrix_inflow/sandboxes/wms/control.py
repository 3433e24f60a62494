"""The sandbox control API under ``/_sandbox/`` (no auth, canonical names): seed, stock, clock, faults, errors."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import Field, StringConstraints

from bitrix_inflow.sandboxes.catalogue import CatalogueError
from bitrix_inflow.sandboxes.wms.gs1 import MARKING_GROUPS, has_valid_check_digit
from bitrix_inflow.sandboxes.wms.http import json_response, read_json
from bitrix_inflow.sandboxes.wms.models import StrictModel, parse_body
from bitrix_inflow.sandboxes.wms.order_model import FINAL, FLOW
from bitrix_inflow.sandboxes.wms.problems import Problem, field_error, invalid
from bitrix_inflow.sandboxes.wms.service import WmsService
from bitrix_inflow.sandboxes.wms.stock import StockStore, parse_bin_name

MAX_UNITS_PER_BIN = 1_000_000_000
Name = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]


class SeedIn(StrictModel):
    warehouses: list[Name] = Field(default_factory=lambda: ["MAIN"], min_length=1, max_length=20)
    # skus: generated SKUs that match no shop; without it, the shared catalogue (the CSV text sent, a generated
    # one of catalogue_size rows, or the sandbox catalogue file the sandbox shop loads too).
    skus: int | None = Field(default=None, ge=1, le=1_000_000)
    catalogue_csv: str | None = Field(default=None, max_length=64 * 1024 * 1024)
    catalogue_size: int | None = Field(default=None, ge=1, le=1_000_000)
    bins: int = Field(default=500, ge=1, le=5_000_000)
    seed: int = 0
    qty_min: int = Field(default=0, ge=0)
    qty_max: int = Field(default=50, ge=0, le=1_000_000)


class StockIn(StrictModel):
    warehouse: Name
    sku: Name
    bin: str | None = None
    delta: int = Field(ge=-1_000_000, le=1_000_000)
    gtin: str | None = None
    marking_group: str | None = None


class StepIn(StrictModel):
    steps: int = Field(default=1, ge=1, le=1000)
    order_id: str | None = None


class AdvanceIn(StrictModel):
    to: str


def register_control(app: FastAPI, service: WmsService) -> None:
    @app.post("/_sandbox/seed")
    async def seed(request: Request) -> JSONResponse:
        req = parse_body(SeedIn, await read_json(request))
        if req.qty_min > req.qty_max:
            raise invalid("qty_min", "must not exceed qty_max")
        chosen = [
            name for name in ("skus", "catalogue_csv", "catalogue_size") if getattr(req, name) is not None
        ]
        if len(chosen) > 1:
            raise invalid(
                chosen[1], f"give one of skus, catalogue_csv, catalogue_size (got {', '.join(chosen)})"
            )
        try:
            source = service.seed(
                list(req.warehouses),
                skus=req.skus,
                bins=req.bins,
                seed=req.seed,
                qty_min=req.qty_min,
                qty_max=req.qty_max,
                catalogue_csv=req.catalogue_csv,
                catalogue_size=req.catalogue_size,
            )
        except CatalogueError as exc:
            raise invalid(chosen[0] if chosen else "catalogue", str(exc)) from None
        return json_response({"seeded": service.stock.counts(), "source": source})

    @app.post("/_sandbox/stock")
    async def adjust_stock(request: Request) -> JSONResponse:
        req = parse_body(StockIn, await read_json(request))
        stock = service.stock
        # Everything is checked before anything changes: a refused request leaves no SKU, slot or
        # warehouse behind.
        if req.warehouse not in stock.warehouses:
            raise invalid(
                "warehouse", f"unknown warehouse {req.warehouse!r} (seeded: {', '.join(stock.warehouses)})"
            )
        place = None
        if req.bin is not None:
            try:
                place = parse_bin_name(req.bin)
            except ValueError as exc:
                raise invalid("bin", str(exc)) from None
        sku_idx = stock.sku_index.get(req.sku)
        if sku_idx is None:
            _check_new_sku(req)
        slot = _existing_slot(stock, req.warehouse, sku_idx, place)
        if req.delta < 0:
            if slot is None:
                where = req.bin or "any sellable bin"
                raise invalid("delta", f"{req.sku} has no stock in {where} of {req.warehouse} to remove")
            if stock.free(slot) + req.delta < 0:
                raise invalid(
                    "delta", f"bin {stock.bin_of(slot)} has only {stock.free(slot)} free units to remove"
                )
        if slot is not None and stock.on_hand[slot] + req.delta > MAX_UNITS_PER_BIN:
            raise invalid("delta", f"a bin holds at most {MAX_UNITS_PER_BIN} units (32-bit stock arrays)")
        now = service.clock.now_us()
        if sku_idx is None:
            assert req.gtin is not None  # _check_new_sku
            stock.add_sku(req.sku, req.gtin, req.marking_group)
            sku_idx = stock.sku_index[req.sku]
        if slot is None:
            slot = stock.ensure_slot(req.warehouse, sku_idx, req.bin, now)
        stock.adjust(slot, now, on_hand=req.delta)
        service.stock_changed(req.warehouse, [req.sku])
        return json_response(stock.slot_row(slot))

    @app.get("/_sandbox/stock/{warehouse}/{sku}")
    async def stock_detail(warehouse: str, sku: str) -> JSONResponse:
        stock = service.stock
        sku_idx = stock.sku_index.get(sku)
        wh = stock.warehouses.get(warehouse)
        agg = wh.aggregates.get(sku_idx) if wh is not None and sku_idx is not None else None
        if agg is None:
            raise Problem("not-found", f"no stock of {sku!r} in {warehouse!r}")
        return json_response(
            {
                "sku": sku,
                "warehouse": warehouse,
                "qty_available": agg.available,
                "sellable_on_hand": agg.on_hand,
                "reserved": agg.reserved,
                "in_picking": agg.in_picking,
                "slots": [stock.slot_row(s) for s in agg.slots],
            }
        )

    @app.get("/_sandbox/skus")
    async def skus(limit: int = 100, offset: int = 0) -> JSONResponse:
        rows = service.stock.skus[max(0, offset) : max(0, offset) + max(0, min(limit, 10_000))]
        return json_response(
            {
                "items": [
                    {
                        "sku": s.code,
                        "gtin": s.gtin,
                        "marked": s.marking_group is not None,
                        "marking_group": s.marking_group,
                    }
                    for s in rows
                ]
            }
        )

    @app.post("/_sandbox/clock/step")
    async def step(request: Request) -> JSONResponse:
        body = await read_json(request, required=False)
        req = parse_body(StepIn, body if body is not None else {})
        moved = 0
        for _ in range(req.steps):
            targets = [service.book.get(req.order_id)] if req.order_id else service.book.open_orders()
            moved += sum(service.book.step(order) for order in targets)
        return json_response({"advanced": moved})

    @app.post("/_sandbox/orders/{order_id}/advance")
    async def advance(order_id: str, request: Request) -> JSONResponse:
        req = parse_body(AdvanceIn, await read_json(request))
        order = service.book.get(order_id)
        if req.to not in FLOW:
            raise invalid("to", "use one of " + ", ".join(FLOW))
        target = FLOW.index(req.to)
        while order.status in FLOW and FLOW.index(order.status) < target:
            service.book.step(order)
        if order.status != req.to:
            raise Problem(
                "validation",
                f"order {order_id} is {order.status} and cannot reach {req.to}",
                errors=[
                    field_error(
                        "to", f"the order is {order.status}" + (" (final)" if order.status in FINAL else "")
                    )
                ],
                extra={"order": order.document()},
            )
        return json_response(order.document())

    @app.post("/_sandbox/orders/{order_id}/return")
    async def receive_return(order_id: str, request: Request) -> JSONResponse:
        return json_response(service.receive_return(order_id, await read_json(request)), 201)

    @app.get("/_sandbox/orders")
    async def all_orders() -> JSONResponse:
        return json_response({"items": [o.document() for o in service.book.orders.values()]})

    @app.get("/_sandbox/faults")
    async def get_faults() -> JSONResponse:
        return json_response(service.faults.settings.to_dict())

    @app.get("/_sandbox/faults/met")
    async def faults_met() -> JSONResponse:
        return json_response(dict(service.faults.met))

    @app.put("/_sandbox/faults")
    async def set_faults(request: Request) -> JSONResponse:
        body = await read_json(request)
        if not isinstance(body, dict):
            raise invalid("body", "send a JSON object of fault settings")
        try:
            service.faults.update(body)
        except ValueError as exc:
            name = str(exc).split(":", 1)[0]
            raise invalid(name, str(exc)) from None
        return json_response(service.faults.settings.to_dict())

    @app.delete("/_sandbox/faults")
    async def clear_faults() -> JSONResponse:
        service.faults.clear()
        return json_response(service.faults.settings.to_dict())

    @app.get("/_sandbox/webhooks/deliveries")
    async def deliveries() -> JSONResponse:
        return json_response({"items": [d.document() for d in service.hub.deliveries]})

    @app.post("/_sandbox/auth/expire-tokens")
    async def expire_tokens() -> JSONResponse:
        return json_response({"expired": service.auth.expire_all()})

    @app.get("/_sandbox/errors")
    async def errors() -> JSONResponse:
        return json_response({"items": [bug.document() for bug in service.bugs.bugs()]})

    @app.delete("/_sandbox/errors")
    async def clear_errors() -> JSONResponse:
        return json_response({"items": [bug.document() for bug in service.bugs.take()]})

    @app.get("/_sandbox/state")
    async def state() -> JSONResponse:
        book = service.book
        counts: dict[str, Any] = dict(service.stock.counts())
        counts.update(
            orders=len(book.orders), change_seq=book.last_seq, deliveries=len(service.hub.deliveries)
        )
        return json_response(counts)


def _check_new_sku(req: StockIn) -> None:
    # Marking codes are built from the GTIN and the product group, so both must be real ones.
    if req.gtin is None:
        raise invalid("gtin", "a new SKU needs its GTIN-14")
    if len(req.gtin) != 14 or not has_valid_check_digit(req.gtin):
        raise invalid("gtin", f"{req.gtin!r} is not a GTIN-14 with a valid GS1 check digit")
    if req.marking_group is not None and req.marking_group not in MARKING_GROUPS:
        raise invalid("marking_group", "use one of " + ", ".join(MARKING_GROUPS) + " or leave it out")


def _existing_slot(
    stock: StockStore, warehouse: str, sku_idx: int | None, place: tuple[int, int] | None
) -> int | None:
    """The slot a change goes to if it exists: the given bin, else the sellable bin with most free stock."""
    if sku_idx is None:
        return None
    slots = list(stock.slots_of(warehouse, sku_idx))
    if place is not None:
        zone, binno = place
        return next((s for s in slots if (stock.slot_zone[s], stock.slot_binno[s]) == (zone, binno)), None)
    sellable = [s for s in slots if stock.sellable(s)]
    return max(sellable, key=lambda s: (stock.free(s), -s)) if sellable else None
