"""Telling a manager (reference §2.9): im.notify.* everywhere, tasks and timeline on Bitrix24 only."""

from __future__ import annotations

from typing import Any

from bitrix_inflow.sandboxes.bitrix import RunningSandbox


def test_system_and_personal_notifications_are_recorded(shop: RunningSandbox, rest: Any) -> None:
    first = rest.ok(
        "im.notify.system.add",
        {"USER_ID": 1, "MESSAGE": "Order 5: [b]picking error[/b]", "TAG": "WMS|5", "CLIENT_ID": "inflow"},
    )
    second = rest.ok("im.notify.personal.add", {"user_id": "1", "message": "lower-case keys work too"})
    assert isinstance(first["result"], int)
    assert second["result"] == first["result"] + 1
    stored = shop.control.entity("notifications", first["result"])
    assert stored["message"] == "Order 5: [b]picking error[/b]"
    assert stored["kind"] == "system"
    assert shop.control.entity("notifications", second["result"])["kind"] == "personal"


def test_a_tag_replaces_the_notification_that_had_it_and_needs_a_client_through_a_webhook(
    shop: RunningSandbox, rest: Any
) -> None:
    """im-notify-system-add.md: adding a notification with an existing tag removes the others with it; through a
    webhook the tag is passed with CLIENT_ID (what a call without it answers is not documented: a guess)."""
    tagged = {"USER_ID": 2, "MESSAGE": "first", "TAG": "BI-77", "CLIENT_ID": "inflow"}
    first = rest.ok("im.notify.system.add", tagged)["result"]
    second = rest.ok("im.notify.system.add", {**tagged, "MESSAGE": "second"})["result"]
    others = rest.ok("im.notify.system.add", {**tagged, "CLIENT_ID": "another-client"})["result"]
    kept = [n for n in shop.control.entities("notifications") if n["tag"] == "BI-77"]
    assert sorted(n["id"] for n in kept) == sorted([second, others]) and first not in [n["id"] for n in kept]
    refused = rest.error("im.notify.system.add", {"USER_ID": 2, "MESSAGE": "x", "TAG": "BI-78"}, status=400)
    assert refused["error"] == "CLIENT_ID_EMPTY"
    assert not [n for n in shop.control.entities("notifications") if n["tag"] == "BI-78"]


def test_a_task_for_an_unknown_user_is_refused_and_tasks_are_found_by_title(
    cloud_shop: RunningSandbox, cloud_rest: Any
) -> None:
    unknown = cloud_rest.error("tasks.task.add", {"fields": {"TITLE": "x", "RESPONSIBLE_ID": 99}}, status=400)
    assert unknown["error"] == "ERROR_CORE"
    made = cloud_rest.ok("tasks.task.add", {"fields": {"TITLE": "[BI-9] Picking error", "RESPONSIBLE_ID": 2}})
    found = cloud_rest.ok("tasks.task.list", {"filter": {"%TITLE": "[BI-9]"}})
    assert [t["id"] for t in found["result"]["tasks"]] == [made["result"]["task"]["id"]]
    assert cloud_rest.ok("tasks.task.list", {"filter": {"%TITLE": "[BI-10]"}})["result"]["tasks"] == []


def test_task_add_on_bitrix24(cloud_shop: RunningSandbox, cloud_rest: Any) -> None:
    fields = {
        "TITLE": "Picking error in order 5",
        "RESPONSIBLE_ID": 1,
        "DEADLINE": "2026-12-31T23:59:59+03:00",
    }
    task = cloud_rest.ok("tasks.task.add", {"fields": fields})["result"]["task"]
    assert task["id"].isdigit()
    assert task["title"] == "Picking error in order 5"
    assert task["responsibleId"] == "1"
    assert cloud_shop.control.entity("tasks", task["id"])["deadline"] == "2026-12-31T23:59:59+03:00"
    no_title = cloud_rest.error("tasks.task.add", {"fields": {"RESPONSIBLE_ID": 1}}, status=400)
    assert no_title == {"error": "ERROR_CORE", "error_description": "Task title is not specified<br>"}
    no_fields = cloud_rest.error("tasks.task.add", {}, status=400)
    assert no_fields["error"] == 100


def test_timeline_comment_on_bitrix24(cloud_shop: RunningSandbox, cloud_rest: Any) -> None:
    order = cloud_shop.control.place_order(random=True)
    fields = {"ENTITY_ID": order["id"], "ENTITY_TYPE": "order", "COMMENT": "WMS could not pick line 2"}
    comment_id = cloud_rest.ok("crm.timeline.comment.add", {"fields": fields})["result"]
    assert cloud_shop.control.entity("timelineComments", comment_id)["comment"] == "WMS could not pick line 2"
    assert cloud_rest.error("crm.timeline.comment.add", {"FIELDS": fields}, status=400)["error"] == 100
    unknown = {**fields, "ENTITY_ID": 987654}
    assert (
        cloud_rest.error("crm.timeline.comment.add", {"fields": unknown}, status=400)["error"]
        == "OWNER_NOT_FOUND"
    )
    empty = {**fields, "COMMENT": " "}
    assert (
        cloud_rest.error("crm.timeline.comment.add", {"fields": empty}, status=400)["error"]
        == "INVALID_ARG_VALUE"
    )
