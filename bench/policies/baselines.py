"""The policies with no quota: the oracle, online-only and no quotas.

Every policy routes a web order the same way: the warehouse if it can, else
the store that can spare the most (ties: the lower store index), one unit at
a time. What "can" means is each policy's own:

- **oracle**: sees every shelf at once and ships at once. A walk-in is served
  from that store's physical stock; a web order from any location's.
  The physical limit (it moves no stock between stores).
- **online-only** (the seed's design): every sale asks the hub, so a store
  whose network is down sells nothing. Online, a walk-in is served from the
  store's stock not reserved for the web. The hub knows every store's stock
  exactly (an offline store cannot sell), so a web order may reserve at any
  store; the store ships it at its next sync. A message per walk-in asked.
- **no quotas** (a POS's usual offline mode): a store sells from its own
  stock whenever a customer asks, online or not, and tells the hub at its next
  sync. The hub promises web orders from each store's stock as of that
  store's last sync, minus what it already promised there. When the store
  ships them (at its next sync) and the units are gone, each missing unit was
  promised twice; the hub re-sources it by the same rule if it can, else the
  web order is broken (counted unserved).
"""

from __future__ import annotations

from policies.engine import Policy


class Oracle(Policy):
    name = "oracle"

    def walk_in(self, s: int, k: int, q: int, t: int) -> int:
        i = s * self.K + k
        x = min(q, self.phys[i])
        self.phys[i] -= x
        return x

    def web(self, k: int, q: int, t: int) -> int:
        phys, K = self.phys, self.K
        served = 0
        for _ in range(q):
            i = self.W * K + k
            if phys[i] <= 0:
                i = max(range(k, self.S * K, K), key=phys.__getitem__)
                if phys[i] <= 0:
                    break
            phys[i] -= 1
            served += 1
        return served


class OnlineOnly(Policy):
    name = "online-only"

    def __init__(self, scn, online) -> None:
        super().__init__(scn, online)
        self.resv = [0] * len(self.phys)
        self.to_ship: list[set[int]] = [set() for _ in range(self.S)]

    def walk_in(self, s: int, k: int, q: int, t: int) -> int:
        if not self.online[s]:
            return 0
        self.messages += 1
        i = s * self.K + k
        x = max(0, min(q, self.phys[i] - self.resv[i]))
        self.phys[i] -= x
        return x

    def web(self, k: int, q: int, t: int) -> int:
        phys, resv, K = self.phys, self.resv, self.K
        served = 0
        for _ in range(q):
            i = self.W * K + k
            if phys[i] > 0:
                phys[i] -= 1
            else:
                i = max(range(k, self.S * K, K), key=lambda j: phys[j] - resv[j])
                if phys[i] - resv[i] <= 0:
                    break
                resv[i] += 1
                self.to_ship[i // K].add(i)
            served += 1
        return served

    def sync(self, s: int, t: int) -> None:
        if self.to_ship[s]:
            self.messages += 1
            for i in self.to_ship[s]:
                self.phys[i] -= self.resv[i]
                self.resv[i] = 0
            self.to_ship[s].clear()


class NoQuotas(Policy):
    name = "no quotas"

    def __init__(self, scn, online) -> None:
        super().__init__(scn, online)
        self.seen = [0] * len(self.phys)  # the hub's copy of each store's stock, as of its last sync
        self.resv = [0] * len(self.phys)  # web units the hub promised at a store, not yet shipped
        self.to_ship: list[set[int]] = [set() for _ in range(self.S)]
        self.changed: list[set[int]] = [set() for _ in range(self.S)]

    def start(self, initial) -> None:
        super().start(initial)
        self.seen = list(self.phys)
        for c in self.changed:
            c.clear()

    def deliver(self, loc: int, k: int, q: int, t: int) -> None:
        i = loc * self.K + k
        self.phys[i] += q
        if loc < self.S:
            self.changed[loc].add(i)

    def walk_in(self, s: int, k: int, q: int, t: int) -> int:
        i = s * self.K + k
        x = min(q, self.phys[i])
        if x:
            self.phys[i] -= x
            self.changed[s].add(i)
        return x

    def _promise(self, k: int) -> bool:
        phys, seen, resv, K = self.phys, self.seen, self.resv, self.K
        i = self.W * K + k
        if phys[i] > 0:
            phys[i] -= 1
            return True
        i = max(range(k, self.S * K, K), key=lambda j: seen[j] - resv[j])
        if seen[i] - resv[i] <= 0:
            return False
        resv[i] += 1
        self.to_ship[i // K].add(i)
        return True

    def web(self, k: int, q: int, t: int) -> int:
        served = 0
        for _ in range(q):
            if not self._promise(k):
                break
            served += 1
        return served

    def sync(self, s: int, t: int) -> None:
        phys, seen, resv = self.phys, self.seen, self.resv
        if self.changed[s]:  # push: the store's sales and deliveries
            self.messages += 1
            for i in self.changed[s]:
                seen[i] = phys[i]
            self.changed[s].clear()
        if not self.to_ship[s]:
            return
        self.messages += 1  # pull: the web orders to ship
        short = []
        for i in self.to_ship[s]:
            x = min(resv[i], phys[i])
            phys[i] -= x
            short += [i] * (resv[i] - x)
            resv[i] = 0
            seen[i] = phys[i]
        self.to_ship[s].clear()
        for i in short:  # promised twice: the store sold it too; re-source if the hub can
            self.promised_twice += 1
            if not self._promise(i % self.K):
                self.web_broken += 1

    def check(self) -> list[str]:
        return [f"negative stock at spot {i}" for i, p in enumerate(self.phys) if p < 0]
