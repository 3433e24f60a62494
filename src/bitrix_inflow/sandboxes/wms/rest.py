"""The Inflow v1 REST API (routes under the dialect's base path, plus ``POST /oauth/token``)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import FileResponse, JSONResponse

from bitrix_inflow.sandboxes.wms.contract import contract_dir
from bitrix_inflow.sandboxes.wms.http import json_response, read_json
from bitrix_inflow.sandboxes.wms.models import WebhookIn, parse_body
from bitrix_inflow.sandboxes.wms.problems import Problem, field_error, invalid
from bitrix_inflow.sandboxes.wms.service import WmsService


def register_rest(app: FastAPI, service: WmsService) -> None:
    dialect = service.dialect
    base = dialect.base_path
    stock = f"{base}/{dialect.segment('stock')}"
    orders = f"{base}/{dialect.segment('orders')}"
    webhooks = f"{base}/{dialect.segment('webhooks')}"
    returns = f"{base}/{dialect.segment('returns')}"

    def authenticate(request: Request) -> str:
        return service.auth.authenticate(
            request.headers.get("authorization"), request.headers.get("x-api-key")
        )

    def query(request: Request, names: tuple[str, ...]) -> dict[str, Any]:
        """Canonical name -> raw value; a canonical name this dialect renamed is rejected, not ignored."""
        out: dict[str, Any] = {}
        for name in names:
            local = dialect.query_name(name)
            if local != name and name in request.query_params:
                problem = invalid(name, f"unknown parameter; this installation calls it {local!r}")
                problem.in_dialect = True
                raise problem
            if local in request.query_params:
                out[name] = request.query_params[local]
        if "status" in out:
            canonical = dialect.status_in(out["status"])
            if canonical is None:
                raise invalid("status", "unknown status in this installation")
            out["status"] = canonical
        return out

    def reply(document: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
        return json_response(dialect.outbound(document), status, headers)

    @app.post("/oauth/token")
    async def issue_token(request: Request) -> JSONResponse:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/x-www-form-urlencoded":
            raise Problem(
                "validation",
                "send the token request as application/x-www-form-urlencoded",
                errors=[field_error("Content-Type", "use application/x-www-form-urlencoded")],
                extra={"error": "invalid_request"},
            )
        form = await request.form()
        values = {k: form.get(k) for k in ("grant_type", "client_id", "client_secret")}
        token = service.auth.issue_token(*(v if isinstance(v, str) else None for v in values.values()))
        return json_response(token, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    @app.get(f"{base}/openapi.yaml")
    async def openapi_document() -> FileResponse:
        return FileResponse(contract_dir() / "openapi.yaml", media_type="application/yaml")

    @app.get(stock)
    async def get_stock(request: Request) -> JSONResponse:
        authenticate(request)
        names = ("warehouse", "sku", "available_only", "updated_since", "cursor", "limit")
        return reply(service.get_stock(query(request, names)))

    @app.post(orders)
    async def create_order(request: Request) -> JSONResponse:
        principal = authenticate(request)
        body = dialect.inbound(await read_json(request))
        key = request.headers.get("idempotency-key")
        stored, replayed = await service.create_order(principal, body, key)
        headers = {"Location": stored.location} if stored.location else {}
        if replayed:
            headers["Idempotent-Replayed"] = "true"
        return reply(stored.document, stored.status, headers)

    @app.get(orders)
    async def list_orders(request: Request) -> JSONResponse:
        authenticate(request)
        names = ("external_ref", "warehouse", "status", "cursor", "limit")
        return reply(service.list_orders(query(request, names)))

    @app.get(f"{orders}/{dialect.segment('changes')}")
    async def order_changes(request: Request) -> JSONResponse:
        authenticate(request)
        q = query(request, ("cursor", "limit"))
        return reply(service.changes(q.get("cursor"), q.get("limit")))

    @app.get(returns)
    async def list_returns(request: Request) -> JSONResponse:
        authenticate(request)
        q = query(request, ("cursor", "limit"))
        return reply(service.returns_page(q.get("cursor"), q.get("limit")))

    @app.get(orders + "/{order_id}")
    async def get_order(order_id: str, request: Request) -> JSONResponse:
        authenticate(request)
        order = service.get_order(order_id)
        return reply(order.document(), headers={"ETag": f'"{order.version}"'})

    @app.get(orders + "/{order_id}/" + dialect.segment("status"))
    async def get_order_status(order_id: str, request: Request) -> JSONResponse:
        authenticate(request)
        order = service.get_order(order_id)
        return reply(order.document(), headers={"ETag": f'"{order.version}"'})

    @app.put(orders + "/{order_id}/" + dialect.segment("cancel"))
    async def cancel_order(order_id: str, request: Request) -> JSONResponse:
        authenticate(request)
        body = await read_json(request, required=False)
        order = service.cancel(
            order_id, dialect.inbound(body) if body is not None else None, request.headers.get("if-match")
        )
        return reply(order.document())

    @app.post(webhooks)
    async def create_webhook(request: Request) -> JSONResponse:
        authenticate(request)
        req = parse_body(WebhookIn, await read_json(request))
        sub = service.hub.subscribe(req.url, list(req.events), req.secret)
        service.dirty = True
        return reply(sub.document(), 201)

    @app.get(webhooks)
    async def list_webhooks(request: Request) -> JSONResponse:
        authenticate(request)
        return reply({"items": [s.document() for s in service.hub.subscriptions.values()]})

    @app.delete(webhooks + "/{webhook_id}")
    async def delete_webhook(webhook_id: str, request: Request) -> Response:
        authenticate(request)
        service.hub.unsubscribe(webhook_id)
        service.dirty = True
        return Response(status_code=204)
