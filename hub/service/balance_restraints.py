"""What the hub holds back from a plan's moves: the plan is the rules', these are the hub's records.

- A store the hub has heard from for less than `Cadence.min_history` (a week) is
  granted quota but never asked for any back: hours without a sale of a SKU say
  little of its week (a SKU that sells on Saturdays is not dead on a Tuesday).
- A transfer ops accepted or dismissed within `REPEAT_AFTER` is not proposed
  again, and a store granted units to send (a proposal accepted) is not asked
  for that SKU back meanwhile.
- A move to a pin is always made: ops chose the figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from hub.db import driver_sql
from hub.rules import Move
from hub.service.balance_settings import REPEAT_AFTER
from sync.kinds import stamp


@dataclass(frozen=True)
class Restraints:
    young: frozenset[str]  # stores heard from for less than min_history
    decided: frozenset[tuple[str, str, str]]  # (from, to, sku) of transfers ops decided lately
    sending: frozenset[tuple[str, str]]  # (store, sku) granted to send

    @classmethod
    def read(cls, conn: Connection, now: datetime, seen: dict[str, timedelta], min_history: timedelta) -> Restraints:
        """`seen`: how long the hub has heard from each store in the forecast's history."""
        decided = driver_sql(conn, "SELECT from_location, to_location, sku, status FROM transfer_proposals WHERE "
                                   "status IN ('accepted', 'dismissed') AND decided_at > ?",
                             (stamp(now - REPEAT_AFTER),)).all()
        return cls(frozenset(s for s, t in seen.items() if t < min_history),
                   frozenset((f, t, k) for f, t, k, _ in decided),
                   frozenset((f, k) for f, _, k, status in decided if status == "accepted"))

    def allow(self, m: Move) -> bool:
        if m.kind == "transfer":
            return (m.source, m.location, m.sku) not in self.decided
        return m.kind != "release" or m.pin is not None or (
            m.location not in self.young and (m.location, m.sku) not in self.sending)
