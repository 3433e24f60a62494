"""``bitrix-inflow sandbox bitrix``: run the sandbox shop in the foreground."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bitrix_inflow.sandboxes.bitrix.app import BitrixSandbox
from bitrix_inflow.sandboxes.bitrix.config import SandboxConfig, is_http_url
from bitrix_inflow.sandboxes.bitrix.server import loopback_socket, serve_forever
from bitrix_inflow.sandboxes.bitrix.tls import create_test_ca
from bitrix_inflow.sandboxes.catalogue import CatalogueError
from bitrix_inflow.sandboxes.catalogue.options import CatalogueFile, catalogue_text

app = typer.Typer(help="Run the 1C-Bitrix sandbox shop (REST API) on loopback.")


@app.callback(invoke_without_command=True)
def run(  # noqa: PLR0917 - typer maps each option to a parameter
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="TCP port on 127.0.0.1 (0 = any free port).")
    ] = 8443,
    profile: Annotated[
        str, typer.Option(help="site (sale+catalog+im) or bitrix24 (adds tasks, crm).")
    ] = "site",
    mode: Annotated[
        str, typer.Option(help="cloud (rate limits on) or onprem; default follows the profile.")
    ] = "",
    http: Annotated[bool, typer.Option("--http", help="Serve plain HTTP instead of HTTPS.")] = False,
    seed: Annotated[int, typer.Option(help="Seed for the deterministic shop content.")] = 1,
    # The same bounds as POST /_sandbox/seed.
    products: Annotated[
        int | None,
        typer.Option(
            min=0, max=20_000, help="Generate this many products of its own (they match no warehouse)."
        ),
    ] = None,
    catalogue: CatalogueFile = None,
    catalogue_size: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=200_000,
            help="Generate a matched catalogue of N SKUs from --seed (give the WMS the same).",
        ),
    ] = None,
    orders: Annotated[int, typer.Option(min=0, max=50_000, help="Number of orders to place at start.")] = 0,
    webhook_code: Annotated[
        str, typer.Option(help="Secret of the inbound webhook.")
    ] = "sandbox0webhook0code",
    event_handler: Annotated[str, typer.Option(help="URL that receives outgoing events.")] = "",
    application_token: Annotated[
        str, typer.Option(help="Application token sent with every event (auth.application_token).")
    ] = "sandbox0application0token000001",  # noqa: S107 - a well-known sandbox value
    token_ttl: Annotated[float, typer.Option(help="Lifetime of OAuth access tokens in seconds.")] = 3600.0,
    require_https: Annotated[
        bool, typer.Option("--require-https", help="Refuse webhooks over HTTP (on-prem default).")
    ] = False,
    auth_statuses: Annotated[
        str, typer.Option(help="HTTP statuses of auth errors: docs (403/400) or source (401).")
    ] = "docs",
    statuses: Annotated[
        str,
        typer.Option(
            help="Order statuses: product (exactly the product's own) or integrated (plus Q, Z and D for the "
            "brief's mapping table)."
        ),
    ] = "integrated",
    companion_module: Annotated[
        bool | None,
        typer.Option(
            "--companion-module/--no-companion-module",
            help="The bitrix-module/ companion module installed (its bitrixinflow.* methods); default: on-premise "
            "yes, cloud no.",
        ),
    ] = None,
    bucket_size: Annotated[int, typer.Option(help="Leaky bucket size (cloud mode).")] = 50,
    drain_per_s: Annotated[
        float, typer.Option(help="Leaky bucket drain rate per second (cloud mode).")
    ] = 2.0,
    no_limits: Annotated[bool, typer.Option("--no-limits", help="Switch the cloud limits off.")] = False,
    state_dir: Annotated[Path, typer.Option(help="Where the test CA and server key are written.")] = Path(
        "var/bitrix-sandbox"
    ),
) -> None:
    try:
        config = SandboxConfig(
            profile=profile,
            mode=mode or None,
            webhook_code=webhook_code,
            event_handler_url=event_handler or None,
            application_token=application_token,
            token_ttl_s=token_ttl,
            require_https=require_https,
            auth_error_statuses=auth_statuses,
            statuses=statuses,
            companion_module=companion_module,
        )
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    if event_handler and not is_http_url(event_handler):
        raise typer.BadParameter("must be an http(s) URL", param_hint="--event-handler")
    sandbox = BitrixSandbox(config, https=not http)
    try:
        sandbox.faults.update({"bucket_size": bucket_size, "drain_per_s": drain_per_s})
    except (TypeError, ValueError) as error:
        raise typer.BadParameter(str(error)) from error
    if no_limits:
        sandbox.faults.update({"limiter": False, "operating_limit_s": None})
    csv_text = catalogue_text(("--products", products), catalogue, catalogue_size)
    try:
        sandbox.seed(
            seed=seed,
            products=products,
            orders=orders,
            catalogue_csv=csv_text,
            catalogue_size=catalogue_size,
        )
    except CatalogueError as error:
        raise typer.BadParameter(str(error), param_hint="--catalogue") from error
    tls = None if http else create_test_ca(state_dir)
    try:
        sock = loopback_socket(port)
    except OSError as error:
        raise typer.BadParameter(
            f"cannot listen on 127.0.0.1:{port}: {error}", param_hint="--port"
        ) from error
    port = sock.getsockname()[1]
    scheme = "http" if http else "https"
    typer.echo(f"Bitrix sandbox ({config.profile}, {config.mode}) on {scheme}://127.0.0.1:{port}")
    typer.echo(
        f"  webhook URL: {scheme}://127.0.0.1:{port}/rest/{config.webhook_user_id}/{config.webhook_code}/"
    )
    typer.echo(f"  OAuth:       {scheme}://127.0.0.1:{port}/rest/<method>?auth=<token>; tokens from")
    typer.echo(
        f"               POST {scheme}://127.0.0.1:{port}/_sandbox/oauth/tokens, refresh at /oauth/token/"
    )
    typer.echo(f"  control API: {scheme}://127.0.0.1:{port}/_sandbox/")
    if tls is not None:
        typer.echo(f"  test CA:     {tls.ca_cert}  (export REQUESTS_CA_BUNDLE={tls.ca_cert})")
    serve_forever(sandbox, sock=sock, tls=tls)
