"""One HTTP conversation with Bitrix, built on b24pysdk: pacing, retries, OAuth refresh, error translation.

b24pysdk does the request plumbing (JSON POST, SDK headers, batch ``cmd`` encoding, typed exceptions carrying
the JSON body, expired-token refresh in ``BitrixToken``). Two things it cannot be told per client are added
here through its own extension points (README.md has the evidence):

* TLS trust: its requesters call module-level ``requests.post``/``get``, so only the process-wide
  ``REQUESTS_CA_BUNDLE`` would reach them. ``_SessionRequester`` overrides the ``_request`` hook to send
  through this gateway's own ``requests.Session`` (``verify`` = the configured CA, our timeouts).
* The OAuth token server: hard-coded ``oauth.bitrix24.tech``; ``_RefreshingApp`` sends the refresh to the
  configured URL through the same session, then lets b24pysdk parse and store the renewed token.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import requests
from b24pysdk import BitrixToken
from b24pysdk.api.requesters import BitrixAPIRequester, BitrixOAuthRequester
from b24pysdk.credentials import AbstractBitrixApp
from b24pysdk.credentials.auth import RenewedOAuth
from b24pysdk.errors import (
    BitrixAPIError,
    BitrixAPIExpiredToken,
    BitrixRequestError,
    BitrixRequestTimeout,
    BitrixResponseJSONDecodeError,
    BitrixSDKException,
    BitrixValidationError,
)
from b24pysdk.errors.oauth import (
    BitrixOAuthException,
    BitrixOAuthRequestError,
    BitrixOAuthRequestTimeout,
)

from bitrix_inflow.adapters import telemetry
from bitrix_inflow.errors import (
    AuthError,
    IntegrationError,
    PermanentError,
    RateLimitedError,
    TransientError,
    ValidationError,
)
from bitrix_inflow.timing import Clock, SystemClock

from . import error_map
from .pacing import Backoff, LeakyBucket, portal_bucket
from .settings import BitrixSettings, webhook_parts

log = logging.getLogger(__name__)

JSON = dict[str, Any]
T = TypeVar("T")


class _SessionRequester(BitrixAPIRequester):  # type: ignore[misc]  # b24pysdk ships no type information
    """b24pysdk's requester, sending through our session; its own 503 sleep-loop is off (max_retries=1)."""

    def __init__(
        self, url: str, params: JSON, session: requests.Session, timeout: tuple[float, float]
    ) -> None:
        super().__init__(url, params=params, timeout=timeout, max_retries=1)
        self._session = session

    def _request(self) -> requests.Response:
        started = time.monotonic()
        try:
            response = self._session.post(
                url=self._url,
                json=self._params,
                headers=self._headers,
                timeout=self._timeout,
                allow_redirects=False,
            )
        except requests.Timeout:
            telemetry.failed("bitrix", "timeout", time.monotonic() - started)
            raise
        except requests.RequestException:
            telemetry.failed("bitrix", "network", time.monotonic() - started)
            raise
        telemetry.answered("bitrix", response.status_code, time.monotonic() - started)
        return response


class _RefreshRequester(BitrixOAuthRequester):  # type: ignore[misc]
    def __init__(self, app: _RefreshingApp) -> None:
        super().__init__(app, timeout=app.timeout, max_retries=1)
        self._app = app

    def _request(self, url: str, params: JSON) -> requests.Response:
        # ``url`` is b24pysdk's hard-coded token server; the configured one replaces it.
        return self._app.session.get(
            self._app.token_url, params=params, headers=self._headers, timeout=self._timeout
        )


class _RefreshingApp(AbstractBitrixApp):  # type: ignore[misc]
    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        token_url: str,
        session: requests.Session,
        timeout: tuple[float, float],
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_url = token_url
        self.session = session
        self.timeout = timeout

    def refresh_oauth_token(self, refresh_token: str, **kwargs: Any) -> RenewedOAuth:
        return RenewedOAuth.from_dict(_RefreshRequester(self).refresh_oauth_token(refresh_token))


@dataclass
class _NewestPair:
    """The newest OAuth pair this process holds for one application on one portal, descended from one configured
    pair: shared by every gateway that started from that pair (another configured pair is another lineage)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    oauth: Any = None  # b24pysdk's OAuthToken, once a gateway refreshed


_NEWEST: dict[tuple[str, str, str], _NewestPair] = {}
_NEWEST_LOCK = threading.Lock()


def _newest_pair(portal_url: str, client_id: str, configured_refresh_token: str) -> _NewestPair:
    key = (portal_url.rstrip("/"), client_id, hashlib.sha256(configured_refresh_token.encode()).hexdigest())
    with _NEWEST_LOCK:
        return _NEWEST.setdefault(key, _NewestPair())


class _GatewayToken(BitrixToken):  # type: ignore[misc]
    """A b24pysdk token whose every call (typed wrappers and batches included) goes through ``Transport``.

    b24pysdk's ``_execute_with_retries`` stays in charge of expired tokens: it refreshes and repeats once.
    """

    def __init__(self, transport: Transport, *, newest: _NewestPair | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._transport = transport
        self._newest = newest
        if newest is not None and newest.oauth is not None:
            self.oauth_token = newest.oauth  # the file's pair may be spent already: start from the newest
        # One request at a time per portal (what Bitrix asks of integrations), and above all one refresh:
        # refresh tokens rotate, so two threads refreshing at once would leave one with a dead token.
        # Re-entrant because a batch calls back into call_method.
        self._lock = threading.RLock()

    def call_method(
        self, api_method: str, params: JSON | None = None, timeout: Any = None, **kwargs: Any
    ) -> JSON:
        idempotent = bool(kwargs.pop("idempotent", True))
        with self._lock:
            return cast(
                JSON,
                self._execute_with_retries(
                    lambda: self._transport.send(api_method, params or {}, idempotent=idempotent)
                ),
            )

    def refresh_and_set_oauth_token(self, **kwargs: Any) -> None:
        # Refresh tokens rotate: every gateway of the application (each worker thread's, the console's) starts
        # from one pair, and the first refresh spends it. A second gateway refreshing with it would be refused
        # (invalid_grant); it takes the pair the first one got instead.
        newest = self._newest
        if newest is None:
            super().refresh_and_set_oauth_token(**kwargs)
        else:
            with newest.lock:
                if newest.oauth is not None and newest.oauth.access_token != self.auth_token:
                    self.oauth_token = newest.oauth
                    return
                super().refresh_and_set_oauth_token(**kwargs)
                newest.oauth = self.oauth_token
        self._transport.token_refreshed(self.auth_token, self.refresh_token)


@dataclass(frozen=True)
class BatchReply:
    """A ``batch`` answer split per command key; ``errors`` are already translated."""

    results: Mapping[str, Any]
    errors: Mapping[str, IntegrationError]
    totals: Mapping[str, int] = field(default_factory=dict)
    nexts: Mapping[str, int] = field(default_factory=dict)


TokenListener = Callable[[str, str | None], None]


class Transport:
    """Sends Bitrix REST calls: one per ``call``, up to 50 per ``batch``; raises only taxonomy errors."""

    def __init__(
        self,
        settings: BitrixSettings,
        *,
        clock: Clock | None = None,
        backoff: Backoff | None = None,
        on_token_refreshed: TokenListener | None = None,
    ) -> None:
        self.settings = settings
        self._clock = clock or SystemClock()
        self.backoff = backoff or Backoff(base=settings.backoff_base, cap=settings.backoff_cap)
        self._on_token_refreshed = on_token_refreshed
        self.session = requests.Session()
        self.session.verify = (
            str(settings.verify) if not isinstance(settings.verify, bool) else settings.verify
        )
        # Proxies/CA bundles from the environment must not override the explicit configuration.
        self.session.trust_env = False
        self._timeout = (settings.connect_timeout, settings.read_timeout)
        self.requests_sent = 0  # HTTP requests, retries included (metrics, tests)
        self.retries = 0
        # When each method's operating budget comes back (our clock), from time.operating_reset_at of its
        # last success (cloud): a 429 body carries no time object, so this is the only word on it.
        self._operating_reset_at: dict[str, float] = {}
        self.token = self._make_token()
        self.limiter: LeakyBucket | None = None
        if settings.limiter_on:
            # A test's own clock gets its own bucket; the real one is shared by every gateway of the portal.
            self.limiter = (
                portal_bucket(self._rest_base, settings.rate_per_second, settings.burst, self._clock)
                if clock is None
                else LeakyBucket(settings.rate_per_second, settings.burst, self._clock)
            )

    def _make_token(self) -> _GatewayToken:
        settings = self.settings
        if settings.webhook_url is not None:
            base, user_id, code = webhook_parts(settings.webhook_url.get_secret_value())
            self._rest_base = base
            return _GatewayToken(self, domain=base, auth_token=f"{user_id}/{code}")
        oauth = settings.oauth
        assert oauth is not None  # guaranteed by BitrixSettings
        self._rest_base = oauth.portal_url.rstrip("/") + "/rest"
        app = _RefreshingApp(
            client_id=oauth.client_id,
            client_secret=oauth.client_secret.get_secret_value(),
            token_url=oauth.token_url,
            session=self.session,
            timeout=self._timeout,
        )
        return _GatewayToken(
            self,
            newest=_newest_pair(oauth.portal_url, oauth.client_id, oauth.refresh_token.get_secret_value()),
            domain=oauth.portal_url,
            auth_token=oauth.access_token.get_secret_value(),
            refresh_token=oauth.refresh_token.get_secret_value(),
            bitrix_app=app,
        )

    def close(self) -> None:
        self.session.close()

    def token_refreshed(self, access_token: str, refresh_token: str | None) -> None:
        log.info("bitrix OAuth token refreshed")
        if self._on_token_refreshed is not None:
            try:
                self._on_token_refreshed(access_token, refresh_token)
            except Exception:
                # The call that triggered the refresh still succeeds with the new token held in memory;
                # the next refresh offers it again. Losing it on restart means re-authorising the app.
                log.exception("could not persist the refreshed Bitrix OAuth token")

    # -- public calls -------------------------------------------------------------------------------------

    @property
    def portal_url(self) -> str:
        """The shop's address, without ``/rest`` (and without a webhook's secret path)."""
        return self._rest_base.removesuffix("/rest")

    def connector(self) -> str | None:
        """The ``auth_connector`` the service's calls carry: when it reads the offline queue and the plan has the
        feature (``feature.get rest_auth_connector``; a plan without it refuses any call that carries a key). Asked
        once an hour per portal."""
        if not self.settings.offline_events:
            return None
        now = self._clock.monotonic()
        known = _CONNECTOR_SUPPORT.get(self._rest_base)
        if known is None or now - known[0] > CONNECTOR_RECHECK_S:
            known = _CONNECTOR_SUPPORT[self._rest_base] = (now, self.feature("rest_auth_connector"))
        return self.settings.auth_connector if known[1] else None

    def feature(self, code: str) -> bool:
        """``feature.get``: whether the plan has a REST feature (``rest_offline_extended``,
        ``rest_auth_connector``)."""
        result = self.call("feature.get", {"CODE": code}).get("result")
        value = result.get("value") if isinstance(result, Mapping) else None
        if isinstance(value, str) and value.endswith("_selfhosted"):
            # On-premise answers its license for any code (feature-get.md: "lang_selfhosted"): no plan gates a
            # feature there.
            return True
        if value not in ("Y", "N"):
            raise PermanentError(f"feature.get: expected value Y or N for {code}, got {value!r}")
        return bool(value == "Y")

    def as_writer(self, params: JSON) -> JSON:
        """A write's parameters, with the ``auth_connector`` that keeps its events out of the service's own
        offline queue (offline-events.md, "How to avoid cycles") where there is one."""
        key = self.connector()
        return params if key is None else {**params, "auth_connector": key}

    def call(self, method: str, params: JSON | None = None, *, idempotent: bool = True) -> JSON:
        """One REST method; returns the whole envelope (``result``, ``next``, ``total``, ``time``)."""
        return self.guard(method, lambda: self.token.call_method(method, params or {}, idempotent=idempotent))

    def batch(
        self,
        commands: Mapping[str, tuple[str, JSON]],
        *,
        halt: bool = False,
        idempotent: bool = True,
        retry: bool = True,
    ) -> BatchReply:
        """Up to 50 commands in one request; sub-command failures come back translated, per key. ``retry=False``:
        one attempt, for a caller that knows which answers matter and retries itself (``pause_before_retry``)."""
        if not commands:
            return BatchReply(results={}, errors={})
        if len(commands) > 50:
            raise ValueError("a Bitrix batch holds at most 50 commands")
        pending = dict(commands)
        results: dict[str, Any] = {}
        errors: dict[str, IntegrationError] = {}
        totals: dict[str, int] = {}
        nexts: dict[str, int] = {}
        attempt = 0
        while True:
            attempt += 1
            reply = self._batch_once(pending, halt=halt, idempotent=idempotent)
            for key in pending:
                errors.pop(key, None)
            results.update(reply.results)
            errors.update(reply.errors)
            totals.update(reply.totals)
            nexts.update(reply.nexts)
            merged = BatchReply(results=results, errors=errors, totals=totals, nexts=nexts)
            # The envelope is always 200; limits and server trouble show up per command. A repeatable
            # batch is sent again as a whole, like a single call would be. Of a creating one only the
            # commands a limit refused go again: Bitrix refuses those before running them, while one
            # that met a server error may have been applied.
            retryable = [
                (key, e)
                for key, e in reply.errors.items()
                if isinstance(e, RateLimitedError) or (idempotent and isinstance(e, TransientError))
            ]
            if not retry or not retryable:
                return merged
            # The longest wait the server asked for stands for all of them; a limit over server trouble.
            first = max(
                retryable,
                key=lambda item: (_server_wait(item[1]) or 0.0, isinstance(item[1], RateLimitedError)),
            )[1]
            if not self.pause_before_retry(first, attempt, "batch", idempotent=idempotent):
                return merged
            if not idempotent:
                pending = {key: pending[key] for key, _ in retryable}

    def _batch_once(
        self, commands: Mapping[str, tuple[str, JSON]], *, halt: bool, idempotent: bool
    ) -> BatchReply:
        envelope = self.guard(
            "batch", lambda: self.token.call_batch(dict(commands), halt=halt, idempotent=idempotent)
        )
        body = envelope.get("result")
        if not isinstance(body, Mapping):
            raise TransientError(f"batch: malformed reply without a result object: {str(envelope)[:200]}")
        results = _as_map(body.get("result"))
        for key, timing in _as_map(body.get("result_time")).items():
            if key in commands:
                self._note_operating_reset(commands[key][0], {"time": timing})
        raw_errors = _as_map(body.get("result_error"))
        errors: dict[str, IntegrationError] = {}
        for key, value in raw_errors.items():
            if key not in commands:
                continue
            method = commands[key][0]
            raw = value if isinstance(value, Mapping) else None
            errors[str(key)] = error_map.translate(None, raw, method=method)
            if _is_operating_limit(raw):
                self._fill_operating_wait(errors[str(key)], method)
        totals = {str(k): int(v) for k, v in _as_map(body.get("result_total")).items() if _is_int(v)}
        nexts = {str(k): int(v) for k, v in _as_map(body.get("result_next")).items() if _is_int(v)}
        return BatchReply(
            results={str(k): v for k, v in results.items()}, errors=errors, totals=totals, nexts=nexts
        )

    # -- machinery ----------------------------------------------------------------------------------------

    def guard(self, method: str, action: Callable[[], T]) -> T:
        """Run a b24pysdk call, letting only taxonomy errors out, with every secret blanked."""
        try:
            return self._translated(method, action)
        except IntegrationError as error:
            # Messages end up in job records and logs; requests' errors quote URLs holding the webhook
            # code or the refresh query. The original exception is dropped for the same reason.
            raise self.redact(error) from None

    def redact(self, error: IntegrationError) -> IntegrationError:
        secrets = [s for s in self._secrets() if s and len(s) >= 4]

        def clean(text: str) -> str:
            for secret in secrets:
                text = text.replace(secret, "***")
            return text

        error.args = tuple(clean(a) if isinstance(a, str) else a for a in error.args)
        if isinstance(error, ValidationError):
            error.problem = clean(error.problem)
        return error

    def _secrets(self) -> list[str]:
        found = [str(self.token.auth_token or ""), str(self.token.refresh_token or "")]
        if self.settings.webhook_url is not None:
            found.append(webhook_parts(self.settings.webhook_url.get_secret_value())[2])
        if self.settings.oauth is not None:
            found.append(self.settings.oauth.client_secret.get_secret_value())
            found.append(self.settings.oauth.refresh_token.get_secret_value())
        return found

    def _translated(self, method: str, action: Callable[[], T]) -> T:
        try:
            return action()
        except IntegrationError:
            raise
        except (BitrixOAuthRequestError, BitrixOAuthRequestTimeout) as exc:
            # The token server was not reached: that says nothing about the credentials, so this is a
            # network error (or an untrusted certificate), not "re-authorise the app".
            raise translate_exception(exc, method=f"{method} (OAuth token refresh)") from exc
        except BitrixOAuthException as exc:
            raise AuthError(
                f"refreshing the OAuth token failed ({exc}); check oauth.client_id/client_secret/token_url "
                "and re-authorise the app for a new refresh token"
            ) from exc
        except BitrixValidationError as exc:
            raise AuthError(
                f"the OAuth server sent an unusable token reply ({exc}); check oauth.token_url"
            ) from exc
        except BitrixSDKException as exc:
            raise translate_exception(exc, method=method) from exc

    def url_for(self, method: str) -> str:
        if self.token.is_webhook:
            return f"{self._rest_base}/{self.token.auth_token}/{method}.json"
        return f"{self._rest_base}/{method}.json"

    def _note_operating_reset(self, method: str, reply: Mapping[str, Any]) -> None:
        timing = reply.get("time")
        if not isinstance(timing, Mapping):
            return
        reset_at, finish = _number(timing.get("operating_reset_at")), _number(timing.get("finish"))
        if reset_at is not None and finish is not None:
            # Kept on our own clock, as "this many seconds after the server's finish", so a skew between
            # the shop's clock and ours does not shift the wait.
            self._operating_reset_at[method.lower()] = self._clock.monotonic() + reset_at - finish

    def _fill_operating_wait(self, error: IntegrationError, method: str) -> None:
        reset_at = self._operating_reset_at.get(method.lower())
        if isinstance(error, RateLimitedError) and error.retry_after is None and reset_at is not None:
            error.retry_after = max(0.0, reset_at - self._clock.monotonic())

    def send(self, method: str, params: JSON, *, idempotent: bool) -> JSON:
        """POST one request, pacing before it and retrying what is safe to retry."""
        if method == "batch" and self.settings.offline_events and _carries_connector(params):
            # A batch's commands may be run with the batch request's own key: it carries it too.
            params = {**params, "auth_connector": self.settings.auth_connector}
        attempts = self.settings.max_attempts
        for attempt in range(1, attempts + 1):
            if self.limiter is not None:
                self.limiter.acquire()
            body = params if self.token.is_webhook else {**params, "auth": self.token.auth_token}
            self.requests_sent += 1
            try:
                reply = cast(
                    JSON, _SessionRequester(self.url_for(method), body, self.session, self._timeout).call()
                )
            except BitrixAPIExpiredToken:
                raise  # b24pysdk's token refreshes and repeats the call once
            except BitrixSDKException as exc:
                error = self.redact(translate_exception(exc, method=method))
                if isinstance(exc, BitrixAPIError) and _is_operating_limit(exc.json_response):
                    self._fill_operating_wait(error, method)
            else:
                self._note_operating_reset(method, reply)
                return reply
            if not self.pause_before_retry(error, attempt, method, idempotent=idempotent):
                raise error
        raise AssertionError("unreachable")  # pragma: no cover

    def pause_before_retry(
        self, error: IntegrationError, attempt: int, what: str, *, idempotent: bool
    ) -> bool:
        """Whether a call that failed with ``error`` on its ``attempt``-th try goes again; if so, after the wait.

        Limits always go again (Bitrix refused before running anything); server trouble only when the call is
        safe to repeat. A server wait beyond the backoff's cap is left to the job engine instead of blocking.
        """
        retryable = isinstance(error, RateLimitedError) or (isinstance(error, TransientError) and idempotent)
        server_wait = _server_wait(error)
        if isinstance(error, RateLimitedError) and self.limiter is not None:
            self.limiter.saturate()
        attempts = self.settings.max_attempts
        if not retryable or attempt >= attempts or self.backoff.too_long(server_wait):
            return False
        wait = self.backoff.delay(attempt, server_wait)
        self.retries += 1
        log.warning("bitrix %s failed (%s); retry %d/%d in %.1fs", what, error, attempt, attempts - 1, wait)
        self._clock.sleep(wait)
        return True


def _server_wait(error: IntegrationError) -> float | None:
    return error.retry_after if isinstance(error, RateLimitedError) else None


def _is_operating_limit(body: object) -> bool:
    return isinstance(body, Mapping) and str(body.get("error", "")).upper() == "OPERATION_TIME_LIMIT"


def translate_exception(exc: BitrixSDKException, *, method: str) -> IntegrationError:
    """A b24pysdk exception → taxonomy; codes come from ``json_response`` (``exc.error`` breaks on ints)."""
    if isinstance(exc, BitrixRequestTimeout):
        return TransientError(f"{method}: Bitrix did not answer in time ({exc})")
    if isinstance(exc, BitrixRequestError):
        if isinstance(exc.__cause__, requests.exceptions.SSLError):
            # An untrusted certificate will not fix itself: retrying only delays the operator.
            return ValidationError(
                "verify",
                f"{method}: the Bitrix server's TLS certificate is not trusted ({exc.__cause__})",
                "set verify to the CA bundle (PEM) that signed the site's certificate",
            )
        return TransientError(f"{method}: network error talking to Bitrix ({exc})")
    if isinstance(exc, BitrixAPIError):
        response = exc.response
        body = exc.json_response if isinstance(exc.json_response, Mapping) else None
        header = response.headers.get("Retry-After") if response is not None else None
        status = response.status_code if response is not None else None
        return error_map.translate(
            status, body, method=method, retry_after=error_map.retry_after_from(body, header)
        )
    if isinstance(exc, BitrixResponseJSONDecodeError):
        status = exc.response.status_code
        if status in (301, 302, 307, 308):
            return AuthError(
                f"{method}: Bitrix redirected ({status}); check the host in the webhook/portal URL"
            )
        if status < 400:
            # A web page where a REST answer belongs: the URL points at the site, not at its REST endpoint.
            return PermanentError(
                f"{method}: HTTP {status} without a JSON body is not a Bitrix REST answer; "
                "check the webhook/portal URL"
            )
        header = exc.response.headers.get("Retry-After")
        return error_map.translate(
            status, None, method=method, retry_after=error_map.retry_after_from(None, header)
        )
    return TransientError(f"{method}: unexpected client failure ({exc})")


def _as_map(value: object) -> Mapping[Any, Any]:
    # PHP serialises an empty map as [] (e.g. "result_error": []).
    return value if isinstance(value, Mapping) else {}


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


CONNECTOR_RECHECK_S = 3600.0
_CONNECTOR_SUPPORT: dict[
    str, tuple[float, bool]
] = {}  # portal → (asked at, the plan has rest_auth_connector)


def _carries_connector(params: Mapping[str, Any]) -> bool:
    commands = params.get("cmd")
    return isinstance(commands, Mapping) and any("auth_connector=" in str(c) for c in commands.values())
