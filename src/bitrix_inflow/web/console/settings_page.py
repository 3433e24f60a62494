"""Settings that are safe to change while the service runs: schedule intervals, which orders are forwarded, the
stock safety buffer. Each is checked by the rule that checks the file, all are saved together or none, the change
is audited, and the service runs with it within seconds (no restart). Clearing a value goes back to the file's."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from bitrix_inflow.config import runtime
from bitrix_inflow.config.settings import Settings
from bitrix_inflow.errors import ValidationError
from bitrix_inflow.store import console as store
from bitrix_inflow.sync.stock import jobs as stock_jobs
from bitrix_inflow.web.console.auth import viewer
from bitrix_inflow.web.console.context import Console, console_of
from bitrix_inflow.web.console.i18n import N_
from bitrix_inflow.web.console.pages import render
from bitrix_inflow.web.console.security import Refused, Viewer, checked_form, console_path

router = APIRouter(prefix="/console/settings")


def _value(settings: Settings, key: str) -> Any:
    section, name = key.split(".", 1)
    return getattr(getattr(settings, section), name)


def _as_typed(value: Any) -> Any:
    """A file's value as a form's value parses (tuples are lists), to tell a change from the file's value."""
    return list(value) if isinstance(value, tuple) else value


def shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _page(
    request: Request,
    who: Viewer,
    *,
    typed: dict[str, str] | None = None,
    problems: dict[str, str] | None = None,
) -> Response:
    console = console_of(request)
    base = console.settings
    with console.engine.connect() as conn:
        stored = store.runtime_values(conn, console.connection_id)
    rows = []
    if base is not None:
        in_force = runtime.in_force(base, stored, on_refused=lambda _why: None)
        for knob in runtime.KNOBS:
            rows.append(
                {
                    "knob": knob,
                    "file": shown(_value(base, knob.key)),
                    "changed": knob.key in stored,
                    "value": (typed or {}).get(knob.key, shown(_value(in_force, knob.key))),
                }
            )
    return render(
        request,
        "settings.html",
        language=who.language,
        viewer=who,
        rows=rows,
        problems=problems or {},
        saved=request.query_params.get("saved") == "true",
        history=_history(console),
        seen=_latest(console),
        status=400 if problems else 200,
    )


def _latest(console: Console) -> int:
    with console.engine.connect() as conn:
        return store.latest_setting_change(conn, console.connection_id)


STALE = N_("someone changed the settings meanwhile: reload the page to see them; nothing was saved")


def _history(console: Console) -> list[store.AuditEntry]:
    with console.engine.connect() as conn:
        return store.audit_trail(
            conn, action_prefix="setting.", connection_id=console.connection_id, limit=50
        )


@router.get("")
def settings_page(request: Request, who: Viewer = Depends(viewer)) -> Response:  # noqa: B008
    return _page(request, who)


@router.post("")
async def save(request: Request, who: Viewer = Depends(viewer)) -> Response:  # noqa: B008
    console = console_of(request)
    form = await checked_form(request, expected_token=who.csrf_token)
    base = console.settings
    if base is None:
        raise Refused(N_("the service runs without a settings file here: nothing to change"), status=400)
    typed = {knob.key: str(form.get(knob.key) or "").strip() for knob in runtime.KNOBS}
    problems: dict[str, str] = {}

    def check_and_save() -> None:
        with console.engine.begin() as conn:
            if str(form.get("seen") or "") != str(store.latest_setting_change(conn, console.connection_id)):
                # The form saves every value: one shown before a colleague's change would silently undo it.
                raise Refused(STALE, status=409)
            stored = store.runtime_values(conn, console.connection_id)
            wanted: dict[str, Any] = {}
            for knob in runtime.KNOBS:
                text = typed[knob.key]
                if not text:
                    continue  # cleared: the file's value
                try:
                    wanted[knob.key] = runtime.parse(knob.key, text)
                except ValidationError as exc:
                    problems[knob.key] = exc.problem
            changes = {key: value for key, value in wanted.items() if value != _as_typed(_value(base, key))}
            try:
                runtime.overlay(base, changes)
            except* ValidationError as group:
                for refused in group.exceptions:
                    if isinstance(refused, ValidationError):
                        problems[".".join(refused.field.split(".")[:2])] = refused.problem
            if problems:
                return
            now, actor = console.clock.now(), f"console:{who.username}"
            for key in sorted(set(stored) | set(changes)):
                before, after = stored.get(key), changes.get(key)
                if before == after:
                    continue
                if after is None:
                    store.clear_runtime_value(conn, console.connection_id, key)
                else:
                    store.set_runtime_value(conn, console.connection_id, key, after, actor=actor, now=now)
                if key.startswith("stock."):
                    # Incremental runs touch only SKUs whose stock moved: the whole shop gets the new buffer now.
                    stock_jobs.queue_full(
                        conn, now=now, reason=f"{key} changed by {actor}", connection_id=console.connection_id
                    )
                store.audit(
                    conn,
                    actor=actor,
                    action="setting.changed",
                    target=key,
                    detail={"before": before, "after": after},
                    connection_id=console.connection_id,
                    now=now,
                )

    await run_in_threadpool(check_and_save)
    if problems:
        return await run_in_threadpool(lambda: _page(request, who, typed=typed, problems=problems))
    return RedirectResponse(console_path(request, "/console/settings?saved=true"), status_code=303)
