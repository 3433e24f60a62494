"""Tenants: several shop/warehouse pairs served by one deployment (one database, one set of workers, one web server).

The main file holds the deployment (``[database]``, ``[jobs]``, ``[log]``, ``[web]``) and, when it has a ``[bitrix]``
or ``[inflow]`` of its own, the tenant ``default``. ``[tenants] dir`` names a folder where each ``<id>.toml`` is one
more tenant: its systems, credentials, rules and schedules. A tenant's secrets come from ``*_file`` keys or from
``BITRIX_INFLOW_TENANT_<ID>__SECTION__KEY`` variables, never from the main file's variables: one shop's key can
not leak into another's configuration by a shared environment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

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
