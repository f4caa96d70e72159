"""The seeded world: 1 hub, 3 stores, a warehouse, a few SKUs in small numbers, a faulty network.

    python -m tests.sim.world 123                 # replay seed 123 (300 steps), print a summary
    python -m tests.sim.world 123 --steps 2000 --verbose

Everything comes from one `random.Random(seed)` and a simulated clock: no
threads, no I/O, so a seed replays exactly. Each step moves the clock on a
few minutes, delivers the messages due by then, and does one thing:

- at a store (online or not): a walk-in sale (policy `in-hand` mostly, one
  store may be `strict`; a customer holding a unit may take the store past
  its quota), a hold, a hold sold or released (holds also expire), a return
  (on a receipt or not, resellable or not), a delivery, a count of a bin
  against the shelf (the world keeps the true shelf: units go missing or
  turn up unseen), a write-off, a move between bins, a release of quota on
  the store's own initiative, a transfer to another store (received there
  hours later, once by transfer id);
- a sync tick at a store: push the next batch, pull (grants applied once by
  id, release requests answered once), push again after a pull that did
  something, as `node.runner` does;
- the web shop at the hub: reserve (anywhere, or at a named location; a
  retry under the same key), commit, cancel, expire;
- the hub's balancer: grant to stores running low, ask stores holding much;
- the network: cut a store off for hours.

After every step `check.Checker.check` runs. After the last step the heal
phase makes the network perfect and syncs every store until nothing is left
to move; then `Checker.converged` runs.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from hub import rules as hub_rules
from node.errors import StoreError
from node.rules import BACK, FLOOR, Kind, Policy, SaleLine
from sync.models import LedgerEntry, PushBatch
from tests.sim.check import Checker, Violation
from tests.sim.hub import SimHub
from tests.sim.net import Network
from tests.sim.node import SimNode

T0 = datetime(2025, 3, 10, 8, 0, tzinfo=UTC)
STORES = ["S1", "S2", "S3"]
WAREHOUSE = "W1"
SKUS = ["SKU-A", "SKU-B", "SKU-C", "SKU-D"]
BUGS = ("hub_double_apply", "node_double_grant")

STORE_OPS = (
    ("sale", 40), ("hold", 8), ("collect", 6), ("unhold", 3), ("return", 7), ("receive", 6), ("count", 6),
    ("shrink", 3), ("found", 1), ("write_off", 4), ("move", 4), ("release", 3), ("transfer", 3),
)
STEP_KINDS = (("store", 55), ("sync", 22), ("web", 14), ("ops", 6), ("cut", 3))


_CUM: dict[int, tuple[list[str], list[int]]] = {}


def _pick(rng: random.Random, table: tuple[tuple[str, int], ...]) -> str:
    got = _CUM.get(id(table))
    if got is None:
        names, cum, total = [], [], 0
        for n, w in table:
            total += w
            names.append(n)
            cum.append(total)
        got = _CUM[id(table)] = (names, cum)
    return rng.choices(got[0], cum_weights=got[1])[0]


class SimFailure(AssertionError):
    pass


class World:
    def __init__(self, seed: int, *, steps: int = 300, bugs: frozenset[str] = frozenset(), verbose: bool = False,
                 holds_backed: bool = True) -> None:
        self.seed = seed
        self.steps = steps
        self.bugs = bugs
        self.holds_backed = holds_backed
        self.rng = random.Random(seed)
        self.verbose = verbose
        self.now = T0
        self.step_no = 0
        self.stores = list(STORES)
        self.warehouse = WAREHOUSE
        self.skus = list(SKUS)
        self._hashes: dict[int, tuple[LedgerEntry, str]] = {}
        rng = self.rng
        self.buffers = {s: rng.choice((0, 0, 1)) for s in self.skus}
        self.prices = {s: rng.randint(1, 50) * 100 for s in self.skus}
        self.tally: dict[str, dict[str, int]] = {s: defaultdict(int) for s in self.skus}
        self.stats: dict[str, int] = defaultdict(int)
        self.hub = SimHub(self.stores, self.warehouse, self.buffers, self.clock, self.hash_of, bugs)
        self.net = Network(rng, self.stores)
        strict = rng.choice(self.stores) if rng.random() < 0.5 else None
        self.nodes = {s: SimNode(s, Policy.STRICT if s == strict else Policy.IN_HAND, self.skus, self.prices,
                                 self.clock, self.hash_of, bugs) for s in self.stores}
        # the true shelves: what a count finds
        self.shelf = {s: {k: {FLOOR: 0, BACK: 0} for k in self.skus} for s in self.stores}
        self.transfers: list[dict] = []
        self.web_open: list[str] = []
        self.web_keys: list[tuple[str, str, int, str | None]] = []
        self._op = 0
        self._open_chain()
        self.checker = Checker(self)
        self.check()

    # -- plumbing ---------------------------------------------------------------------

    def clock(self) -> datetime:
        return self.now

    def hash_of(self, e: LedgerEntry) -> str:
        got = self._hashes.get(id(e))
        if got is None or got[0] is not e:
            got = (e, e.content_hash())
            self._hashes[id(e)] = got
        return got[1]

    def op_id(self, what: str) -> str:
        self._op += 1
        return f"{what}-{self._op}"

    def log(self, msg: str) -> None:
        if self.verbose:
            print(f"[{self.step_no:5d} {self.now:%d %H:%M}] {msg}")

    def check(self) -> None:
        try:
            self.checker.check()
        except Violation as v:
            raise SimFailure(self.failure(str(v))) from None

    def failure(self, msg: str) -> str:
        flags = "".join(f" --bug {b}" for b in sorted(self.bugs)) 
        return (f"seed {self.seed}, step {self.step_no} ({self.now:%Y-%m-%d %H:%M}): {msg}\n"
                f"replay with SEED={self.seed}: python -m tests.sim.world {self.seed} --steps {self.steps}{flags} "
                "--verbose")

    # -- the opening (Hub.load_chain, then each store's node init from the hub) -----------

    def _open_chain(self) -> None:
        rng = self.rng
        wh = {sku: rng.randint(0, 6) for sku in self.skus}
        self.warehouse_opening = wh
        self.hub.load_warehouse(wh)
        for sku, q in wh.items():
            self.tally[sku]["opening"] += q
        for s in self.stores:
            stock = []
            for sku in self.skus:
                lines = [(b, rng.randint(0, 4)) for b in (BACK, FLOOR)]
                total = sum(q for _, q in lines)
                quota = int(max(0, total - self.buffers[sku]) * 0.7)
                for bin_, qty in sorted(lines):
                    if not qty:
                        continue
                    q = min(qty, quota)
                    quota -= q
                    stock.append((sku, bin_, qty, q))
                    self.shelf[s][sku][bin_] += qty
                self.tally[sku]["opening"] += total
            self.nodes[s].initialise(stock)

    # -- the run ----------------------------------------------------------------------

    def run(self, steps: int) -> World:
        self.steps = steps
        for _ in range(steps):
            self.step()
        self.heal()
        return self

    def step(self) -> None:
        self.step_no += 1
        self.now += timedelta(minutes=self.rng.randint(1, 15))
        self.deliver()
        kind = _pick(self.rng, STEP_KINDS)
        self.stats[f"step:{kind}"] += 1
        getattr(self, f"do_{kind}")()
        self.receive_transfers()
        self.check()

    # -- network delivery (the hub's and the store's handlers) -------------------------

    def deliver(self) -> None:
        while (m := self.net.due(self.now)) is not None:
            if m.to_hub:
                self.at_hub(m.store, m.kind, m.body)
            else:
                self.at_store(m.store, m.kind, m.body)

    def at_hub(self, store: str, kind: str, body: object) -> None:
        if kind == "push":
            try:
                res = self.hub.ingest(store, PushBatch(store_id=store, entries=list(body)))
            except hub_rules.HubError as err:
                self.log(f"hub refuses {store} push: {err.code} {err}")
                self.net.send(self.now, store, False, "refused", (err.code, err.extra.get("expected_seq")))
                return
            self.stats["accepted"] += res.accepted
            self.stats["duplicates"] += res.duplicates
            self.log(f"hub ingests {store} seq {body[0].seq}..{body[-1].seq}: +{res.accepted} dup {res.duplicates}")
            self.net.send(self.now, store, False, "ack", res)
        elif kind == "pull":
            self.net.send(self.now, store, False, "pulled", self.hub.pull(store))

    def at_store(self, store: str, kind: str, body: object) -> None:
        node = self.nodes[store]
        if kind == "ack":
            if node.on_push_result(body):
                self.send_push(store)
        elif kind == "refused":
            code, expected = body
            self.stats[f"refused:{code}"] += 1
            if code == "gap" and node.on_gap(expected):
                self.send_push(store)
        elif kind == "pulled":
            n = node.on_pull(body)
            self.stats["pull_items"] += n
            if n:
                self.log(f"{store} pull: {len(body.grants)} grants, {len(body.release_requests)} release requests")
                self.send_push(store)

    def send_push(self, store: str) -> None:
        batch = self.nodes[store].next_batch()
        if batch:
            self.net.send(self.now, store, True, "push", batch)

    # -- steps ----------------------------------------------------------------------

    def do_sync(self) -> None:
        store = self.rng.choice(self.stores)
        self.nodes[store].expire_holds()
        self.send_push(store)
        self.net.send(self.now, store, True, "pull")

    def do_cut(self) -> None:
        store = self.rng.choice(self.stores)
        until = self.now + timedelta(minutes=self.rng.randint(60, 8 * 60))
        self.net.cut(store, until)
        self.stats["cuts"] += 1
        self.log(f"{store} cut off until {until:%d %H:%M}")

    def do_ops(self) -> None:
        for did in self.hub.balance(self.rng):
            self.stats["grants" if did.startswith("grant") else "release_asks"] += 1
            self.log(f"balancer: {did}")

    def do_web(self) -> None:
        rng, hub = self.rng, self.hub
        hub.expire_due()
        self.web_open = [r for r in self.web_open if hub.reservations[r].status in ("held", "ordered")]
        what = rng.choices(("reserve", "retry", "commit", "cancel"), weights=(6, 1, 3, 2))[0]
        try:
            if what == "reserve" or (what == "retry" and not self.web_keys):
                key = f"k{self.seed}-{self.step_no}"
                sku = rng.choice(self.skus)
                qty = rng.choice((1, 1, 2))
                loc = rng.choice((None, None, self.warehouse, *self.stores))
                self.web_keys.append((key, sku, qty, loc))
                r = hub.reserve(key, sku, qty, location=loc, ttl_s=rng.randint(10, 180) * 60)
                self.web_open.append(r["reservation_id"])
                self.stats["web_reserved"] += 1
                self.log(f"web reserves {qty} {sku} at {r['location']}")
            elif what == "retry":
                key, sku, qty, loc = rng.choice(self.web_keys)
                r = hub.reserve(key, sku, qty, location=loc)
                if r["reservation_id"] not in self.web_open and hub.reservations[r["reservation_id"]].status in (
                        "held", "ordered"):
                    self.web_open.append(r["reservation_id"])
            elif self.web_open:
                rid = rng.choice(self.web_open)
                getattr(hub, what)(rid)
                self.stats[f"web_{what}"] += 1
                self.log(f"web {what} {rid}")
        except hub_rules.HubError as err:
            self.stats[f"web_refused:{err.code}"] += 1

    def do_store(self) -> None:
        store = self.rng.choice(self.stores)
        node = self.nodes[store]
        node.expire_holds()
        op = _pick(self.rng, STORE_OPS)
        self.stats[f"op:{op}"] += 1
        try:
            getattr(self, f"op_{op}")(store, node, self.rng.choice(self.skus))
        except StoreError as err:
            self.stats[f"refused:{type(err).__name__}"] += 1
            self.log(f"{store} {op} refused: {err}")

    # -- store operations: the shelf, the customer and the clerk --------------------------

    def _take_shelf(self, store: str, sku: str, qty: int, first: str) -> None:
        sh = self.shelf[store][sku]
        for b in (first, BACK if first == FLOOR else FLOOR):
            n = min(qty, sh[b])
            sh[b] -= n
            qty -= n
        assert qty == 0, "the world took units its shelves did not have"

    def _count_all(self, store: str, node: SimNode, sku: str) -> None:
        for bin_ in (FLOOR, BACK):
            self._count(store, node, sku, bin_)

    def _count(self, store: str, node: SimNode, sku: str, bin_: str) -> None:
        counted = self.shelf[store][sku][bin_]
        book = node.balances[sku].bins.get(bin_, 0)
        node.count(self.op_id("count"), sku, bin_, counted)
        diff = counted - book
        self.tally[sku]["counted_up" if diff > 0 else "counted_down"] += abs(diff)
        self.log(f"{store} counts {sku} {bin_}: book {book}, shelf {counted}")

    def _tally_found(self, sku: str, entries: list) -> None:
        """Units an in-hand sale found at the till (the book was short) entered as supply."""
        for e in entries:
            if e.kind == "count" and e.detail.get("found_at_till"):
                self.tally[sku]["counted_up"] += e.qty

    def _free_on_shelf(self, store: str, node: SimNode, sku: str) -> int:
        aside = sum(h.qty for h in node.holds.values() if h.sku == sku)
        return sum(self.shelf[store][sku].values()) - aside

    def op_sale(self, store: str, node: SimNode, sku: str) -> None:
        qty = min(self.rng.choice((1, 1, 1, 2)), self._free_on_shelf(store, node, sku))
        if qty <= 0:
            self.stats["walk_in_unserved"] += 1
            return
        line = [SaleLine(sku, qty, self.prices[sku])]
        quota_before = node.balances[sku].quota
        before = len(node.ledger)
        try:
            node.sell(self.op_id("sale"), line)
        except StoreError as err:
            if err.code != "not_on_hand":
                raise
            self._count_all(store, node, sku)  # "count the shelf first", then sell again
            before = len(node.ledger)
            node.sell(self.op_id("sale"), line)
        self._tally_found(sku, node.ledger[before:])
        self._take_shelf(store, sku, qty, FLOOR)
        self.tally[sku]["sold"] += qty
        if qty > quota_before:
            self.stats["over_quota_sales"] += 1
        self.log(f"{store} sells {qty} {sku} (quota was {quota_before})")

    def op_hold(self, store: str, node: SimNode, sku: str) -> None:
        qty = self.rng.choice((1, 1, 2))
        node.hold(self.op_id("hold"), sku, qty, ttl=timedelta(minutes=self.rng.randint(30, 360)))
        self.stats["holds"] += 1
        self.log(f"{store} holds {qty} {sku}")

    def op_collect(self, store: str, node: SimNode, sku: str) -> None:
        if not node.holds:
            return
        h = node.holds[self.rng.choice(sorted(node.holds))]
        if sum(self.shelf[store][h.sku].values()) < h.qty:  # the units are gone: the customer cannot have them
            node.release_hold(self.op_id("unhold"), h.hold_id)
            return
        line = [SaleLine(h.sku, h.qty, self.prices[h.sku], hold_id=h.hold_id)]
        before = len(node.ledger)
        try:
            node.sell(self.op_id("collect"), line)
        except StoreError as err:
            if err.code != "not_on_hand":
                raise
            self._count_all(store, node, h.sku)
            before = len(node.ledger)
            node.sell(self.op_id("collect"), line)
        self._tally_found(h.sku, node.ledger[before:])
        self._take_shelf(store, h.sku, h.qty, FLOOR)
        self.tally[h.sku]["sold"] += h.qty
        self.stats["holds_collected"] += 1
        self.log(f"{store} sells hold {h.hold_id} ({h.qty} {h.sku})")

    def op_unhold(self, store: str, node: SimNode, sku: str) -> None:
        if node.holds:
            node.release_hold(self.op_id("unhold"), self.rng.choice(sorted(node.holds)))

    def op_return(self, store: str, node: SimNode, sku: str) -> None:
        resellable = self.rng.random() < 0.75
        receipts = [(r, k) for (r, k), s in node.sold.items() if s[0] > s[2]]
        if receipts and self.rng.random() < 0.8:
            receipt, sku = self.rng.choice(sorted(receipts))
        else:
            receipt = None
        node.return_items(self.op_id("return"), sku, 1, resellable=resellable, receipt=receipt)
        if resellable:
            self.shelf[store][sku][BACK] += 1
            self.tally[sku]["returned"] += 1
        self.log(f"{store} takes back 1 {sku} ({'resellable' if resellable else 'not resellable'})")

    def op_receive(self, store: str, node: SimNode, sku: str) -> None:
        qty = self.rng.randint(1, 5)
        node.receive(self.op_id("delivery"), sku, qty)
        self.shelf[store][sku][BACK] += qty
        self.tally[sku]["received"] += qty
        self.log(f"{store} receives {qty} {sku}")

    def op_count(self, store: str, node: SimNode, sku: str) -> None:
        self._count(store, node, sku, self.rng.choice((FLOOR, BACK)))

    def op_shrink(self, store: str, node: SimNode, sku: str) -> None:
        bin_ = self.rng.choice((FLOOR, BACK))
        if self.shelf[store][sku][bin_] > 0:
            self.shelf[store][sku][bin_] -= 1  # nobody saw it go
            self.stats["shrink"] += 1

    def op_found(self, store: str, node: SimNode, sku: str) -> None:
        self.shelf[store][sku][self.rng.choice((FLOOR, BACK))] += 1  # it was behind the shelf all along
        self.stats["found"] += 1

    def op_write_off(self, store: str, node: SimNode, sku: str) -> None:
        kind = self.rng.choice((Kind.DAMAGED, Kind.EXPIRED, Kind.LOST))
        bin_ = self.rng.choice((FLOOR, BACK))
        if kind is not Kind.LOST and self.shelf[store][sku][bin_] < 1:
            return
        node.write_off(self.op_id(str(kind)), kind, sku, 1, bin_=bin_)
        if kind is not Kind.LOST:  # damaged or expired: the clerk takes the unit off the shelf
            self.shelf[store][sku][bin_] -= 1
        self.tally[sku]["written_off"] += 1
        self.log(f"{store} writes off 1 {sku} ({kind})")

    def op_move(self, store: str, node: SimNode, sku: str) -> None:
        src, dst = (FLOOR, BACK) if self.rng.random() < 0.4 else (BACK, FLOOR)
        if self.shelf[store][sku][src] < 1:
            return
        node.move(self.op_id("move"), sku, 1, from_bin=src, to_bin=dst)
        self.shelf[store][sku][src] -= 1
        self.shelf[store][sku][dst] += 1

    def op_release(self, store: str, node: SimNode, sku: str) -> None:
        node.release_quota(self.op_id("release"), sku, self.rng.randint(1, 3))
        self.stats["own_releases"] += 1

    def op_transfer(self, store: str, node: SimNode, sku: str) -> None:
        qty = self.rng.choice((1, 1, 2))
        if self._free_on_shelf(store, node, sku) < qty:
            return
        to = self.rng.choice([s for s in self.stores if s != store])
        tid = self.op_id(f"T-{store}")
        node.transfer_out(tid, sku, qty, to_location=to)
        self._take_shelf(store, sku, qty, BACK)
        self.tally[sku]["in_transit"] += qty
        self.transfers.append({"id": tid, "from": store, "to": to, "sku": sku, "qty": qty,
                               "arrives": self.now + timedelta(minutes=self.rng.randint(60, 12 * 60))})
        self.stats["transfers"] += 1
        self.log(f"{store} sends {qty} {sku} to {to} ({tid})")

    def receive_transfers(self, everything: bool = False) -> None:
        due = [t for t in self.transfers if everything or t["arrives"] <= self.now]
        for t in due:
            node = self.nodes[t["to"]]
            node.transfer_in(self.op_id("tin"), t["id"], t["sku"], t["qty"], from_location=t["from"])
            if self.rng.random() < 0.2:  # the clerk scans the delivery note again: refused, nothing written
                try:
                    node.transfer_in(self.op_id("tin"), t["id"], t["sku"], t["qty"], from_location=t["from"])
                    raise SimFailure(self.failure(f"transfer {t['id']} received twice"))
                except StoreError:
                    pass
            self.shelf[t["to"]][t["sku"]][BACK] += t["qty"]
            self.tally[t["sku"]]["in_transit"] -= t["qty"]
            self.transfers.remove(t)
            self.log(f"{t['to']} receives transfer {t['id']}")

    # -- the heal -------------------------------------------------------------------------

    def heal(self) -> None:
        """Perfect network, no customers: sync every store until nothing moves; then everything agrees."""
        self.net.perfect()
        self.phase = "heal"
        for _ in range(8):
            self.step_no += 1
            self.now += timedelta(minutes=1)
            self.deliver()
            self.receive_transfers(everything=True)
            for s in self.stores:
                self.nodes[s].expire_holds()
                self.send_push(s)
                self.deliver()
                self.net.send(self.now, s, True, "pull")
                self.deliver()
            self.check()
            if self._settled():
                break
        try:
            self.checker.converged()
        except Violation as v:
            raise SimFailure(self.failure(str(v))) from None

    def _settled(self) -> bool:
        hub = self.hub
        return (all(hub.next_seq[s] == len(self.nodes[s].ledger) + 1 for s in self.stores)
                and all(g.status == "applied" for g in hub.grants.values())
                and all(r.status == "answered" for r in hub.releases.values()))

    # -- a summary --------------------------------------------------------------------------

    def summary(self) -> dict:
        hub = self.hub
        return {
            "seed": self.seed, "steps": self.steps, "checks": self.checker.checks,
            "entries": sum(len(n.ledger) for n in self.nodes.values()),
            "grants": len(hub.grants), "release_requests": len(hub.releases),
            "reservations": len(hub.reservations),
            "at_risk": sum(r.at_risk for r in hub.reservations.values()),
            "shortfall": sum(p.shortfall for p in hub.positions.values()),
            "over_quota_units": sum(b.over_quota for n in self.nodes.values() for b in n.balances.values()),
            "incidents": len(hub.incidents),
            **{k: v for k, v in sorted(self.stats.items())},
            **{f"net_{k}": v for k, v in self.net.stats.items()},
        }


def run(seed: int, steps: int = 300, *, bugs: frozenset[str] = frozenset(), verbose: bool = False,
        holds_backed: bool = True) -> World:
    """Run one seed and heal; raises SimFailure (an AssertionError) naming the seed on any violation."""
    return World(seed, steps=steps, bugs=bugs, verbose=verbose, holds_backed=holds_backed).run(steps)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.sim.world", description=__doc__.split("\n\n")[0])
    ap.add_argument("seed", type=int)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--verbose", action="store_true", help="print every event")
    ap.add_argument("--bug", choices=BUGS, action="append", default=[], help="plant a bug (the checker must catch it)")
    args = ap.parse_args(argv)
    t = time.perf_counter()
    try:
        w = run(args.seed, args.steps, bugs=frozenset(args.bug), verbose=args.verbose,
                )
    except SimFailure as f:
        print(f"VIOLATION: {f}", file=sys.stderr)
        return 1
    print(json.dumps({**w.summary(), "seconds": round(time.perf_counter() - t, 3)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
