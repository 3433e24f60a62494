"""Held requests: a fault that stops REST calls of chosen methods until the control API lets them go.

A test aims at one step of a client (kill it there, watch what it does while waiting): it names the methods in the
fault ``hold_methods`` (a ``batch`` matches when one of its commands does), lets ``hold_skip`` matching requests
through first, and says with ``hold_stage`` whether a held request waits before it runs (``before``: the shop has
not seen it yet) or after it ran, with its answer kept back (``after``: the shop changed, the client does not know).
``GET /_sandbox/holds`` lists the requests held and what became of them; ``POST /_sandbox/holds/release`` lets them
go on and switches holding off (``hold_methods`` emptied, so a restarted client is not held again);
``{"drop": true}`` answers the ones not run yet with a 500 instead of running them.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from bitrix_inflow.sandboxes.bitrix.batch import command_method, commands_of

_FORMATS = (".json", ".xml")


def method_names(path: str, params: dict[str, Any]) -> tuple[str, ...]:
    """The method a REST path names, lowercased without a format suffix; a batch adds its commands' methods."""
    segments = [s for s in path.split("/") if s]
    if not segments:
        return ()
    names = [_bare(segments[-1])]
    if names[0] == "batch":
        names += [_bare(command_method(command)) for _, command in commands_of(params.get("cmd"))]
    return tuple(names)


def _bare(name: str) -> str:
    name = name.strip().lower()
    for suffix in _FORMATS:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name


@dataclass
class HeldRequest:
    id: int
    methods: tuple[str, ...]
    stage: str
    held_at: float
    state: str = "held"  # then released (it runs, or its answer leaves) or dropped (answered 500, never run)
    finished: bool = False  # its answer has been handed to the server
    _event: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)

    def document(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "method": self.methods[0],
            "commands": sorted(set(self.methods[1:])),
            "stage": self.stage,
            "state": self.state,
            "finished": self.finished,
            "held_at": self.held_at,
        }


@dataclass
class Holds:
    """Which requests wait, shared by the REST endpoint (holds) and the control API (lists, releases)."""

    requests: list[HeldRequest] = field(default_factory=list)
    matched: int = 0  # matching requests seen since holding was last switched on
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def rearm(self) -> None:
        with self._lock:
            self.matched = 0

    def should_hold(self, names: Collection[str], hold_methods: Collection[str], skip: int) -> bool:
        if not hold_methods or not set(names) & set(hold_methods):
            return False
        with self._lock:
            self.matched += 1
            return self.matched > skip

    async def wait(self, names: tuple[str, ...], stage: str) -> HeldRequest:
        """Hold one request until it is released; the caller then runs it (or not, when dropped)."""
        with self._lock:
            held = HeldRequest(len(self.requests) + 1, names, stage, time.time())
            held._loop = asyncio.get_running_loop()
            self.requests.append(held)
        await held._event.wait()
        return held

    def release(self, *, drop: bool) -> int:
        with self._lock:
            waiting = [held for held in self.requests if held.state == "held"]
            for held in waiting:
                held.state = "dropped" if drop and held.stage == "before" else "released"
                if held._loop is not None:
                    held._loop.call_soon_threadsafe(held._event.set)
        return len(waiting)

    def done(self, held: HeldRequest) -> None:
        with self._lock:
            held.finished = True

    def documents(self) -> list[dict[str, Any]]:
        with self._lock:
            return [held.document() for held in self.requests]
