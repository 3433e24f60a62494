"""Two tenants in one deployment: the main file's shop/warehouse pair (``default``) and ``north`` from the tenants
folder, each with its own sandboxes, credentials, mapping and console people, served by one ``serve`` process on one
database. North's credentials, orders, incidents and mapping never reach the default tenant's pages, jobs or logs,
nor the other way round."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import tomli_w
from bench.soak.cluster import Instance
from bench.soak.world import instance_settings
from sqlalchemy import Engine, select

from bitrix_inflow.ops import console as people
from bitrix_inflow.ops import mapping
from bitrix_inflow.sandboxes import wms
from bitrix_inflow.sandboxes.bitrix import SandboxConfig, running_bitrix_sandbox
from bitrix_inflow.sandboxes.wms.auth import AuthSettings
from bitrix_inflow.store import connections, schema
from bitrix_inflow.store import orders as order_store
from bitrix_inflow.store import stock as stock_store
from bitrix_inflow.store.engine import make_engine
from bitrix_inflow.store.tables import console_audit, incidents, jobs
from bitrix_inflow.timing import SystemClock
from bitrix_inflow.web.console.security import SESSION_COOKIE
from waiting import wait_for

CLOCK = SystemClock()
PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class Pair:
    """One tenant's systems and secrets."""

    tenant: str
    api_key: str
    hook_secret: str
    token: str
    webhook_code: str
    mapping: dict[str, str]
    orders: int  # how many orders its shop takes (different, so the ids tell the tenants apart)


MAIN = Pair(
    "default",
    "main0api0key0000000001",
    "main0webhook0secret000000000001",
    "main0application0token00000001",
    "main0webhook0code01",
    {"NEW": "P", "PICKING": "Q", "SHIPPED": "D", "DELIVERED": "F", "CANCELLED": "Z"},
    2,
)
NORTH = Pair(
    "north",
    "north0api0key000000002",
    "north0webhook0secret00000000002",
    "north0application0token0000002",
    "north0webhook0code2",
    # Its own table: forwarded orders show as Q in this shop (P in the other), a picking error as its own status.
    {"NEW": "Q", "PICKING": "Q", "PICKING_ERROR": "E", "SHIPPED": "D", "DELIVERED": "F", "CANCELLED": "Z"},
    3,
)


@dataclass
class Running:
    pair: Pair
    warehouse: Any
    shop: Any


@contextlib.contextmanager
def sandboxes(pair: Pair) -> Iterator[Running]:
    with (
        wms.run_in_process(
            wms.SandboxSettings(
                seed=5, bins=60, qty_min=200, qty_max=300, pace=0, auth=AuthSettings([pair.api_key])
            )
        ) as warehouse,
        running_bitrix_sandbox(
            SandboxConfig(
                profile="site",
                inventory_management=False,
                application_token=pair.token,
                webhook_code=pair.webhook_code,
            )
        ) as shop,
    ):
        shop.control.add_status("E", "Ошибка сборки")
        yield Running(pair, warehouse, shop)


def own_sections(database: str, side: Running) -> dict[str, Any]:
    carriers = {str(row["id"]): str(row["name"]) for row in side.shop.control.entities("deliveries")}
    return instance_settings(database, side.warehouse, side.shop, carriers, workers=2, lease=10)


def environment(main: Running, north: Running) -> dict[str, str]:
    """Each tenant's secrets under its own prefix: north's never in a variable the main file reads."""
    env: dict[str, str] = {}
    for side, prefix in ((main, "BITRIX_INFLOW__"), (north, "BITRIX_INFLOW_TENANT_NORTH__")):
        env |= {
            f"{prefix}INFLOW__API_KEY": side.pair.api_key,
            f"{prefix}INFLOW__WEBHOOK_SECRET": side.pair.hook_secret,
            f"{prefix}BITRIX__APPLICATION_TOKEN": side.pair.token,
            f"{prefix}BITRIX__WEBHOOK_URL": side.shop.webhook_url,
        }
    return env


def linked(engine: Engine, tenant: str) -> list[int]:
    with engine.connect() as conn:
        links = stock_store.load_links(conn, tenant)
    return sorted(link.product_id for link in links.values() if not link.barcode_multi)


def forwarded(engine: Engine, tenant: str, order_ids: list[int]) -> bool:
    with engine.connect() as conn:
        bindings = [order_store.load_binding(conn, tenant, order_id) for order_id in order_ids]
    return all(b is not None and b.state == "forwarded" for b in bindings)


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[tuple[Running, Running, Path, str]]:
    database = f"sqlite:///{tmp_path / 'state.db'}"
    with sandboxes(MAIN) as main, sandboxes(NORTH) as north:
        config = tmp_path / "bitrix-inflow.toml"
        config.write_text(tomli_w.dumps({**own_sections(database, main), "tenants": {"dir": "tenants"}}))
        (tmp_path / "tenants").mkdir()
        north_sections = {
            key: value
            for key, value in own_sections(database, north).items()
            if key not in ("database", "jobs", "log", "web")
        }
        (tmp_path / "tenants" / "north.toml").write_text(tomli_w.dumps(north_sections))
        engine = make_engine(database)
        schema.upgrade(engine)
        with engine.begin() as conn:
            connections.ensure(conn, "north", now=CLOCK.now())
        for side in (main, north):
            mapping.import_table(
                engine, side.pair.mapping, clock=CLOCK, actor="test", connection_id=side.pair.tenant
            )
        people.set_password(engine, "anna", PASSWORD, clock=CLOCK, actor="test", connection_id="default")
        people.set_password(engine, "boris", PASSWORD, clock=CLOCK, actor="test", connection_id="north")
        engine.dispose()
        yield main, north, config, database


def test_a_second_tenants_credentials_orders_incidents_and_mapping_never_reach_the_first(
    deployment: tuple[Running, Running, Path, str], tmp_path: Path
) -> None:
    main, north, config, database = deployment
    engine = make_engine(database)
    instance = Instance("serve", config, environment(main, north), tmp_path / "serve.log")
    instance.start()
    try:
        instance.wait_ready()
        roots = {"default": instance.url, "north": instance.url + "/t/north"}
        placed: dict[str, list[int]] = {}
        for side in (main, north):
            tenant = side.pair.tenant
            with httpx.Client(
                base_url=side.warehouse.api_url, headers={"X-API-Key": side.pair.api_key}
            ) as api:
                api.post(
                    "/webhooks",
                    json={
                        "url": roots[tenant] + "/hooks/inflow",
                        "events": ["order.status_changed"],
                        "secret": side.pair.hook_secret,
                    },
                ).raise_for_status()
            side.shop.control.configure_events(handler_url=roots[tenant] + "/hooks/bitrix")
            products = wait_for(
                lambda t=tenant: linked(engine, t), f"{tenant}'s products linked", 180, every=0.5
            )
            delivery = int(side.shop.control.entities("deliveries")[0]["id"])
            placed[tenant] = [
                int(
                    side.shop.control.place_order(
                        lines=[{"productId": products[n], "quantity": 1}],
                        shipments=[{"deliveryId": delivery, "lines": [0]}],
                    )["id"]
                )
                for n in range(side.pair.orders)
            ]
        for side in (main, north):
            tenant = side.pair.tenant
            wait_for(
                lambda t=tenant: forwarded(engine, t, placed[t]),
                f"{tenant}'s orders forwarded",
                180,
                every=0.5,
            )

        # Each warehouse got its own shop's orders, once each; each shop shows its own mapping's status.
        for side in (main, north):
            orders = httpx.get(side.warehouse.base_url + "/_sandbox/orders").json()["items"]
            assert sorted(int(o["customer_order_ref"]) for o in orders) == placed[side.pair.tenant]
            statuses = {
                side.shop.control.entity("orders", order_id)["statusId"]
                for order_id in placed[side.pair.tenant]
            }
            assert statuses == {side.pair.mapping["NEW"]}

        # A picking error in north's warehouse: an incident of north's, told in north's shop.
        [last] = [
            o
            for o in httpx.get(north.warehouse.base_url + "/_sandbox/orders").json()["items"]
            if o["customer_order_ref"] == "3"
        ]
        blocked = {"picking_error_skus": [line["sku"] for line in last["lines"]]}
        httpx.put(north.warehouse.base_url + "/_sandbox/faults", json=blocked).raise_for_status()
        stopped = httpx.post(
            north.warehouse.base_url + f"/_sandbox/orders/{last['id']}/advance", json={"to": "PICKING"}
        )
        assert stopped.json().get("order", stopped.json())["status"] == "PICKING_ERROR", stopped.text

        def incident() -> list[Any]:
            with engine.connect() as conn:
                return list(conn.execute(select(incidents.c.id, incidents.c.connection_id)))

        [(incident_id, incident_tenant)] = wait_for(incident, "north's incident", 180, every=0.5)
        assert incident_tenant == "north"

        # A delivery signed with north's secret is refused at the default tenant's address.
        delivery = {
            "event_id": "e-1",
            "event": "stock.changed",
            "occurred_at": "2026-12-04T00:00:00Z",
            "data": {"warehouse": "MAIN", "skus": ["X"]},
        }
        body = json.dumps(delivery).encode()
        signature = "sha256=" + hmac.new(NORTH.hook_secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {"X-Inflow-Signature": signature, "Content-Type": "application/json"}
        assert httpx.post(instance.url + "/hooks/inflow", content=body, headers=headers).status_code == 401
        assert httpx.post(roots["north"] + "/hooks/inflow", content=body, headers=headers).status_code == 200

        # The consoles: each person signs in to their own pair's only, and sees only its data.
        with engine.connect() as conn:
            job_ids = {
                tenant: {
                    int(i) for i in conn.scalars(select(jobs.c.id).where(jobs.c.connection_id == tenant))
                }
                for tenant in ("default", "north")
            }
        assert job_ids["default"] and job_ids["north"]
        anna, answer = sign_in(instance.url, roots["default"], "anna")
        assert answer.status_code == 303
        boris, answer = sign_in(instance.url, roots["north"], "boris")
        assert answer.status_code == 303
        for root, stranger in ((roots["north"], "anna"), (roots["default"], "boris")):
            refused, answer = sign_in(instance.url, root, stranger)
            assert answer.status_code == 401 and not refused.cookies.get(SESSION_COOKIE), (root, stranger)
        with (
            engine.connect() as conn
        ):  # each sign-in, good or refused, is in the audit of the console it was tried at
            signs = conn.execute(
                select(console_audit.c.actor, console_audit.c.action, console_audit.c.connection_id).where(
                    console_audit.c.action.like("sign_in%")
                )
            ).all()
        assert sorted(tuple(row) for row in signs) == [
            ("anna", "sign_in", "default"),
            ("anna", "sign_in.failed", "north"),
            ("boris", "sign_in", "north"),
            ("boris", "sign_in.failed", "default"),
        ]
        # Anna's cookie is not sent to north's console (its path), and carried there by hand it is no session.
        assert anna.get(roots["north"] + "/console/").status_code == 303
        stolen = httpx.get(
            roots["north"] + "/console/", cookies={SESSION_COOKIE: anna.cookies[SESSION_COOKIE]}
        )
        assert stolen.status_code == 303 and "/t/north/console/sign-in" in stolen.headers["location"]

        seen = {
            "default": {page: anna.get(roots["default"] + page).text for page in PAGES},
            "north": {page: boris.get(roots["north"] + page).text for page in PAGES},
        }
        # Boris reads English: his choice is kept with him in north's console (a session of north's, not the root's).
        north_token = re.search(r'name="csrf_token" value="([^"]+)"', seen["north"]["/console/"])
        assert north_token
        chosen = boris.post(
            roots["north"] + "/console/language",
            data={"csrf_token": north_token.group(1), "language": "en", "back": "/t/north/console/"},
            headers={"Origin": instance.url, "Sec-Fetch-Site": "same-origin"},
        )
        assert chosen.status_code == 303, chosen.text
        assert '<html lang="ru"' in seen["north"]["/console/"]  # (the shop's language, before)
        assert '<html lang="en"' in boris.get(roots["north"] + "/console/").text
        assert '<html lang="ru"' in anna.get(roots["default"] + "/console/").text  # hers is her own
        assert "bitrix-inflow · north" in seen["north"]["/console/"]  # which shop a person is looking at
        assert "· north" not in seen["default"]["/console/"]
        assert f'/console/orders/{NORTH.orders}"' in seen["north"]["/console/orders"]
        assert f'/console/orders/{NORTH.orders}"' not in seen["default"]["/console/orders"]
        assert f'/console/incidents/{incident_id}"' in seen["north"]["/console/incidents"]
        assert f'/console/incidents/{incident_id}"' not in seen["default"]["/console/incidents"]
        assert anna.get(roots["default"] + f"/console/incidents/{incident_id}").status_code == 404
        assert anna.get(roots["default"] + f"/console/orders/{NORTH.orders}").status_code == 404
        # Each mapping page shows its own table (north's NEW → Q, the default's NEW → P).
        assert mapped_new(seen["default"]["/console/mapping"]) == "P"
        assert mapped_new(seen["north"]["/console/mapping"]) == "Q"
        for tenant, other in (("default", "north"), ("north", "default")):
            listed = {int(i) for i in re.findall(r'data-job="(\d+)"', seen[tenant]["/console/jobs"])}
            assert listed and not listed & job_ids[other], f"{tenant}'s jobs page lists {other}'s jobs"
            links = re.findall(r'(?:href|action|src)="([^"]+)"', "".join(seen[tenant].values()))
            prefix = "/t/north/" if tenant == "north" else "/console/"
            assert all(link.startswith(prefix) for link in links if link.startswith("/")), links
        for text in (*seen["default"].values(), *seen["north"].values()):
            for secret in (
                MAIN.api_key,
                NORTH.api_key,
                MAIN.webhook_code,
                NORTH.webhook_code,
                NORTH.hook_secret,
            ):
                assert secret not in text
    finally:
        instance.stop()
        engine.dispose()

    # The log: every line about a job names the job's own tenant; no secret of either appears anywhere.
    with engine.connect() as conn:
        tenant_of = {int(i): c for i, c in conn.execute(select(jobs.c.id, jobs.c.connection_id))}
    text = (tmp_path / "serve.log").read_text()
    for secret in (
        MAIN.api_key,
        NORTH.api_key,
        MAIN.webhook_code,
        NORTH.webhook_code,
        MAIN.hook_secret,
        NORTH.hook_secret,
        MAIN.token,
        NORTH.token,
    ):
        assert secret not in text
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    about_jobs = [
        line
        for line in lines
        if "job_id" in line and line.get("event", "").startswith(("job.", "orders.", "stock."))
    ]
    assert {line["connection_id"] for line in about_jobs} == {"default", "north"}
    assert all(line["connection_id"] == tenant_of[int(line["job_id"])] for line in about_jobs)
    flow_lines = [line for line in lines if line.get("event", "").startswith("orders.part_accepted")]
    assert (
        sorted(line["connection_id"] for line in flow_lines)
        == ["default"] * MAIN.orders + ["north"] * NORTH.orders
    )


PAGES = ("/console/", "/console/orders", "/console/incidents", "/console/mapping", "/console/jobs")


def mapped_new(page: str) -> str:
    found = re.search(
        r'<select name="status-NEW".*?<option value="([^"]*)" selected>.*?</select>', page, re.DOTALL
    )
    assert found, "the mapping page shows the NEW row, with its status chosen"
    return found.group(1)


def sign_in(site: str, root: str, username: str) -> tuple[httpx.Client, httpx.Response]:
    """A browser signing in at ``root``'s console (its form token, its cookie path, the site's origin)."""
    client = httpx.Client(timeout=30)
    form = client.get(root + "/console/sign-in")
    found = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert found, form.text
    answer = client.post(
        root + "/console/sign-in",
        data={"csrf_token": found.group(1), "username": username, "password": PASSWORD, "next": ""},
        headers={"Origin": site, "Sec-Fetch-Site": "same-origin"},
    )
    return client, answer


def test_check_connection_checks_that_tenant_s_systems_and_mapping(
    deployment: tuple[Running, Running, Path, str], tmp_path: Path
) -> None:
    main, north, config, _ = deployment
    env = {**os.environ, **environment(main, north), "COLUMNS": "250"}
    answers = {}
    for tenant in ("default", "north"):
        done = subprocess.run(
            [sys.executable, "-m", "bitrix_inflow", "--config", str(config), "check", "--connection", tenant],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        # The default tenant's table maps no PICKING_ERROR (north's does): check says so, for that tenant only.
        assert done.returncode == (1 if tenant == "default" else 0), done.stdout + done.stderr
        answers[tenant] = done.stdout
    assert "bitrix-inflow check · north" in answers["north"]
    for tenant, side, other in (("default", main, north), ("north", north, main)):
        assert side.warehouse.base_url in answers[tenant] and other.warehouse.base_url not in answers[tenant]
    assert "NEW→P" in answers["default"] and "NEW→Q" in answers["north"]  # each tenant's own mapping
    assert "picking errors have no Bitrix status" in answers["default"]
    assert "picking errors have no Bitrix status" not in answers["north"]
