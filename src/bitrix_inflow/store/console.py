"""The console's tables: people, signed-in browsers, the audit of what they did, settings changed at run time. The one
home of their SQL; every function runs in the caller's transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from bitrix_inflow.store.sql import dialect_insert
from bitrix_inflow.store.tables import console_audit, console_sessions, console_users, runtime_settings


@dataclass(frozen=True)
class User:
    id: int
    username: str
    connection_id: str
    password_hash: str
    language: str | None
    failed_sign_ins: int
    locked_until: dt.datetime | None


@dataclass(frozen=True)
class Session:
    user: User
    csrf_token: str
    expires_at: dt.datetime


@dataclass(frozen=True)
class AuditEntry:
    id: int
    connection_id: str | None
    at: dt.datetime
    actor: str
    action: str
    target: str
    detail: Mapping[str, Any]


def _user(row: Any) -> User:
    return User(
        id=int(row.id),
        username=row.username,
        connection_id=row.connection_id,
        password_hash=row.password_hash,
        language=row.language,
        failed_sign_ins=int(row.failed_sign_ins),
        locked_until=row.locked_until,
    )


def user_named(conn: Connection, username: str) -> User | None:
    row = conn.execute(select(console_users).where(console_users.c.username == username)).first()
    return _user(row) if row is not None else None


def users(conn: Connection) -> list[User]:
    return [_user(r) for r in conn.execute(select(console_users).order_by(console_users.c.username))]


def set_password(
    conn: Connection, username: str, password_hash: str, *, now: dt.datetime, connection_id: str = "default"
) -> bool:
    """The person's password, the person created when new (True), in ``connection_id``'s console; a new password
    also lifts a lock and signs every browser of that person out. The caller checks the person is that pair's."""
    u = console_users.c
    statement = dialect_insert(conn, console_users).values(
        username=username,
        connection_id=connection_id,
        password_hash=password_hash,
        failed_sign_ins=0,
        created_at=now,
        updated_at=now,
    )
    before = user_named(conn, username)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[u.username],
            set_={
                "password_hash": password_hash,
                "failed_sign_ins": 0,
                "locked_until": None,
                "updated_at": now,
            },
        )
    )
    if before is not None:
        conn.execute(delete(console_sessions).where(console_sessions.c.user_id == before.id))
    return before is None


def set_language(conn: Connection, user_id: int, language: str | None, *, now: dt.datetime) -> None:
    conn.execute(
        update(console_users).where(console_users.c.id == user_id).values(language=language, updated_at=now)
    )


def claim_attempt(conn: Connection, user_id: int, *, now: dt.datetime) -> bool:
    """One more attempt counted before the password is checked, unless the name is locked: parallel guesses are
    each counted (a check then a count would let a burst through). False when locked."""
    u = console_users.c
    done = conn.execute(
        update(console_users)
        .where(u.id == user_id, (u.locked_until.is_(None)) | (u.locked_until <= now))
        .values(failed_sign_ins=u.failed_sign_ins + 1)
    )
    return bool(done.rowcount == 1)


def lock_if_too_many(
    conn: Connection, user_id: int, *, lock_after: int, lock_for: dt.timedelta, now: dt.datetime
) -> None:
    u = console_users.c
    conn.execute(
        update(console_users)
        .where(u.id == user_id, u.failed_sign_ins >= lock_after)
        .values(locked_until=now + lock_for, failed_sign_ins=0)
    )


def record_success(conn: Connection, user_id: int) -> None:
    conn.execute(
        update(console_users)
        .where(console_users.c.id == user_id)
        .values(failed_sign_ins=0, locked_until=None)
    )


def open_session(
    conn: Connection,
    user_id: int,
    *,
    token_hash: str,
    csrf_token: str,
    now: dt.datetime,
    lifetime: dt.timedelta,
) -> None:
    conn.execute(
        console_sessions.insert().values(
            token_hash=token_hash,
            user_id=user_id,
            csrf_token=csrf_token,
            created_at=now,
            seen_at=now,
            expires_at=now + lifetime,
        )
    )


def session(
    conn: Connection, token_hash: str, *, now: dt.datetime, longest: dt.timedelta = dt.timedelta(hours=24)
) -> Session | None:
    """The live session of that token, its person with it; None when unknown, idle past its lifetime, or older
    than ``longest`` however much it is used (a stolen cookie does not last for ever)."""
    s = console_sessions.c
    row = conn.execute(
        select(console_users, s.csrf_token, s.expires_at)
        .join(console_sessions, s.user_id == console_users.c.id)
        .where(s.token_hash == token_hash, s.expires_at > now, s.created_at > now - longest)
    ).first()
    if row is None:
        return None
    return Session(user=_user(row), csrf_token=row.csrf_token, expires_at=row.expires_at)


def touch_session(conn: Connection, token_hash: str, *, now: dt.datetime, lifetime: dt.timedelta) -> None:
    """Seen now: a session ends after ``lifetime`` without use (sliding)."""
    conn.execute(
        update(console_sessions)
        .where(console_sessions.c.token_hash == token_hash)
        .values(seen_at=now, expires_at=now + lifetime)
    )


def close_session(conn: Connection, token_hash: str) -> None:
    conn.execute(delete(console_sessions).where(console_sessions.c.token_hash == token_hash))


def purge_sessions(conn: Connection, *, now: dt.datetime) -> int:
    return int(conn.execute(delete(console_sessions).where(console_sessions.c.expires_at <= now)).rowcount)


def audit(
    conn: Connection,
    *,
    actor: str,
    action: str,
    target: str = "",
    detail: Mapping[str, Any] | None = None,
    connection_id: str | None = None,
    now: dt.datetime,
) -> None:
    conn.execute(
        console_audit.insert().values(
            connection_id=connection_id,
            at=now,
            actor=actor,
            action=action,
            target=target,
            detail=dict(detail or {}),
        )
    )


def audit_trail(
    conn: Connection, *, action_prefix: str | None = None, connection_id: str | None = None, limit: int = 200
) -> list[AuditEntry]:
    a = console_audit.c
    query = select(console_audit).order_by(a.id.desc()).limit(limit)
    if connection_id is not None:
        query = query.where(a.connection_id == connection_id)
    if action_prefix:
        query = query.where(a.action.startswith(action_prefix))
    return [
        AuditEntry(
            id=int(r.id),
            connection_id=r.connection_id,
            at=r.at,
            actor=r.actor,
            action=r.action,
            target=r.target,
            detail=r.detail,
        )
        for r in conn.execute(query)
    ]


def runtime_values(conn: Connection, connection_id: str) -> dict[str, Any]:
    r = runtime_settings.c
    return {
        row.key: row.value
        for row in conn.execute(select(r.key, r.value).where(r.connection_id == connection_id))
    }


def set_runtime_value(
    conn: Connection, connection_id: str, key: str, value: Any, *, actor: str, now: dt.datetime
) -> None:
    r = runtime_settings.c
    statement = dialect_insert(conn, runtime_settings).values(
        connection_id=connection_id, key=key, value=value, updated_at=now, updated_by=actor
    )
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[r.connection_id, r.key],
            set_={"value": value, "updated_at": now, "updated_by": actor},
        )
    )


def clear_runtime_value(conn: Connection, connection_id: str, key: str) -> None:
    r = runtime_settings.c
    conn.execute(delete(runtime_settings).where(r.connection_id == connection_id, r.key == key))


def latest_setting_change(conn: Connection, connection_id: str) -> int:
    """The id of the latest run-time settings change of the connection (0: none): a form shown before is stale."""
    a = console_audit.c
    found = conn.execute(
        select(func.max(a.id)).where(a.connection_id == connection_id, a.action.startswith("setting."))
    ).scalar()
    return int(found or 0)
