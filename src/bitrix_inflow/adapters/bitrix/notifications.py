"""Telling the shop's manager: a system notification (``im.notify.system.add``), or a task
(``tasks.task.add``) where Bitrix has the tasks module."""

from __future__ import annotations

from datetime import datetime

from bitrix_inflow.errors import PermanentError, ValidationError

from . import replies
from .arguments import positive_id
from .errors import MethodNotFoundError
from .models import Notice, NoticeKind
from .settings import BitrixSettings
from .transport import JSON, Transport
from .wire import format_dt

CLIENT_ID = "bitrix-inflow"  # the client a webhook's notification tags belong to


class Notifications:
    def __init__(self, transport: Transport, settings: BitrixSettings) -> None:
        self._transport = transport
        self._settings = settings
        # Marks its calls as not safe to repeat after a timeout: a repeated add would tell the manager twice.
        self._sdk_once = transport.token.get_client(idempotent=False)

    def notify_manager(self, message: str, *, user_id: int | None, tag: str | None) -> Notice:
        target = self._manager(user_id)
        if not message.strip():
            raise ValidationError("message", "must not be empty")
        extra: JSON = {}
        if tag:
            # A tag replaces the earlier notification carrying it, so telling twice shows one; through a webhook it
            # needs the client it belongs to (im-notify-system-add.md).
            extra = {"tag": tag, "client_id": CLIENT_ID} if self._transport.token.is_webhook else {"tag": tag}
        response = self._transport.guard(
            "im.notify.system.add",
            lambda: self._sdk_once.im.notify.system.add(user_id=target, message=message, **extra).response,
        )
        result = response.result
        if result is False or result is None:
            raise PermanentError(
                f"im.notify.system.add: Bitrix did not create the notification for user {target}"
            )
        return Notice(
            NoticeKind.NOTIFICATION, replies.payload_id(result, field="im.notify.system.add.result")
        )

    def create_task(
        self,
        title: str,
        description: str,
        *,
        responsible_id: int | None,
        deadline: datetime | None,
        tag: str | None = None,
    ) -> Notice:
        target = self._manager(responsible_id)
        if not title.strip():
            raise ValidationError("title", "a task needs a title")
        if self._settings.profile == "bitrix24":
            task = self._add_task(title, description, target, deadline)
            if task is not None:
                return task
        text = f"[b]{title}[/b]\n{description}"
        # No tasks here: a notification, tagged so that telling again replaces it rather than adding one.
        return self.notify_manager(text, user_id=target, tag=tag)

    def find_task(self, title_part: str) -> Notice | None:
        """The newest task whose title contains ``title_part`` (a marker the service put there), or None; None too
        where this Bitrix has no tasks module."""
        if not title_part.strip():
            raise ValidationError("title_part", "must not be empty", "pass the marker the title carries")
        try:
            reply = self._transport.call(
                "tasks.task.list",
                {"filter": {"%TITLE": title_part}, "select": ["ID", "TITLE"], "order": {"ID": "desc"}},
            )
        except MethodNotFoundError:
            return None
        tasks = replies.rows(
            replies.wrapped(reply, "tasks", "tasks.task.list"), field="tasks.task.list.tasks"
        )
        found = [t for t in tasks if title_part in str(t.get("title", t.get("TITLE", "")))]
        if not found:
            return None
        return Notice(
            NoticeKind.TASK, replies.payload_id(found[0].get("id", found[0].get("ID")), field="task.id")
        )

    def _add_task(
        self, title: str, description: str, target: int, deadline: datetime | None
    ) -> Notice | None:
        """The task, or None where this Bitrix has no tasks module after all (a site configured as bitrix24)."""
        fields: JSON = {"TITLE": title, "DESCRIPTION": description, "RESPONSIBLE_ID": target}
        if deadline is not None:
            if deadline.tzinfo is None:
                raise ValidationError("deadline", "must be timezone-aware", "attach the shop's UTC offset")
            fields["DEADLINE"] = format_dt(deadline)
        try:
            response = self._transport.guard(
                "tasks.task.add", lambda: self._sdk_once.tasks.task.add(fields=fields).response
            )
        except MethodNotFoundError:
            return None
        task = replies.obj(
            replies.wrapped({"result": response.result}, "task", "tasks.task.add"),
            field="tasks.task.add.task",
        )
        return Notice(NoticeKind.TASK, replies.payload_id(task.get("id"), field="tasks.task.add.task.id"))

    def _manager(self, user_id: int | None) -> int:
        target = user_id if user_id is not None else self._settings.manager_user_id
        if target is None:
            raise ValidationError(
                "manager_user_id", "no Bitrix user to notify", "set manager_user_id in settings"
            )
        return positive_id(target, "user_id")
