"""Small HTTP helpers shared by the REST and control routes: JSON bodies and problem responses."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from bitrix_inflow.sandboxes.wms.problems import Problem, field_error


async def read_json(request: Request, *, required: bool = True) -> Any:
    raw = await request.body()
    if not raw.strip():
        if required:
            raise Problem(
                "validation",
                "the request needs a JSON body",
                errors=[field_error("body", "send a JSON object")],
            )
        return None
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
        raise Problem(
            "unsupported-media-type",
            f"Content-Type {media or '(none)'} is not supported",
            errors=[field_error("Content-Type", "send the body as application/json")],
        )
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        raise Problem(
            "validation", "the body is not UTF-8", errors=[field_error("body", "encode JSON as UTF-8")]
        ) from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise Problem(
            "validation",
            f"malformed JSON at {where}: {exc.msg}",
            errors=[field_error("body", f"malformed JSON at {where}: {exc.msg}")],
        ) from None


def json_response(document: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(document, status_code=status, headers=headers)


def problem_response(problem: Problem, document: dict[str, Any] | None = None) -> JSONResponse:
    headers = dict(problem.headers)
    return JSONResponse(
        document if document is not None else problem.document(),
        status_code=problem.status,
        headers=headers,
        media_type="application/problem+json",
    )
