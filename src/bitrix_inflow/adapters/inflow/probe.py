"""What onboarding asks a warehouse it has never seen: where its API is, which transport and credentials work, which
installation profile fits, and which warehouses, zones and carriers it has.

Read-only by construction: stock reads, the order list and the change feed, plus an OAuth2 token (which creates no
business state). The contract lists no warehouses, zones or carriers, so they are learnt from the stock rows (every
warehouse's), the bin rows and the carriers of existing picking orders.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import islice
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr

from bitrix_inflow.adapters.inflow.client import EVERY_WAREHOUSE, InflowClient, credentials_for
from bitrix_inflow.adapters.inflow.http import HttpSession
from bitrix_inflow.adapters.inflow.problems import ContractViolationError
from bitrix_inflow.adapters.inflow.profile import InstallationProfile, load_profile
from bitrix_inflow.adapters.inflow.settings import InflowSettings
from bitrix_inflow.errors import AuthError, IntegrationError, NotFoundError, ValidationError
from bitrix_inflow.timing import SystemClock

KNOWN_PROFILES = ("default", "legacy-example")
_PROBE_TIMEOUT = httpx.Timeout(10.0)
_STOCK_FIELDS = ("sku", "warehouse", "qty_available", "updated_at")
_MAX_STOCK_PAGES = 200  # of the every-warehouse walk: 200 000 rows on the default profile
_MAX_BIN_PAGES = 20
_MAX_ORDERS = 1000


@dataclass(frozen=True)
class Credentials:
    api_key: str | None = None
    client_id: str | None = None
    client_secret: str | None = None

    @property
    def auth(self) -> str:
        return "oauth2" if self.client_id else "api_key"


@dataclass(frozen=True)
class ProfileFit:
    profile: str
    fits: bool
    differences: tuple[str, ...] = ()


@dataclass(frozen=True)
class WarehouseFacts:
    code: str
    skus: frozenset[str]  # the SKUs with available stock (the whole walk, or its first pages: see capped)
    zones: dict[str, bool] = field(default_factory=dict)  # zone → sellable
    carriers: tuple[str, ...] = ()  # carriers of its existing picking orders (REST only)


@dataclass(frozen=True)
class WmsReport:
    served: tuple[str, ...]  # transports the address answers: "rest", "soap"
    transport: str
    auth: str
    profile: str
    fits: tuple[ProfileFit, ...]
    warehouses: dict[str, WarehouseFacts]
    capped: bool  # the stock walk stopped before its end: SKU shares are of a sample


def served_transports(base_url: str, profiles: Sequence[str] = KNOWN_PROFILES) -> dict[str, list[str]]:
    """Which known profiles' REST base path serves the contract (``openapi.yaml``) and whether SOAP answers; both
    need no credentials (contract §2, §11). Raises ValidationError naming ``inflow.base_url`` when nothing answers."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
        raise ValidationError(
            "inflow.base_url",
            "is not a full URL of the WMS",
            "write it with its scheme and host, without credentials, e.g. https://wms.example.com",
        )
    found: dict[str, list[str]] = {"rest": [], "soap": []}
    with httpx.Client(base_url=base_url, timeout=_PROBE_TIMEOUT, follow_redirects=False) as http:
        for name in profiles:
            profile = load_profile(name)
            if _answers(http, f"{profile.rest.base_path}/openapi.yaml", base_url):
                found["rest"].append(name)
            if _answers(http, f"{profile.soap.path}?wsdl", base_url):
                found["soap"].append(name)
    if not found["rest"] and not found["soap"]:
        raise ValidationError(
            "inflow.base_url",
            f"{base_url} answers, but no Inflow API is there (neither a REST contract under the known base paths nor "
            "a SOAP WSDL at /soap/v1?wsdl)",
            "give the WMS's own address without any API path, e.g. https://wms.example.com",
        )
    return found


def _answers(http: httpx.Client, path: str, base_url: str) -> bool:
    try:
        response = http.get(path)
    except httpx.HTTPError as exc:
        raise ValidationError(
            "inflow.base_url",
            f"nothing answers at {base_url} ({type(exc).__name__})",
            "check the address (scheme, host, port) and that the WMS is reachable from this machine",
        ) from None
    return response.status_code == 200


def probe(
    base_url: str,
    credentials: Credentials,
    *,
    transport: str | None = None,
    profile: str | None = None,
    profiles: Sequence[str] = KNOWN_PROFILES,
) -> WmsReport:
    """Find what works, read-only; every refusal is a ValidationError naming the answer to fix."""
    served = served_transports(base_url, profiles if profile is None else (*profiles, profile))
    offered = tuple(kind for kind in ("rest", "soap") if served[kind])
    chosen_transport = transport or offered[0]
    if chosen_transport not in offered:
        raise ValidationError(
            "inflow.transport",
            f"{base_url} does not serve {chosen_transport} (it serves {', '.join(offered)})",
            f"answer transport = {offered[0]!r}, or check the address",
        )
    # Every known profile is tried, the ones whose base path answered first: a profile that does not fit says how.
    candidates = (
        [profile] if profile else sorted(profiles, key=lambda name: name not in served[chosen_transport])
    )
    fits = tuple(_fit(base_url, credentials, chosen_transport, name) for name in candidates)
    fitting = next((fit.profile for fit in fits if fit.fits), None)
    if fitting is None:
        said = "; ".join(f"{fit.profile}: {', '.join(fit.differences)}" for fit in fits)
        raise ValidationError(
            "inflow.profile",
            f"no known installation profile fits this WMS ({said})",
            "write a profile TOML for this installation (copy one of adapters/inflow/profiles/ and change what "
            "differs) and answer profile = its path",
        )
    settings = _settings(base_url, credentials, chosen_transport, fitting)
    with InflowClient(settings) as client:
        warehouses, capped = _warehouses(client, rest=chosen_transport == "rest")
    return WmsReport(
        served=offered,
        transport=chosen_transport,
        auth=credentials.auth,
        profile=fitting,
        fits=fits,
        warehouses=warehouses,
        capped=capped,
    )


def _settings(base_url: str, credentials: Credentials, transport: str, profile: str) -> InflowSettings:
    return InflowSettings(
        base_url=base_url,
        transport=transport,
        auth=credentials.auth,
        api_key=SecretStr(credentials.api_key) if credentials.api_key else None,
        client_id=credentials.client_id,
        client_secret=SecretStr(credentials.client_secret) if credentials.client_secret else None,
        profile=profile,
    )


def _fit(base_url: str, credentials: Credentials, transport: str, name: str) -> ProfileFit:
    """One stock page at the profile's largest page size, and one page of the change feed: what the profile says
    about paths, query names, field names, page cap and status names, tried at once."""
    settings = _settings(base_url, credentials, transport, name)
    profile = load_profile(name)
    differences: list[str] = []
    with InflowClient(settings) as client:
        try:
            client.available_stock_page(warehouse=EVERY_WAREHOUSE, limit=profile.paging.max_page_size)
            client.changes_page(limit=1)
        except AuthError as exc:
            raise _refused(credentials, exc) from None
        except NotFoundError:
            differences.append(f"path {profile.rest.base_path}{profile.rest.endpoints.stock}: not found")
        except ContractViolationError:
            differences.extend(_field_differences(settings, profile))
        except ValidationError as exc:
            if exc.field == "limit":
                differences.append(f"page cap: {profile.paging.max_page_size} rows refused")
            else:
                differences.append(f"query field {exc.field}: {exc.problem}")
        except IntegrationError as exc:
            differences.append(f"{type(exc).__name__}: {exc}")
    return ProfileFit(name, not differences, tuple(differences))


def _refused(credentials: Credentials, exc: AuthError) -> ValidationError:
    if credentials.auth == "oauth2":
        return ValidationError(
            "inflow.client_secret",
            f"the WMS refused the OAuth2 client {credentials.client_id!r} ({exc})",
            "copy the client id and secret again from the WMS's API clients; nothing was written",
        )
    return ValidationError(
        "inflow.api_key",
        f"the WMS refused the API key ({exc})",
        "copy the key again from the WMS's API settings (it is sent as X-API-Key); nothing was written",
    )


def _field_differences(settings: InflowSettings, profile: InstallationProfile) -> list[str]:
    """The stock row's own keys against what the profile expects: 'sku: expected article, seen …'."""
    session = HttpSession(settings, credentials_for(settings, profile, SystemClock()))
    try:
        url = profile.rest.base_path + profile.rest.endpoints.stock
        response = session.send("GET", url, params={profile.wire_name("limit"): "1"})
        body = response.json() if response.is_success else {}
    except (IntegrationError, ValueError):
        body = {}
    finally:
        session.close()
    rows = body.get(profile.wire_name("items")) if isinstance(body, dict) else None
    if not isinstance(rows, list) or not rows or not isinstance(rows[0], dict):
        return ["stock rows: not in the shape this profile expects"]
    seen = set(rows[0])
    missing = [name for name in _STOCK_FIELDS if profile.wire_name(name) not in seen]
    return [
        f"field {name}: this profile expects {profile.wire_name(name)!r}, the rows carry {', '.join(sorted(seen))}"
        for name in missing
    ] or ["stock rows: not in the shape this profile expects"]


def _warehouses(client: InflowClient, *, rest: bool) -> tuple[dict[str, WarehouseFacts], bool]:
    skus: dict[str, set[str]] = {}
    cursor: str | None = None
    capped = False
    for page_number in range(_MAX_STOCK_PAGES + 1):
        if page_number == _MAX_STOCK_PAGES:
            capped = True
            break
        page = client.available_stock_page(warehouse=EVERY_WAREHOUSE, cursor=cursor)
        for row in page.items:
            skus.setdefault(row.warehouse, set()).add(row.sku)
        cursor = page.next_cursor
        if not cursor:
            break
    facts: dict[str, WarehouseFacts] = {}
    for code in sorted(skus):
        zones: dict[str, bool] = {}
        limit = client.profile.paging.page_size
        for slot in islice(client.iter_bin_stock(warehouse=code), _MAX_BIN_PAGES * limit):
            zones[slot.zone] = zones.get(slot.zone, False) or slot.sellable
        carriers: set[str] = set()
        if rest:
            for order in islice(client.iter_orders(warehouse=code), _MAX_ORDERS):
                if order.carrier:
                    carriers.add(order.carrier)
        facts[code] = WarehouseFacts(code, frozenset(skus[code]), zones, tuple(sorted(carriers)))
    return facts, capped
