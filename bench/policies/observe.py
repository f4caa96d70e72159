"""What the balancer did, for its author: where it refused walk-ins, and why it moved quota.

`Observed` is the `Balancer` with a record kept beside it (it decides nothing):

- every walk-in unit refused for want of quota, by situation: the store online
  or in an outage (for an outage, whether it began overnight, 21:00-08:00, and
  how many hours in; a day with a promo on the calendar apart), whether unpromised units sat on the shelf (hub share
  or in flight) and how many, the spot's last forecast over the window, the
  SKU's popularity rank; and the (store, SKU) spots that lost the most;
- every move by kind and hour of the day; units per grant and how many
  grants are of `min_move` units or fewer; releases asked within a day of a
  delivery (or the opening) at that spot, which joined the store's quota.
"""

from __future__ import annotations

from collections import Counter

from policies.balancer import Balancer


SHELF = ("no unit on the shelf", "1 unit on the shelf (hub share or in flight)", "2+ units on the shelf")
WHEN_ONLINE = ("refused before 8h", "refused 8-12h", "refused 12-17h", "refused 17-24h")
WHEN_OUT = ("< 1 h into the outage", "1-3 h in", "3-8 h in", "8+ h in")
RANK = ("SKU rank 1-10", "SKU rank 11-50", "SKU rank 51+")
FORECAST = ("forecast over the window < 1", "forecast 1-3", "forecast 3-10", "forecast 10+")
ORDER = ("all",) + SHELF + WHEN_ONLINE + WHEN_OUT + RANK + FORECAST  # how the bench lists them
WHERE = ("online", "online, promo day", "outage begun in the day", "outage begun overnight", "outage, promo day")


def _band(x: float, edges: tuple, labels: tuple) -> str:
    """labels[j] for the first edges[j] above x; the last label past every edge."""
    for edge, label in zip(edges, labels):
        if x < edge:
            return label
    return labels[-1]


class Observed(Balancer):
    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self.lost: Counter = Counter()  # (situation, detail) -> units refused
        self.lost_spots: Counter = Counter()  # (store, sku) -> units refused with units on the shelf
        self.moves_by_hour: Counter = Counter()  # (kind, hour) -> moves
        self.down_since: list[int | None] = [None] * self.S
        self.delivered = {i: 0 for i in range(len(self.phys))}  # spot -> tick of its last delivery (opening: 0)

    def went_offline(self, s: int, t: int) -> None:
        self.down_since[s] = t
        super().went_offline(s, t)

    def came_back(self, s: int, t: int) -> None:
        self.down_since[s] = None
        super().came_back(s, t)

    def refused(self, s: int, i: int, t: int, n: int, spare: int) -> None:
        super().refused(s, i, t, n, spare)
        tph = self.scn.ticks_per_hour
        k = i % self.K
        shelf = SHELF[min(spare, 2)] if spare > 0 else SHELF[0]
        rank = _band(k, (10, 50), RANK)
        day = t - t % self.scn.ticks_per_day
        promo = any(a < day + self.scn.ticks_per_day and b > day and kk in (None, k) and ll in (None, s)
                    for kk, ll, a, b, _ in self.scn.promos)
        if self.online[s]:
            where = WHERE[1] if promo else WHERE[0]
            when = _band((t // tph) % 24, (8, 12, 17), WHEN_ONLINE)
        else:
            start = self.down_since[s] if self.down_since[s] is not None else t
            hour = (start // tph) % 24
            where = WHERE[4] if promo else WHERE[3] if hour >= 21 or hour < 8 else WHERE[2]
            when = _band((t - start) / tph, (1, 3, 8), WHEN_OUT)
        for detail in ("all", shelf, when, rank, _band(self.fc[i], (1, 3, 10), FORECAST)):
            self.lost[where, detail] += n
        if spare > 0:
            self.lost_spots[self.names[s], self.scn.skus[k]] += n

    def deliver(self, loc: int, k: int, q: int, t: int) -> None:
        self.delivered[loc * self.K + k] = t
        super().deliver(loc, k, q, t)

    def _apply(self, m, t: int) -> None:
        hour = (t // self.scn.ticks_per_hour) % 24
        self.moves_by_hour[m.kind, hour] += 1
        self.moves_by_hour[m.kind, "units"] += m.qty
        i = self._lx[m.location] * self.K + self._kx[m.sku]
        if m.kind == "grant" and m.qty <= self.settings.min_move:
            self.moves_by_hour[m.kind, "of min_move units"] += 1
        if m.kind == "release" and t - self.delivered.get(i, -10**9) < self.scn.ticks_per_day:
            self.moves_by_hour[m.kind, "within a day of a delivery or the opening"] += 1
        super()._apply(m, t)

    def record(self) -> dict:
        """What the bench sums over runs."""
        return {"lost": dict(self.lost), "lost_spots": dict(self.lost_spots), "moves_by_hour": dict(self.moves_by_hour)}
