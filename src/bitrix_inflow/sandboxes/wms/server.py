"""Run the sandbox: in the foreground (CLI) or in-process on an ephemeral loopback port (tests, demos)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import uvicorn

from bitrix_inflow.sandboxes.bugs import add_bugs_note
from bitrix_inflow.sandboxes.wms.app import build_app, build_service
from bitrix_inflow.sandboxes.wms.service import SandboxSettings, WmsService


@dataclass(frozen=True)
class RunningSandbox:
    base_url: str  # http://127.0.0.1:PORT
    api_url: str  # base_url + the dialect's base path
    service: WmsService  # for in-process inspection; tests should prefer the control API


def _config(app: object, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        log_level=log_level,
        lifespan="on",
        proxy_headers=False,
        timeout_graceful_shutdown=1,
        access_log=False,
    )


@contextlib.contextmanager
def run_in_process(
    settings: SandboxSettings | None = None, *, log_level: str = "warning"
) -> Iterator[RunningSandbox]:
    """Start the sandbox in a thread on 127.0.0.1:<ephemeral>; stop it when the block ends.

    Leaving the block raises :class:`~bitrix_inflow.sandboxes.bugs.SandboxBugs` when the sandbox recorded an
    unexpected exception that no one has checked yet.
    """
    settings = settings or SandboxSettings()
    service = build_service(settings)
    # IPPROTO_TCP, not 0: asyncio only sets TCP_NODELAY on sockets that say they are TCP; without it every
    # small loopback response waits ~40 ms for the peer's delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(_config(build_app(service), log_level))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"wms-sandbox-{port}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the WMS sandbox did not start")
        time.sleep(0.01)
    base = f"http://127.0.0.1:{port}"
    failure: BaseException | None = None
    try:
        yield RunningSandbox(base_url=base, api_url=base + settings.dialect.base_path, service=service)
    except BaseException as exc:
        failure = exc
        raise
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
        # After the stop, so that a bug of a background task or of the shutdown counts too.
        if failure is not None:
            add_bugs_note(failure, service.bugs)
    service.bugs.check()


def serve(settings: SandboxSettings, host: str, port: int, log_level: str = "info") -> None:
    service = build_service(settings)
    config = _config(build_app(service), log_level)
    config.host, config.port = host, port
    uvicorn.Server(config).run()
