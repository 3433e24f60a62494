"""Orders read ahead of their forwarding runs, held in this process for a short while.

A batch of status writes has room to spare (one ``batch`` carries 50 commands): it reads the next orders waiting
to be forwarded in the same request, so their runs need no read of their own. What is held is a snapshot, used only
while nothing says it is old: a queued forwarding run of the order in this process (a poll saw it change, a sweep,
a follow-up) forgets it; a read that began before such a forget is not kept; and the cohort drops a copy older than
the version any process's poll has seen since (``order_bindings.polled_version``). A change no poll has seen yet is
the one thing a snapshot can miss, for at most ``KEEP_SECONDS``: the order's plan records the version it was made
from, so the next poll finds the change and the edit check runs (a cancellation then is a conflict for a person).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping

from bitrix_inflow.sync.orders.shop import ShopOrder

KEEP_SECONDS = 30.0  # a read older than this is read again: the snapshot is a saving, not a source of truth
MOST = 5_000  # orders held per process at most


class ReadAhead:
    def __init__(
        self, *, keep_seconds: float = KEEP_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._keep = keep_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._held: dict[tuple[str, int], tuple[ShopOrder, float]] = {}
        self._forgotten: dict[tuple[str, int], float] = {}

    def started(self) -> float:
        """The moment a read begins; pass it to ``keep``."""
        return self._clock()

    def keep(self, connection_id: str, orders: Mapping[int, ShopOrder], *, read_at: float) -> None:
        with self._lock:
            for order_id, order in orders.items():
                key = (connection_id, order_id)
                if self._forgotten.get(key, float("-inf")) >= read_at:
                    continue  # queued again after the read began: it may have changed since
                self._held[key] = (order, read_at)
            while len(self._held) > MOST:
                self._held.pop(next(iter(self._held)))

    def take(self, connection_id: str, order_ids: Iterable[int]) -> dict[int, ShopOrder]:
        """The held, fresh orders among ``order_ids``; each is handed out once."""
        now = self._clock()
        taken: dict[int, ShopOrder] = {}
        with self._lock:
            for order_id in order_ids:
                held = self._held.pop((connection_id, order_id), None)
                if held is not None and now - held[1] <= self._keep:
                    taken[order_id] = held[0]
        return taken

    def forget(self, connection_id: str, order_id: int) -> None:
        with self._lock:
            key = (connection_id, order_id)
            self._held.pop(key, None)
            self._forgotten[key] = self._clock()
            if len(self._forgotten) > MOST:
                # Only forgets newer than any read still under way matter; the oldest half is long past.
                cutoff = self._clock() - self._keep
                self._forgotten = {k: at for k, at in self._forgotten.items() if at >= cutoff}

    def holds(self, connection_id: str) -> set[int]:
        with self._lock:
            return {order_id for (conn, order_id) in self._held if conn == connection_id}


READ_AHEAD = ReadAhead()  # the process's one
