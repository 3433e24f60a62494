"""The HTTP layer both transports share: one httpx client, explicit timeouts, credentials, typed errors.

Authentication is ``X-API-Key`` or an OAuth2 client-credentials bearer token. The token is cached, fetched
again ``token_refresh_margin`` seconds before it expires, and once more when a request is answered 401 (the
server may have revoked it early); the request is then repeated once.
"""

from __future__ import annotations

import functools
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import httpx

from bitrix_inflow.adapters import telemetry
from bitrix_inflow.adapters.inflow.problems import (
    UnavailableError,
    error_for_problem,
    error_for_status,
    parse_retry_after,
)
from bitrix_inflow.adapters.inflow.settings import InflowSettings
from bitrix_inflow.errors import AuthError, IntegrationError
from bitrix_inflow.timing import Clock, SystemClock

USER_AGENT = "bitrix-inflow/0.1 (+InflowClient)"


class Credentials(Protocol):
    def headers(self, http: HttpSession) -> dict[str, str]: ...

    def invalidate(self) -> bool:
        """Forget cached credentials after a 401; True if a fresh attempt could succeed."""
        ...


class ApiKeyCredentials:
    def __init__(self, api_key: str) -> None:
        self._headers = {"X-API-Key": api_key}

    def headers(self, http: HttpSession) -> dict[str, str]:
        return self._headers

    def invalidate(self) -> bool:
        return False


class OAuth2ClientCredentials:
    def __init__(
        self,
        client_id: str,
        client_secret: str,
        token_path: str,
        refresh_margin: float,
        clock: Clock | None = None,
    ) -> None:
        self._form = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
        }
        self._token_path = token_path
        self._margin = refresh_margin
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0
        self.tokens_fetched = 0  # observable in tests and logs

    def headers(self, http: HttpSession) -> dict[str, str]:
        with self._lock:
            if self._token is None or self._clock.monotonic() >= self._refresh_at:
                self._fetch(http)
            return {"Authorization": f"Bearer {self._token}"}

    def invalidate(self) -> bool:
        with self._lock:
            self._token = None
        return True

    def _fetch(self, http: HttpSession) -> None:
        started = self._clock.monotonic()
        response = http.raw("POST", self._token_path, data=self._form)
        if response.status_code != 200:
            error = http.error_from(response)
            if isinstance(error, AuthError) or response.status_code in (400, 401, 403):
                raise AuthError(f"OAuth token request refused ({response.status_code}): {error}") from None
            raise error
        try:
            body = response.json()
            token = str(body["access_token"])
            expires_in = float(body["expires_in"])
        except (ValueError, KeyError, TypeError) as exc:
            raise UnavailableError(f"OAuth token response is not a token document: {exc}") from None
        self._token = token
        # A margin longer than the token's life would refresh on every call; keep at least half of it.
        self._refresh_at = started + max(expires_in - self._margin, expires_in / 2)
        self.tokens_fetched += 1


@functools.cache
def _system_tls() -> ssl.SSLContext:
    """One TLS context per process: building it loads the system's CA bundle, which cost more CPU than a whole
    forwarding run when every job opened its client afresh (the benchmark's profile: 43 % of the service)."""
    return ssl.create_default_context()


class HttpSession:
    def __init__(
        self,
        settings: InflowSettings,
        credentials: Credentials,
        *,
        transport: httpx.BaseTransport | None = None,
        problem_names: Callable[[Any], Any] = lambda value: value,
        field_path: Callable[[str], str] = lambda path: path,
    ) -> None:
        t = settings.timeouts
        self.client = httpx.Client(
            base_url=settings.base_url,
            timeout=httpx.Timeout(connect=t.connect, read=t.read, write=t.write, pool=t.pool),
            headers={"User-Agent": USER_AGENT},
            transport=transport,
            follow_redirects=False,
            verify=_system_tls(),
        )
        self.credentials = credentials
        self._problem_names = problem_names
        self._field_path = field_path

    def close(self) -> None:
        self.client.close()

    def raw(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One exchange without credentials; network trouble becomes UnavailableError."""
        started = time.monotonic()
        try:
            response = self.client.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            telemetry.failed("inflow", "timeout", time.monotonic() - started)
            raise UnavailableError(
                f"Inflow WMS did not answer in time ({type(exc).__name__}): {method} {url}"
            ) from exc
        except httpx.RequestError as exc:
            telemetry.failed("inflow", "network", time.monotonic() - started)
            # Refused or reset connections, dropped keep-alives, cut-off answers: all may heal.
            raise UnavailableError(
                f"network error talking to Inflow WMS ({type(exc).__name__}: {exc})"
            ) from exc
        telemetry.answered("inflow", response.status_code, time.monotonic() - started)
        return response

    def send(
        self, method: str, url: str, *, headers: Mapping[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        """One authenticated exchange; on 401 the credentials are renewed and the request repeated once."""
        response = self.raw(
            method, url, headers={**(headers or {}), **self.credentials.headers(self)}, **kwargs
        )
        if response.status_code == 401 and self.credentials.invalidate():
            response = self.raw(
                method, url, headers={**(headers or {}), **self.credentials.headers(self)}, **kwargs
            )
        return response

    def error_from(self, response: httpx.Response) -> IntegrationError:
        """The typed error for a non-2xx answer, from its problem document if it has one."""
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        problem: Any = None
        if "json" in response.headers.get("Content-Type", ""):
            try:
                problem = response.json()
            except ValueError:
                problem = None
        if isinstance(problem, dict) and "type" in problem:
            problem = self._problem_names(problem)
            for item in problem.get("errors") or []:
                if isinstance(item, dict) and isinstance(item.get("field"), str):
                    item["field"] = self._field_path(item["field"])
            return error_for_problem(response.status_code, problem, retry_after)
        snippet = response.text[:200].strip()
        return error_for_status(
            response.status_code,
            f"Inflow WMS answered {response.status_code} {response.reason_phrase}: {snippet}",
            retry_after,
        )
