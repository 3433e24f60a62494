"""Several ``bitrix-inflow serve`` processes on one database: started, SIGKILLed and started again as a user's
supervisor would, each with its own web port (webhooks and the console can reach any of them)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Instance:
    """One ``serve`` process; ``log`` collects its stderr across restarts (one file, appended)."""

    name: str
    config: Path
    env: dict[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    kills: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        env = {**os.environ, **self.env, "BITRIX_INFLOW__WEB__PORT": str(self.port)}
        with self.log.open("ab") as err:
            err.write(f"\n==== start {self.starts + 1} of {self.name}\n".encode())
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bitrix_inflow", "--config", str(self.config), "serve"],
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=env,
            )
        self.starts += 1

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer /healthz in {timeout:.0f} s; see {self.log}")

    def kill(self) -> None:
        """SIGKILL: no clean-up, no last commit, leases left behind, as when a machine dies."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.kills += 1

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@dataclass
class Cluster:
    instances: list[Instance]

    def start(self) -> None:
        for instance in self.instances:
            instance.start()
        for instance in self.instances:
            instance.wait_ready()

    def stop(self) -> None:
        for instance in self.instances:
            instance.stop()

    @property
    def kills(self) -> int:
        return sum(instance.kills for instance in self.instances)

    def __enter__(self) -> Cluster:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
