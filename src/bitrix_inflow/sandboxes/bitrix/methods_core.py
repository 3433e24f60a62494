"""Probe methods of every installation: profile, scope, methods, method.get, server.time."""

from __future__ import annotations

from bitrix_inflow.sandboxes.bitrix.registry import Answer, Call, Method, MethodTable


def core_methods(table: MethodTable) -> list[Method]:
    def profile(call: Call) -> Answer:
        return Answer(
            {
                "ID": str(call.user_id),
                "ADMIN": call.user_id == call.config.webhook_user_id,
                "NAME": "Sandbox",
                "LAST_NAME": "Administrator",
                "PERSONAL_GENDER": "",
                "TIME_ZONE": "",
                "TIME_ZONE_OFFSET": call.config.utc_offset_minutes * 60,
            }
        )

    def scope(call: Call) -> Answer:
        if str(call.params.get("full", "")).lower() in ("1", "true", "y"):
            return Answer(list(call.config.profile_scopes()))
        return Answer(list(call.scopes))

    def methods(call: Call) -> Answer:
        wanted = call.params.get("scope")
        if str(call.params.get("full", "")).lower() in ("1", "true", "y"):
            return Answer([name.lower() for name in table.names(call.config.profile)])
        scopes = (str(wanted),) if wanted else call.scopes
        return Answer([name.lower() for name in table.names(call.config.profile, scopes)])

    def method_get(call: Call) -> Answer:
        name = str(call.params.get("name", ""))
        found = table.find(name, call.config.profile)
        return Answer(
            {
                "isExisting": found is not None,
                "isAvailable": found is not None and (found.scope == "" or found.scope in call.scopes),
            }
        )

    def server_time(call: Call) -> Answer:
        return Answer(call.shop.clock.iso())

    return [
        Method("profile", "", profile),
        Method("scope", "", scope),
        Method("methods", "", methods),
        Method("method.get", "", method_get),
        Method("server.time", "", server_time),
    ]
