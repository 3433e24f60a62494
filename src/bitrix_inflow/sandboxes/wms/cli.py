"""``bitrix-inflow sandbox wms``: run the Inflow WMS sandbox on loopback."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bitrix_inflow.sandboxes.catalogue import CatalogueError, parse
from bitrix_inflow.sandboxes.catalogue.options import CatalogueFile, catalogue_text
from bitrix_inflow.sandboxes.wms.assortment import warehouse_skus
from bitrix_inflow.sandboxes.wms.auth import AuthSettings
from bitrix_inflow.sandboxes.wms.dialect import Dialect
from bitrix_inflow.sandboxes.wms.faults import FaultSettings
from bitrix_inflow.sandboxes.wms.server import serve
from bitrix_inflow.sandboxes.wms.service import SandboxSettings
from bitrix_inflow.sandboxes.wms.webhooks import WebhookSettings

app = typer.Typer(help="The Inflow WMS sandbox (contract: contracts/inflow-v1).", no_args_is_help=False)


def _oauth_clients(values: list[str]) -> dict[str, str]:
    clients = {}
    for value in values:
        client_id, sep, secret = value.partition(":")
        if not sep or not client_id or not secret:
            raise typer.BadParameter(f"{value!r}: use CLIENT_ID:SECRET", param_hint="--oauth-client")
        clients[client_id] = secret
    return clients


def _state_path(value: str | None) -> str | None:
    if value is None or value == "memory":
        return None
    if not value.startswith("sqlite:") or len(value) <= len("sqlite:"):
        raise typer.BadParameter("use 'memory' or 'sqlite:PATH'", param_hint="--state")
    return value.removeprefix("sqlite:")


@app.callback(invoke_without_command=True)
def wms(
    *,
    host: Annotated[str, typer.Option(help="Interface to bind; keep it on loopback.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port (0 = any free port).")] = 8085,
    seed: Annotated[int, typer.Option(help="Seed for stock, codes and faults (deterministic runs).")] = 0,
    skus: Annotated[
        int | None,
        typer.Option(
            min=1, help="Generate this many SKUs of its own (they match no shop) instead of a catalogue."
        ),
    ] = None,
    catalogue: CatalogueFile = None,
    catalogue_size: Annotated[
        int | None,
        typer.Option(
            min=1, help="Generate a matched catalogue of N SKUs from --seed (give the shop the same)."
        ),
    ] = None,
    bins: Annotated[int, typer.Option(min=1, help="Bins per warehouse to seed.")] = 2000,
    warehouse: Annotated[list[str] | None, typer.Option(help="Warehouse code (repeatable).")] = None,
    dialect: Annotated[Path | None, typer.Option(exists=True, dir_okay=False, help="Dialect TOML.")] = None,
    api_key: Annotated[list[str] | None, typer.Option(help="Accepted X-API-Key (repeatable).")] = None,
    oauth_client: Annotated[
        list[str] | None, typer.Option(help="OAuth2 client as ID:SECRET (repeatable).")
    ] = None,
    transports: Annotated[
        str, typer.Option(help="Which transports the installation serves: rest, soap or both.")
    ] = "both",
    no_api_keys: Annotated[bool, typer.Option(help="Disable X-API-Key auth.")] = False,
    no_oauth: Annotated[bool, typer.Option(help="Disable OAuth2 auth.")] = False,
    token_ttl: Annotated[int, typer.Option(min=1, help="OAuth token lifetime, seconds.")] = 3600,
    state: Annotated[str | None, typer.Option(help="'memory' or 'sqlite:PATH' (snapshot file).")] = None,
    pace: Annotated[
        float, typer.Option(min=0, help="Seconds per warehouse step; 0 = only via control API.")
    ] = 0.0,
    latency_ms: Annotated[int, typer.Option(min=0)] = 0,
    error_rate: Annotated[
        float, typer.Option(min=0, max=1, help="Share of API requests answered 503.")
    ] = 0.0,
    hang_rate: Annotated[float, typer.Option(min=0, max=1, help="Share of requests that hang.")] = 0.0,
    hang_seconds: Annotated[float, typer.Option(min=0)] = 30.0,
    reset_rate: Annotated[float, typer.Option(min=0, max=1, help="Share of connections reset.")] = 0.0,
    burst_429: Annotated[int, typer.Option(min=0, help="The next N API requests get 429.")] = 0,
    rate_429: Annotated[
        float, typer.Option(min=0, max=1, help="Share of API requests answered 429, at random.")
    ] = 0.0,
    retry_after: Annotated[int, typer.Option(min=0)] = 1,
    rate_limit: Annotated[
        int, typer.Option(min=0, help="Requests per second per client; 0 = unlimited.")
    ] = 0,
    picking_error_rate: Annotated[float, typer.Option(min=0, max=1)] = 0.0,
    picking_error_sku: Annotated[
        list[str] | None, typer.Option(help="SKU that fails POSITION_UNAVAILABLE.")
    ] = None,
    picking_error_bin: Annotated[
        list[str] | None, typer.Option(help="Bin that fails ITEM_NOT_FOUND_IN_BIN.")
    ] = None,
    webhook_drop_rate: Annotated[float, typer.Option(min=0, max=1)] = 0.0,
    webhook_duplicate_rate: Annotated[float, typer.Option(min=0, max=1)] = 0.0,
    webhook_reorder_rate: Annotated[float, typer.Option(min=0, max=1)] = 0.0,
    webhook_backoff: Annotated[float, typer.Option(min=0, help="Base of the retry backoff, seconds.")] = 1.0,
) -> None:
    """Run the Inflow WMS sandbox (REST, SOAP, control API under /_sandbox/) until Ctrl-C."""
    try:
        chosen_dialect = Dialect.load(dialect) if dialect else Dialect()
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--dialect") from None
    auth = AuthSettings(
        api_keys=[] if no_api_keys else (api_key or ["sandbox-key"]),
        oauth_clients={} if no_oauth else _oauth_clients(oauth_client or ["sandbox-client:sandbox-secret"]),
        token_ttl=token_ttl,
    )
    faults = FaultSettings(
        seed=seed,
        latency_ms=latency_ms,
        error_rate=error_rate,
        hang_rate=hang_rate,
        hang_seconds=hang_seconds,
        reset_rate=reset_rate,
        burst_429=burst_429,
        rate_429=rate_429,
        retry_after=retry_after,
        rate_limit_rps=rate_limit,
        picking_error_rate=picking_error_rate,
        picking_error_skus=picking_error_sku or [],
        picking_error_bins=picking_error_bin or [],
        webhook_drop_rate=webhook_drop_rate,
        webhook_duplicate_rate=webhook_duplicate_rate,
        webhook_reorder_rate=webhook_reorder_rate,
    )
    csv_text = catalogue_text(("--skus", skus), catalogue, catalogue_size)
    if csv_text is not None:
        # Checked here, so a bad file is a usage error and not a traceback from the server's start.
        try:
            warehouse_skus(parse(csv_text, source=str(catalogue)))
        except CatalogueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--catalogue") from None
    if transports not in ("rest", "soap", "both"):
        raise typer.BadParameter("use rest, soap or both", param_hint="--transports")
    settings = SandboxSettings(
        seed=seed,
        warehouses=warehouse or ["MAIN"],
        skus=skus,
        catalogue_path=str(catalogue) if catalogue else None,
        catalogue_size=catalogue_size,
        bins=bins,
        pace=pace,
        dialect=chosen_dialect,
        auth=auth,
        faults=faults,
        webhooks=WebhookSettings(backoff_base=webhook_backoff),
        state_path=_state_path(state),
        transports=transports,
    )
    typer.echo(
        f"Inflow WMS sandbox on http://{host}:{port}{chosen_dialect.base_path} "
        f"(SOAP /soap/v1, control /_sandbox/, dialect {chosen_dialect.name})"
    )
    serve(settings, host, port)


if __name__ == "__main__":
    app()
