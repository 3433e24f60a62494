"""Signing in and out of the console, the lock after repeated failures, and the language of its pages."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from bitrix_inflow.store.tables import console_audit, console_sessions

from .conftest import PASSWORD, Site, csrf_of, same_origin


def test_a_page_asked_for_without_signing_in_goes_to_the_sign_in_form(site: Site) -> None:
    with site.client() as client:
        answer = client.get("/console/incidents?everything=true")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/console/sign-in?next=/console/incidents?everything=true"
        form = client.get(answer.headers["location"])
        assert form.status_code == 200 and 'name="password"' in form.text


def test_signing_in_opens_the_asked_page_and_signing_out_ends_the_session(site: Site) -> None:
    with site.signed_in() as client:
        page = client.get("/console/")
        assert page.status_code == 200 and "Dashboard" in page.text
        done = client.post(
            "/console/sign-out", data={"csrf_token": csrf_of(page.text)}, headers=same_origin(site.url)
        )
        assert done.status_code == 303
        assert client.get("/console/").status_code == 303, "the session is gone after signing out"
    with site.engine.connect() as conn:
        assert conn.execute(select(console_sessions)).all() == []
        actions = [
            r.action for r in conn.execute(select(console_audit.c.action).order_by(console_audit.c.id))
        ]
    assert actions[-2:] == ["sign_in", "sign_out"]


def test_the_session_cookie_is_http_only_and_strict(site: Site) -> None:
    with site.client() as client:
        form = client.get("/console/sign-in")
        answer = client.post(
            "/console/sign-in",
            data={"csrf_token": csrf_of(form.text), "username": "operator", "password": PASSWORD},
            headers=same_origin(site.url),
        )
    cookie = next(
        v for k, v in answer.headers.multi_items() if k == "set-cookie" and v.startswith("bi_session=")
    )
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie


def test_a_wrong_password_says_nothing_of_which_part_was_wrong_and_five_lock_the_name(site: Site) -> None:
    with site.client() as client:
        for attempt in range(5):
            form = client.get("/console/sign-in")
            wrong = client.post(
                "/console/sign-in",
                data={
                    "csrf_token": csrf_of(form.text),
                    "username": "operator",
                    "password": f"wrong-{attempt}",
                },
                headers=same_origin(site.url),
            )
            assert wrong.status_code == 401 and "Wrong name or password." in wrong.text
        form = client.get("/console/sign-in")
        unknown = client.post(
            "/console/sign-in",
            data={"csrf_token": csrf_of(form.text), "username": "nobody", "password": "whatever-123"},
            headers=same_origin(site.url),
        )
        assert unknown.status_code == 401 and "Wrong name or password." in unknown.text
        form = client.get("/console/sign-in")
        locked = client.post(
            "/console/sign-in",
            data={"csrf_token": csrf_of(form.text), "username": "operator", "password": PASSWORD},
            headers=same_origin(site.url),
        )
        assert locked.status_code == 401 and "Too many failed attempts" in locked.text


def test_the_language_follows_the_browser_then_the_persons_choice(site: Site) -> None:
    with site.client() as anonymous:
        russian = anonymous.get("/console/sign-in", headers={"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"})
        assert "Вход в консоль" in russian.text and '<html lang="ru">' in russian.text
        english = anonymous.get("/console/sign-in", headers={"Accept-Language": "de-DE, en-GB;q=0.8"})
        assert "Sign in to the console" in english.text
    with site.signed_in() as client:
        page = client.get("/console/incidents", headers={"Accept-Language": "en"})
        assert "Nothing waits for a person." in page.text
        chosen = client.post(
            "/console/language",
            data={"csrf_token": csrf_of(page.text), "language": "ru", "back": "/console/incidents"},
            headers={**same_origin(site.url), "Accept-Language": "en"},
        )
        assert chosen.status_code == 303 and chosen.headers["location"] == "/console/incidents"
        again = client.get("/console/incidents", headers={"Accept-Language": "en"})
        assert "Ничто не ждёт решения человека." in again.text, "the person's choice beats the browser's"


def test_every_template_text_has_its_russian(site: Site) -> None:
    del site
    from pathlib import Path  # noqa: PLC0415

    from babel.messages.extract import extract_from_dir  # noqa: PLC0415
    from babel.messages.frontend import parse_mapping_cfg  # noqa: PLC0415

    from bitrix_inflow.web.console.i18n import translations  # noqa: PLC0415

    root = Path(__file__).parents[3]
    with (root / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    ru = translations("ru")
    untranslated = [
        message
        for _, _, message, _, _ in extract_from_dir(
            str(root), method_map, options_map, keywords={"_": None, "N_": None}
        )
        if isinstance(message, str) and ru.gettext(message) == message
    ]
    assert untranslated == [], "run `make messages` and translate these in locale/ru/LC_MESSAGES/console.po"


def test_an_unknown_language_is_refused(site: Site) -> None:
    with site.signed_in() as client:
        page = client.get("/console/")
        answer = client.post(
            "/console/language",
            data={"csrf_token": csrf_of(page.text), "language": "de", "back": "/console/"},
            headers=same_origin(site.url),
        )
        assert answer.status_code == 400
    assert isinstance(answer, httpx.Response)
