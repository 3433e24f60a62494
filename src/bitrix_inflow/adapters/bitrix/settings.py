"""Configuration of the Bitrix gateway: how to reach the shop, how hard to push it, whom to tell."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

Profile = Literal["site", "bitrix24"]

# Bitrix24 cloud allows X=50 requests in the bucket draining at Y=2/s per portal *and source IP*, shared with
# every other app on the same host; a smaller burst leaves head-room for them.
DEFAULT_RATE_PER_SECOND = 2.0
DEFAULT_BURST = 10


class OAuthCredentials(BaseModel):
    """A local/market application's OAuth credentials (Bitrix24 or an on-prem site with an installed app)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    portal_url: str = Field(
        description="https://portal.example.ru — the portal's REST base is {portal_url}/rest/"
    )
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    access_token: SecretStr
    refresh_token: SecretStr
    # Bitrix documents oauth.bitrix.info as the token server; b24pysdk hard-codes oauth.bitrix24.tech, so the
    # gateway sends refreshes itself to the configured URL (see README.md).
    token_url: str = "https://oauth.bitrix.info/oauth/token/"  # noqa: S105 - a URL, not a secret


class BitrixSettings(BaseModel):
    """Everything the gateway needs; exactly one of ``webhook_url`` / ``oauth`` must be given."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    webhook_url: SecretStr | None = Field(
        default=None,
        description="Incoming webhook, https://HOST/rest/{USER_ID}/{CODE}/ — the code is a password.",
    )
    oauth: OAuthCredentials | None = None
    profile: Profile = Field(default="site", description="site = on-prem Site Management; bitrix24 = cloud")
    verify: bool | Path = Field(
        default=True,
        description="TLS: true = system CAs, a path = a CA bundle (self-signed on-prem sites, the sandbox)",
    )
    rate_limit: bool | None = Field(
        default=None, description="client-side leaky bucket; None = on for bitrix24, off for site (on-prem)"
    )
    rate_per_second: float = Field(default=DEFAULT_RATE_PER_SECOND, gt=0)
    burst: int = Field(default=DEFAULT_BURST, ge=1, le=250)
    connect_timeout: float = Field(default=10.0, gt=0)
    # Cloud requests may run 60 s server-side; reading less turns slow successes into failures.
    read_timeout: float = Field(default=65.0, gt=0)
    max_attempts: int = Field(default=5, ge=1, le=20, description="tries per request on limits/5xx/network")
    backoff_base: float = Field(default=1.0, gt=0, description="first back-off step, seconds")
    backoff_cap: float = Field(default=60.0, gt=0, description="longest single back-off wait, seconds")
    change_overlap_seconds: int = Field(
        default=300, ge=0, description="re-read orders changed this long before the dateUpdate watermark"
    )
    manager_user_id: int | None = Field(default=None, ge=1, description="Bitrix user who gets notices/tasks")
    language: Literal["ru", "en"] = Field(
        default="ru",
        description="the language of the manager's tasks and notifications (the shop's language)",
    )
    application_token: SecretStr | None = Field(
        default=None,
        description="the token the shop sends with every event (auth[application_token]) to serve's /hooks/bitrix; "
        "unset: events are refused and orders are found by the poll alone",
    )
    offline_events: bool = Field(
        default=False,
        description="read the shop's offline event queue (event.offline.get) as the doorbell for the order poll: "
        "nothing to receive from outside, behind a firewall too; needs oauth (an application, installed by an "
        "administrator)",
    )
    auth_connector: str = Field(
        default="bitrix-inflow",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="the key the service's own writes carry, so the shop keeps them out of its offline queue "
        "(Bitrix24 Pro and above; elsewhere the service recognises its own writes)",
    )

    @model_validator(mode="after")
    def _one_way_in(self) -> BitrixSettings:
        if (self.webhook_url is None) == (self.oauth is None):
            raise ValueError(
                "give exactly one of webhook_url (https://HOST/rest/USER_ID/CODE/) or oauth (app credentials)"
            )
        if self.webhook_url is not None:
            webhook_parts(self.webhook_url.get_secret_value())
        if self.oauth is not None:
            _check_base_url(self.oauth.portal_url, "oauth.portal_url")
        if self.offline_events and self.oauth is None:
            raise ValueError(
                "offline_events: the offline event queue answers applications only (fix: configure oauth with "
                "an installed application's credentials, or set offline_events = false and let the shop post "
                "its events to /hooks/bitrix)"
            )
        if isinstance(self.verify, Path) and not self.verify.is_file():
            raise ValueError(f"verify: CA file {self.verify} does not exist (fix: point it at a PEM bundle)")
        return self

    @property
    def limiter_on(self) -> bool:
        return self.profile == "bitrix24" if self.rate_limit is None else self.rate_limit


def _check_base_url(url: str, field: str) -> None:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        # On-prem webhooks refuse plain HTTP ("Https required.") unless the site opts out; cloud is HTTPS.
        raise ValueError(f"{field}: must be an https:// URL with a host, got {parts.scheme or 'no'} scheme")


def webhook_parts(url: str) -> tuple[str, str, str]:
    """Split a webhook URL into (base URL up to /rest, user id, code); raises ValueError naming the fix."""
    _check_base_url(url, "webhook_url")
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) < 3 or segments[-3] != "rest":
        raise ValueError(
            "webhook_url: expected https://HOST/rest/USER_ID/CODE/ (copy it from Developer resources → "
            "Incoming webhook, without a method name)"
        )
    user_id, code = segments[-2], segments[-1]
    if not user_id.isdigit():
        raise ValueError(f"webhook_url: user id segment must be a number, got {user_id!r}")
    prefix = "/".join(segments[:-2])
    base = f"{parts.scheme}://{parts.netloc}/{prefix}"
    return base, user_id, code
