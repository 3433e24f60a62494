"""Structured logging: JSON lines in ``serve``, readable lines in a terminal, secrets never printed.

Standard-library loggers (uvicorn, httpx, alembic) are routed through the same processors, so the redaction covers
them too: an httpx line with a Bitrix webhook URL (whose path holds the webhook's secret code) is blanked as well.
"""

from __future__ import annotations

import io
import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
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


def configure(
    *, level: str = "info", fmt: Literal["auto", "json", "console"] = "auto", secrets: Iterable[str] = ()
) -> None:
    """Set up structlog and the standard library logging once per process."""
    redactor.add(secrets)
    json_output = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.processors.format_exc_info if json_output else structlog.dev.set_exc_info,
        redactor,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json_output
        else structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=_redacted_traceback
        )
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
