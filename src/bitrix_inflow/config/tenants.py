"""Tenants: several shop/warehouse pairs served by one deployment (one database, one set of workers, one web server).

The main file holds the deployment (``[database]``, ``[jobs]``, ``[log]``, ``[web]``) and, when it has a ``[bitrix]``
or ``[inflow]`` of its own, the tenant ``default``. ``[tenants] dir`` names a folder where each ``<id>.toml`` is one
more tenant: its systems, credentials, rules and schedules. A tenant's secrets come from ``*_file`` keys or from
``BITRIX_INFLOW_TENANT_<ID>__SECTION__KEY`` variables, never from the main file's variables: one shop's key can
not leak into another's configuration by a shared environment.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from bitrix_inflow.config.loader import config_path, read_toml, validated
from bitrix_inflow.config.settings import DEFAULT_TENANT, DEPLOYMENT_SECTIONS, Settings
from bitrix_inflow.errors import ConfigError, ConfigProblem

TENANT_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")


def tenant_env_prefix(tenant: str) -> str:
    return f"BITRIX_INFLOW_TENANT_{tenant.upper().replace('-', '_')}__"


def tenants_dir(settings: Settings, config_file: Path | None = None) -> Path | None:
    if settings.tenants.dir is None:
        return None
    folder = Path(settings.tenants.dir)
    return folder if folder.is_absolute() else config_path(config_file).parent / folder


def load_tenants(settings: Settings, config_file: Path | None = None) -> dict[str, Settings]:
    """Every tenant's settings by id, the deployment sections the main file's. Without ``[tenants] dir`` the one
    tenant is ``default``; with it, ``default`` is there only when the main file configures a system of its own.
    Raises :class:`ConfigError` with every problem of every file at once."""
    found: dict[str, Settings] = {}
    folder = tenants_dir(settings, config_file)
    if folder is None or settings.bitrix is not None or settings.inflow is not None:
        found[DEFAULT_TENANT] = settings
    if folder is None:
        return found
    if not folder.is_dir():
        raise ConfigError(
            "tenants.dir",
            [ConfigProblem("tenants.dir", f"{folder} is not a folder; create it or fix the path")],
        )
    errors: list[ConfigError] = []
    for file in sorted(folder.glob("*.toml")):
        try:
            tenant = _tenant_id(file)  # named before it is read: a bad name is the one problem worth saying
            found[tenant] = _load_one(file, settings)
        except ConfigError as exc:
            errors.append(exc)
    if errors:
        raise ConfigError(
            f"{len(errors)} tenant file(s)",
            [
                ConfigProblem(f"{error.source}: {p.key}", p.message)
                for error in errors
                for p in error.problems
            ],
        )
    shared = _shared(found)
    if shared:
        raise ConfigError("tenants.dir", shared)
    if not found:
        raise ConfigError(
            "tenants.dir",
            [
                ConfigProblem(
                    "tenants.dir",
                    f"{folder} holds no <tenant>.toml and the main file configures no [bitrix] or [inflow]: "
                    "add a tenant file there",
                )
            ],
        )
    return found


def _shared(found: Mapping[str, Settings]) -> list[ConfigProblem]:
    """What two tenants may not share: their variables (one shop's key would be sent to the other's address), one
    warehouse of one WMS (both would use the references B-<order>-<part>, and each would take the other's picking
    orders for its own), or one shop (both would forward its orders and write its stock)."""
    problems = [
        ConfigProblem(
            f"{a}.toml",
            f"tenant {a!r} reads the variables {tenant_env_prefix(a)}… and tenant {b!r} reads "
            f"{tenant_env_prefix(b)}…, which overlap: one's credentials would reach the other; rename one of the "
            "files (ids that differ only by - and _ collide)",
        )
        for a in sorted(found)
        for b in sorted(found)
        if a != b and DEFAULT_TENANT not in (a, b) and tenant_env_prefix(b).startswith(tenant_env_prefix(a))
    ]
    warehouses: dict[tuple[str, str], list[str]] = defaultdict(list)
    shops: dict[str, list[str]] = defaultdict(list)
    for tenant, settings in sorted(found.items()):
        if settings.inflow is not None:
            where = (
                _address(settings.inflow.base_url),
                settings.orders.warehouse or settings.inflow.warehouse,
            )
            warehouses[where].append(tenant)
        portal = _portal(settings)
        if portal:
            shops[portal].append(tenant)
    problems.extend(
        ConfigProblem(
            "inflow",
            f"tenants {', '.join(map(repr, tenants))} all send orders to warehouse {code!r} of {address}: their "
            "references (B-<order>-<part>) would collide and each would take the other's picking orders; one "
            "shop per warehouse of a WMS",
        )
        for (address, code), tenants in warehouses.items()
        if len(tenants) > 1
    )
    problems.extend(
        ConfigProblem(
            "bitrix",
            f"tenants {', '.join(map(repr, tenants))} all serve the shop at {portal}: each would forward its orders "
            "and write its stock; serve one shop from one tenant",
        )
        for portal, tenants in shops.items()
        if len(tenants) > 1
    )
    return problems


def _address(url: str) -> str:
    """scheme://host[:port], lower-cased: the same system however its address is written."""
    parts = urlsplit(url.strip())
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}{port}"


def _portal(settings: Settings) -> str | None:
    bitrix = settings.bitrix
    if bitrix is None:
        return None
    if bitrix.webhook_url is not None:  # its address only: the code in its path is the secret
        return _address(bitrix.webhook_url.get_secret_value())
    return _address(bitrix.oauth.portal_url) if bitrix.oauth is not None else None


def _tenant_id(file: Path) -> str:
    tenant = file.stem
    if tenant == DEFAULT_TENANT:
        raise ConfigError(
            str(file),
            [
                ConfigProblem(
                    "(file name)", "'default' is the main file's own pair; give this tenant another name"
                )
            ],
        )
    if not TENANT_ID.fullmatch(tenant):
        raise ConfigError(
            str(file),
            [
                ConfigProblem(
                    "(file name)",
                    f"{tenant!r} is not a tenant id: rename the file to lower-case letters, digits, - and _ "
                    "(up to 40, starting with a letter or digit), e.g. shop-north.toml",
                )
            ],
        )
    return tenant


def _load_one(file: Path, deployment: Settings) -> Settings:
    data = read_toml(file)
    problems = [
        ConfigProblem(
            section,
            "belongs in the main file only: one database, one set of workers and one web server serve every "
            "tenant; remove it here",
        )
        for section in DEPLOYMENT_SECTIONS
        if section in data
    ]
    own = validated(data, problems, source=str(file), env_prefix=tenant_env_prefix(file.stem))
    return own.model_copy(update={section: getattr(deployment, section) for section in DEPLOYMENT_SECTIONS})


def secret_values(tenants: Mapping[str, Settings]) -> list[str]:
    """Every tenant's secrets, for the log redactor: a line about one shop never shows another's key either."""
    return sorted({value for settings in tenants.values() for value in settings.secret_values()})
