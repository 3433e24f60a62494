"""Every console page and action refuses anonymous and cross-site requests and changes nothing; forms that are
too big, of another type or not UTF-8 are 4xx; the webhooks are size- and rate-limited. The routes are read from the
app itself, so a page added later is covered without touching this file."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import Engine, func, select

from bitrix_inflow.jobs import queue
from bitrix_inflow.jobs.model import JobStatus
from bitrix_inflow.store.tables import console_audit, console_users
from bitrix_inflow.timing import SystemClock
from bitrix_inflow.web.console import ROUTERS
from bitrix_inflow.web.limits import RateLimit
from web_app import serve

from .conftest import Site, csrf_of, same_origin

CLOCK = SystemClock()


def console_routes(method: str) -> list[str]:
    found = [
        re.sub(r"\{[^}]+\}", "1", route.path)
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute) and method in route.methods
    ]
    assert found, f"no {method} routes under /console"
    return sorted(set(found))


PAGES = [p for p in console_routes("GET") if p != "/console/sign-in"]
ACTIONS = console_routes("POST")


def dead_job(engine: Engine) -> int:
    with engine.begin() as conn:
        job_id = queue.enqueue(conn, "sync.order", {}, now=CLOCK.now()).job_id
    job = queue.claim(engine, "w", now=CLOCK.now(), lease=dt.timedelta(seconds=30))
    assert job is not None
    assert queue.mark_dead(engine, job, "w", now=CLOCK.now(), error="PermanentError: planted")
    return job_id


def snapshot(engine: Engine, job_id: int) -> tuple[object, ...]:
    with engine.connect() as conn:
        job = queue.get(conn, job_id)
        audits = conn.execute(select(func.count()).select_from(console_audit)).scalar_one()
        languages = tuple(conn.execute(select(console_users.c.language)).scalars())
    assert job is not None
    return (job.status, job.attempts, audits, languages)


@pytest.mark.parametrize("path", PAGES)
def test_every_page_sends_an_anonymous_visitor_to_sign_in(site: Site, path: str) -> None:
    with site.client() as client:
        answer = client.get(path)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/console/sign-in?next=")


@pytest.mark.parametrize("path", ACTIONS)
def test_every_action_refuses_an_anonymous_request_and_changes_nothing(site: Site, path: str) -> None:
    job_id = dead_job(site.engine)
    before = snapshot(site.engine, job_id)
    with site.client() as client:
        answer = client.post(
            path,
            data={
                "csrf_token": "x",
                "action": "retry",
                "job": str(job_id),
                "language": "ru",
                "way": "dismiss",
            },
            headers=same_origin(site.url),
        )
    assert answer.status_code == 403
    after = snapshot(site.engine, job_id)
    assert after[:2] == before[:2] and after[3] == before[3]


@pytest.fixture
def signed_in(site: Site) -> Iterator[tuple[httpx.Client, str]]:
    with site.signed_in() as client:
        token = csrf_of(client.get("/console/jobs").text)
        yield client, token


CROSS_SITE = {
    "another origin": {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    "another origin, no fetch metadata": {"Origin": "https://evil.example"},
    "same origin said, cross-site fetched": {"Sec-Fetch-Site": "cross-site"},
    "no origin at all": {},
}


@pytest.mark.parametrize("path", [p for p in ACTIONS if p != "/console/sign-in"])
@pytest.mark.parametrize("how", sorted(CROSS_SITE))
def test_every_action_refuses_a_cross_site_request_and_changes_nothing(
    site: Site, signed_in: tuple[httpx.Client, str], path: str, how: str
) -> None:
    client, token = signed_in
    job_id = dead_job(site.engine)
    before = snapshot(site.engine, job_id)
    headers = dict(CROSS_SITE[how])
    if how == "same origin said, cross-site fetched":
        headers["Origin"] = site.url
    data = {"csrf_token": token, "action": "retry", "job": str(job_id), "language": "ru", "way": "dismiss"}
    answer = client.post(path, data=data, headers=headers)
    assert answer.status_code == 403, answer.text
    assert snapshot(site.engine, job_id) == before


@pytest.mark.parametrize("path", [p for p in ACTIONS if p != "/console/sign-in"])
@pytest.mark.parametrize("token", ["", "stale-or-forged"])
def test_every_action_refuses_a_missing_or_wrong_csrf_token(
    site: Site, signed_in: tuple[httpx.Client, str], path: str, token: str
) -> None:
    client, _ = signed_in
    job_id = dead_job(site.engine)
    before = snapshot(site.engine, job_id)
    data = {"action": "retry", "job": str(job_id), "language": "ru", "way": "dismiss"}
    if token:
        data["csrf_token"] = token
    answer = client.post(path, data=data, headers=same_origin(site.url))
    assert answer.status_code == 403
    assert snapshot(site.engine, job_id) == before


def test_the_right_token_from_the_same_origin_is_what_acts(
    site: Site, signed_in: tuple[httpx.Client, str]
) -> None:
    """The control of the tests above: the same request, done right, retries the job."""
    client, token = signed_in
    job_id = dead_job(site.engine)
    answer = client.post(
        "/console/jobs",
        data={"csrf_token": token, "action": "retry", "job": str(job_id)},
        headers=same_origin(site.url),
    )
    assert answer.status_code == 200
    with site.engine.connect() as conn:
        job = queue.get(conn, job_id)
    assert job is not None and job.status == JobStatus.QUEUED


def test_a_form_too_big_of_another_type_or_not_utf8_is_a_4xx(
    site: Site, signed_in: tuple[httpx.Client, str]
) -> None:
    client, token = signed_in
    big = client.post(
        "/console/jobs",
        content=f"csrf_token={token}&action=retry&pad=" + "x" * (70 * 1024),
        headers={**same_origin(site.url), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert big.status_code == 413
    as_json = client.post(
        "/console/jobs", json={"csrf_token": token, "action": "retry"}, headers=same_origin(site.url)
    )
    assert as_json.status_code == 415
    latin1 = client.post(
        "/console/jobs",
        content=b"csrf_token=" + token.encode() + b"&action=\xff\xfe",
        headers={**same_origin(site.url), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert latin1.status_code == 400


def test_console_pages_forbid_framing_and_foreign_scripts(
    site: Site, signed_in: tuple[httpx.Client, str]
) -> None:
    client, _ = signed_in
    page = client.get("/console/")
    policy = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"


def test_webhooks_refuse_oversized_bodies_and_floods(engine: Engine) -> None:
    for url in serve(
        engine,
        inflow_webhook_secret="s3cret",
        bitrix_application_token="t0ken",
        hook_limit=RateLimit(rate=0.01, burst=3),
    ):
        with httpx.Client(base_url=url, timeout=30) as client:
            huge = client.post("/hooks/inflow", content=b"{" + b" " * (2 * 1024 * 1024) + b"}")
            assert huge.status_code == 413
            big_event = client.post("/hooks/bitrix", content=b"event=x&pad=" + b"y" * (100 * 1024))
            assert big_event.status_code == 413
            statuses = [
                client.post("/hooks/bitrix", content=b"event=ONSALEORDERSAVED").status_code for _ in range(3)
            ]
            assert 429 in statuses and statuses[-1] == 429
            flood = client.post("/hooks/bitrix", content=b"event=ONSALEORDERSAVED")
            assert flood.status_code == 429 and int(flood.headers["retry-after"]) >= 1


def test_a_token_or_signature_with_other_characters_is_refused_not_a_crash(
    site: Site, signed_in: tuple[httpx.Client, str], engine: Engine
) -> None:
    client, _ = signed_in
    answer = client.post(
        "/console/jobs", data={"csrf_token": "é", "action": "retry"}, headers=same_origin(site.url)
    )
    assert answer.status_code == 403
    for url in serve(engine, inflow_webhook_secret="s3cret"):
        hook = httpx.post(
            f"{url}/hooks/inflow",
            content=b"{}",
            headers={"X-Inflow-Signature": "sha256=é".encode()},
            timeout=10,
        )
        assert hook.status_code == 401


def test_a_malformed_console_address_is_a_page_in_the_persons_language(
    site: Site, signed_in: tuple[httpx.Client, str]
) -> None:
    client, _ = signed_in
    answer = client.get("/console/incidents/not-a-number", headers={"Accept-Language": "ru"})
    assert answer.status_code == 400 and "консоль не создаёт такой адрес" in answer.text
    refused = client.post(
        "/console/jobs",
        data={"action": "retry"},
        headers={"Origin": "https://evil.example", "Accept-Language": "ru"},
    )
    assert refused.status_code == 403 and "запрос" in refused.text and "другого сайта" in refused.text
