"""Onboarding's look at a warehouse: transports, credentials, the installation profile that fits (and how the others
differ), warehouses and zones, over every dialect x transport x auth the sandbox speaks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bitrix_inflow.adapters.inflow.probe import Credentials, ProfileFit, _fit, probe
from bitrix_inflow.errors import ValidationError
from bitrix_inflow.sandboxes.wms import RunningSandbox, SandboxSettings, run_in_process
from bitrix_inflow.sandboxes.wms.dialect import Dialect

API_KEY, CLIENT_ID, CLIENT_SECRET = "sandbox-key", "sandbox-client", "sandbox-secret"
DIALECTS = Path(__file__).resolve().parents[3] / "contracts" / "inflow-v1" / "dialects"
PROFILES = Path(__file__).resolve().parents[3] / "src" / "bitrix_inflow" / "adapters" / "inflow" / "profiles"
KEY = Credentials(api_key=API_KEY)
OAUTH = Credentials(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)


@pytest.fixture(scope="module", params=["default", "legacy-example"])
def installation(request: pytest.FixtureRequest) -> Iterator[tuple[str, str, RunningSandbox]]:
    yield from _running(request.param, "both")


@pytest.fixture(scope="module", params=["default", "legacy-example"])
def soap_only(request: pytest.FixtureRequest) -> Iterator[tuple[str, str, RunningSandbox]]:
    yield from _running(request.param, "soap")


def _running(dialect: str, transports: str) -> Iterator[tuple[str, str, RunningSandbox]]:
    chosen = Dialect.load(DIALECTS / f"{dialect}.toml") if dialect != "default" else Dialect()
    settings = SandboxSettings(
        seed=7, skus=20, bins=200, warehouses=["MAIN", "NORTH"], dialect=chosen, transports=transports
    )
    with run_in_process(settings) as running:
        yield dialect, transports, running


@pytest.mark.parametrize("credentials", [KEY, OAUTH], ids=["api_key", "oauth2"])
def test_rest_is_preferred_and_the_fitting_profile_found(
    installation: tuple[str, str, RunningSandbox], credentials: Credentials
) -> None:
    dialect, _, wms = installation
    report = probe(wms.base_url, credentials)
    assert report.served == ("rest", "soap") and report.transport == "rest"
    assert report.profile == dialect and report.auth == credentials.auth
    other = next(fit for fit in report.fits if fit.profile != dialect)
    assert not other.fits and any("not found" in d for d in other.differences)
    assert set(report.warehouses) == {"MAIN", "NORTH"}
    main = report.warehouses["MAIN"]
    assert len(main.skus) == 20 and main.zones and any(main.zones.values())


@pytest.mark.parametrize("credentials", [KEY, OAUTH], ids=["api_key", "oauth2"])
def test_a_soap_only_installation_is_probed_over_soap(
    soap_only: tuple[str, str, RunningSandbox], credentials: Credentials
) -> None:
    dialect, _, wms = soap_only
    report = probe(wms.base_url, credentials)
    assert report.served == ("soap",) and report.transport == "soap" and report.profile == dialect
    if dialect == "legacy-example":
        default = next(fit for fit in report.fits if fit.profile == "default")
        assert default.differences == ("page cap: 1000 rows refused",)
    with pytest.raises(ValidationError) as refused:
        probe(wms.base_url, credentials, transport="rest")
    assert refused.value.field == "inflow.transport"


def test_renamed_fields_are_named_when_the_paths_agree(
    installation: tuple[str, str, RunningSandbox], tmp_path: Path
) -> None:
    """A profile with the right paths but the canonical field names: the probe says which fields differ."""
    dialect, _, wms = installation
    if dialect != "legacy-example":
        pytest.skip("the default dialect renames nothing")
    shipped = (PROFILES / "legacy-example.toml").read_text()
    paths_only = tmp_path / "paths-only.toml"
    paths_only.write_text(
        shipped.split("[fields]")[0].replace('name = "legacy-example"', 'name = "paths-only"')
    )
    report_fit = next(iter(probe_fits(wms.base_url, str(paths_only))))
    assert not report_fit.fits
    assert any("field sku" in d and "'sku'" in d and "article" in d for d in report_fit.differences), (
        report_fit
    )


def probe_fits(base_url: str, profile: str) -> list[ProfileFit]:
    with pytest.raises(ValidationError) as refused:
        probe(base_url, KEY, profile=profile)
    assert refused.value.field == "inflow.profile" and "write a profile TOML" in str(refused.value)
    return [_fit(base_url, KEY, "rest", profile)]


@pytest.mark.parametrize(
    ("credentials", "field"),
    [
        (Credentials(api_key="wrong"), "inflow.api_key"),
        (Credentials(client_id=CLIENT_ID, client_secret="wrong"), "inflow.client_secret"),
    ],
    ids=["api_key", "oauth2"],
)
def test_a_refused_credential_names_its_answer(
    installation: tuple[str, str, RunningSandbox], credentials: Credentials, field: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        probe(installation[2].base_url, credentials)
    assert refused.value.field == field and "nothing was written" in str(refused.value)


def test_nothing_at_the_address_names_the_fix() -> None:
    with pytest.raises(ValidationError) as refused:
        probe("http://127.0.0.1:9", KEY)
    assert refused.value.field == "inflow.base_url" and "reachable" in str(refused.value)
