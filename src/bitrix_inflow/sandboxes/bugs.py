"""Unexpected exceptions of a sandbox, kept until someone looks at them.

A sandbox that crashes answers 500 as a real server would, and a client under test treats a 500 as transient and
retries: without this log a sandbox bug hides behind a passing test. Deliberate answers (problems, REST errors,
injected faults) never come here; only exceptions nobody meant to raise do.

Every log registers itself, weakly, so a test harness can check every sandbox alive in the process without each
fixture having to remember (see :mod:`bitrix_inflow.sandboxes.pytest_plugin`). The in-process runners check their
own log when they stop, so a demo or a test that starts a sandbox directly surfaces a bug as well.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import traceback
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("bitrix_inflow.sandboxes")

_RECORDED = "_sandbox_bug_recorded"
_live: weakref.WeakSet[BugLog] = weakref.WeakSet()
_live_lock = threading.Lock()


@dataclass(frozen=True)
class Bug:
    sandbox: str
    where: str  # "POST /api/v1/orders" or the background activity
    error: str  # "KeyError: ('key', 'k-1')"
    traceback: str
    at: str  # RFC 3339, UTC

    def document(self) -> dict[str, Any]:
        return {"where": self.where, "error": self.error, "traceback": self.traceback, "at": self.at}


class SandboxBugs(AssertionError):
    """Sandboxes recorded unexpected exceptions; the message carries every traceback.

    An AssertionError so that pytest reports the test as failed on the sandbox's account, not as a harness error.
    """

    def __init__(self, bugs: list[Bug]) -> None:
        self.bugs = bugs
        parts = [
            f"{len(bugs)} unexpected sandbox exception(s), that is sandbox bugs"
            " (one in a request answered 500, which a client under test may have retried):"
        ]
        for bug in bugs:
            parts.append(f"\n--- {bug.sandbox} sandbox, {bug.where} ({bug.at}): {bug.error}\n{bug.traceback}")
        super().__init__("\n".join(parts))


class BugLog:
    """The unexpected exceptions of one sandbox, from request handlers, background tasks and threads."""

    def __init__(self, sandbox: str) -> None:
        self.sandbox = sandbox
        self._bugs: list[Bug] = []
        self._lock = threading.Lock()  # request handlers, background tasks and threads all record here
        with _live_lock:
            _live.add(self)

    def record(self, where: str, exc: BaseException) -> None:
        log.error("%s sandbox bug in %s", self.sandbox, where, exc_info=exc)
        bug = Bug(
            sandbox=self.sandbox,
            where=where,
            error=f"{type(exc).__name__}: {exc}",
            traceback="".join(traceback.format_exception(exc)),
            at=dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        )
        with self._lock:
            self._bugs.append(bug)

    def record_request(self, method: str, path: str, exc: BaseException) -> None:
        """An exception while serving a request: recorded once, however many layers see it go by.

        The app's catch-all handler records before it answers, so the client's 500 never arrives ahead of the
        record (a test could end in between); RecordBugs then sees the same exception re-raised.
        """
        if isinstance(exc, ClientDisconnect) or getattr(exc, _RECORDED, False):
            return  # a client hanging up mid-body is no bug
        with contextlib.suppress(AttributeError):  # an exception type with __slots__ cannot be marked
            setattr(exc, _RECORDED, True)
        self.record(f"{method} {path}", exc)

    def bugs(self) -> list[Bug]:
        with self._lock:
            return list(self._bugs)

    def take(self) -> list[Bug]:
        """The bugs so far, forgotten here: a bug is reported once, to whoever checks first."""
        with self._lock:
            taken, self._bugs = self._bugs, []
        return taken

    def check(self) -> None:
        bugs = self.take()
        if bugs:
            raise SandboxBugs(bugs)

    def guard(self, where: str, action: Callable[[], None]) -> None:
        """Run one step of a background thread; a bug is recorded and the thread goes on with the next step."""
        try:
            action()
        except Exception as exc:
            self.record(where, exc)


def add_bugs_note(exc: BaseException, bug_log: BugLog) -> None:
    """Name the sandbox's bugs on an exception already on its way out, which may well be their consequence."""
    bugs = bug_log.take()
    if bugs:
        exc.add_note(str(SandboxBugs(bugs)))


def check_live() -> None:
    """Raise :class:`SandboxBugs` with what every sandbox alive in this process recorded since the last check."""
    with _live_lock:
        logs = list(_live)
    bugs = [bug for bug_log in logs for bug in bug_log.take()]
    if bugs:
        raise SandboxBugs(bugs)


class RecordBugs:
    """Outermost ASGI layer: whatever escapes the app is a sandbox bug, recorded here rather than left to the
    server's log. Most arrive already recorded and answered by the app's catch-all handler (Starlette re-raises
    after answering, so that a server can log); the rest come from layers outside the app, and the server
    answers 500 for them once this returns without a response.
    """

    def __init__(self, app: ASGIApp, bugs: BugLog) -> None:
        self.app = app
        self.bugs = bugs

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            self.bugs.record_request(scope["method"], scope["path"], exc)
