from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.exc import OperationalError


class FakeClock:
    def __init__(self, start: dt.datetime) -> None:
        self.current = start

    def now(self) -> dt.datetime:
        return self.current

    def monotonic(self) -> float:
        return self.current.timestamp()

    def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))

    def advance(self, seconds: float) -> None:
        self.current += dt.timedelta(seconds=seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC))


class DatabaseOutage:
    """Makes statements fail as if the server had gone away, on either backend, without touching the server.

    Only statements whose SQL contains ``matching`` fail, and only the next ``times`` of them, so a test can aim the
    outage at one step (a claim, an outcome, a heartbeat) and watch the engine ride it out.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.remaining = 0
        self.matching = ""
        self.failed = 0
        event.listen(engine, "before_cursor_execute", self._maybe_fail)

    def arm(self, *, times: int, matching: str = "") -> None:
        self.remaining, self.matching = times, matching

    def _maybe_fail(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if self.remaining > 0 and self.matching in statement:
            self.remaining -= 1
            self.failed += 1
            raise OperationalError(
                statement, None, ConnectionError("server closed the connection unexpectedly")
            )

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._maybe_fail)


@pytest.fixture
def outage(engine: Engine) -> Iterator[DatabaseOutage]:
    fault = DatabaseOutage(engine)
    yield fault
    fault.close()


class Meanwhile:
    """Runs ``action`` on another connection just before the next statement containing ``matching``.

    This is how a test lands a concurrent commit *between* two statements of one transaction, to prove a race on
    PostgreSQL (read committed: each statement sees what committed before it). On SQLite every write transaction
    starts with BEGIN IMMEDIATE, so the other writer would wait for ours: the race cannot happen there.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.pending: list[tuple[str, Callable[[], None]]] = []
        event.listen(engine, "before_cursor_execute", self._maybe_act)

    def arm(self, matching: str, action: Callable[[], None]) -> None:
        self.pending.append((matching, action))

    def _maybe_act(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        for entry in list(self.pending):
            if entry[0] in statement:
                self.pending.remove(entry)
                entry[1]()

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._maybe_act)


@pytest.fixture
def meanwhile(engine: Engine) -> Iterator[Meanwhile]:
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite serialises writers (BEGIN IMMEDIATE): no commit can land inside our transaction")
    hook = Meanwhile(engine)
    yield hook
    hook.close()
