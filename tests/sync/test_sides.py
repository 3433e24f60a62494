"""A worker thread keeps its clients between jobs of the same settings, and drops them when a job fails."""

from __future__ import annotations

import threading

import pytest

from bitrix_inflow.adapters.inflow import InflowClient
from bitrix_inflow.config import Settings
from bitrix_inflow.errors import ValidationError
from bitrix_inflow.sync.sides import KEPT_PER_THREAD, open_clients

SETTINGS = Settings(
    inflow={"base_url": "http://127.0.0.1:9", "api_key": "k"},
    bitrix={"webhook_url": "https://shop.example.ru/rest/1/abcdefgh12345678/"},
)


def test_the_same_thread_and_settings_get_the_same_clients_and_a_failure_drops_them() -> None:
    with open_clients(SETTINGS) as first:
        pass
    with open_clients(SETTINGS) as second:
        assert second[0] is first[0] and second[1] is first[1]
    with pytest.raises(RuntimeError), open_clients(SETTINGS):
        raise RuntimeError("the job failed")
    with open_clients(SETTINGS) as fresh:
        assert fresh[0] is not first[0]
    other = Settings(
        inflow={"base_url": "http://127.0.0.1:9", "api_key": "k2"},
        bitrix={"webhook_url": "https://shop.example.ru/rest/1/abcdefgh12345678/"},
    )
    with open_clients(other) as changed:
        assert changed[0] is not fresh[0]  # new settings (a reload): new clients


def test_each_thread_has_its_own_clients() -> None:
    with open_clients(SETTINGS) as mine:
        pass
    theirs: list[object] = []

    def job() -> None:
        with open_clients(SETTINGS) as clients:
            theirs.append(clients[0])

    worker = threading.Thread(target=job)
    worker.start()
    worker.join()
    assert theirs and theirs[0] is not mine[0]


def test_a_missing_side_names_its_section() -> None:
    with pytest.raises(ValidationError, match="inflow"), open_clients(Settings()):
        pass


def tenant(n: int) -> Settings:
    return Settings(
        inflow={"base_url": f"http://127.0.0.{n}:9", "api_key": "k"},
        bitrix={"webhook_url": f"https://shop{n}.example.ru/rest/1/abcdefgh12345678/"},
    )


def test_jobs_of_several_tenants_in_turn_keep_each_tenant_s_clients_and_the_oldest_go(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A worker takes any tenant's jobs: switching tenants must not cost a new TLS handshake each time."""
    closed: list[str] = []
    monkeypatch.setattr(InflowClient, "close", lambda self: closed.append(self.settings.base_url))
    north, south = tenant(2), tenant(3)

    def clients(settings: Settings) -> tuple[object, object]:
        with open_clients(settings) as pair:
            return pair

    def scenario() -> None:  # on a thread of its own: a worker's, with nothing kept from other tests
        first_north, first_south = clients(north), clients(south)
        for _ in range(3):
            assert clients(north) == first_north and clients(south) == first_south
        assert closed == []
        others = [tenant(10 + n) for n in range(KEPT_PER_THREAD - 1)]
        for other in others:
            clients(other)
        assert clients(south) == first_south  # used last: kept
        # North, the least recently used, went for the eighth new tenant.
        assert closed == ["http://127.0.0.2:9"]
        assert clients(north) != first_north

    failures: list[BaseException] = []

    def run() -> None:
        try:
            scenario()
        except BaseException as exc:  # re-raised below, on the test's thread
            failures.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    if failures:
        raise failures[0]
