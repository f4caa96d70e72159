"""The engine: a scenario's ticks played against one policy, and what it served.

Per tick, in this order: outages that end, then start (a store back online
syncs at once); transfers arriving; deliveries; the hub's scheduled work (the
balancer plans on the hour); the periodic syncs (every 15 minutes per store, in
three staggered groups, only while its network is up); then the tick's demand,
walk-ins and web orders in the scenario's order; then the closes (stranded
quota). Work per tick follows the events, not the number of spots.

A `Policy` holds the stock and decides; the engine keeps the clock, the
network and the tallies. Each policy keeps the physical on-hand per spot
(location * skus + sku; the warehouse is location `n_stores`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from policies.scenario import WEB, Scenario


class Policy:
    """What every policy has: the physical stock and the tallies the engine reads back."""

    name = "policy"
    quotas = False  # whether a store holds a quota (then stranded quota is measured)

    def __init__(self, scn: Scenario, online: list[bool]) -> None:
        self.scn = scn
        self.S, self.K, self.W = scn.n_stores, len(scn.skus), scn.wh
        self.online = online
        self.phys = [0] * ((self.S + 1) * self.K)
        self.promised_twice = 0  # units promised to two customers (found when the second wants it)
        self.over_quota = 0  # walk-ins refused for want of quota while an unpromised unit was on the shelf
        self.web_broken = 0  # web orders taken and then not delivered (a unit promised twice, not re-sourced)
        self.moves = 0  # quota moves the policy issued: grants, releases, transfers
        self.messages = 0  # messages that carried something between a store and the hub
        self.bad_moves = 0  # moves the balancer proposed that the stock could not honour (clamped)

    # -- what the engine calls (defaults: nothing happens) --------------------

    def start(self, initial: list[tuple[int, int, int]]) -> None:
        for loc, k, q in initial:
            self.deliver(loc, k, q, 0)

    def deliver(self, loc: int, k: int, q: int, t: int) -> None:
        self.phys[loc * self.K + k] += q

    def walk_in(self, s: int, k: int, q: int, t: int) -> int:
        raise NotImplementedError

    def web(self, k: int, q: int, t: int) -> int:
        raise NotImplementedError

    def sync(self, s: int, t: int) -> None:
        pass

    def went_offline(self, s: int, t: int) -> None:
        pass

    def came_back(self, s: int, t: int) -> None:
        pass

    def hub_work(self, t: int) -> None:
        """The hub's own scheduled work, offered every tick (the balancer plans on its cadence)."""

    def tick(self, t: int) -> None:
        pass

    def stranded(self, s: int, next_day: dict[int, int]) -> tuple[int, int] | None:
        """(quota beyond the next day's walk-in demand, quota) at store s's close; None without quotas."""
        return None

    def check(self) -> list[str]:
        """Broken bookkeeping, if any (a policy's own invariant)."""
        return []


@dataclass
class Result:
    policy: str
    variant: str
    walk_demand: int = 0
    walk_served: int = 0
    out_demand: int = 0  # walk-ins at a store whose network was down
    out_served: int = 0
    web_demand: int = 0
    web_served: int = 0
    promised_twice: int = 0
    over_quota: int = 0
    moves: int = 0
    messages: int = 0
    bad_moves: int = 0
    stranded: int = 0  # summed over every store's closes
    quota_at_close: int = 0
    closes: int = 0
    broken: list[str] = field(default_factory=list)
    seconds: float = 0.0  # CPU time of the run

    @property
    def served(self) -> int:
        return self.walk_served + self.web_served

    @property
    def demand(self) -> int:
        return self.walk_demand + self.web_demand


def run(scn: Scenario, variant: str, make_policy, *, check_every: int = 0,
        prepared: dict | None = None) -> Result:
    """Play `scn` with stock `variant` against the policy `make_policy(scn, online)` builds."""
    import time

    t0 = time.process_time()  # CPU: the machine may be shared
    prep = prepared if prepared is not None else prepare(scn)
    S = scn.n_stores
    online = [True] * S
    down = [0] * S
    policy = make_policy(scn, online)
    res = Result(policy.name, variant)
    stock = scn.stock[variant]
    policy.start(stock.initial)
    deliveries: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
    for t, loc, k, q in stock.deliveries:
        deliveries[t].append((loc, k, q))
    ends, starts = prep["ends"], prep["starts"]
    demand, closes, next_day = prep["demand"], prep["closes"], prep["next_day"]
    every = 15 // scn.tick_minutes or 1
    groups = [[s for s in range(S) if s % every == g] for g in range(every)]
    for t in range(scn.ticks):
        back = []
        for s in ends.get(t, ()):
            down[s] -= 1
            if not down[s]:
                online[s] = True
                policy.came_back(s, t)
                back.append(s)
        for s in starts.get(t, ()):
            down[s] += 1
            if online[s]:
                online[s] = False
                policy.went_offline(s, t)
        policy.tick(t)
        for loc, k, q in deliveries.get(t, ()):
            policy.deliver(loc, k, q, t)
        policy.hub_work(t)
        for s in groups[t % every]:
            if online[s]:
                policy.sync(s, t)
        for s in back:
            if online[s] and s not in groups[t % every]:
                policy.sync(s, t)
        for loc, k, q in demand[t]:
            if loc == WEB:
                res.web_demand += q
                res.web_served += policy.web(k, q, t)
            else:
                x = policy.walk_in(loc, k, q, t)
                res.walk_demand += q
                res.walk_served += x
                if not online[loc]:
                    res.out_demand += q
                    res.out_served += x
        for s in closes.get(t, ()):
            st = policy.stranded(s, next_day.get(t, {}))
            if st is not None:
                res.stranded += st[0]
                res.quota_at_close += st[1]
                res.closes += 1
        if check_every and t % check_every == 0:
            res.broken += [f"tick {t}: {b}" for b in policy.check()]
    res.broken += policy.check()
    res.web_served -= policy.web_broken
    for name in ("promised_twice", "over_quota", "moves", "messages", "bad_moves"):
        setattr(res, name, getattr(policy, name))
    res.seconds = time.process_time() - t0
    return res


def prepare(scn: Scenario) -> dict:
    """What every run of a scenario reads, computed once: demand by tick, outages, closes."""
    ends: dict[int, list[int]] = defaultdict(list)
    starts: dict[int, list[int]] = defaultdict(list)
    for s, a, b in scn.outages:
        if b > a:
            starts[a].append(s)
            ends[b].append(s)
    closes: dict[int, list[int]] = defaultdict(list)
    for s, h in enumerate(scn.closes_hour):
        for d in range(scn.ticks // scn.ticks_per_day + 1):
            t = d * scn.ticks_per_day + h * scn.ticks_per_hour
            if t + scn.ticks_per_day <= scn.ticks:  # a close whose next day is in the run
                closes[t].append(s)
    return {"ends": ends, "starts": starts, "demand": scn.demand_by_tick(), "closes": closes,
            "next_day": scn.next_day_walk_in()}
