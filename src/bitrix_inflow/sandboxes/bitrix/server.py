"""Run the sandbox under uvicorn: in a background thread (tests, demos) or in the foreground (the CLI)."""

from __future__ import annotations

import contextlib
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from bitrix_inflow.sandboxes.bitrix.app import BitrixSandbox
from bitrix_inflow.sandboxes.bitrix.config import SandboxConfig
from bitrix_inflow.sandboxes.bitrix.control_client import ControlClient
from bitrix_inflow.sandboxes.bitrix.tls import TlsFiles, create_test_ca
from bitrix_inflow.sandboxes.bugs import add_bugs_note


@dataclass
class RunningSandbox:
    """What a client needs: the webhook URL (ends with ``/``), the CA file to trust, the control client."""

    base_url: str
    webhook_url: str
    ca_file: Path | None
    domain: str
    webhook: str  # "user_id/code", the form b24pysdk's BitrixWebhook takes
    control: ControlClient
    sandbox: BitrixSandbox


def _uvicorn_config(sandbox: BitrixSandbox, tls: TlsFiles | None, port: int, host: str) -> uvicorn.Config:
    options: dict[str, Any] = {}
    if tls is not None:
        options = {"ssl_certfile": str(tls.server_cert), "ssl_keyfile": str(tls.server_key)}
    return uvicorn.Config(
        sandbox.app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=1,
        **options,
    )


def loopback_socket(port: int = 0) -> socket.socket:
    """A listening-ready TCP socket on 127.0.0.1 (``port=0`` picks a free one)."""
    # asyncio only sets TCP_NODELAY on accepted sockets whose proto is IPPROTO_TCP; with proto 0 every
    # response waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


def serve_forever(sandbox: BitrixSandbox, *, sock: socket.socket, tls: TlsFiles | None) -> None:
    port = sock.getsockname()[1]
    uvicorn.Server(_uvicorn_config(sandbox, tls, port, "127.0.0.1")).run(sockets=[sock])


@contextlib.contextmanager
def running_bitrix_sandbox(
    config: SandboxConfig | None = None,
    *,
    https: bool = True,
    seed: int | None = 1,
    products: int | None = None,
    state_dir: Path | None = None,
    **seed_options: Any,
) -> Iterator[RunningSandbox]:
    """Start a sandbox shop on 127.0.0.1 and an ephemeral port; stop it on exit.

    ``seed=None`` leaves the shop empty (reference data only comes with a seed). Without ``products`` the shop
    holds the sandbox catalogue (``catalogue_csv=`` / ``catalogue_size=`` choose another). Leaving the block raises
    :class:`~bitrix_inflow.sandboxes.bugs.SandboxBugs` when the sandbox recorded an unexpected exception that no
    one has checked yet.
    """
    config = config or SandboxConfig()
    sandbox = BitrixSandbox(config, https=https)
    if seed is not None:
        sandbox.seed(seed=seed, products=products, **seed_options)
    with contextlib.ExitStack() as stack:
        directory = state_dir or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="bitrix-sandbox-"))
        )
        tls = create_test_ca(directory) if https else None
        sock = loopback_socket()
        port = sock.getsockname()[1]
        server = uvicorn.Server(_uvicorn_config(sandbox, tls, port, "127.0.0.1"))
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="bitrix-sandbox"
        )
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the Bitrix sandbox did not start")
            time.sleep(0.02)
        scheme = "https" if https else "http"
        base_url = f"{scheme}://127.0.0.1:{port}"
        control = ControlClient(base_url, verify=tls.ca_cert if tls else True)
        failure: BaseException | None = None
        try:
            yield RunningSandbox(
                base_url=base_url,
                webhook_url=f"{base_url}/rest/{config.webhook_user_id}/{config.webhook_code}/",
                ca_file=tls.ca_cert if tls else None,
                domain=f"127.0.0.1:{port}",
                webhook=f"{config.webhook_user_id}/{config.webhook_code}",
                control=control,
                sandbox=sandbox,
            )
        except BaseException as exc:
            failure = exc
            raise
        finally:
            control.close()
            server.should_exit = True
            thread.join(timeout=10)
            sock.close()
            # After the stop, so that a bug of a background thread or of the shutdown counts too.
            if failure is not None:
                add_bugs_note(failure, sandbox.bugs)
    sandbox.bugs.check()
