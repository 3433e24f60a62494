"""Fixtures shared by the whole suite: a fresh, migrated database on SQLite and (when asked) on PostgreSQL.

PostgreSQL runs when ``BITRIX_INFLOW_TEST_PG`` holds an admin URL (``.ci/run`` starts a cluster and sets it). A run
that asked for PostgreSQL and cannot reach it fails; it never silently falls back to SQLite only. A run that sets
``BITRIX_INFLOW_REQUIRE_PG=1`` (``.ci/run`` does) fails every PostgreSQL test instead of skipping it when the URL is
missing, so losing the database on the way cannot turn into a green run that tested SQLite alone.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from bitrix_inflow.store import schema
from bitrix_inflow.store.engine import make_engine, normalise_url

# An unexpected exception in any sandbox fails the test during which it happened (a client under test would
# otherwise retry the 500 and pass over the sandbox bug).
pytest_plugins = ["pytester", "bitrix_inflow.sandboxes.pytest_plugin"]

# The suite's own helpers (sandbox_env, web_app) are plain modules beside this file; with --import-mode=importlib
# the tests folder is not on the path by itself.
sys.path.insert(0, str(Path(__file__).parent))

PG_ENV = "BITRIX_INFLOW_TEST_PG"
REQUIRE_PG_ENV = "BITRIX_INFLOW_REQUIRE_PG"


def _pg_admin_url() -> str | None:
    return os.environ.get(PG_ENV) or None


def _pg_required() -> bool:
    return os.environ.get(REQUIRE_PG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def pytest_sessionstart(session: pytest.Session) -> None:
    url = _pg_admin_url()
    if url is None:
        return
    try:
        admin = create_engine(normalise_url(url), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
        admin.dispose()
    except Exception as exc:
        raise pytest.UsageError(
            f"{PG_ENV} is set to {url!r} but PostgreSQL cannot be reached: {exc}"
        ) from exc


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A brand-new PostgreSQL database for one test, dropped afterwards."""
    admin_url = _pg_admin_url()
    if admin_url is None:
        if _pg_required():
            pytest.fail(f"{REQUIRE_PG_ENV} is set but {PG_ENV} is not: this run must test on PostgreSQL")
        pytest.skip(f"PostgreSQL tests run when {PG_ENV} is set (make test does it in .ci/run)")
    name = f"bi_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalise_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(normalise_url(admin_url)).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each supported backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated database, ready for the service."""
    eng = make_engine(db_url)
    schema.upgrade(eng)
    yield eng
    eng.dispose()
