"""The control API under ``/_sandbox/`` (no auth): seed, place orders, inspect, set faults, move the clock.

Every endpoint takes and returns JSON. Bad input answers 400 ``{"error", "field", "fix"}``.
"""

from __future__ import annotations

import json
import math
import random
import threading
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bitrix_inflow.sandboxes.bitrix import rest_errors
from bitrix_inflow.sandboxes.bitrix.config import is_http_url
from bitrix_inflow.sandboxes.bitrix.methods_sale import full_order, public
from bitrix_inflow.sandboxes.bitrix.seed import DEFAULT_CARRIERS, random_order
from bitrix_inflow.sandboxes.bitrix.shop import TABLES
from bitrix_inflow.sandboxes.catalogue import CatalogueError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from bitrix_inflow.sandboxes.bitrix.app import BitrixSandbox

    Endpoint = Callable[[Request], Awaitable[Response]]


class ControlError(Exception):
    def __init__(self, field: str, problem: str, fix: str) -> None:
        super().__init__(problem)
        self.field = field
        self.problem = problem
        self.fix = fix


def _bad(field: str, problem: str, fix: str) -> ControlError:
    return ControlError(field, problem, fix)


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _bad(
            "body", f"not valid JSON ({error})", "send a JSON object with Content-Type: application/json"
        ) from error
    if not isinstance(data, dict):
        raise _bad("body", "the body must be a JSON object", "wrap the values in {...}")
    return data


def _int(
    data: dict[str, Any], name: str, default: int | None = None, *, minimum: int = 0, maximum: int = 10**9
) -> int:
    value = data.get(name, default)
    if value is None:
        raise _bad(name, "is required", f"pass {name} as an integer")
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: JSON's 1e400 decodes to INF
        raise _bad(name, f"{value!r} is not an integer", f"pass {name} as an integer >= {minimum}") from None
    if number < minimum:
        raise _bad(name, f"{number} is below {minimum}", f"pass {name} >= {minimum}")
    if number > maximum:
        raise _bad(name, f"{number} is above {maximum}", f"pass {name} <= {maximum}")
    return number


def _float(data: dict[str, Any], name: str, default: float) -> float:
    value = data.get(name, default)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _bad(name, f"{value!r} is not a number", f"pass {name} as a number") from None
    # "nan"/"inf" parse as floats but poison the shop's state and cannot be serialised back as JSON.
    if not math.isfinite(number):
        raise _bad(name, f"{value!r} is not a finite number", f"pass {name} as a finite number")
    return number


def _index(value: Any, field: str, size: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < size:
        raise _bad(field, f"{value!r} is not a line index", f"use an integer from 0 to {size - 1}")
    return value


def control_routes(sandbox: BitrixSandbox) -> list[Route]:
    shop = sandbox.shop

    def guarded(handler: Callable[[Request], Awaitable[Any]]) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            try:
                result = await handler(request)
            except ControlError as error:
                return JSONResponse({"error": error.problem, "field": error.field, "fix": error.fix}, 400)
            except rest_errors.RestError as error:
                return JSONResponse({"error": error.description, "field": "", "fix": "", **error.body()}, 400)
            except ValueError as error:
                return JSONResponse({"error": str(error), "field": "", "fix": "seed the shop first"}, 400)
            if isinstance(result, Response):
                return result
            return JSONResponse(result)

        return endpoint

    async def info(_: Request) -> dict[str, Any]:
        config = sandbox.config
        return {
            "profile": config.profile,
            "mode": config.mode,
            "webhook_path": f"/rest/{config.webhook_user_id}/{config.webhook_code}/",
            "scopes": list(config.scopes()),
            "oauth_client_id": config.oauth_client_id,
            "application_token": config.application_token,
            "inventory_management": shop.inventory_management,
            "counts": {name: len(shop.t(name).rows) for name in TABLES},
            "requests_served": sandbox.engine.requests_served,
            "commands_run": dict(sandbox.engine.commands_run),
            "errors_answered": dict(sandbox.engine.errors_answered),
        }

    async def seed(request: Request) -> dict[str, Any]:
        data = await _json(request)
        carriers = data.get("carriers", list(DEFAULT_CARRIERS))
        if not isinstance(carriers, list) or not carriers or not all(isinstance(c, str) for c in carriers):
            raise _bad("carriers", "must be a non-empty list of names", 'e.g. ["CDEK", "Russian Post"]')
        options: dict[str, Any] = {
            "seed": _int(data, "seed", 1),
            "offers_per_product": _int(data, "offers_per_product", 0, maximum=20),
            "stores": _int(data, "stores", 2, minimum=1, maximum=50),
            "carriers": tuple(carriers),
            "orders": _int(data, "orders", 0, maximum=50_000),
            "key_in": str(data.get("key_in", "both")),
        }
        # Without products the shop loads the shared catalogue: the CSV text sent, a generated one of
        # catalogue_size rows, or the sandbox catalogue file (the sandbox warehouse's default too).
        chosen = [
            name for name in ("products", "catalogue_csv", "catalogue_size") if data.get(name) is not None
        ]
        if len(chosen) > 1:
            raise _bad(
                chosen[1],
                f"conflicts with {chosen[0]}",
                "give one of products, catalogue_csv, catalogue_size",
            )
        if data.get("products") is not None:
            options["products"] = _int(data, "products", maximum=20_000)
        if data.get("catalogue_size") is not None:
            options["catalogue_size"] = _int(data, "catalogue_size", minimum=1, maximum=200_000)
        if data.get("catalogue_csv") is not None:
            if not isinstance(data["catalogue_csv"], str):
                raise _bad("catalogue_csv", "must be the text of a catalogue CSV", "send the file's content")
            options["catalogue_csv"] = data["catalogue_csv"]
        if "inventory_management" in data and not isinstance(data["inventory_management"], bool):
            raise _bad("inventory_management", "must be true or false", "pass a JSON boolean")
        try:
            summary = sandbox.seed(**options)
        except CatalogueError as error:
            field = chosen[0] if chosen else "catalogue"
            raise _bad(field, str(error), "see src/bitrix_inflow/sandboxes/catalogue/catalogue.csv") from None
        # After the seeding: a refused seed leaves the shop, this setting included, as it was.
        if "inventory_management" in data:
            shop.inventory_management = data["inventory_management"]
        return summary

    async def settings(request: Request) -> dict[str, Any]:
        # inventory_management: store documents on/off; auth_connector, offline_extended: the plan's REST
        # features (feature.get), so a client's fallback for a plan without them can be tried.
        names = ("inventory_management", "auth_connector", "offline_extended")
        if request.method == "POST":
            data = await _json(request)
            unknown = [key for key in data if key not in names]
            if unknown:
                raise _bad(unknown[0], "unknown shop setting", "the settings are: " + ", ".join(names))
            for name in names:
                if name in data and not isinstance(data[name], bool):
                    raise _bad(name, "must be true or false", "pass a JSON boolean")
            with shop.lock:
                if "inventory_management" in data:
                    shop.inventory_management = data["inventory_management"]
                for name in ("auth_connector", "offline_extended"):
                    if name in data:
                        setattr(sandbox.config, name, data[name])
        return {
            "inventory_management": shop.inventory_management,
            "auth_connector": sandbox.config.auth_connector,
            "offline_extended": sandbox.config.offline_extended,
        }

    def _lines(data: dict[str, Any]) -> list[tuple[int, float]]:
        raw = data.get("lines")
        if not isinstance(raw, list) or not raw:
            raise _bad("lines", "must be a non-empty list", 'e.g. [{"productId": 1, "quantity": 2}]')
        lines = []
        for index, line in enumerate(raw):
            if not isinstance(line, dict):
                raise _bad(f"lines[{index}]", "must be an object", 'use {"productId": 1, "quantity": 2}')
            try:
                product_id = _int(line, "productId", minimum=1)
                quantity = _float(line, "quantity", 1)
            except ControlError as error:
                raise _bad(f"lines[{index}].{error.field}", error.problem, error.fix) from None
            if shop.t("products").get(product_id) is None:
                raise _bad(f"lines[{index}].productId", f"product {product_id} does not exist", "seed first")
            if quantity <= 0:
                raise _bad(f"lines[{index}].quantity", "must be positive", "pass a quantity > 0")
            lines.append((product_id, quantity))
        return lines

    async def place_order(request: Request) -> dict[str, Any]:
        data = await _json(request)
        with shop.lock:
            if data.get("random") or "lines" not in data:
                rng = random.Random(_int(data, "seed", len(shop.t("orders").rows) + 1))
                order = random_order(shop, rng, shipments=_int(data, "shipments", 1, minimum=1))
            else:
                # Everything is checked before the shop is touched: a half-placed order would break
                # every later sale.* call.
                lines = _lines(data)
                order = shop.place_order(
                    lines,
                    shipments=_shipment_plans(data, len(lines)),
                    user_id=_int(data, "userId", 2, minimum=1),
                    status_id=str(data.get("statusId", "N")),
                    store_id=_store_id(data),
                    comment=str(data.get("comment", "")),
                    xml_id=_xml_id(data),
                )
            return full_order(shop, order)

    def _shipment_plans(data: dict[str, Any], line_count: int) -> list[dict[str, Any]] | None:
        shipments = data.get("shipments")
        example = '[{"deliveryId": 2, "lines": [0, 1]}]'
        if shipments is None:
            return None
        if not (isinstance(shipments, list) and all(isinstance(s, dict) for s in shipments)):
            raise _bad("shipments", "must be a list of objects", example)
        plans = []
        for index, plan in enumerate(shipments):
            delivery_id = plan.get("deliveryId")
            if delivery_id is not None and (
                isinstance(delivery_id, bool)
                or not isinstance(delivery_id, int)
                or shop.t("deliveries").get(delivery_id) is None
            ):
                raise _bad(
                    f"shipments[{index}].deliveryId",
                    f"{delivery_id!r} is not a delivery service id",
                    "see /_sandbox/entities/deliveries",
                )
            chosen = plan.get("lines", [])
            if not isinstance(chosen, list):
                raise _bad(f"shipments[{index}].lines", "must be a list of line indexes", example)
            indexes = [
                _index(value, f"shipments[{index}].lines[{position}]", line_count)
                for position, value in enumerate(chosen)
            ]
            plans.append({"deliveryId": delivery_id, "lines": indexes})
        return plans

    def _store_id(data: dict[str, Any]) -> int | None:
        if data.get("storeId") is None:
            return None
        store_id = _int(data, "storeId", minimum=1)
        if shop.t("stores").get(store_id) is None:
            raise _bad("storeId", f"store {store_id} does not exist", "see /_sandbox/entities/stores")
        return store_id

    def _xml_id(data: dict[str, Any]) -> str | None:
        xml_id = data.get("xmlId")
        if xml_id is not None and not isinstance(xml_id, str):
            raise _bad("xmlId", "must be a string", 'e.g. "bx_65df53063d56d"')
        return xml_id or None

    async def stream(request: Request) -> dict[str, Any]:
        data = await _json(request)
        count = _int(data, "count", 10, minimum=1, maximum=100_000)
        rate = _float(data, "rate_per_s", 5.0)
        if rate <= 0:
            raise _bad("rate_per_s", "must be positive", "pass orders per second > 0")
        shipments = _int(data, "shipments", 1, minimum=1)
        rng = random.Random(_int(data, "seed", 1))
        if not shop.t("products").rows:
            raise _bad("products", "the shop has no products", "POST /_sandbox/seed first")
        stream_id = len(sandbox.streams) + 1
        state: dict[str, Any] = {
            "id": stream_id,
            "count": count,
            "placed": [],
            "done": False,
            "stopped_by_reseed": False,
        }
        sandbox.streams[stream_id] = state
        generation = shop.generation

        def place_all() -> None:
            for _ in range(count):
                with shop.lock:
                    # A reseed replaced the shop the stream was started for: its orders would land in a
                    # fresh shop someone just set up (or fail in one without products).
                    if shop.generation != generation:
                        state["stopped_by_reseed"] = True
                        return
                    state["placed"].append(random_order(shop, rng, shipments=shipments)["id"])
                if sandbox.stopping.wait(1.0 / rate):
                    return

        def run() -> None:
            # A crash must not leave the stream "running" for ever, nor go unnoticed.
            try:
                sandbox.bugs.guard(f"order stream {stream_id}", place_all)
            finally:
                state["done"] = True

        threading.Thread(target=run, name=f"bitrix-sandbox-stream-{stream_id}", daemon=True).start()
        return state

    async def stream_status(request: Request) -> dict[str, Any]:
        state = sandbox.streams.get(_int(dict(request.path_params), "stream_id"))
        if state is None:
            raise _bad("stream_id", "unknown stream", "use the id returned by POST /_sandbox/orders/stream")
        return state

    async def unreserve(request: Request) -> dict[str, Any]:
        order_id = _int(dict(request.path_params), "order_id", minimum=1)
        with shop.lock:
            return full_order(shop, shop.unreserve_order(order_id))

    async def edit_line(request: Request) -> dict[str, Any]:
        order_id = _int(dict(request.path_params), "order_id", minimum=1)
        data = await _json(request)
        basket_id = _int(data, "basketId", minimum=1)
        quantity = _float(data, "quantity", 0.0)
        if quantity <= 0:
            raise _bad(
                "quantity", "must be positive", "pass a quantity > 0 (to drop a line, cancel the order)"
            )
        with shop.lock:
            return full_order(shop, shop.edit_line(order_id, basket_id, quantity))

    async def entities(request: Request) -> Any:
        table = request.path_params["table"]
        if table not in TABLES:
            raise _bad("table", f"unknown table {table!r}", "one of: " + ", ".join(TABLES))
        with shop.lock:
            rows = [public(row) for row in shop.t(table).all()]
        for key, value in request.query_params.items():
            rows = [row for row in rows if str(row.get(key)) == value]
        return rows

    async def entity(request: Request) -> Any:
        table = request.path_params["table"]
        if table not in TABLES:
            raise _bad("table", f"unknown table {table!r}", "one of: " + ", ".join(TABLES))
        with shop.lock:
            row = shop.t(table).get(request.path_params["entity_id"])
            if row is None:
                row = next(
                    (r for r in shop.t(table).all() if str(r.get("id")) == request.path_params["entity_id"]),
                    None,
                )
            if row is None:
                raise _bad(
                    "entity_id",
                    f"no row {request.path_params['entity_id']} in {table}",
                    "list the table first",
                )
            if table == "orders":
                return full_order(shop, row)
            return public(row)

    async def add_status(request: Request) -> dict[str, Any]:
        data = await _json(request)
        status_id = str(data.get("id", "")).strip()
        if not status_id or len(status_id) > 2:
            raise _bad("id", "must be 1-2 characters", 'e.g. "E" for a picking-error status')
        kind = str(data.get("type", "O"))
        if kind not in ("O", "D"):
            raise _bad("type", "must be O (order) or D (delivery)", 'pass "O" or "D"')
        with shop.lock:
            return shop.add_status(
                status_id,
                str(data.get("name", status_id)),
                kind=kind,
                sort=_int(data, "sort", 100),
                color=str(data.get("color", "")),
            )

    async def add_delivery(request: Request) -> dict[str, Any]:
        data = await _json(request)
        name = str(data.get("name", "")).strip()
        if not name:
            raise _bad("name", "is required", 'e.g. {"name": "CDEK"}')
        with shop.lock:
            price = _float(data, "price", 0)
            return public(
                shop.add_delivery(name, xml_id=str(data.get("xmlId", "")), carrier=name, price=price)
            )

    async def set_stock(request: Request) -> dict[str, Any]:
        data = await _json(request)
        product_id = _int(data, "productId", minimum=1)
        store_id = _int(data, "storeId", minimum=1)
        amount = _float(data, "amount", 0)
        with shop.lock:
            shop.product(product_id)
            if shop.t("stores").get(store_id) is None:
                raise _bad("storeId", f"store {store_id} does not exist", "see /_sandbox/entities/stores")
            shop.set_store_amount(product_id, store_id, amount)
            return public(shop.store_product(product_id, store_id))

    async def faults(request: Request) -> dict[str, Any]:
        if request.method == "POST":
            data = await _json(request)
            try:
                unknown = sandbox.faults.update(data)
            except (TypeError, ValueError) as error:
                switch = str(error).split(" ", 1)[0]
                raise _bad(
                    switch, str(error), "rates are 0..1, sizes positive, switches true/false"
                ) from error
            if unknown:
                raise _bad(
                    unknown[0], "unknown fault switch", "one of: " + ", ".join(sandbox.faults.as_dict())
                )
            if not data.get("limiter", True):
                sandbox.engine.bucket.reset()
            if "hold_methods" in data or "hold_skip" in data:
                sandbox.holds.rearm()  # hold_skip counts from now
        return sandbox.faults.as_dict()

    async def holds(_: Request) -> dict[str, Any]:
        return {"held": sandbox.holds.documents(), "hold_methods": list(sandbox.faults.hold_methods)}

    async def release_holds(request: Request) -> dict[str, Any]:
        data = await _json(request)
        drop = data.get("drop", False)
        if not isinstance(drop, bool):
            raise _bad(
                "drop", "must be true or false", "true: the held requests not run yet answer 500 unrun"
            )
        sandbox.faults.hold_methods = []  # holding off first: a request arriving now is not held again
        released = sandbox.holds.release(drop=drop)
        return {"released": released, "held": sandbox.holds.documents()}

    async def errors(request: Request) -> Any:
        bugs = sandbox.bugs.take() if request.method == "DELETE" else sandbox.bugs.bugs()
        return [bug.document() for bug in bugs]

    async def reset_limits(_: Request) -> dict[str, Any]:
        sandbox.engine.bucket.reset()
        sandbox.engine.operating.reset()
        return {"ok": True}

    async def events(request: Request) -> Any:
        if request.method == "POST":
            data = await _json(request)
            # All checked before any is stored: the delivery thread posts to whatever is kept here.
            handler = data.get("handler_url") or None
            if handler is not None and not is_http_url(handler):
                raise _bad("handler_url", "must be an http(s) URL or null", '"https://127.0.0.1:8099/bitrix"')
            token = data.get("application_token")
            if "application_token" in data and not (isinstance(token, str) and token.strip()):
                raise _bad(
                    "application_token", "must be a non-empty string", '"jvh9y1ulvt2m6k5or90v9mg8nn32ozas"'
                )
            names = data.get("events")
            if "events" in data and not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
                raise _bad("events", "must be a list of event names", '["ONSALEORDERSAVED"]')
            if "handler_url" in data:
                sandbox.config.event_handler_url = handler
            if isinstance(token, str):
                sandbox.config.application_token = token
            if isinstance(names, list):
                sandbox.config.event_handler_events = tuple(n.upper() for n in names)
            return {
                "handler_url": sandbox.config.event_handler_url,
                "application_token": sandbox.config.application_token,
            }
        sandbox.events.wait_idle()
        return [vars(d) for d in sandbox.events.log]

    async def advance_clock(request: Request) -> dict[str, Any]:
        data = await _json(request)
        sandbox.clock.offset_s += _float(data, "seconds", 0)
        return {"offset_s": sandbox.clock.offset_s, "now": sandbox.clock.iso()}

    async def issue_token(request: Request) -> dict[str, Any]:
        data = await _json(request)
        scopes = data.get("scopes")
        if scopes is not None and not (isinstance(scopes, list) and all(isinstance(s, str) for s in scopes)):
            raise _bad("scopes", "must be a list of scope names", '["sale", "catalog"]')
        token = sandbox.credentials.issue(
            _int(data, "userId", sandbox.config.webhook_user_id, minimum=1),
            tuple(scopes) if scopes is not None else None,
        )
        return sandbox.credentials.token_body(token)

    async def add_webhook(request: Request) -> dict[str, Any]:
        data = await _json(request)
        code = str(data.get("code", "")).strip()
        if not code.isalnum():
            raise _bad("code", "must be a non-empty alphanumeric secret", 'e.g. "abc123def456"')
        scopes = data.get("scopes", list(sandbox.config.profile_scopes()))
        if not isinstance(scopes, list):
            raise _bad("scopes", "must be a list", '["sale"]')
        right = str(data.get("saleAccess", "W"))
        if right not in ("D", "R", "W"):
            raise _bad(
                "saleAccess", f"{right!r} is not a sale right", 'use "D" (none), "R" (read) or "W" (write)'
            )
        user_id = _int(data, "userId", 1, minimum=1)
        sandbox.credentials.sale_rights[user_id] = right
        hook = sandbox.credentials.add_webhook(user_id, code, tuple(str(s) for s in scopes))
        return {
            "path": f"/rest/{hook.user_id}/{hook.code}/",
            "scopes": list(hook.scopes),
            "saleAccess": right,
        }

    def route(path: str, handler: Callable[[Request], Awaitable[Any]], methods: list[str]) -> Route:
        return Route(f"/_sandbox{path}", guarded(handler), methods=methods)

    return [
        route("/", info, ["GET"]),
        route("/seed", seed, ["POST"]),
        route("/settings", settings, ["GET", "POST"]),
        route("/orders", place_order, ["POST"]),
        route("/orders/stream", stream, ["POST"]),
        route("/orders/stream/{stream_id}", stream_status, ["GET"]),
        route("/orders/{order_id}/unreserve", unreserve, ["POST"]),
        route("/orders/{order_id}/edit-line", edit_line, ["POST"]),
        route("/entities/{table}", entities, ["GET"]),
        route("/entities/{table}/{entity_id}", entity, ["GET"]),
        route("/statuses", add_status, ["POST"]),
        route("/deliveries", add_delivery, ["POST"]),
        route("/stock", set_stock, ["POST"]),
        route("/faults", faults, ["GET", "POST"]),
        route("/limits/reset", reset_limits, ["POST"]),
        route("/holds", holds, ["GET"]),
        route("/holds/release", release_holds, ["POST"]),
        route("/events", events, ["GET", "POST"]),
        route("/clock/advance", advance_clock, ["POST"]),
        route("/oauth/tokens", issue_token, ["POST"]),
        route("/webhooks", add_webhook, ["POST"]),
        route("/errors", errors, ["GET", "DELETE"]),
    ]
