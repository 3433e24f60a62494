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

    def app_info(call: Call) -> Answer:
        """app-info.md documents an application's answer; a webhook gets its scopes and the license (the rest
        module's appInfo answers a password-authorised call so). LICENSE tells the cloud from on-premise."""
        config = call.config
        if not call.is_app:
            return Answer({"SCOPE": list(call.scopes), "LICENSE": config.license})
        return Answer(
            {
                "ID": 7,
                "CODE": config.oauth_client_id,
                "VERSION": 1,
                "STATUS": "L",
                "INSTALLED": True,
                "PAYMENT_EXPIRED": "N",
                "DAYS": None,
                "LANGUAGE_ID": "ru",
                "LICENSE": config.license,
                "LICENSE_TYPE": config.license.split("_", 1)[-1],
                "LICENSE_FAMILY": "selfhosted" if not config.cloud else "project",
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
        Method("app.info", "", app_info),
    ]
