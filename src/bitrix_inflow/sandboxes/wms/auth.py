"""API keys and OAuth2 client-credentials tokens; which of the two is enabled is sandbox configuration."""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass, field

from bitrix_inflow.sandboxes.wms.problems import Problem, field_error


@dataclass
class AuthSettings:
    api_keys: list[str] = field(default_factory=lambda: ["sandbox-key"])
    oauth_clients: dict[str, str] = field(default_factory=lambda: {"sandbox-client": "sandbox-secret"})
    token_ttl: int = 3600


class Authenticator:
    def __init__(self, settings: AuthSettings) -> None:
        self.settings = settings
        self._tokens: dict[str, tuple[str, float]] = {}

    def issue_token(
        self, grant_type: str | None, client_id: str | None, client_secret: str | None
    ) -> dict[str, object]:
        if not self.settings.oauth_clients:
            raise _oauth_problem(
                "unauthorized", "invalid_client", "OAuth2 is not enabled on this installation", "client_id"
            )
        missing = [
            n
            for n, v in (
                ("grant_type", grant_type),
                ("client_id", client_id),
                ("client_secret", client_secret),
            )
            if not v
        ]
        if missing:
            raise _oauth_problem(
                "validation", "invalid_request", f"missing form field(s): {', '.join(missing)}", missing[0]
            )
        if grant_type != "client_credentials":
            raise _oauth_problem(
                "validation",
                "unsupported_grant_type",
                "only grant_type=client_credentials is supported",
                "grant_type",
            )
        expected = self.settings.oauth_clients.get(client_id or "")
        if expected is None or not hmac.compare_digest(expected.encode(), (client_secret or "").encode()):
            raise _oauth_problem(
                "unauthorized", "invalid_client", "unknown client_id or wrong client_secret", "client_secret"
            )
        token = secrets.token_urlsafe(32)
        self._tokens[token] = (client_id or "", time.monotonic() + self.settings.token_ttl)
        return {"access_token": token, "token_type": "Bearer", "expires_in": self.settings.token_ttl}

    def expire_all(self) -> int:
        count = len(self._tokens)
        self._tokens = {t: (c, 0.0) for t, (c, _) in self._tokens.items()}
        return count

    def authenticate(self, authorization: str | None, api_key: str | None) -> str:
        """The principal (``key:…`` or ``client:…``) or a 401 problem."""
        if authorization is not None:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise _unauthorized(
                    "Authorization must be 'Bearer <access_token>'", "Authorization", "invalid_request"
                )
            if not self.settings.oauth_clients:
                raise _unauthorized("OAuth2 is not enabled; use X-API-Key", "Authorization", "invalid_token")
            entry = self._tokens.get(token.strip())
            if entry is None:
                raise _unauthorized(
                    "unknown access token; get one from POST /oauth/token", "Authorization", "invalid_token"
                )
            if entry[1] <= time.monotonic():
                raise _unauthorized(
                    "access token expired; get a new one from POST /oauth/token",
                    "Authorization",
                    "invalid_token",
                )
            return f"client:{entry[0]}"
        if api_key is not None:
            if not self.settings.api_keys:
                raise _unauthorized("API keys are not enabled; use OAuth2", "X-API-Key", None)
            if not any(hmac.compare_digest(api_key.encode(), k.encode()) for k in self.settings.api_keys):
                raise _unauthorized("unknown API key", "X-API-Key", None)
            return f"key:{api_key}"
        raise _unauthorized("send X-API-Key or Authorization: Bearer <token>", "X-API-Key", None)


def _unauthorized(detail: str, where: str, bearer_error: str | None) -> Problem:
    challenge = 'Bearer realm="inflow"' + (f', error="{bearer_error}"' if bearer_error else "")
    return Problem(
        "unauthorized", detail, errors=[field_error(where, detail)], headers={"WWW-Authenticate": challenge}
    )


def _oauth_problem(kind: str, error: str, detail: str, where: str) -> Problem:
    return Problem(kind, detail, errors=[field_error(where, detail)], extra={"error": error})
