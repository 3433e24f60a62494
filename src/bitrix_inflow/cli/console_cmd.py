"""``bitrix-inflow console set-password|users``: the web console's people. Passwords are typed (asked twice, not
echoed), read from a file or from standard input, or generated and printed once; they are kept only as scrypt
hashes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from bitrix_inflow.cli.common import (
    EXIT_PROBLEM,
    ConnectionOption,
    console,
    database,
    fail,
    operator,
    settings,
)
from bitrix_inflow.errors import ValidationError
from bitrix_inflow.jobs.queue import DEFAULT_CONNECTION
from bitrix_inflow.ops import console as people
from bitrix_inflow.store import console as store
from bitrix_inflow.timing import SystemClock

app = typer.Typer(
    add_completion=False, help="The web console's people and their passwords.", no_args_is_help=True
)


@app.command("set-password")
def set_password(
    *,
    user: Annotated[str, typer.Option("--user", help="the sign-in name")] = "admin",
    password_file: Annotated[
        Path | None,
        typer.Option("--password-file", help="read the password from this file ('-': standard input)"),
    ] = None,
    generate: Annotated[
        bool, typer.Option("--generate", help="make up a password and print it once")
    ] = False,
    connection: ConnectionOption = DEFAULT_CONNECTION,
) -> None:
    """Set (or create) a console user's password; every browser signed in as them is signed out."""
    if generate and password_file is not None:
        fail("give --generate or --password-file, not both", EXIT_PROBLEM)
    if generate:
        password = people.generated_password()
    elif password_file is not None:
        text = sys.stdin.read() if str(password_file) == "-" else password_file.read_text(encoding="utf-8")
        password = text.rstrip("\r\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        created = people.set_password(
            database(settings(tenant=connection)),
            user,
            password,
            clock=SystemClock(),
            actor=operator(),
            connection_id=connection,
        )
    except ValidationError as exc:
        fail(str(exc), EXIT_PROBLEM)
    where = (
        ""
        if connection == DEFAULT_CONNECTION
        else f" of {connection} (its console: /t/{connection}/console/)"
    )
    console.print(f"{'created' if created else 'changed the password of'} console user {user}{where}")
    if generate:
        # Printed to standard output alone, so a script can take it; nowhere else keeps it.
        print(password)


@app.command("users")
def users() -> None:
    """The console's users, and whether one is locked after failed sign-ins."""
    with database(settings()).connect() as conn:
        found = store.users(conn)
    if not found:
        console.print("no console users yet: bitrix-inflow console set-password --user NAME")
        raise typer.Exit(EXIT_PROBLEM)
    for user in found:
        locked = f" (locked until {user.locked_until:%Y-%m-%d %H:%M} UTC)" if user.locked_until else ""
        pair = "" if user.connection_id == DEFAULT_CONNECTION else f" [{user.connection_id}]"
        console.print(f"{user.username}{pair}{locked}")
