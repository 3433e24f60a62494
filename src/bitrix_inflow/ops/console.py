"""The console's people and their sign-in: passwords kept as slow salted hashes (scrypt), a name locked for a while
after repeated failures, sessions as random tokens of which the database keeps only a hash."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
import threading
from dataclasses import dataclass

from sqlalchemy import Connection, Engine

from bitrix_inflow.errors import ValidationError
from bitrix_inflow.store import console as store
from bitrix_inflow.timing import Clock

# scrypt at N=2^15, r=8 (32 MiB, about 0.1 s a try here): a stolen table is slow to guess at.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
MIN_PASSWORD = 10
LOCK_AFTER = 5
LOCK_FOR = dt.timedelta(minutes=5)
SESSION_LIFETIME = dt.timedelta(hours=8)
USERNAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, maxmem=64 * 1024 * 1024, dklen=32
    )
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def password_matches(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        computed = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=64 * 1024 * 1024,
            dklen=32,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(computed, base64.b64decode(digest))


# Checked against when the name is unknown, so a wrong name costs the same time as a wrong password.
_DECOY = hash_password("decoy-password", salt=b"\0" * 16)


def check_new_password(username: str, password: str) -> None:
    if not USERNAME.fullmatch(username):
        raise ValidationError("username", "1 to 64 letters, digits or . _ @ -", "choose another sign-in name")
    if len(password) < MIN_PASSWORD:
        raise ValidationError(
            "password",
            f"{len(password)} characters, at least {MIN_PASSWORD} are needed",
            "choose a longer one",
        )
    if password.strip() != password:
        raise ValidationError("password", "starts or ends with a space", "leave out the spaces around it")


def set_password(
    engine: Engine, username: str, password: str, *, clock: Clock, actor: str, connection_id: str = "default"
) -> bool:
    """The person's password (created when new: True), a person of ``connection_id``'s console. Every browser signed
    in as that person is signed out."""
    check_new_password(username, password)
    hashed = hash_password(password)
    with engine.begin() as conn:
        now = clock.now()
        before = store.user_named(conn, username)
        if before is not None and before.connection_id != connection_id:
            raise ValidationError(
                "username",
                f"{username!r} signs in to another pair's console",
                "choose another name for this pair's person (names are unique across pairs)",
            )
        created = store.set_password(conn, username, hashed, now=now, connection_id=connection_id)
        store.audit(
            conn,
            actor=actor,
            action="user.password",
            target=username,
            detail={"created": created},
            connection_id=connection_id,
            now=now,
        )
    return created


def generated_password() -> str:
    """A password for the demo and first installs: 16 characters from an alphabet without look-alikes."""
    alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(16))


@dataclass(frozen=True)
class SignIn:
    token: str | None  # the cookie's value when signed in
    why: str = ""  # wrong | locked | busy (never which of name and password was wrong)
    until: dt.datetime | None = None


# scrypt takes 32 MiB and a tenth of a second: a few at once, so a flood of sign-ins cannot starve the web app.
_HASHING = threading.BoundedSemaphore(3)


def sign_in(
    engine: Engine,
    username: str,
    password: str,
    *,
    clock: Clock,
    client: str = "",
    connection_id: str = "default",
) -> SignIn:
    """Sign in to ``connection_id``'s console: another pair's person is refused exactly like an unknown name."""
    if not _HASHING.acquire(timeout=2):
        return SignIn(None, "busy")
    try:
        return _sign_in(engine, username, password, clock=clock, client=client, connection_id=connection_id)
    finally:
        _HASHING.release()


def _sign_in(
    engine: Engine, username: str, password: str, *, clock: Clock, client: str, connection_id: str
) -> SignIn:
    now = clock.now()
    with engine.begin() as conn:
        user = store.user_named(conn, username)
        if user is not None and user.connection_id != connection_id:
            user = None
        counted = user is not None and store.claim_attempt(conn, user.id, now=now)
    if user is None:
        password_matches(password, _DECOY)
        with engine.begin() as conn:
            _signed(conn, username, "sign_in.failed", client=client, connection_id=connection_id, now=now)
        return SignIn(None, "wrong")
    if not counted:
        return SignIn(None, "locked", user.locked_until)
    if not password_matches(password, user.password_hash):
        with engine.begin() as conn:
            store.lock_if_too_many(conn, user.id, lock_after=LOCK_AFTER, lock_for=LOCK_FOR, now=now)
            _signed(conn, username, "sign_in.failed", client=client, connection_id=connection_id, now=now)
        return SignIn(None, "wrong")
    token = secrets.token_urlsafe(32)
    with engine.begin() as conn:
        store.record_success(conn, user.id)
        store.purge_sessions(conn, now=now)
        store.open_session(
            conn,
            user.id,
            token_hash=token_hash(token),
            csrf_token=secrets.token_urlsafe(32),
            now=now,
            lifetime=SESSION_LIFETIME,
        )
        _signed(conn, username, "sign_in", client=client, connection_id=connection_id, now=now)
    return SignIn(token)


def _signed(
    conn: Connection, username: str, action: str, *, client: str, connection_id: str, now: dt.datetime
) -> None:
    """A sign-in tried at ``connection_id``'s console, in its audit (the name as typed, cut to the column)."""
    store.audit(
        conn,
        actor=username[:100],
        action=action,
        detail={"client": client},
        connection_id=connection_id,
        now=now,
    )


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def session_of(engine: Engine, token: str, *, clock: Clock, connection_id: str) -> store.Session | None:
    """The live session a cookie names in ``connection_id``'s console, kept alive by its use (another pair's session
    is no session here)."""
    now = clock.now()
    hashed = token_hash(token)
    with engine.begin() as conn:
        found = store.session(conn, hashed, now=now)
        if found is not None and found.user.connection_id != connection_id:
            return None
        if found is not None:
            store.touch_session(conn, hashed, now=now, lifetime=SESSION_LIFETIME)
    return found


def sign_out(engine: Engine, token: str, *, clock: Clock) -> None:
    with engine.begin() as conn:
        found = store.session(conn, token_hash(token), now=clock.now())
        store.close_session(conn, token_hash(token))
        if found is not None:
            store.audit(
                conn,
                actor=found.user.username,
                action="sign_out",
                connection_id=found.user.connection_id,
                now=clock.now(),
            )
