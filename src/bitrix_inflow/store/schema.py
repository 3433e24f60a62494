"""Alembic migrations, run programmatically, and the start-up check that refuses an outdated schema."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import InterfaceError, OperationalError

from bitrix_inflow.errors import DatabaseUnreachableError, SchemaOutdatedError

SCRIPT_LOCATION = "bitrix_inflow.store:migrations"


@contextmanager
def _reachable(engine: Engine) -> Iterator[None]:
    """Turn a failed connect into a message naming ``database.url`` and what to check, without the password."""
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        reason = str(exc.orig or exc).strip().splitlines()[0]
        where = engine.url.render_as_string(hide_password=True)
        raise DatabaseUnreachableError(
            f"database.url: cannot connect to {where}: {reason}. Check that the database server runs and that "
            "the host, port, user, password and database name (or the SQLite file's path) in database.url are right"
        ) from exc


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with _reachable(engine), engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    config = _alembic_config()
    with _reachable(engine), engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def ensure_current(engine: Engine) -> None:
    current, head = current_revision(engine), head_revision()
    if current == head:
        return
    where = engine.url.render_as_string(hide_password=True)
    if current is None:
        raise SchemaOutdatedError(
            f"the database at {where} has no bitrix-inflow schema yet: run `bitrix-inflow db upgrade` first"
        )
    known = {rev.revision for rev in ScriptDirectory.from_config(_alembic_config()).walk_revisions()}
    if current not in known:
        raise SchemaOutdatedError(
            f"the database at {where} is at schema {current}, which this version does not know "
            f"(newer release?); this version needs {head}"
        )
    raise SchemaOutdatedError(
        f"the database at {where} is at schema {current} but this version needs {head}: run `bitrix-inflow db upgrade`"
    )
