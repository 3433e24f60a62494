"""Credentials: inbound webhooks (user id + secret code in the path) and OAuth tokens (``auth=``)."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

from bitrix_inflow.sandboxes.bitrix import rest_errors
from bitrix_inflow.sandboxes.bitrix.config import Clock, SandboxConfig

REFRESH_TTL_S = 180 * 86400.0


@dataclass
class Identity:
    user_id: int
    scopes: tuple[str, ...]
    credential: str  # what the operating-time limit is counted against
    is_app: bool = False
    sale_access: str = "W"  # the user's sale-module right: D (none), R (read), W (write)


@dataclass
class Webhook:
    user_id: int
    code: str
    scopes: tuple[str, ...]


@dataclass
class Token:
    access_token: str
    refresh_token: str
    user_id: int
    scopes: tuple[str, ...]
    expires_at: float
    refresh_expires_at: float


@dataclass
class Credentials:
    config: SandboxConfig
    clock: Clock
    webhooks: list[Webhook] = field(default_factory=list)
    tokens: dict[str, Token] = field(default_factory=dict)
    refresh: dict[str, Token] = field(default_factory=dict)
    sale_rights: dict[int, str] = field(default_factory=dict)  # users not listed have W
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.webhooks.append(
            Webhook(self.config.webhook_user_id, self.config.webhook_code, self.config.scopes())
        )

    def add_webhook(self, user_id: int, code: str, scopes: tuple[str, ...]) -> Webhook:
        hook = Webhook(user_id, code, scopes)
        with self._lock:
            self.webhooks.append(hook)
        return hook

    def check_webhook(self, user: str, code: str) -> Identity:
        for hook in self.webhooks:
            if str(hook.user_id) == user and secrets.compare_digest(hook.code, code):
                return Identity(
                    hook.user_id,
                    hook.scopes,
                    f"webhook:{hook.user_id}:{hook.code}",
                    sale_access=self.sale_rights.get(hook.user_id, "W"),
                )
        raise rest_errors.invalid_credentials()

    def issue(self, user_id: int | None = None, scopes: tuple[str, ...] | None = None) -> Token:
        now = self.clock.now()
        token = Token(
            access_token=secrets.token_hex(32),
            refresh_token=secrets.token_hex(32),
            user_id=user_id if user_id is not None else self.config.webhook_user_id,
            scopes=scopes if scopes is not None else self.config.profile_scopes(),
            expires_at=now + self.config.token_ttl_s,
            refresh_expires_at=now + REFRESH_TTL_S,
        )
        with self._lock:
            self.tokens[token.access_token] = token
            self.refresh[token.refresh_token] = token
        return token

    def check_token(self, access_token: str) -> Identity:
        token = self.tokens.get(access_token)
        if token is None:
            raise rest_errors.invalid_credentials()
        if self.clock.now() >= token.expires_at:
            raise rest_errors.expired_token()
        return Identity(
            token.user_id,
            token.scopes,
            f"app:{self.config.oauth_client_id}",
            is_app=True,
            sale_access=self.sale_rights.get(token.user_id, "W"),
        )

    def refresh_token(self, params: dict[str, Any]) -> dict[str, Any]:
        """``/oauth/token/?grant_type=refresh_token&client_id&client_secret&refresh_token``."""
        if params.get("grant_type") != "refresh_token":
            raise rest_errors.RestError(400, "unsupported_grant_type", "Unsupported grant type")
        if params.get("client_id") != self.config.oauth_client_id or not secrets.compare_digest(
            str(params.get("client_secret", "")), self.config.oauth_client_secret
        ):
            raise rest_errors.RestError(401, "invalid_client", "Invalid client credentials")
        old = self.refresh.get(str(params.get("refresh_token", "")))
        if old is None or self.clock.now() >= old.refresh_expires_at:
            raise rest_errors.RestError(400, "invalid_grant", "Invalid refresh token")
        with self._lock:
            # The refresh token is spent; the old access token lives out its hour (the docs revoke nothing on a
            # refresh), so a holder of it meets expired_token, not an unknown token.
            self.refresh.pop(old.refresh_token, None)
        token = self.issue(old.user_id, old.scopes)
        return self.token_body(token)

    def token_body(self, token: Token) -> dict[str, Any]:
        domain = self.config.domain
        return {
            "access_token": token.access_token,
            "expires": int(token.expires_at),
            "expires_in": int(self.config.token_ttl_s),
            "scope": ",".join(token.scopes),
            "domain": domain,
            "server_endpoint": "https://oauth.bitrix.info/rest/",
            "status": "L",
            "client_endpoint": f"https://{domain}/rest/",
            "member_id": "sandbox0member0" + domain.replace(".", "0")[:18],
            "user_id": token.user_id,
            "refresh_token": token.refresh_token,
        }
