"""The network between each store and the hub, and the faults a seed draws for it.

A call from a store's runner is a request and a response. Either leg may be
lost (the caller sees `Offline` after its timeout, as `sync.client.HubClient`
does); a request may also arrive late, after the caller gave up, or twice:
such copies wait in a queue and reach the hub at their own time, in any
order with later requests. A link that is cut (a partition) loses
everything sent on it and everything that would arrive on it meanwhile.
`perfect()` turns every fault off for the heal phase.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any


@dataclass
class LinkFaults:
    drop: float = 0.0  # each leg of a call
    duplicate: float = 0.0  # a request also arrives again later
    late: float = 0.0  # a request arrives only after the caller gave up
    max_delay_min: float = 0.0


@dataclass(order=True)
class Late:
    """A copy of a request on its way: delivered to the hub at `deliver_at`, its answer goes nowhere."""

    deliver_at: datetime
    n: int
    store: str = field(compare=False)
    kind: str = field(compare=False)
    body: Any = field(compare=False, default=None)


class Network:
    def __init__(self, stores: list[str], faults: LinkFaults) -> None:
        self.faults = faults
        self.cut_until: dict[str, datetime | None] = dict.fromkeys(stores)
        self.queue: list[Late] = []
        self._n = 0
        self.stats = {"calls": 0, "lost": 0, "late": 0, "duplicated": 0, "partitioned": 0}

    def perfect(self) -> None:
        self.faults = LinkFaults()
        self.cut_until = dict.fromkeys(self.cut_until)
        self.queue.clear()

    def cut(self, store: str, until: datetime) -> None:
        self.cut_until[store] = until

    def is_cut(self, store: str, now: datetime) -> bool:
        until = self.cut_until.get(store)
        return until is not None and now < until

    def request(self, rng: random.Random, now: datetime, store: str, kind: str, body: Any) -> bool:
        """Whether a request reaches the hub now; late and duplicate copies are queued as a side effect."""
        self.stats["calls"] += 1
        f = self.faults
        if self.is_cut(store, now):
            self.stats["partitioned"] += 1
            return False
        if f.drop and rng.random() < f.drop:
            self.stats["lost"] += 1
            return False
        if f.late and rng.random() < f.late:
            self.stats["late"] += 1
            self._queue(rng, now, store, kind, body)
            return False
        if f.duplicate and rng.random() < f.duplicate:
            self.stats["duplicated"] += 1
            self._queue(rng, now, store, kind, body)
        return True

    def response(self, rng: random.Random, now: datetime, store: str) -> bool:
        """Whether the hub's answer reaches the store."""
        if self.is_cut(store, now) or (self.faults.drop and rng.random() < self.faults.drop):
            self.stats["lost"] += 1
            return False
        return True

    def _queue(self, rng: random.Random, now: datetime, store: str, kind: str, body: Any) -> None:
        delay = timedelta(minutes=rng.uniform(0.5, max(0.5, self.faults.max_delay_min)))
        self._n += 1
        heapq.heappush(self.queue, Late(now + delay, self._n, store, kind, body))

    def due(self, now: datetime) -> Late | None:
        """The next late copy due by `now` whose link is up when it arrives, or None."""
        while self.queue and self.queue[0].deliver_at <= now:
            m = heapq.heappop(self.queue)
            if self.is_cut(m.store, m.deliver_at):
                self.stats["partitioned"] += 1
                continue
            return m
        return None
