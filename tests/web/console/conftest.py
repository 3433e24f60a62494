"""The console on a real uvicorn server on loopback, with a signed-up operator, and an HTTP client that behaves as
the console's own page does (same-origin headers, the form's CSRF token)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import Engine

from bitrix_inflow.config import Settings
from bitrix_inflow.ops import console as people
from bitrix_inflow.timing import SystemClock
from bitrix_inflow.web.console import Console
from web_app import serve

PASSWORD = "correct horse battery"
CLOCK = SystemClock()


@dataclass
class Site:
    url: str
    engine: Engine

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, follow_redirects=False)

    @contextmanager
    def signed_in(self, username: str = "operator", password: str = PASSWORD) -> Iterator[httpx.Client]:
        client = self.client()
        form = client.get("/console/sign-in")
        token = csrf_of(form.text)
        answer = client.post(
            "/console/sign-in",
            data={"csrf_token": token, "username": username, "password": password, "next": "/console/"},
            headers=same_origin(self.url),
        )
        assert answer.status_code == 303, answer.text
        try:
            yield client
        finally:
            client.close()


def same_origin(url: str) -> dict[str, str]:
    return {"Origin": url, "Sec-Fetch-Site": "same-origin"}


def seen_of(page: str) -> str:
    """The version of the table a form was shown with (its save is refused once someone saved another)."""
    found = re.search(r'name="seen" value="([0-9]+)"', page)
    assert found, "the page has no table version"
    return found.group(1)


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


@pytest.fixture
def site(engine: Engine) -> Iterator[Site]:
    people.set_password(engine, "operator", PASSWORD, clock=CLOCK, actor="test")
    console = Console(engine, CLOCK, default_language="en", settings=Settings())
    for url in serve(engine, console=console):
        yield Site(url, engine)
