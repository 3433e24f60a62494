"""Settings of one sandbox shop: fixed at start (profile, mode, credentials); faults change at run time."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

SITE_SCOPES = ("sale", "catalog", "im")


def is_http_url(value: Any) -> bool:
    """An absolute http(s) URL with a host: what the event sender can post to."""
    try:
        parts = urlsplit(value) if isinstance(value, str) else None
    except ValueError:  # e.g. an unclosed "[" in the host
        return False
    return parts is not None and parts.scheme in ("http", "https") and bool(parts.netloc)


BITRIX24_SCOPES = (*SITE_SCOPES, "task", "crm")


@dataclass
class SandboxConfig:
    profile: str = "site"  # "site" (Site Management: sale, catalog, im) or "bitrix24" (adds tasks and crm)
    mode: str | None = None  # "cloud" or "onprem"; None picks cloud for bitrix24, onprem for site
    domain: str = "shop.sandbox.local"
    webhook_user_id: int = 1
    webhook_code: str = "sandbox0webhook0code"
    webhook_scopes: tuple[str, ...] | None = None  # None = every scope of the profile
    require_https: bool = False  # on-prem refuses webhooks over HTTP unless REST_APAUTH_ALLOW_HTTP is defined
    oauth_client_id: str = "local.sandbox0000000001"
    oauth_client_secret: str = "sandbox0client0secret0000000000000000000000000000"  # noqa: S105 - test value
    token_ttl_s: float = 3600.0
    application_token: str = "sandbox0application0token000001"  # noqa: S105 - test value
    event_handler_url: str | None = None
    # The events the outgoing webhook was created for (chosen in its settings on a real shop).
    event_handler_events: tuple[str, ...] = ("ONSALEORDERSAVED", "ONSHIPMENTENTITYSAVED")
    utc_offset_minutes: int = 180
    # start=-1 answers without a count: the PHP source omits "total", the docs example shows 0.
    no_count_total: str = "absent"  # "absent" | "zero"
    inventory_management: bool = True
    # The plan's REST features (feature.get): auth_connector keys in events (Bitrix24 Pro and above) and offline
    # events read without clearing (event.offline.get clear=0). Without the first a write's auth_connector is
    # ignored; without the second clear=0 is (records leave the queue as they are read).
    auth_connector: bool = True
    offline_extended: bool = True
    # The portal's users (ids): a task's RESPONSIBLE_ID must be one of them. 1 is the administrator.
    user_ids: tuple[int, ...] = (1, 2, 3)
    # Auth errors: the docs list 403/403/400 for INVALID_CREDENTIALS/insufficient_scope/INVALID_REQUEST,
    # the PHP source throws them with 401. Clients must key on the "error" string; choose what to send.
    auth_error_statuses: str = "docs"  # "docs" | "source"
    # The order statuses the shop has: "product" (exactly those the product installs: Bitrix24 N S P D F, Site
    # Management N P F) or "integrated" (those plus the ones an integrator adds for the brief's mapping table:
    # Q, Z, and D where the product has none).
    statuses: str = "integrated"
    # The companion module (bitrix-module/) installed: its bitrixinflow.* methods and scope. None: installed on a
    # shop of its own (on-premise), never on Bitrix24 cloud, which installs no custom modules.
    companion_module: bool | None = None
    # The sale core refuses to deduct a shipment whose marked lines lack a code per unit
    # (ShipmentItem::checkMarkingCodeOnDeducted). Off only for tests of stock arithmetic over generated products.
    marking_check_on_deduct: bool = True
    # sale.delivery.getlist: "all" services (sale 20.x) or "rest_only", those made through REST (sale 21.400 on).
    # None: rest_only on the cloud (always the newest sale), all on-premise.
    delivery_listing: str | None = None
    # The portal's plan (app.info LICENSE on the cloud; on-premise every answer says "<lang>_selfhosted").
    plan: str = "ru_pro100"

    def __post_init__(self) -> None:
        if self.profile not in ("site", "bitrix24"):
            raise ValueError(f"profile must be 'site' or 'bitrix24', got {self.profile!r}")
        if self.mode is None:
            self.mode = "cloud" if self.profile == "bitrix24" else "onprem"
        if self.mode not in ("cloud", "onprem"):
            raise ValueError(f"mode must be 'cloud' or 'onprem', got {self.mode!r}")
        if self.no_count_total not in ("absent", "zero"):
            raise ValueError("no_count_total must be 'absent' or 'zero'")
        if self.auth_error_statuses not in ("docs", "source"):
            raise ValueError("auth_error_statuses must be 'docs' or 'source'")
        if self.statuses not in ("product", "integrated"):
            raise ValueError("statuses must be 'product' or 'integrated'")
        if self.token_ttl_s <= 0:
            raise ValueError("token_ttl_s must be positive")
        if self.delivery_listing is None:
            self.delivery_listing = "rest_only" if self.mode == "cloud" else "all"
        if self.delivery_listing not in ("all", "rest_only"):
            raise ValueError("delivery_listing must be 'all' or 'rest_only'")
        if self.companion_module is None:
            self.companion_module = self.mode == "onprem"
        elif self.companion_module and self.mode == "cloud":
            raise ValueError(
                "companion_module: a cloud Bitrix24 installs no custom modules; use mode 'onprem'"
            )

    @property
    def cloud(self) -> bool:
        return self.mode == "cloud"

    @property
    def license(self) -> str:
        """app.info's LICENSE: the plan's code on the cloud, ``<lang>_selfhosted`` wherever the bitrix24 module is
        absent (every on-premise installation)."""
        return self.plan if self.cloud else "ru_selfhosted"

    def profile_scopes(self) -> tuple[str, ...]:
        scopes = BITRIX24_SCOPES if self.profile == "bitrix24" else SITE_SCOPES
        return (*scopes, "bitrixinflow") if self.companion_module else scopes

    def scopes(self) -> tuple[str, ...]:
        return self.webhook_scopes if self.webhook_scopes is not None else self.profile_scopes()


@dataclass
class Faults:
    """Switches the control API flips at run time."""

    limiter: bool = False
    bucket_size: int = 50
    drain_per_s: float = 2.0
    operating_limit_s: float | None = None
    operating_cost_s: float = 0.0  # extra seconds booked per call, to reach the operating limit quickly
    force_429: bool = False
    overload: bool = False  # the manual REST block: 503 OVERLOAD_LIMIT on every call
    error_500_rate: float = 0.0
    slow_ms: int = 0
    event_drop_rate: float = 0.0
    # Held requests (holds.py): REST calls of these methods wait until POST /_sandbox/holds/release.
    hold_methods: list[str] = field(default_factory=list)
    hold_stage: str = "before"  # before: not run yet; after: run, the answer kept back
    hold_skip: int = 0  # matching requests let through before holding starts

    @classmethod
    def for_mode(cls, mode: str) -> Faults:
        cloud = mode == "cloud"
        return cls(limiter=cloud, operating_limit_s=480.0 if cloud else None)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def update(self, changes: dict[str, Any]) -> list[str]:
        """Apply known keys; returns the unknown ones so the caller can refuse them. Raises TypeError or
        ValueError (message starts with the switch name) before anything is changed."""
        unknown = [key for key in changes if key not in self.__dataclass_fields__]
        if unknown:
            return unknown
        clean = {key: self._checked(key, value) for key, value in changes.items()}
        for key, value in clean.items():
            setattr(self, key, value)
        return []

    @staticmethod
    def _checked(key: str, value: Any) -> Any:
        if key == "hold_methods":
            if not isinstance(value, list) or not all(isinstance(m, str) and m.strip() for m in value):
                raise TypeError(f"{key} must be a list of REST method names")
            return [m.strip().lower() for m in value]
        if key == "hold_stage":
            if value not in ("before", "after"):
                raise ValueError(f"{key} must be 'before' or 'after'")
            return value
        if key in ("limiter", "force_429", "overload"):
            if not isinstance(value, bool):
                raise TypeError(f"{key} must be true or false")
            return value
        if value is None and key == "operating_limit_s":
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"{key} must be a number")
        if not math.isfinite(value):  # JSON's 1e400 decodes to INF
            raise ValueError(f"{key} must be a finite number")
        if key in ("error_500_rate", "event_drop_rate") and not 0 <= value <= 1:
            raise ValueError(f"{key} must be between 0 and 1")
        if key in ("bucket_size", "drain_per_s", "operating_limit_s") and value <= 0:
            raise ValueError(f"{key} must be positive")
        if value < 0:
            raise ValueError(f"{key} must not be negative")
        return int(value) if key in ("bucket_size", "slow_ms", "hold_skip") else float(value)


@dataclass
class Clock:
    """Wall clock with an offset the control API can move forward (token expiry without waiting)."""

    utc_offset_minutes: int = 180
    offset_s: float = 0.0
    _tz: timezone = field(init=False)

    def __post_init__(self) -> None:
        self._tz = timezone(timedelta(minutes=self.utc_offset_minutes))

    def now(self) -> float:
        return time.time() + self.offset_s

    def iso(self, ts: float | None = None) -> str:
        """PHP ``date('c')``: seconds precision with the site's UTC offset."""
        moment = datetime.fromtimestamp(self.now() if ts is None else ts, tz=UTC).astimezone(self._tz)
        return moment.replace(microsecond=0).isoformat()
