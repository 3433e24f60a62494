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
        extra: JSON = {"tag": tag} if tag else {}
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
        self, title: str, description: str, *, responsible_id: int | None, deadline: datetime | None
    ) -> Notice:
        target = self._manager(responsible_id)
        if not title.strip():
            raise ValidationError("title", "a task needs a title")
        if self._settings.profile == "bitrix24":
            task = self._add_task(title, description, target, deadline)
            if task is not None:
                return task
        text = f"[b]{title}[/b]\n{description}"
        return self.notify_manager(text, user_id=target, tag=None)

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
