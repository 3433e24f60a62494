"""Any text survives every transport the way PHP decodes it: query string, form body, multipart, JSON, and a
batch command (where form transport needs the command encoded twice)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bitrix_inflow.sandboxes.bitrix import RunningSandbox

# Printable text including the characters that break naive encoders: & = + % [ ] # ? $ and non-ASCII.
TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x00"),
    min_size=1,
    max_size=40,
).filter(lambda s: "$" not in s)  # "$result[...]" would be a batch reference


@pytest.fixture(scope="module")
def order_id(shop: RunningSandbox) -> int:
    return int(shop.control.place_order(random=True)["id"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=TEXT)
def test_comment_round_trips_through_every_transport(
    shop: RunningSandbox, rest: Any, order_id: int, text: str
) -> None:
    url = shop.webhook_url + "sale.order.update"

    def comment_after(response: Any) -> str:
        assert response.status_code == 200, response.text
        return str(response.json()["result"]["order"]["comments"])

    query = urlencode({"id": order_id, "fields[comments]": text})
    assert comment_after(rest.http.get(f"{url}?{query}")) == text
    form = rest.http.post(url, content=query, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert comment_after(form) == text
    multipart = rest.http.post(url, files={"id": (None, str(order_id)), "fields[comments]": (None, text)})
    assert comment_after(multipart) == text
    assert comment_after(rest.http.post(url, json={"id": order_id, "fields": {"comments": text}})) == text

    command = f"sale.order.update?id={order_id}&fields[comments]={quote(text, safe='')}"
    in_json = rest.post("batch", {"cmd": {"u": command}}).json()
    assert in_json["result"]["result"]["u"]["order"]["comments"] == text
    double = urlencode({"cmd[u]": command})
    in_form = rest.http.post(
        shop.webhook_url + "batch",
        content=double,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ).json()
    assert in_form["result"]["result"]["u"]["order"]["comments"] == text
