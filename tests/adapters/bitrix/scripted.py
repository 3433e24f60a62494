"""A scripted HTTPS server on loopback that answers each request with the next canned reply, for replies the
sandbox shop does not produce (broken proxies, the docs' own examples) and for counting requests exactly.

Test modules import the ``server`` and ``scripted`` fixtures from here.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bitrix_inflow.adapters.bitrix import BitrixGateway, BitrixSettings
from bitrix_inflow.sandboxes.bitrix.tls import create_test_ca

TIME = {
    "start": 1712847891.4,
    "finish": 1712847891.5,
    "duration": 0.1,
    "processing": 0.1,
    "date_start": "2024-04-11T18:04:51+02:00",
    "date_finish": "2024-04-11T18:04:51+02:00",
}
STATUSES = {"result": {"statuses": [{"id": "N", "type": "O", "notify": "Y", "sort": 10}]}, "time": TIME}


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Script:
    replies: list[Reply] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)
    bodies: list[Any] = field(default_factory=list)


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.slept.append(seconds)
            self.t += seconds


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Script]]:
    tls = create_test_ca(tmp_path_factory.mktemp("tls"))
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            script.bodies.append(json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0)))))
            script.seen.append(self.path)
            reply = script.replies.pop(0) if script.replies else Reply(200, STATUSES)
            data = reply.body.encode() if isinstance(reply.body, str) else json.dumps(reply.body).encode()
            self.send_response(reply.status)
            kind = "text/html" if isinstance(reply.body, str) else "application/json"
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(tls.server_cert), str(tls.server_key))
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{httpd.server_address[1]}", tls.ca_cert, script
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@contextmanager
def gateway_on(
    server: tuple[str, Path, Script], **overrides: Any
) -> Iterator[tuple[BitrixGateway, Script, FakeClock]]:
    """A gateway on a fake clock talking to the scripted server, its script emptied first."""
    base, ca, script = server
    script.replies.clear()
    script.seen.clear()
    script.bodies.clear()
    clock = FakeClock()
    options: dict[str, Any] = {
        "webhook_url": f"{base}/rest/1/code/",
        "verify": ca,
        "backoff_base": 0.5,
        "backoff_cap": 30.0,
        "max_attempts": 4,
    }
    with BitrixGateway(BitrixSettings(**{**options, **overrides}), clock=clock) as gateway:
        yield gateway, script, clock


@pytest.fixture
def scripted(server: tuple[str, Path, Script]) -> Iterator[tuple[BitrixGateway, Script, FakeClock]]:
    with gateway_on(server) as made:
        yield made
