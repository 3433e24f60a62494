"""``InflowSettings``: how to reach one Inflow installation (plugged into the service configuration)."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from bitrix_inflow.adapters.inflow.profile import load_profile
from bitrix_inflow.errors import ValidationError


class InflowTimeouts(BaseModel):
    """Explicit httpx timeouts in seconds; there is no implicit "wait forever" anywhere."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    connect: float = Field(5.0, gt=0, description="TCP + TLS connection establishment")
    read: float = Field(30.0, gt=0, description="between two chunks of the response")
    write: float = Field(30.0, gt=0, description="between two chunks of the request")
    pool: float = Field(5.0, gt=0, description="waiting for a free connection of the pool")


class InflowRetry(BaseModel):
    """The retry budget of one call (transient errors and 429 only)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    attempts: int = Field(5, ge=1, le=20, description="attempts per call, the first one included")
    base_delay: float = Field(0.5, ge=0, description="backoff before the 2nd attempt; doubles per attempt")
    max_delay: float = Field(30.0, ge=0, description="cap of one backoff wait")
    max_retry_after: float = Field(
        60.0,
        ge=0,
        description="longest Retry-After waited for in place; a longer one is raised (RateLimitedError)",
    )


class InflowSettings(BaseModel):
    # Errors must not print the input: it may be a secret, or a URL with one in it.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, hide_input_in_errors=True)

    base_url: str = Field(description="scheme://host[:port] of the installation, without the API base path")
    transport: Literal["rest", "soap"] = "rest"
    auth: Literal["api_key", "oauth2"] = "api_key"
    api_key: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    webhook_secret: SecretStr | None = Field(
        None,
        min_length=16,
        max_length=256,
        description="the secret of the WMS webhook subscription; `serve` verifies every delivery's signature with it",
    )
    profile: str = Field(
        "default", description="a shipped profile name (default, legacy-example) or a TOML path"
    )
    warehouse: str = Field(
        "MAIN", min_length=1, max_length=64, description="warehouse code used when none is given"
    )
    timeouts: InflowTimeouts = Field(default_factory=InflowTimeouts)
    retry: InflowRetry = Field(default_factory=InflowRetry)
    token_refresh_margin: float = Field(
        60.0, ge=0, description="fetch a new OAuth token this many seconds before the current one expires"
    )

    @field_validator("base_url")
    @classmethod
    def _full_url(cls, value: str) -> str:
        # The messages never repeat the value: a mistyped URL may carry a password.
        if "@" in value:
            raise ValueError(
                "must not contain credentials (user:password@); put the key in api_key or use auth = 'oauth2', "
                "both read from the environment or a file"
            )
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("is not a full URL; write it with its scheme, e.g. https://wms.example.com")
        return value.rstrip("/")

    @field_validator("profile")
    @classmethod
    def _profile_loads(cls, value: str) -> str:
        # A bad profile must fail when the configuration is read, not at the first sync run.
        try:
            load_profile(value)
        except ValidationError as exc:
            raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _credentials_for_auth(self) -> InflowSettings:
        if self.auth == "api_key" and not (self.api_key and self.api_key.get_secret_value()):
            raise ValueError(
                "api_key: required when auth = 'api_key' (or set auth = 'oauth2' with client_id/secret)"
            )
        if self.auth == "oauth2" and not (
            self.client_id and self.client_secret and self.client_secret.get_secret_value()
        ):
            raise ValueError("client_id, client_secret: both are required when auth = 'oauth2'")
        return self
