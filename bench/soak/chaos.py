"""The killer: at random moments one instance gets SIGKILL and, after a pause a supervisor would take, starts again.
At least one instance stays up between kills only by chance: both may be down for a moment, as in production."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field

from bench.soak.cluster import Cluster


@dataclass
class Killer:
    cluster: Cluster
    kills: int  # how many to do over the window
    window_s: float  # spread over this many seconds
    seed: int
    restart_after_s: tuple[float, float] = (0.5, 3.0)
    log: list[tuple[float, str]] = field(default_factory=list)  # (seconds since start, instance)
    failure: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def run(self, stop: threading.Event) -> None:
        try:
            self._run(stop)
        except BaseException as exc:  # reported by the soak, never lost in a thread
            self.failure = exc
        finally:
            self.done.set()

    def _run(self, stop: threading.Event) -> None:
        rng = random.Random(self.seed)
        started = time.monotonic()
        # Kill moments spread over the window with jitter, so kills land in every phase of the flows.
        gap = self.window_s / max(1, self.kills)
        moments = sorted(started + (n + rng.uniform(0.2, 0.9)) * gap for n in range(self.kills))
        for moment in moments:
            if stop.wait(max(0.0, moment - time.monotonic())):
                return
            victim = rng.choice(self.cluster.instances)
            victim.kill()
            self.log.append((time.monotonic() - started, victim.name))
            if stop.wait(rng.uniform(*self.restart_after_s)):
                victim.start()
                return
            victim.start()
            victim.wait_ready()
