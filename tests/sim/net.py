"""The network between each store and the hub: every message may be lost, doubled, delayed or overtaken.

A message is delivered at its own time (send time plus a random delay), so
two messages on one link arrive in any order. A link that is cut drops what
is sent on it and what would arrive on it while cut. `perfect()` turns all
faults off (the heal phase): no loss, no duplicates, no delay.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any


@dataclass(order=True)
class Message:
    deliver_at: datetime
    n: int
    store: str = field(compare=False)
    to_hub: bool = field(compare=False)
    kind: str = field(compare=False)
    body: Any = field(compare=False, default=None)


@dataclass
class Faults:
    drop: float = 0.12
    duplicate: float = 0.08
    max_delay_min: float = 45.0


class Network:
    def __init__(self, rng: random.Random, stores: list[str], faults: Faults | None = None) -> None:
        self.rng = rng
        self.faults = faults or Faults()
        self.cut_until: dict[str, datetime | None] = {s: None for s in stores}
        self.queue: list[Message] = []
        self._n = 0
        self.stats = {"sent": 0, "dropped": 0, "duplicated": 0, "delivered": 0}

    def perfect(self) -> None:
        self.faults = Faults(drop=0.0, duplicate=0.0, max_delay_min=0.0)
        for s in self.cut_until:
            self.cut_until[s] = None

    def cut(self, store: str, until: datetime) -> None:
        self.cut_until[store] = until

    def is_cut(self, store: str, now: datetime) -> bool:
        until = self.cut_until[store]
        return until is not None and now < until

    def send(self, now: datetime, store: str, to_hub: bool, kind: str, body: Any = None) -> None:
        self.stats["sent"] += 1
        f = self.faults
        if self.is_cut(store, now) or (f.drop and self.rng.random() < f.drop):
            self.stats["dropped"] += 1
            return
        copies = 2 if f.duplicate and self.rng.random() < f.duplicate else 1
        if copies == 2:
            self.stats["duplicated"] += 1
        for _ in range(copies):
            delay = timedelta(minutes=self.rng.uniform(0, f.max_delay_min)) if f.max_delay_min else timedelta(0)
            self._n += 1
            heapq.heappush(self.queue, Message(now + delay, self._n, store, to_hub, kind, body))

    def due(self, now: datetime) -> Message | None:
        """The next message due by `now` that survives its link, or None."""
        while self.queue and self.queue[0].deliver_at <= now:
            m = heapq.heappop(self.queue)
            if self.is_cut(m.store, m.deliver_at):
                self.stats["dropped"] += 1
                continue
            self.stats["delivered"] += 1
            return m
        return None
