"""The settings model. Unknown keys are errors: a typo must never be silently ignored."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bitrix_inflow.adapters.bitrix.settings import BitrixSettings, webhook_parts
from bitrix_inflow.adapters.inflow.settings import InflowSettings
from bitrix_inflow.domain.marking import DEFAULT_GROUP_NAMES, Group
from bitrix_inflow.store.engine import DEFAULT_SQLITE_URL

MIN_INTERVAL_SECONDS = 30
MAX_INTERVAL_SECONDS = 7 * 86_400  # a week: anything rarer is switched off, not scheduled
ENV_PREFIX = "BITRIX_INFLOW__"
DEFAULT_TENANT = "default"  # the main file's own shop/warehouse pair
# One database, one set of workers and one web server serve every tenant: these sections are the main file's only.
DEPLOYMENT_SECTIONS = ("database", "jobs", "log", "web", "tenants")


class Section(BaseModel):
    # inf and nan parse as TOML floats; a lease of inf seconds crashes the worker (timedelta overflow) at start.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class DatabaseSettings(Section):
    url: str = Field(
        DEFAULT_SQLITE_URL, description="SQLAlchemy URL: sqlite:///path or postgresql://user@host/db"
    )

    @field_validator("url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:", "postgres:")):
            raise ValueError("use sqlite:///path/to/file.db or postgresql://user:password@host:5432/dbname")
        _check_database_url(value)
        return value


def _check_database_url(value: str) -> None:
    """Refuse URLs SQLAlchemy would reject later with a traceback, or accept and quietly get wrong.

    Messages never repeat the URL: it may hold the database password.
    """
    try:
        parsed = make_url(value)
        port = parsed.port
    except ValueError:  # make_url reports a non-numeric port as int()'s ValueError
        raise ValueError(
            "the port is not a number; write postgresql://user:password@host:5432/dbname"
        ) from None
    except ArgumentError:
        raise ValueError(
            "not a database URL; use sqlite:///path/to/file.db or postgresql://user:password@host:5432/dbname"
        ) from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.host:
            raise ValueError(
                "a SQLite URL takes three slashes before a relative path (sqlite:///var/state.db) and four before "
                "an absolute one (sqlite:////srv/state.db); with two, SQLAlchemy would open a throw-away memory "
                "database"
            )
        if not parsed.database or parsed.database == ":memory:" or "mode=memory" in value:
            raise ValueError(
                "a SQLite database in memory is lost on exit and not shared between workers; give a file path, "
                "e.g. sqlite:///./var/bitrix-inflow.db"
            )
        return
    if port is not None and not 0 < port < 65536:
        raise ValueError(f"port {port} is out of range; PostgreSQL usually listens on 5432")
    if not parsed.database:
        raise ValueError("the database name is missing; write postgresql://user:password@host:5432/dbname")


class JobsSettings(Section):
    workers: int = Field(2, ge=1, le=64, description="worker threads in `serve`")
    lease_seconds: float = Field(
        60, ge=5, description="a job whose worker stops heartbeating is re-run after this"
    )
    heartbeat_seconds: float = Field(15, ge=1)
    poll_seconds: float = Field(1.0, gt=0, le=60)
    max_attempts: int = Field(8, ge=1, le=100)
    base_delay_seconds: float = Field(2.0, ge=0)
    max_delay_seconds: float = Field(900.0, ge=0)
    keep_finished_days: int = Field(14, ge=1, description="done/cancelled jobs older than this are pruned")

    @model_validator(mode="after")
    def _heartbeat_inside_lease(self) -> JobsSettings:
        if self.heartbeat_seconds * 2 > self.lease_seconds:
            raise ValueError(
                f"heartbeat_seconds ({self.heartbeat_seconds}) must be at most half of lease_seconds "
                f"({self.lease_seconds}), or a slow heartbeat lets a live job's lease expire"
            )
        return self


class ScheduleSettings(Section):
    stock_seconds: int = Field(
        900,
        ge=MIN_INTERVAL_SECONDS,
        le=MAX_INTERVAL_SECONDS,
        description="incremental stock sync (120-300 for busy warehouses)",
    )
    stock_full_seconds: int = Field(
        86_400,
        ge=3600,
        le=30 * 86_400,
        description="full stock re-read that heals drift; slots start at 00:00 UTC (03:00 Moscow), and `serve` "
        "also runs one at start-up",
    )
    orders_seconds: int = Field(
        60, ge=MIN_INTERVAL_SECONDS, le=MAX_INTERVAL_SECONDS, description="poll Bitrix for new/changed orders"
    )
    statuses_seconds: int = Field(
        120, ge=MIN_INTERVAL_SECONDS, le=MAX_INTERVAL_SECONDS, description="poll the WMS for status changes"
    )
    events_seconds: int = Field(
        10,
        ge=5,
        description="read the shop's offline event queue (with [bitrix] offline_events): one request when it is "
        "empty",
    )
    orders_retry_seconds: int = Field(
        600,
        ge=MIN_INTERVAL_SECONDS,
        le=MAX_INTERVAL_SECONDS,
        description="retry orders on their way that nothing else moves (short of stock, a failed send, a fixed link)",
    )
    reconcile_seconds: int = Field(
        3600,
        ge=MIN_INTERVAL_SECONDS,
        le=MAX_INTERVAL_SECONDS,
        description="reconcile: orders missing in the warehouse or unknown to the shop, diverging statuses, stuck "
        "orders, and the shop's stock against the warehouse's (a full stock comparison)",
    )


_MATCH_KEY = re.compile(r"^(xmlId|property\d+)$")


class StockSettings(Section):
    """How warehouse stock becomes the shop's quantities."""

    warehouses: tuple[str, ...] = Field(
        (), description="WMS warehouses the shop sells from; empty: the [inflow] warehouse"
    )
    match_key: str = Field(
        "xmlId",
        description="the shop field that carries the warehouse SKU: xmlId, or an article property propertyN",
    )
    offer_match_key: str | None = Field(
        None,
        description="the offers iblock's field for the warehouse SKU, where it is not the products' (an article "
        "property has an id of its own in each iblock); empty: the same as match_key",
    )
    group_key: str | None = Field(
        None, description="a product property (propertyN) naming the product group the group buffers apply to"
    )
    aggregate: Literal["wms", "service"] = Field(
        "wms",
        description="wms: ask for available_only rows; service: read bin rows and sum them here (installations "
        "that cannot aggregate)",
    )
    buffer: int = Field(0, ge=0, description="units held back from the shop for every SKU")
    buffer_groups: dict[str, int] = Field(
        default_factory=dict, description="units held back per product group"
    )
    buffer_skus: dict[str, int] = Field(default_factory=dict, description="units held back per SKU (wins)")
    stores: dict[str, int] = Field(
        default_factory=dict,
        description="WMS warehouse → Bitrix store id, for shops with inventory management (stock documents)",
    )

    @field_validator("match_key", "offer_match_key", "group_key")
    @classmethod
    def _shop_field(cls, value: str | None) -> str | None:
        if value is not None and not _MATCH_KEY.match(value):
            raise ValueError(
                "use xmlId or propertyN, where N is the property's numeric id (e.g. property101)"
            )
        return value

    @field_validator("buffer_groups", "buffer_skus")
    @classmethod
    def _whole_units(cls, value: dict[str, int]) -> dict[str, int]:
        negative = sorted(key for key, units in value.items() if units < 0)
        if negative:
            raise ValueError(f"a buffer is 0 or more units; {', '.join(negative)} is negative")
        return value

    @field_validator("stores")
    @classmethod
    def _store_ids(cls, value: dict[str, int]) -> dict[str, int]:
        bad = sorted(key for key, store in value.items() if store <= 0)
        if bad:
            raise ValueError(f"a Bitrix store id is a positive number; {', '.join(bad)} is not")
        return value


class OrdersSettings(Section):
    """Which shop orders go to the warehouse, and how they are split. Without ``go_live`` no order is forwarded:
    the moment is the line between the old process and this service, so it is never guessed."""

    go_live: str | None = Field(
        None,
        description="orders created before this moment (ISO 8601 with its offset) are never forwarded",
    )
    statuses: tuple[str, ...] = Field(("N",), description="Bitrix statuses an order is forwarded from")
    paid_only: bool = Field(False, description="forward only paid orders")
    delivery_allowed: bool = Field(False, description="forward only when every shipment allows delivery")
    sites: tuple[str, ...] = Field((), description="Bitrix sites (lid) whose orders go; empty: every site")
    person_types: tuple[int, ...] = Field((), description="payer types whose orders go; empty: every type")
    carriers: dict[str, str] = Field(
        default_factory=dict, description="Bitrix delivery service id → the carrier the warehouse hands it to"
    )
    warehouse: str | None = Field(None, description="the WMS warehouse orders go to; empty: the [inflow] one")
    zone_preference: tuple[str, ...] = Field(
        (), description="storage zones to pick from first when a SKU is free in several"
    )
    returned_status: str | None = Field(
        None,
        description="the Bitrix status an order gets when its goods come back to the warehouse (a return); "
        "empty: the status stays and the manager is told",
    )

    def rule_values(self) -> dict[str, object]:
        """The eligibility rules as ``domain.eligibility.parse_rules`` reads them."""
        values: dict[str, object] = {
            "statuses": list(self.statuses),
            "paid_only": self.paid_only,
            "delivery_allowed": self.delivery_allowed,
            "sites": list(self.sites),
            "person_types": list(self.person_types),
            "carriers": dict(self.carriers),
        }
        if self.go_live is not None:
            values["go_live"] = self.go_live
        return values


class ReconcileSettings(Section):
    """What reconciliation (``bitrix-inflow reconcile``, every ``schedules.reconcile_seconds``) looks at."""

    window_hours: int = Field(
        168, ge=1, description="shop orders created this far back are checked for a missing forwarding"
    )
    grace_minutes: int = Field(
        15, ge=0, description="orders younger than this are the order poll's to notice, not a divergence yet"
    )
    stuck_hours: int = Field(
        48,
        ge=1,
        description="an order whose picking orders have not moved for this long is stuck (an incident)",
    )


class MarkingSettings(Section):
    """Labelled goods (Honest Sign): the codes the warehouse scanned go to the shop before a shipment is deducted."""

    enabled: bool = Field(
        True,
        description="check the codes of marked lines at packing, keep them in the ledger and write them to the shop; "
        "a shipment with marked goods is marked deducted only once its codes are complete",
    )
    companion_module: bool | None = Field(
        None,
        description="the shop has bitrix-inflow's companion module (bitrix-module/), which writes codes to shipment "
        "lines and reads the codes it holds; unset: yes on Site Management, no on Bitrix24 (cloud installs no "
        "modules)",
    )
    groups: dict[str, str] = Field(
        default_factory=dict,
        description="the shop's marking-group names (or 1C codes) beyond the known ones, to a product group: "
        "shoes, textile, tyres, perfume, medicines, water, dairy, tobacco_pack, tobacco_block",
    )

    # Without the module (Bitrix24 in the cloud) REST shows neither a product's marking group nor its barcodes:
    # the catalog properties that hold them stand in, and the codes go to the basket lines' properties.
    group_property: str | None = Field(
        None,
        description="without the module: the product iblock's property holding the marking group, as propertyN "
        "(an offer without one takes its product's)",
    )
    offer_group_property: str | None = Field(
        None, description="without the module: the offers iblock's marking-group property, as propertyN"
    )
    gtin_property: str | None = Field(
        None, description="without the module: the product iblock's property holding the GTIN, as propertyN"
    )
    offer_gtin_property: str | None = Field(
        None,
        description="without the module: the offers iblock's GTIN property, as propertyN (unset: offers have no GTIN "
        "and their marked lines are held with an incident)",
    )

    @field_validator("group_property", "offer_group_property", "gtin_property", "offer_gtin_property")
    @classmethod
    def _property_key(cls, value: str | None) -> str | None:
        if value is None:
            return None
        key = value.strip()
        if not re.fullmatch(r"property[1-9][0-9]*", key):
            raise ValueError(
                f"{value!r} is not a catalog property key: write propertyN, N being the property's id in the "
                "iblock (catalog.productProperty.list or the iblock settings show it)"
            )
        return key

    @field_validator("groups")
    @classmethod
    def _known_groups(cls, value: dict[str, str]) -> dict[str, str]:
        known = {g.value for g in Group}
        for name, group in value.items():
            if group not in known:
                raise ValueError(
                    f"{name!r} = {group!r} is not a product group; use one of {', '.join(sorted(known))}"
                )
        return {name.strip().lower(): group for name, group in value.items()}

    def group_names(self) -> dict[str, str]:
        return {**DEFAULT_GROUP_NAMES, **self.groups}


class LogSettings(Section):
    # "auto" lets each command choose: `serve` logs at info, as JSON unless a terminal watches it; other commands
    # keep a terminal to warnings and errors, and the demo stays readable wherever its output goes.
    level: Literal["auto", "debug", "info", "warning", "error"] = "auto"
    format: Literal["auto", "json", "console"] = "auto"


class WebSettings(Section):
    enabled: bool = Field(True, description="serve /healthz and /metrics from `serve`")
    host: str = Field(
        "127.0.0.1", description="loopback by default; put a reverse proxy in front to expose it"
    )
    port: int = Field(8750, ge=1, le=65535)


class TenantsSettings(Section):
    dir: str | None = Field(
        None,
        description="a folder of <tenant>.toml files, each a shop/warehouse pair of its own (relative to this file)",
    )


class Settings(BaseSettings):
    """Everything bitrix-inflow reads at start-up. Precedence: environment > TOML file > defaults."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        nested_model_default_partial_update=True,
    )

    database: DatabaseSettings = DatabaseSettings()
    jobs: JobsSettings = JobsSettings()
    schedules: ScheduleSettings = ScheduleSettings()
    log: LogSettings = LogSettings()
    web: WebSettings = WebSettings()
    tenants: TenantsSettings = TenantsSettings()
    stock: StockSettings = StockSettings()
    orders: OrdersSettings = OrdersSettings()
    reconcile: ReconcileSettings = ReconcileSettings()
    marking: MarkingSettings = MarkingSettings()
    inflow: InflowSettings | None = Field(
        None, description="how to reach the WMS (REST or SOAP); leave out to use the embedded sandbox"
    )
    bitrix: BitrixSettings | None = Field(
        None,
        description="how to reach the shop (webhook or OAuth app); leave out to use the embedded sandbox",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file arrives as init kwargs; the environment must win over it.
        return env_settings, init_settings

    def secret_values(self) -> list[str]:
        """Every secret's clear text, so the log redactor can blank it wherever it appears.

        For a Bitrix webhook URL only the code segment is secret (``/rest/{user}/{code}/``): blanking just that keeps
        the host and method readable in logs.
        """
        found = [secret.get_secret_value() for secret in _secrets_in(self) if secret.get_secret_value()]
        if self.bitrix is not None and self.bitrix.webhook_url is not None:
            url = self.bitrix.webhook_url.get_secret_value()
            found[found.index(url)] = webhook_parts(url)[2]
        database_password = make_url(self.database.url).password
        if database_password:
            found.append(str(database_password))
        return found


def _secrets_in(model: BaseModel) -> Iterator[SecretStr]:
    for value in model.__dict__.values():
        if isinstance(value, SecretStr):
            yield value
        elif isinstance(value, BaseModel):
            yield from _secrets_in(value)
