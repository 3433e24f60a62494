"""Telling a manager: ``im.notify.*`` (both profiles), ``tasks.task.add`` and ``crm.timeline.comment.add``
(Bitrix24 profile only: Site Management has no tasks or crm module)."""

from __future__ import annotations

from typing import Any

from bitrix_inflow.sandboxes.bitrix import rest_errors
from bitrix_inflow.sandboxes.bitrix.registry import Answer, Call, Method
from bitrix_inflow.sandboxes.bitrix.shop import Row

B24 = ("bitrix24",)


def _upper(params: Any) -> dict[str, Any]:
    # Legacy modules read their parameters after array_change_key_case(CASE_UPPER).
    return {str(k).upper(): v for k, v in params.items()} if isinstance(params, dict) else {}


def _positive_int(value: Any) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        return 0
    return max(number, 0)


def _notify(call: Call, kind: str) -> Answer:
    """im-notify-system-add.md: a ``TAG`` is unique within the application: a notification with a tag that exists
    removes the others; through a webhook a tag needs ``CLIENT_ID`` (the client the tag belongs to)."""
    params = _upper(call.params)
    user_id = _positive_int(params.get("USER_ID", ""))
    if user_id <= 0:
        raise rest_errors.RestError(400, "USER_ID_EMPTY", "User ID can't be empty")
    message = str(params.get("MESSAGE", "") or "").strip()
    if not message:
        raise rest_errors.RestError(400, "MESSAGE_EMPTY", "Message can't be empty")
    tag = str(params.get("TAG", "") or "")
    client = call.config.oauth_client_id if call.is_app else str(params.get("CLIENT_ID", "") or "")
    if (tag or params.get("SUB_TAG")) and not client:
        # The docs say to pass it, not what a call without it answers: this code and message are a guess.
        raise rest_errors.RestError(400, "CLIENT_ID_EMPTY", "Client ID can't be empty")
    table = call.shop.t("notifications")
    if tag:
        for row_id in [
            i for i, row in table.rows.items() if row.get("tag") == tag and row.get("clientId") == client
        ]:
            del table.rows[row_id]
    row: Row = {
        "kind": kind,
        "userId": user_id,
        "fromUserId": call.user_id if kind == "personal" else 0,
        "message": message,
        "messageOut": params.get("MESSAGE_OUT", ""),
        "tag": tag,
        "subTag": params.get("SUB_TAG", ""),
        "clientId": client,
        "date": call.shop.clock.iso(),
    }
    return Answer(table.insert(row))


def notify_system(call: Call) -> Answer:
    return _notify(call, "system")


def notify_personal(call: Call) -> Answer:
    return _notify(call, "personal")


def task_add(call: Call) -> Answer:
    fields = _upper(call.require("fields"))
    title = str(fields.get("TITLE", "") or "").strip()
    if not title:
        raise rest_errors.core("Task title is not specified<br>")
    responsible = _positive_int(fields.get("RESPONSIBLE_ID", ""))
    if responsible <= 0:
        raise rest_errors.core("Responsible person is not specified<br>")
    if responsible not in call.config.user_ids:
        # tasks-task-add.md: the assignee must exist; the message is the source's wording as far as known.
        raise rest_errors.core("Responsible person not found<br>")
    priority = str(fields.get("PRIORITY", "1"))
    if priority not in ("0", "1", "2"):
        priority = "1"
    now = call.shop.clock.iso()
    task: Row = {
        "parentId": None,
        "title": title,
        "description": str(fields.get("DESCRIPTION", "") or ""),
        "mark": None,
        "priority": priority,
        "multitask": "N",
        "notViewed": "N",
        "replicate": "N",
        "groupId": "0",
        "stageId": "0",
        "createdBy": str(_positive_int(fields.get("CREATED_BY", call.user_id)) or call.user_id),
        "createdDate": now,
        "responsibleId": str(responsible),
        "changedDate": now,
        "status": "2",
        "deadline": fields.get("DEADLINE") or None,
        "ufCrmTask": list(fields.get("UF_CRM_TASK") or []),
    }
    task_id = call.shop.t("tasks").insert(task, as_text_id=True)
    return Answer({"task": {"id": str(task_id), **{k: v for k, v in task.items() if k != "id"}}})


def task_list(call: Call) -> Answer:
    """tasks-task-list.md: ``filter`` on ``ID``, ``TITLE`` (exact, or ``%TITLE`` containing), ``RESPONSIBLE_ID``;
    ``order`` by ID; ``select``; pages of 50 by ``start``; the answer wraps the rows in ``tasks``."""
    raw = call.params.get("filter")
    conditions = _upper(raw) if isinstance(raw, dict) else {}
    rows = sorted(call.shop.t("tasks").all(), key=lambda r: int(r["id"]))
    for key, value in conditions.items():
        if key == "%TITLE":
            rows = [r for r in rows if str(value).lower() in str(r["title"]).lower()]
        elif key == "TITLE":
            rows = [r for r in rows if str(r["title"]) == str(value)]
        elif key in ("ID", "RESPONSIBLE_ID"):
            wanted = {str(v) for v in (value if isinstance(value, list) else [value])}
            field = "id" if key == "ID" else "responsibleId"
            rows = [r for r in rows if str(r[field]) in wanted]
    order = _upper(call.params.get("order")) if isinstance(call.params.get("order"), dict) else {}
    if str(order.get("ID", "asc")).lower() == "desc":
        rows.reverse()
    start = max(0, _positive_int(call.params.get("start", 0)))
    page = rows[start : start + 50]
    following = start + 50 if start + 50 < len(rows) else None
    return Answer({"tasks": [dict(r) for r in page]}, total=len(rows), next=following, has_total=True)


def timeline_comment_add(call: Call) -> Answer:
    fields = call.params.get("fields")  # lower-case key only, unlike most legacy methods
    if not isinstance(fields, dict):
        raise rest_errors.RestError(400, 100, "Required fields are not provided")
    fields = _upper(fields)
    for name in ("ENTITY_ID", "ENTITY_TYPE"):
        if fields.get(name) in (None, ""):
            raise rest_errors.RestError(400, 100, f"Required field {name} is not provided")
    comment = str(fields.get("COMMENT", "") or "").strip()
    if not comment:
        raise rest_errors.RestError(400, "INVALID_ARG_VALUE", "Empty comment")
    entity_type = str(fields["ENTITY_TYPE"]).lower()
    if entity_type == "order" and call.shop.t("orders").get(fields["ENTITY_ID"]) is None:
        raise rest_errors.RestError(400, "OWNER_NOT_FOUND", "Owner of the item not found")
    row: Row = {
        "entityId": _positive_int(fields["ENTITY_ID"]),
        "entityType": entity_type,
        "comment": comment,
        "authorId": call.user_id,
        "created": call.shop.clock.iso(),
    }
    return Answer(call.shop.t("timelineComments").insert(row))


METHODS = [
    Method("im.notify.system.add", "im", notify_system),
    Method("im.notify.personal.add", "im", notify_personal),
    Method("tasks.task.add", "task", task_add, B24),
    Method("tasks.task.list", "task", task_list, B24),
    Method("crm.timeline.comment.add", "crm", timeline_comment_add, B24),
]
