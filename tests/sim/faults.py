"""The faults a seed runs under, drawn swarm-style: each kind is on or off per seed, at its own rate.

Swarm testing (Groce et al.) finds more than every fault at once: a seed with
no message loss but many crashes reaches states that constant loss would
hide. `Faults.draw` gives every kind a coin toss, then a rate.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass

from hub import db as hub_db
from tests.sim.net import LinkFaults


@dataclass
class Faults:
    link: LinkFaults
    partitions: float = 0.0  # chance a step cuts a store off for hours
    crash: float = 0.0  # a node process dies at a send or commit boundary
    power_loss: float = 0.0  # a step cuts a store's power (every process of the node dies)
    stale_restore: float = 0.0  # a step restores a store from a backup a day old
    hub_restore: float = 0.0  # a step restores the hub's database from a backup
    terminals: int = 1  # terminals sharing each node file
    two_hubs: bool = False  # two hub services on one database
    serialization: float = 0.0  # injected 40001 per hub transaction
    ambiguous: float = 0.0  # committed, but the caller got an error
    store_skew_s: int = 0  # store clocks off by up to this
    hub_skew_s: int = 0  # the two hubs' clocks apart by up to this
    interleave: float = 0.0  # the other hub commits a web order between two of one's transactions
    forged: float = 0.0  # a rogue store pushes forged entries

    @classmethod
    def draw(cls, rng: random.Random) -> Faults:
        def on(p_on: float, low: float, high: float) -> float:
            return rng.uniform(low, high) if rng.random() < p_on else 0.0

        link = LinkFaults(drop=on(0.6, 0.0, 0.3), duplicate=on(0.5, 0.0, 0.5), late=on(0.5, 0.0, 0.2),
                          max_delay_min=rng.choice((5.0, 60.0, 240.0)))
        return cls(
            link=link,
            partitions=on(0.5, 0.005, 0.03),
            crash=on(0.4, 0.005, 0.05),
            power_loss=on(0.3, 0.001, 0.01),
            stale_restore=on(0.2, 0.001, 0.004),
            hub_restore=on(0.15, 0.001, 0.003),
            terminals=rng.choice((1, 1, 2, 3)),
            two_hubs=rng.random() < 0.5,
            serialization=on(0.4, 0.0, 0.1),
            ambiguous=on(0.4, 0.0, 0.05),
            store_skew_s=rng.choice((0, 0, 2, 90, 3600)),
            hub_skew_s=rng.choice((0, 2, 30, 600, 600)),
            interleave=on(0.8, 0.2, 0.8),
            forged=on(0.5, 0.02, 0.08),
        )

    @classmethod
    def none(cls) -> Faults:
        return cls(link=LinkFaults())

    def describe(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


class HubFaults:
    """The hub's database faults, through `hub.db.transact`'s hook: 40001 before commit, an error after it."""

    def __init__(self, world: object, serialization: float, ambiguous: float, interleave: float) -> None:
        self.w = world
        self.serialization = serialization
        self.ambiguous = ambiguous
        self.interleave = interleave
        self.on = True
        self._inside = False

    def before_begin(self) -> None:
        """Between two transactions of one hub service, the other may commit a web order (the race
        of an expiry sweep that listed a cart as due, and a checkout that commits it meanwhile)."""
        w = self.w
        if not (self.on and self.interleave and not self._inside and w.rng.random() < self.interleave):  # type: ignore[attr-defined]
            return
        self._inside = True
        try:
            w.interleave()  # type: ignore[attr-defined]
        finally:
            self._inside = False

    def before_commit(self, conn: object) -> None:
        w = self.w
        if self.on and self.serialization and w.rng.random() < self.serialization:  # type: ignore[attr-defined]
            w.stats["fault:serialization"] += 1  # type: ignore[attr-defined]
            raise hub_db.InjectedSerializationFailure("injected 40001")

    def after_commit(self) -> None:
        w = self.w
        if self.on and self.ambiguous and w.rng.random() < self.ambiguous:  # type: ignore[attr-defined]
            w.stats["fault:ambiguous_commit"] += 1  # type: ignore[attr-defined]
            raise hub_db.AmbiguousCommit("injected: committed, answer lost")
