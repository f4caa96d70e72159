"""Stock with quotas (DESIGN.md, Stock and who may promise it; Moving quota), and the two quota baselines.

Per spot a `QuotaBook` keeps the physical on-hand split into disjoint shares:

    phys == quota + hub + flight + resv + tout + unheard

`quota` is the store's (it sells a walk-in only within it: the strict policy;
a walk-in refused while an unpromised unit of the hub share or in flight sat on
the shelf is counted `over_quota`, the sale the default in-hand policy would
have made over quota); `hub` is the hub's share (at the warehouse, all of its
stock); `flight` is granted and not yet applied; `resv` is web orders reserved
and not yet shipped; `tout` is transfers the hub ordered out, not yet shipped;
`unheard` is supply at a store the hub has not heard of yet, when a policy
splits deliveries. The hub's copy of a store's quota (`known`) is as of its
last push.

At a store's sync (only while its network is up): push (the hub hears its
sales and quota, adds `unheard` to its share), then the policy's `before_pull`,
then pull: grants applied, release requests answered (the store gives up to
what it has; the hub adds it to its share), web orders and ordered transfers
shipped. A transfer arrives `transit` later and joins the receiving store's
quota (the warehouse's share). A web order goes to the warehouse's share, else
to the store whose hub share is largest; a store's share ships at its next sync.

- **static split** (fraction f): each store's opening stock and every delivery
  split f to quota, the rest to the hub share; nothing ever moves.
- **reactive only** (bounded counters): opening and deliveries split 50/50;
  a walk-in refused for want of quota makes the store ask at its next sync,
  and the hub grants half its share at that store (rounded up) in the same pull.
"""

from __future__ import annotations

from policies.engine import Policy


class QuotaBook(Policy):
    quotas = True
    opening_quota = 1.0  # of a store's opening stock and of each delivery
    transit_ticks = 12 * 12  # a transfer takes 12 hours

    def __init__(self, scn, online) -> None:
        super().__init__(scn, online)
        n = len(self.phys)
        self.quota, self.hub, self.flight = [0] * n, [0] * n, [0] * n
        self.resv, self.tout, self.unheard, self.asked, self.known = [0] * n, [0] * n, [0] * n, [0] * n, [0] * n
        self.incoming = [0] * n  # units of transfers ordered to a spot, not yet arrived
        self.to_pull: list[set[int]] = [set() for _ in range(self.S)]
        self.to_push: list[set[int]] = [set() for _ in range(self.S)]
        self.sales: list[list[tuple[int, int, int]]] = [[] for _ in range(self.S)]  # (spot, tick, qty) unpushed
        self.ships: list[list[tuple[int, int]]] = [[] for _ in range(self.S)]  # (to spot, qty) ordered out
        self.arrivals: dict[int, list[tuple[int, int]]] = {}

    def _split(self, q: int) -> int:
        return q if self.opening_quota >= 1 else int(q * self.opening_quota + 0.5)

    def start(self, initial) -> None:
        K = self.K
        for loc, k, q in initial:
            i = loc * K + k
            self.phys[i] += q
            mine = 0 if loc == self.W else self._split(q)
            self.quota[i] += mine
            self.known[i] += mine
            self.hub[i] += q - mine

    def deliver(self, loc: int, k: int, q: int, t: int) -> None:
        i = loc * self.K + k
        self.phys[i] += q
        if loc == self.W:
            self.hub[i] += q
            return
        mine = self._split(q)
        self.quota[i] += mine
        self.unheard[i] += q - mine
        self.to_push[loc].add(i)

    def walk_in(self, s: int, k: int, q: int, t: int) -> int:
        i = s * self.K + k
        x = min(q, self.quota[i])
        if x:
            self.quota[i] -= x
            self.phys[i] -= x
            self.to_push[s].add(i)
            self.sales[s].append((i, t, x))
        if x < q:
            spare = self.hub[i] + self.flight[i]
            if spare > 0:
                self.over_quota += min(q - x, spare)
            self.refused(s, i, t, q - x, spare)
        return x

    def refused(self, s: int, i: int, t: int, n: int, spare: int) -> None:
        """n units a walk-in wanted that store s had no quota for; `spare` unpromised units sat on its shelf."""

    def web(self, k: int, q: int, t: int) -> int:
        hub, K = self.hub, self.K
        served = 0
        for _ in range(q):
            i = self.W * K + k
            if hub[i] > 0:
                hub[i] -= 1
                self.phys[i] -= 1
            else:
                i = max(range(k, self.S * K, K), key=hub.__getitem__)
                if hub[i] <= 0:
                    break
                hub[i] -= 1
                self.resv[i] += 1
                self.to_pull[i // K].add(i)
            served += 1
            self.web_sold(k, t)
        return served

    def web_sold(self, k: int, t: int) -> None:
        pass

    # -- moves, as the hub makes them -----------------------------------------

    def grant(self, i: int, q: int) -> int:
        """Hub share at store spot i into flight; what it granted (clamped to the share, counted if so)."""
        want, q = q, (min(q, self.hub[i]) if i // self.K < self.S else 0)
        self.bad_moves += q != want
        if q <= 0:
            return 0
        self.hub[i] -= q
        self.flight[i] += q
        self.to_pull[i // self.K].add(i)
        self.moves += 1
        return q

    def ask_release(self, i: int, q: int) -> int:
        if q <= 0 or i // self.K >= self.S:
            self.bad_moves += 1
            return 0
        self.asked[i] += q
        self.to_pull[i // self.K].add(i)
        self.moves += 1
        return q

    def transfer(self, src: int, dst: int, q: int, t: int) -> int:
        fits = src != dst and src % self.K == dst % self.K
        want, q = q, (min(q, self.hub[src]) if fits else 0)
        self.bad_moves += q != want
        if q <= 0:
            return 0
        self.hub[src] -= q
        self.incoming[dst] += q
        self.moves += 1
        if src // self.K == self.W:
            self.phys[src] -= q
            self.arrivals.setdefault(t + self.transit_ticks, []).append((dst, q))
        else:
            self.tout[src] += q
            self.ships[src // self.K].append((dst, q))
            self.to_pull[src // self.K].add(src)
        return q

    # -- the clock and the network ----------------------------------------------

    def tick(self, t: int) -> None:
        for dst, q in self.arrivals.pop(t, ()):
            self.phys[dst] += q
            self.incoming[dst] -= q
            if dst // self.K == self.W:
                self.hub[dst] += q
            else:
                self.quota[dst] += q
                self.to_push[dst // self.K].add(dst)

    def sync(self, s: int, t: int) -> None:
        if self.to_push[s] or self.sales[s]:
            self.messages += 1
            for i in self.to_push[s]:
                self.known[i] = self.quota[i]
                if self.unheard[i]:
                    self.hub[i] += self.unheard[i]
                    self.unheard[i] = 0
            self.heard(s, self.sales[s])
            self.to_push[s].clear()
            self.sales[s] = []
        self.before_pull(s, t)
        if not self.to_pull[s]:
            return
        self.messages += 1
        phys, quota, K = self.phys, self.quota, self.K
        for i in self.to_pull[s]:
            if self.flight[i]:
                quota[i] += self.flight[i]
                self.flight[i] = 0
            if self.asked[i]:
                r = min(self.asked[i], quota[i])
                quota[i] -= r
                self.hub[i] += r
                self.asked[i] = 0
            if self.resv[i]:
                x = min(self.resv[i], phys[i])
                self.promised_twice += self.resv[i] - x
                phys[i] -= x
                self.resv[i] = 0
            self.known[i] = quota[i]
        for dst, q in self.ships[s]:
            src = dst % K + s * K
            phys[src] -= q
            self.tout[src] -= q
            self.arrivals.setdefault(t + self.transit_ticks, []).append((dst, q))
        self.ships[s] = []
        self.to_pull[s].clear()

    def heard(self, s: int, sales: list[tuple[int, int, int]]) -> None:
        pass

    def before_pull(self, s: int, t: int) -> None:
        pass

    def stranded(self, s: int, next_day: dict[int, int]) -> tuple[int, int]:
        lo = s * self.K
        quota = self.quota
        beyond = total = 0
        for i in range(lo, lo + self.K):
            q = quota[i]
            if q:
                total += q
                d = next_day.get(i, 0)
                if q > d:
                    beyond += q - d
        return beyond, total

    def check(self) -> list[str]:
        out = []
        for i, p in enumerate(self.phys):
            parts = (self.quota[i], self.hub[i], self.flight[i], self.resv[i], self.tout[i], self.unheard[i])
            if p != sum(parts) or min(parts) < 0 or p < 0:
                out.append(f"spot {i}: on hand {p} != quota+hub+flight+resv+tout+unheard {parts}")
        return out[:5]


class StaticSplit(QuotaBook):
    def __init__(self, scn, online, fraction: float) -> None:
        super().__init__(scn, online)
        self.opening_quota = fraction
        self.name = f"static {round(fraction * 100)}%"


class ReactiveOnly(QuotaBook):
    name = "reactive only"
    opening_quota = 0.5

    def __init__(self, scn, online) -> None:
        super().__init__(scn, online)
        self.wants: list[set[int]] = [set() for _ in range(self.S)]

    def refused(self, s: int, i: int, t: int, n: int, spare: int) -> None:
        self.wants[s].add(i)

    def before_pull(self, s: int, t: int) -> None:
        for i in self.wants[s]:
            if self.quota[i] == 0 and self.hub[i] > 0:
                self.grant(i, (self.hub[i] + 1) // 2)
        self.wants[s].clear()
