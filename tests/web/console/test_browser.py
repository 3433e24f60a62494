"""The console in a real Chromium: sign in, switch the language, retry a dead job, dismiss an incident; each page's
screenshot kept (var/test-artifacts/screenshots)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from bitrix_inflow.jobs import queue
from bitrix_inflow.jobs.model import JobStatus
from bitrix_inflow.store import incidents as incident_store

from .browser import Shots, chromium, shots
from .conftest import PASSWORD, Site
from .test_security import dead_job

__all__ = ["chromium", "shots"]


@pytest.fixture
def page(chromium: Any, site: Site) -> Iterator[Any]:
    context = chromium.new_context(base_url=site.url, locale="en-US", viewport={"width": 1280, "height": 900})
    try:
        yield context.new_page()
    finally:
        context.close()


def sign_in(page: Any, shots: Shots, *, next_path: str = "/console/") -> None:
    page.goto(next_path)
    page.wait_for_url("**/console/sign-in**")
    shots.take(page, "sign-in")
    page.fill("input[name=username]", "operator")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]:has-text('Sign in')")
    page.wait_for_url(f"**{next_path}")


def test_sign_in_and_switch_the_language(page: Any, shots: Shots) -> None:
    sign_in(page, shots)
    assert page.locator("h1").inner_text() == "Dashboard"
    shots.take(page, "dashboard-en")
    page.click("button[lang=ru]")
    page.wait_for_selector("h1:has-text('Обзор')")
    assert page.locator("html").get_attribute("lang") == "ru"
    shots.take(page, "dashboard-ru")
    page.click("nav a[href='/console/incidents']")
    page.wait_for_selector("h1:has-text('Инциденты')")
    shots.take(page, "incidents-ru")
    page.click("button[lang=en]")
    page.wait_for_selector("h1:has-text('Incidents')")


def test_retry_a_dead_job(page: Any, shots: Shots, site: Site) -> None:
    job_id = dead_job(site.engine)
    sign_in(page, shots, next_path="/console/jobs?status=dead")
    row = page.locator(f"tr[data-job='{job_id}']")
    assert "PermanentError: planted" in row.inner_text()
    shots.take(page, "jobs-dead")
    row.locator("button.retry-one").click()
    page.wait_for_selector(".outcome")
    assert f"Job {job_id}: done" in page.locator(".outcome").inner_text()
    shots.take(page, "jobs-retried")
    with site.engine.connect() as conn:
        job = queue.get(conn, job_id)
    assert job is not None and job.status == JobStatus.QUEUED


def plant_incident(engine: Engine) -> int:
    from bitrix_inflow.sync.incidents.inbox import raise_incident  # noqa: PLC0415
    from bitrix_inflow.timing import SystemClock  # noqa: PLC0415

    with engine.begin() as conn:
        incident_id = raise_incident(
            conn,
            "default",
            1042,
            kind="stuck",
            subject="B-1042-1",
            detail={"ref": "B-1042-1", "since": "2026-12-01", "why": "no movement for 3 days"},
            now=SystemClock().now(),
        )
    assert incident_id is not None
    return incident_id


def test_dismiss_an_incident_after_confirming(page: Any, shots: Shots, site: Site) -> None:
    incident_id = plant_incident(site.engine)
    sign_in(page, shots, next_path="/console/incidents")
    page.click(f"#incidents td:nth-child(2) a[href='/console/incidents/{incident_id}']")
    page.wait_for_selector("#incident-state")
    shots.take(page, "incident")
    page.click("a.way[data-way='dismiss']")
    page.wait_for_selector("#confirm")
    shots.take(page, "confirm")
    page.click("#confirm")
    page.wait_for_selector("#incident-state:has-text('resolved')")
    shots.take(page, "resolved")
    assert "console:operator" in page.locator("#trail").inner_text()
    with site.engine.connect() as conn:
        incident = incident_store.load(conn, incident_id)
    assert incident is not None and incident.state == "resolved"


def test_every_page_in_both_languages_with_its_screenshot(page: Any, shots: Shots, site: Site) -> None:
    """Each page of the navigation opens, in English and in Russian, without an untranslated heading."""
    sign_in(page, shots)
    links = page.locator("nav a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert len(links) == 7
    for language in ("en", "ru"):
        page.click(f"button[lang={language}]")
        page.wait_for_selector(f"html[lang={language}]")
        for href in links:
            page.goto(href)
            heading = page.locator("h1").inner_text()
            assert heading, href
            name = href.strip("/").replace("console", "").strip("/") or "dashboard"
            shots.take(page, f"{name}-{language}")
            if language == "ru":
                assert not any(
                    word in heading for word in ("Dashboard", "Orders", "Incidents", "Jobs", "Settings")
                )


def test_two_people_choosing_for_one_incident_the_second_is_told(site: Site) -> None:
    """A dismiss after someone else's choice changes nothing and says so (no silent double resolution)."""
    from bitrix_inflow.errors import ValidationError  # noqa: PLC0415
    from bitrix_inflow.ops import incidents as ops  # noqa: PLC0415
    from bitrix_inflow.timing import SystemClock  # noqa: PLC0415

    incident_id = plant_incident(site.engine)
    ops.resolve(site.engine, incident_id, "cancel", actor="console:anna", clock=SystemClock())
    with pytest.raises(ValidationError, match=r"being resolved|someone else"):
        ops.resolve(site.engine, incident_id, "dismiss", actor="console:boris", clock=SystemClock())
    with site.engine.connect() as conn:
        incident = incident_store.load(conn, incident_id)
        trail = incident_store.trail(conn, incident_id)
    assert incident is not None and incident.state == "resolving" and incident.resolution is not None
    assert incident.resolution["by"] == "console:anna" and all(e.actor != "console:boris" for e in trail)
