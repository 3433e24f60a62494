"""Logging: who reads a process's lines decides their form and level; secrets are blanked in every form."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from bitrix_inflow import log

SECRET = "wms-api-key-777777"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The root handler's output; the logging set-up is put back afterwards for the tests that follow."""
    stream = io.StringIO()
    yield stream
    log.configure(level="info", fmt="auto")


def configured(stream: io.StringIO, **options: object) -> None:
    log.configure(secrets=[SECRET], **options)  # type: ignore[arg-type]
    logging.getLogger().handlers[0].setStream(stream)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("audience", "terminal", "expected"),
    [
        (log.SERVICE, False, ("info", "json")),
        (log.SERVICE, True, ("info", "console")),
        (log.COMMAND, False, ("info", "json")),
        (log.COMMAND, True, ("warning", "console")),
        (log.SHOWCASE, False, ("warning", "console")),
        (log.SHOWCASE, True, ("warning", "console")),
    ],
)
def test_auto_suits_the_audience_and_whether_a_terminal_watches(
    audience: log.Audience, terminal: bool, expected: tuple[str, str]
) -> None:
    assert log.resolve("auto", "auto", audience, terminal=terminal) == expected


@pytest.mark.parametrize("audience", [log.SERVICE, log.COMMAND, log.SHOWCASE])
@pytest.mark.parametrize("terminal", [False, True])
def test_what_the_operator_configured_wins(audience: log.Audience, terminal: bool) -> None:
    assert log.resolve("debug", "json", audience, terminal=terminal) == ("debug", "json")
    assert log.resolve("error", "console", audience, terminal=terminal) == ("error", "console")


def test_console_lines_are_readable_and_carry_no_secret(captured: io.StringIO) -> None:
    configured(captured, level="info", fmt="console")
    structlog.get_logger("test").warning("job.retry", job_id=7, api_key=SECRET, url=f"https://w/?k={SECRET}")
    logging.getLogger("httpx").info("HTTP Request: GET https://w/stock?key=%s", SECRET)
    lines = captured.getvalue().splitlines()
    assert len(lines) == 2 and SECRET not in captured.getvalue()
    assert "job.retry" in lines[0] and "job_id=7" in lines[0] and "api_key=***" in lines[0]
    assert "HTTP Request: GET https://w/stock?key=***" in lines[1]
    assert not any(line.lstrip().startswith("{") for line in lines)


def test_a_command_in_a_pipe_still_gives_the_collector_json_at_info(captured: io.StringIO) -> None:
    configured(captured, audience=log.COMMAND)  # pytest's stderr is not a terminal
    structlog.get_logger("test").info("ops.job_retried", job_id=3, actor="cli:alice", token=SECRET)
    (line,) = captured.getvalue().splitlines()
    assert json.loads(line) | {"timestamp": None} == {
        "event": "ops.job_retried",
        "job_id": 3,
        "actor": "cli:alice",
        "token": "***",
        "level": "info",
        "logger": "test",
        "timestamp": None,
    }


def test_the_demo_keeps_quiet_unless_something_is_wrong(captured: io.StringIO) -> None:
    configured(captured, audience=log.SHOWCASE)
    logging.getLogger("httpx").info("HTTP Request: GET http://127.0.0.1:1/api/v1/stock")
    structlog.get_logger("bitrix_inflow.jobs").info("job.done", job_id=1)
    structlog.get_logger("bitrix_inflow.jobs").error("job.dead", job_id=2)
    (line,) = captured.getvalue().splitlines()
    assert "job.dead" in line and "job_id=2" in line
