"""The error taxonomy every adapter and job handler speaks.

The job engine decides what happens to a job from the *type* of the exception a handler raises
(OCA connector style), never from message text:

* ``TransientError``   → retry later with exponential backoff and jitter, until the attempts run out;
* ``RateLimitedError`` → retry after the wait the remote system asked for (``Retry-After``);
* ``PermanentError``   → no retry: the job goes ``dead`` at once with the reason kept for an operator;
* ``NothingToDo``      → the job is ``done``; there was nothing left to do (already applied, superseded).

Any other exception is a bug in our code: treated as transient (it may be a race) but logged with its traceback.

This module is the one home of the service's exception classes. Each adapter refines the taxonomy with subclasses
that carry what a caller acts on (``adapters.inflow.problems``, ``adapters.bitrix.errors``), so no caller ever
decides on an error's *text*.
"""

from __future__ import annotations

from dataclasses import dataclass


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


# -- the service's own state ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfigProblem:
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


class ConfigError(IntegrationError):
    """The configuration cannot be used; lists every problem at once, each naming its key and the fix."""

    def __init__(self, source: str, problems: list[ConfigProblem]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"{len(problems)} problem(s) in the configuration ({source}):\n{lines}")


class SchemaOutdatedError(PermanentError):
    """The database is behind (or ahead of) the code; the service must not start on it."""


class DatabaseUnreachableError(PermanentError):
    """The configured database cannot be opened; nothing that needs it can start."""


class JobStateError(ConflictError):
    """An operator asked for something the job's state does not allow; the message says why."""


class LeaseLostError(Exception):
    """The job was re-queued while this worker still held it; its transaction must not commit.

    Deliberately not an :class:`IntegrationError`: it must pass through a handler's ``except IntegrationError``
    untouched, up to the worker, which discards the attempt.
    """
