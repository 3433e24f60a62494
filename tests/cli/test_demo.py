"""``bitrix-inflow demo`` is the product working: both sandboxes, the service on a SQLite database of its own, the
console with a password made up for the run, customer orders flowing to the warehouse within a minute. The slow
variant starts it the way the README says, ``make demo`` on a fresh clone, and stops it with Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).parents[2]
BANNER = re.compile(
    r"console:\s+(?P<url>http://127\.0\.0\.1:\d+)/console/\s*\n.*sign in:\s+admin / (?P<password>\S+)"
)


def forwarded(database: Path) -> int:
    if not database.exists():
        return 0
    with sqlite3.connect(database) as conn:
        try:
            return int(
                conn.execute("select count(*) from order_bindings where state = 'forwarded'").fetchone()[0]
            )
        except sqlite3.OperationalError:  # the schema is still being made
            return 0


def console_sees_orders(url: str, password: str) -> int:
    with httpx.Client(base_url=url, timeout=10, headers={"Accept-Language": "en"}) as client:
        form = client.get("/console/sign-in")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token, form.text
        signed = client.post(
            "/console/sign-in",
            data={
                "csrf_token": token.group(1),
                "username": "admin",
                "password": password,
                "next": "/console/orders",
            },
            headers={"Origin": url},
        )
        assert signed.status_code == 303, signed.text
        page = client.get("/console/orders").text
    return page.count(">forwarded<")


def watch(process: subprocess.Popen[str], database: Path, *, banner_within: float) -> tuple[str, str, float]:
    """The console's address and password from the banner, and how long after it orders were first forwarded."""
    assert process.stdout is not None
    seen, deadline = "", time.monotonic() + banner_within
    while (match := BANNER.search(seen)) is None:
        assert time.monotonic() < deadline and process.poll() is None, seen
        seen += process.stdout.readline()
    shown = time.monotonic()
    while forwarded(database) == 0:
        assert time.monotonic() - shown < 60, "no order reached the warehouse within 60 s of the banner"
        assert process.poll() is None, "the demo stopped"
        time.sleep(0.5)
    return match["url"], match["password"], time.monotonic() - shown


def stop_with_ctrl_c(process: subprocess.Popen[str], *, under_make: bool = False) -> None:
    """Ctrl-C as a terminal sends it, to the whole process group: the demo stops cleanly (make itself reports the
    interrupt, as it does for any command it ran)."""
    os.killpg(process.pid, signal.SIGINT)
    out, _ = process.communicate(timeout=60)
    assert process.returncode in ((0, -signal.SIGINT, 2, 130) if under_make else (0,)), out[-3000:]
    assert "demo stopped" in out and "Traceback" not in out and "ERROR" not in out, out[-3000:]


def test_the_demo_forwards_orders_and_its_console_shows_them(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "bitrix_inflow", "demo", "--port", "0", "--rate", "3"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        url, password, _ = watch(process, tmp_path / "var" / "demo" / "state.db", banner_within=60)
        assert console_sees_orders(url, password) >= 1
    finally:
        if process.poll() is None:
            stop_with_ctrl_c(process)


@pytest.mark.soak
def test_make_demo_on_a_fresh_clone_shows_orders_flowing_within_a_minute(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    process = subprocess.Popen(
        ["make", "demo", "DEMO_ARGS=--port 0 --rate 3"],
        cwd=clone,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        # The first `make demo` installs what it needs from the lock file first.
        url, password, after = watch(process, clone / "var" / "demo" / "state.db", banner_within=900)
        assert after < 60
        assert console_sees_orders(url, password) >= 1
    finally:
        if process.poll() is None:
            stop_with_ctrl_c(process, under_make=True)
