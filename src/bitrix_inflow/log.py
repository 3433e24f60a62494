"""Structured logging: JSON lines for a log collector, readable lines for a person, secrets never printed.

Standard-library loggers (uvicorn, httpx, alembic) are routed through the same processors, so the redaction covers
them too: an httpx line with a Bitrix webhook URL (whose path holds the webhook's secret code) is blanked as well.

``[log] level`` and ``format`` default to ``"auto"``: what suits the kind of process (its :class:`Audience`) and
whether a person watches its stderr (a terminal) or a supervisor collects it (anything else).
"""

from __future__ import annotations

import io
import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any, Literal, TextIO

import structlog
from pydantic import SecretStr

REDACTED = "***"
SECRET_KEY_PATTERN = re.compile(
    r"(api[_-]?key|token|secret|password|passwd|authorization|webhook_url|auth)", re.I
)
MIN_SECRET_LENGTH = 4  # shorter values would blank ordinary words


class SecretRedactor:
    """A structlog processor: blanks secret-named fields, SecretStr values and every known secret's clear text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        self._secrets.update(s for s in secrets if len(s) >= MIN_SECRET_LENGTH)

    def scrub_text(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, SecretStr):
            return REDACTED
        if isinstance(value, str):
            return self.scrub_text(value)
        if isinstance(value, dict):
            return {k: REDACTED if _secret_key(k) else self._scrub(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self._scrub(v) for v in value)
        return value

    def __call__(
        self, _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key, value in list(event_dict.items()):
            event_dict[key] = REDACTED if _secret_key(key) and value is not None else self._scrub(value)
        return event_dict


def _secret_key(key: object) -> bool:
    return isinstance(key, str) and bool(SECRET_KEY_PATTERN.search(key))


redactor = SecretRedactor()


def _redacted_traceback(sio: TextIO, exc_info: Any) -> None:
    """Console tracebacks are rendered after the processors ran, so they are scrubbed here.

    Plain text on purpose: structlog's default rich traceback prints every frame's locals, settings objects and
    headers included.
    """
    buffer = io.StringIO()
    structlog.dev.plain_traceback(buffer, exc_info)
    sio.write(redactor.scrub_text(buffer.getvalue()))


Format = Literal["auto", "json", "console"]
Rendering = Literal["json", "console"]


@dataclass(frozen=True)
class Audience:
    """What ``"auto"`` resolves to for one kind of process, in a terminal and elsewhere."""

    level_in_terminal: str
    level_elsewhere: str
    format_elsewhere: Rendering = "json"


# `serve` narrates its work at info: as JSON for the supervisor's collector, as readable lines in a terminal.
SERVICE = Audience(level_in_terminal="info", level_elsewhere="info")
# A one-shot command's printed report is its answer: in a terminal only what went wrong is logged beside it; run
# from cron or a script, every line still reaches the collector as JSON.
COMMAND = Audience(level_in_terminal="warning", level_elsewhere="info")
# The demo is read by a person even when its output is piped into a file or a test: readable and quiet always.
SHOWCASE = Audience(level_in_terminal="warning", level_elsewhere="warning", format_elsewhere="console")


def resolve(level: str, fmt: Format, audience: Audience, *, terminal: bool) -> tuple[str, Rendering]:
    """The level and rendering to use; explicit settings win over the audience's ``"auto"``."""
    if level == "auto":
        level = audience.level_in_terminal if terminal else audience.level_elsewhere
    if fmt == "auto":
        return level, "console" if terminal else audience.format_elsewhere
    return level, fmt


def configure(
    *,
    level: str = "auto",
    fmt: Format = "auto",
    secrets: Iterable[str] = (),
    audience: Audience = SERVICE,
) -> None:
    """Set up structlog and the standard library logging once per process."""
    redactor.add(secrets)
    terminal = sys.stderr.isatty()
    level, rendering = resolve(level, fmt, audience, terminal=terminal)
    json_output = rendering == "json"
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        # A person reads wall-clock seconds; a collector wants exact UTC to order lines from many machines.
        structlog.processors.TimeStamper(fmt="iso", utc=True)
        if json_output
        else structlog.processors.TimeStamper(fmt="%Y-%m-%d %H:%M:%S", utc=False),
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.processors.format_exc_info if json_output else structlog.dev.set_exc_info,
        redactor,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json_output
        else structlog.dev.ConsoleRenderer(colors=terminal, exception_formatter=_redacted_traceback)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Access logs of every request would drown the signal; warnings and errors still come through.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # Alembic narrates every schema check at INFO; `db upgrade` reports the outcome itself.
    logging.getLogger("alembic").setLevel(logging.WARNING)
