"""The error taxonomy every adapter and job handler speaks.

The job engine decides what happens to a job from the *type* of the exception a handler raises
(OCA connector style), never from message text:

* ``TransientError``   → retry later with exponential backoff and jitter, until the attempts run out;
* ``RateLimitedError`` → retry after the wait the remote system asked for (``Retry-After``);
* ``PermanentError``   → no retry: the job goes ``dead`` at once with the reason kept for an operator;
* ``NothingToDo``      → the job is ``done``; there was nothing left to do (already applied, superseded).

Any other exception is a bug in our code: treated as transient (it may be a race) but logged with its traceback.
"""

from __future__ import annotations


class IntegrationError(Exception):
    """Root of all errors bitrix-inflow raises on purpose."""


class TransientError(IntegrationError):
    """A failure that may go away by itself: network trouble, timeouts, 5xx, a lock held elsewhere."""


class RateLimitedError(TransientError):
    """The remote system asked us to slow down; ``retry_after`` is its requested wait in seconds, if it gave one."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(IntegrationError):
    """Retrying the same thing cannot succeed; an operator or a data fix is needed."""


class ValidationError(PermanentError):
    """Bad input: names the field and how to fix it."""

    def __init__(self, field: str, problem: str, fix: str | None = None) -> None:
        self.field = field
        self.problem = problem
        self.fix = fix
        text = f"{field}: {problem}"
        if fix:
            text += f" (fix: {fix})"
        super().__init__(text)


class NotFoundError(PermanentError):
    """The entity does not exist on the remote side."""


class ConflictError(PermanentError):
    """The remote side refuses because of the entity's current state (e.g. cancelling a picked order)."""


class AuthError(PermanentError):
    """Credentials are missing, wrong, expired beyond refresh, or lack a permission."""


class NothingToDo(IntegrationError):
    """Raised by a handler to end its job as done without effect (already applied, superseded, stale)."""
