"""A worker thread keeps its clients between jobs of the same settings, and drops them when a job fails."""

from __future__ import annotations

import threading

import pytest

from bitrix_inflow.config import Settings
from bitrix_inflow.errors import ValidationError
from bitrix_inflow.sync.sides import open_clients

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
