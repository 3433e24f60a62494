"""One REST request from URL to envelope: limits, auth, method lookup, scope, operating time, batch."""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bitrix_inflow.sandboxes.bitrix import batch as batching
from bitrix_inflow.sandboxes.bitrix import rest_errors
from bitrix_inflow.sandboxes.bitrix.auth import Credentials, Identity
from bitrix_inflow.sandboxes.bitrix.config import Clock, Faults, SandboxConfig
from bitrix_inflow.sandboxes.bitrix.event_hub import WRITER_CONNECTOR, EventHub
from bitrix_inflow.sandboxes.bitrix.limits import LeakyBucket, OperatingTime
from bitrix_inflow.sandboxes.bitrix.registry import Answer, Call, Method, MethodTable
from bitrix_inflow.sandboxes.bitrix.rest_errors import RestError
from bitrix_inflow.sandboxes.bitrix.shop import Shop

_FORMATS = (".json", ".xml")
_RIGHT_RANK = {"D": 0, "R": 1, "U": 2, "W": 3}
_DOCS_AUTH_STATUS = {"INVALID_CREDENTIALS": 403, "insufficient_scope": 403, "INVALID_REQUEST": 400}


@dataclass
class Reply:
    status: int
    body: dict[str, Any]


@dataclass
class Engine:
    config: SandboxConfig
    shop: Shop
    credentials: Credentials
    clock: Clock
    faults: Faults
    methods: MethodTable
    hub: EventHub | None = None
    bucket: LeakyBucket = field(default_factory=LeakyBucket)
    operating: OperatingTime = field(default_factory=OperatingTime)
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    requests_served: int = 0
    # REST methods run, by name, whether sent alone or as a batch's commands.
    commands_run: Counter[str] = field(default_factory=Counter)
    # Error answers to whole requests by code (e.g. "QUERY_LIMIT_EXCEEDED"): what a client was refused, counted.
    errors_answered: Counter[str] = field(default_factory=Counter)

    # -- envelope --------------------------------------------------------------------------------------------

    def _time(
        self, started: float, cpu_started: float, credential: str | None, method: str | None
    ) -> dict[str, Any]:
        finished = self.clock.now()
        body: dict[str, Any] = {
            "start": started,
            "finish": finished,
            "duration": finished - started,
            "processing": time.perf_counter() - cpu_started,
            "date_start": self.clock.iso(started),
            "date_finish": self.clock.iso(finished),
        }
        if self.config.cloud and credential is not None and method is not None:
            used, reset_at = self.operating.used(credential, method, finished)
            body["operating_reset_at"] = int(reset_at)
            body["operating"] = round(used, 6)
        return body

    @staticmethod
    def _envelope(answer: Answer, time_body: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"result": answer.result}
        if answer.next is not None:
            body["next"] = answer.next
        if answer.has_total:
            body["total"] = answer.total
        body["time"] = time_body
        return body

    # -- request ---------------------------------------------------------------------------------------------

    def handle(self, path: str, params: dict[str, Any], *, https: bool, client_ip: str) -> Reply:
        self.requests_served += 1
        try:
            return self._handle(path, params, https=https, client_ip=client_ip)
        except RestError as error:
            self.errors_answered[str(error.code)] += 1
            return Reply(self._status(error), error.body())

    def _status(self, error: RestError) -> int:
        if self.config.auth_error_statuses == "docs":
            return _DOCS_AUTH_STATUS.get(str(error.code), error.status)
        return error.status

    def _handle(self, path: str, params: dict[str, Any], *, https: bool, client_ip: str) -> Reply:
        started = self.clock.now()
        cpu_started = time.perf_counter()
        if self.faults.limiter and not self.bucket.admit(
            client_ip, time.monotonic(), size=self.faults.bucket_size, drain_per_s=self.faults.drain_per_s
        ):
            raise rest_errors.query_limit()
        if self.faults.overload:
            raise rest_errors.overload()
        if self.faults.error_500_rate and self.rng.random() < self.faults.error_500_rate:
            raise rest_errors.internal_error()
        segments = [s for s in path.split("/") if s]
        if len(segments) == 3:
            user, code, method_name = segments
            if self.config.require_https and not https:
                raise rest_errors.https_required()
            identity = self.credentials.check_webhook(user, code)
        elif len(segments) == 1:
            method_name = segments[0]
            token = params.get("auth")
            if not token or not isinstance(token, str):
                raise rest_errors.no_auth()
            identity = self.credentials.check_token(token)
        else:
            raise rest_errors.method_not_found()
        params = {k: v for k, v in params.items() if k != "auth"}
        name = method_name.lower()
        for suffix in _FORMATS:
            if name.endswith(suffix):
                name = name[: -len(suffix)]
        if name == "batch":
            result = self._batch(params, identity)
            return Reply(200, self._envelope(Answer(result), self._time(started, cpu_started, None, None)))
        method = self._lookup(name, identity)
        answer = self._run(method, params, identity)
        return Reply(
            200, self._envelope(answer, self._time(started, cpu_started, identity.credential, method.name))
        )

    def _lookup(self, name: str, identity: Identity) -> Method:
        method = self.methods.find(name, self.config.profile)
        if method is None:
            raise rest_errors.method_not_found()
        if method.scope and method.scope not in identity.scopes:
            raise rest_errors.insufficient_scope()
        if method.access and _RIGHT_RANK.get(identity.sale_access, 0) < _RIGHT_RANK[method.access]:
            # The sale controller checks the module right itself and answers with its own integer codes.
            code = 200040300010 if method.access == "R" else 200040300020
            raise rest_errors.controller(code, "Access denied")
        return method

    def _lookup_in_batch(self, name: str, identity: Identity) -> Method:
        if name == "batch":
            raise RestError(405, "ERROR_BATCH_METHOD_NOT_ALLOWED", "Method is not allowed for batch usage")
        return self._lookup(name, identity)

    def _run(self, method: Method, params: dict[str, Any], identity: Identity) -> Answer:
        self.commands_run[method.name] += 1  # alone or inside a batch: what the portal's "operating" counts
        now = self.clock.now()
        if self.faults.force_429:
            raise rest_errors.operation_time_limit()
        limit = self.faults.operating_limit_s
        if limit is not None:
            used, _ = self.operating.used(identity.credential, method.name, now)
            if used >= limit:
                raise rest_errors.operation_time_limit()
        started = time.perf_counter()
        # Events this call causes are not queued for offline bindings made with its auth_connector; a plan without
        # the feature refuses the key outright.
        key = str(params.get("auth_connector", "") or "")
        if key and self.hub is not None and not self.hub.feature("rest_auth_connector"):
            raise rest_errors.license_error()
        connector = WRITER_CONNECTOR.set(key)
        try:
            with self.shop.lock:
                call = Call(
                    self.shop,
                    self.config,
                    params,
                    identity.user_id,
                    identity.scopes,
                    identity.is_app,
                    self.hub,
                )
                return method.handler(call)
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            # Malformed values reach PHP as wrong types too; the controller answers with its catch-all code 0.
            raise rest_errors.controller(0, f"Invalid parameter value: {error}") from error
        finally:
            WRITER_CONNECTOR.reset(connector)
            cost = time.perf_counter() - started + self.faults.operating_cost_s
            self.operating.book(identity.credential, method.name, now, cost)

    # -- batch -----------------------------------------------------------------------------------------------

    def _batch(self, params: dict[str, Any], identity: Identity) -> dict[str, Any]:
        halt = batching.truthy(params.get("halt", 0))
        acc: dict[str, dict[str, Any]] = {"result": {}, "error": {}, "total": {}, "next": {}, "time": {}}
        for index, (key, command) in enumerate(batching.commands_of(params.get("cmd"))):
            if index >= batching.MAX_COMMANDS:
                acc["error"][key] = RestError(
                    400, "ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded"
                ).body()
                continue
            started = self.clock.now()
            cpu_started = time.perf_counter()
            name, sub_params = batching.split_command(command)
            try:
                sub_params = batching.substitute(sub_params, acc)
                name = name.lower()
                for suffix in _FORMATS:
                    if name.endswith(suffix):
                        name = name[: -len(suffix)]
                method = self._lookup_in_batch(name, identity)
                sub_params = {k: v for k, v in sub_params.items() if k != "auth"}
                if "auth_connector" in params and "auth_connector" not in sub_params:
                    # Like the outer call's auth, its auth_connector goes with every command.
                    sub_params["auth_connector"] = params["auth_connector"]
                answer = self._run(method, sub_params, identity)
            except RestError as error:
                acc["error"][key] = error.body()
                if halt:
                    break
                continue
            acc["result"][key] = answer.result
            if answer.has_total and answer.total is not None:
                acc["total"][key] = answer.total
            if answer.next is not None:
                acc["next"][key] = answer.next
            acc["time"][key] = self._time(started, cpu_started, identity.credential, method.name)
        return {
            "result": batching.php_map(acc["result"]),
            "result_error": batching.php_map(acc["error"]),
            "result_total": batching.php_map(acc["total"]),
            "result_next": batching.php_map(acc["next"]),
            "result_time": batching.php_map(acc["time"]),
        }
