from __future__ import annotations

import io
import json
import logging
import os
from pathlib import Path

import pytest
import structlog

from bitrix_inflow import log
from bitrix_inflow.config import load_settings
from bitrix_inflow.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("BITRIX_INFLOW__") or key == "BITRIX_INFLOW_CONFIG":
            monkeypatch.delenv(key)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bitrix-inflow.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    return {p.key: p.message for p in caught.value.problems}


def test_defaults_need_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.database.url == "sqlite:///./var/bitrix-inflow.db"
    assert settings.schedules.stock_seconds == 900  # the brief: every 15 minutes unless the warehouse is busy


def test_every_problem_is_reported_at_once_with_its_key(tmp_path: Path) -> None:
    found = problems(
        write(
            tmp_path,
            """
            [database]
            url = "mysql://db/shop"
            [jobs]
            lease_secnds = 10
            [schedules]
            stock_seconds = 10
            [inflow]
            base_url = "wms.example.com/api"
            [surprise]
            x = 1
            """,
        )
    )
    assert set(found) == {
        "database.url",
        "jobs.lease_secnds",
        "schedules.stock_seconds",
        "inflow.base_url",
        "surprise",
    }
    assert "postgresql://" in found["database.url"]
    assert "unknown key" in found["jobs.lease_secnds"] and "lease_seconds" in found["jobs.lease_secnds"]
    assert "below the minimum of 30 s" in found["schedules.stock_seconds"]
    assert "scheme" in found["inflow.base_url"]


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "[schedules]\nstock_seconds = 600\norders_seconds = 90\n")
    monkeypatch.setenv("BITRIX_INFLOW__SCHEDULES__STOCK_SECONDS", "120")
    settings = load_settings(path)
    assert settings.schedules.stock_seconds == 120
    assert settings.schedules.orders_seconds == 90  # the rest of the section still comes from the file


def test_bad_environment_values_name_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BITRIX_INFLOW__JOBS__WORKERS", "many")
    found = problems(write(tmp_path, ""))
    assert "jobs.workers" in found


def test_secrets_are_refused_in_the_file_but_read_from_env_or_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wms = '[inflow]\nbase_url = "https://wms.example.com"\n'
    found = problems(write(tmp_path, wms + 'api_key = "plain-text-key"\n'))
    assert "BITRIX_INFLOW__INFLOW__API_KEY" in found["inflow.api_key"]
    secret_file = tmp_path / "key.txt"
    secret_file.write_text("key-from-file\n")
    settings = load_settings(write(tmp_path, wms + f'api_key_file = "{secret_file}"\n'))
    assert (
        settings.inflow.api_key is not None and settings.inflow.api_key.get_secret_value() == "key-from-file"
    )
    assert "key-from-file" not in repr(settings)
    monkeypatch.setenv("BITRIX_INFLOW__INFLOW__API_KEY", "key-from-env")
    settings = load_settings(write(tmp_path, wms))
    assert (
        settings.inflow.api_key is not None and settings.inflow.api_key.get_secret_value() == "key-from-env"
    )


def test_a_missing_secret_file_is_named(tmp_path: Path) -> None:
    found = problems(
        write(tmp_path, '[inflow]\nbase_url = "https://w.example"\napi_key_file = "/nonexistent/key"\n')
    )
    assert "cannot read /nonexistent/key" in found["inflow.api_key_file"]


def test_an_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    found = problems(tmp_path / "nope.toml")
    assert "does not exist" in found["(file)"]


def test_invalid_toml_is_reported(tmp_path: Path) -> None:
    found = problems(write(tmp_path, "[jobs\nworkers = 2"))
    assert "not valid TOML" in found["(file)"]


def test_heartbeat_must_fit_in_the_lease(tmp_path: Path) -> None:
    found = problems(write(tmp_path, "[jobs]\nlease_seconds = 10\nheartbeat_seconds = 8\n"))
    assert "at most half of lease_seconds" in found["jobs"]


def test_logs_never_carry_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    webhook = "https://shop.example.ru/rest/1/k9xq2secretcode77/"
    monkeypatch.setenv("BITRIX_INFLOW__BITRIX__WEBHOOK_URL", webhook)
    monkeypatch.setenv("BITRIX_INFLOW__INFLOW__API_KEY", "wms-api-key-123456")
    monkeypatch.setenv("BITRIX_INFLOW__INFLOW__BASE_URL", "https://wms.example.com")
    settings = load_settings(write(tmp_path, ""))
    stream = io.StringIO()
    log.configure(level="info", fmt="json", secrets=settings.secret_values())
    logging.getLogger().handlers[0].setStream(stream)  # type: ignore[attr-defined]
    logger = structlog.get_logger("test")
    logger.info(
        "calling", url=webhook + "sale.order.list", api_key="wms-api-key-123456", settings=settings.inflow
    )
    logger.info("headers", headers={"X-API-Key": "anything", "Accept": "application/json"})
    logging.getLogger("httpx").info("HTTP Request: POST %ssale.order.get", webhook)
    output = stream.getvalue()
    assert "k9xq2secretcode77" not in output and "wms-api-key-123456" not in output
    lines = [json.loads(line) for line in output.splitlines()]
    assert lines[0]["url"] == "https://shop.example.ru/rest/1/***/sale.order.list"
    assert lines[0]["api_key"] == "***"
    assert lines[1]["headers"] == {"X-API-Key": "***", "Accept": "application/json"}
    assert lines[2]["event"] == "HTTP Request: POST https://shop.example.ru/rest/1/***/sale.order.get"


def test_bitrix_section_uses_the_gateway_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(write(tmp_path, "")).bitrix is None  # the embedded sandbox
    found = problems(
        write(
            tmp_path,
            '[bitrix]\nwebhook_url = "https://shop.example.ru/rest/1/abc/"\n[bitrix.oauth]\nclient_secret = "s"\n',
        )
    )
    assert "bitrix.webhook_url" in found and "bitrix.oauth.client_secret" in found
    monkeypatch.setenv("BITRIX_INFLOW__BITRIX__WEBHOOK_URL", "https://shop.example.ru/rest/1/abc123def/")
    settings = load_settings(write(tmp_path, '[bitrix]\nprofile = "bitrix24"\nmanager_user_id = 7\n'))
    assert settings.bitrix is not None and settings.bitrix.profile == "bitrix24"
    assert settings.secret_values() == ["abc123def"]
    monkeypatch.setenv("BITRIX_INFLOW__BITRIX__WEBHOOK_URL", "https://shop.example.ru/sale.order.list")
    found = problems(write(tmp_path, ""))
    assert any("USER_ID/CODE" in message for message in found.values())


@pytest.mark.parametrize(
    ("url", "hint"),
    [
        ("postgresql://bi:pw-hidden-1@db.local:notaport/bi", "port"),
        ("postgresql://bi:pw-hidden-1@db.local:99999/bi", "port"),
        (
            "sqlite://var/state.db",
            "three slashes",
        ),  # two slashes: SQLAlchemy would open a throw-away memory DB
        ("sqlite://", "in memory"),
        ("sqlite:///:memory:", "in memory"),
        ("postgresql://bi@db.local", "database name"),
    ],
)
def test_a_database_url_that_cannot_work_is_named_with_the_fix(tmp_path: Path, url: str, hint: str) -> None:
    found = problems(write(tmp_path, f'[database]\nurl = "{url}"\n'))
    assert list(found) == ["database.url"]
    assert hint in found["database.url"]
    assert "pw-hidden-1" not in found["database.url"]


def test_the_database_password_is_a_secret_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BITRIX_INFLOW__DATABASE__URL", "postgresql://bi:db-pass-98765@db.local:5432/bi")
    settings = load_settings(write(tmp_path, ""))
    assert "db-pass-98765" in settings.secret_values()


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_exception_texts_in_logs_are_redacted_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    monkeypatch.setenv("BITRIX_INFLOW__INFLOW__API_KEY", "wms-api-key-exc-4242")
    monkeypatch.setenv("BITRIX_INFLOW__INFLOW__BASE_URL", "https://wms.example.com")
    settings = load_settings(write(tmp_path, ""))
    stream = io.StringIO()
    log.configure(level="info", fmt=fmt, secrets=settings.secret_values())  # type: ignore[arg-type]
    logging.getLogger().handlers[0].setStream(stream)  # type: ignore[attr-defined]
    try:
        raise RuntimeError("GET https://wms.example.com/api/v1/stock?key=wms-api-key-exc-4242 failed")
    except RuntimeError:
        structlog.get_logger("test").exception("tick failed")
        logging.getLogger("uvicorn.error").exception("request failed")
    output = stream.getvalue()
    assert output.count("RuntimeError") >= 2  # the tracebacks are there, only the secret is blanked
    assert "wms-api-key-exc-4242" not in output


def test_a_config_path_that_is_a_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path)
    (problem,) = caught.value.problems
    assert problem.key == "(file)" and "directory" in problem.message


def test_a_config_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bitrix-inflow.toml"
    path.write_bytes(b'[log]\nlevel = "\xff\xfe"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    (problem,) = caught.value.problems
    assert problem.key == "(file)" and "UTF-8" in problem.message


def test_a_secret_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    secret = tmp_path / "key.bin"
    secret.write_bytes(b"\xff\xfe\x00key")
    found = problems(
        write(tmp_path, f'[inflow]\nbase_url = "https://wms.example"\napi_key_file = "{secret}"\n')
    )
    assert "UTF-8" in found["inflow.api_key_file"]


def test_an_environment_section_that_is_not_json_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BITRIX_INFLOW__JOBS", "{workers: 4")
    found = problems(write(tmp_path, ""))
    assert "BITRIX_INFLOW__JOBS" in found["jobs"] and "BITRIX_INFLOW__JOBS__WORKERS" in found["jobs"]


def test_an_environment_variable_for_an_unknown_section_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A typo in the section (JOB for JOBS) must not be silently ignored, just as in the file."""
    monkeypatch.setenv("BITRIX_INFLOW__JOB__WORKERS", "4")
    found = problems(write(tmp_path, ""))
    assert (
        "unknown" in found["job"] and "BITRIX_INFLOW__JOB__WORKERS" in found["job"] and "jobs" in found["job"]
    )


@pytest.mark.parametrize("value", ["inf", "nan", "1e400"])
def test_durations_must_be_finite_numbers(tmp_path: Path, value: str) -> None:
    found = problems(
        write(
            tmp_path,
            f"[jobs]\nlease_seconds = {value}\n"
            f'[inflow]\nbase_url = "https://wms.example"\ntimeouts = {{ read = {value} }}\n',
        )
    )
    assert "finite" in found["jobs.lease_seconds"]
    assert "finite" in found["inflow.timeouts.read"]


def test_stock_section_names_each_bad_key_and_the_fix(tmp_path: Path) -> None:
    found = problems(
        write(
            tmp_path,
            """
            [stock]
            match_key = "article"
            buffer = -1
            buffer_skus = {"MUG-1" = -2}
            stores = {"MAIN" = 0}
            """,
        )
    )
    assert "xmlId or propertyN" in found["stock.match_key"]
    assert "stock.buffer" in found
    assert "MUG-1" in found["stock.buffer_skus"]
    assert "MAIN" in found["stock.stores"]


def test_stock_section_accepts_a_property_key_and_buffers(tmp_path: Path) -> None:
    settings = load_settings(
        write(tmp_path, '[stock]\nmatch_key = "property101"\nbuffer = 2\nbuffer_groups = {shoes = 5}\n')
    )
    assert settings.stock.match_key == "property101" and settings.stock.buffer_groups == {"shoes": 5}
