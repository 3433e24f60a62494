"""The status mapping editor over HTTP: saved whole, checked against the shop's statuses, audited; a refused table
changes nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from bitrix_inflow.domain.status_mapping import INFLOW_STATUSES
from bitrix_inflow.ops import mapping as ops
from bitrix_inflow.web.console import Console
from web_app import serve

from .conftest import CLOCK, PASSWORD, Site, csrf_of, same_origin, seen_of

SHOP = {
    "N": "Accepted",
    "P": "Paid",
    "Q": "Picking",
    "D": "Shipped",
    "F": "Done",
    "Z": "Cancelled",
    "E": "Error",
}


@pytest.fixture
def shop_site(engine: Engine) -> Iterator[Site]:
    from bitrix_inflow.ops import console as people  # noqa: PLC0415

    people.set_password(engine, "operator", PASSWORD, clock=CLOCK, actor="test")
    for url in serve(
        engine, console=Console(engine, CLOCK, default_language="en", shop_statuses=lambda: SHOP)
    ):
        yield Site(url, engine)


def form_of(table: dict[str, str], page: str) -> dict[str, str]:
    return {
        "csrf_token": csrf_of(page),
        "seen": seen_of(page),
        **{f"status-{s}": table.get(s, "") for s in INFLOW_STATUSES},
    }


def test_the_table_is_saved_whole_and_its_changes_are_audited(shop_site: Site) -> None:
    with shop_site.signed_in() as client:
        page = client.get("/console/mapping")
        assert "E — Error" in page.text, "the shop's statuses are offered by name"
        table = {
            "NEW": "P",
            "PICKING": "Q",
            "PICKING_ERROR": "E",
            "SHIPPED": "D",
            "DELIVERED": "F",
            "CANCELLED": "Z",
        }
        saved = client.post(
            "/console/mapping", data=form_of(table, page.text), headers=same_origin(shop_site.url)
        )
        assert saved.status_code == 303 and saved.headers["location"] == "/console/mapping?saved=true"
        shown = client.get("/console/mapping?saved=true")
        assert "Saved." in shown.text and "console:operator" in shown.text
    entries = {e.inflow_status: e.bitrix_status for e in ops.show(shop_site.engine)}
    assert entries["PICKING_ERROR"] == "E" and entries["ASSIGNED"] is None
    changes = ops.history(shop_site.engine)
    assert any(
        c.inflow_status == "PICKING_ERROR" and c.new == "E" and c.changed_by == "console:operator"
        for c in changes
    )


def test_a_status_the_shop_lacks_refuses_the_whole_table(shop_site: Site) -> None:
    before = ops.show(shop_site.engine)
    with shop_site.signed_in() as client:
        page = client.get("/console/mapping")
        table = {"NEW": "N", "PICKING": "XX", "SHIPPED": "d"}
        refused = client.post(
            "/console/mapping", data=form_of(table, page.text), headers=same_origin(shop_site.url)
        )
    assert refused.status_code == 400
    assert "Nothing was saved" in refused.text and "the shop has no order status &#39;XX&#39;" in refused.text
    assert ops.show(shop_site.engine) == before


def test_without_the_shop_the_ids_are_checked_for_their_form(site: Site) -> None:
    with site.signed_in() as client:
        page = client.get("/console/mapping")
        assert "could not be read now" in page.text
        refused = client.post(
            "/console/mapping",
            data=form_of({"NEW": "TOO-LONG"}, page.text),
            headers=same_origin(site.url),
        )
        assert refused.status_code == 400 and "is not a Bitrix status id" in refused.text


def test_a_table_saved_meanwhile_by_someone_else_refuses_the_older_form(shop_site: Site) -> None:
    with shop_site.signed_in() as anna, shop_site.signed_in() as boris:
        seen_by_anna = anna.get("/console/mapping").text
        seen_by_boris = boris.get("/console/mapping").text
        first = boris.post(
            "/console/mapping",
            data=form_of({"NEW": "P", "SHIPPED": "D"}, seen_by_boris),
            headers=same_origin(shop_site.url),
        )
        assert first.status_code == 303
        stale = anna.post(
            "/console/mapping", data=form_of({"NEW": "N"}, seen_by_anna), headers=same_origin(shop_site.url)
        )
    assert stale.status_code == 409 and "someone changed the table meanwhile" in stale.text
    entries = {e.inflow_status: e.bitrix_status for e in ops.show(shop_site.engine)}
    assert entries["NEW"] == "P" and entries["SHIPPED"] == "D"
