"""The seeded world: the production hub and nodes, three stores and a warehouse, a faulty network.

    python -m tests.sim 123                   # replay seed 123, print a summary
    python -m tests.sim 123 --steps 800 --verbose
    python -m tests.sim 123 --shrink          # the shortest step list that still fails (tests/sim/__main__.py)

Nothing here re-implements a service. Each store is a real node file (on
tmpfs) opened by `node.service.Node` for each terminal and for the runner;
the runner's own `node.runner.sync_once` pushes and pulls through
`tests.sim.remote.SimHubClient` to the real `hub.service.Hub` (one or two
services on one SQLite database, with injected serialization failures and
ambiguous commits). Every clock is the world's, skewed per store and per hub.

Randomness: the faults and the opening come from `Random(seed)`; step `i`
draws only from its own `Random((seed, i))`, so dropping steps from a
schedule leaves every other step's choices alone. That is what lets a
failing seed shrink to the few steps that matter.
"""

from __future__ import annotations

import atexit
import random
import shutil
import tempfile
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hub import db as hub_db
from hub import rules as hub_rules
from hub.service import Hub
from node import runner
from node.rules import BACK, FLOOR
from node.runner import Runner
from node.service import Node
from sync.kinds import stamp
from tests.sim import balancer, clerk, rogue
from tests.sim.check import Checker, Violation
from tests.sim.disasters import Disasters
from tests.sim.faults import Faults, HubFaults
from tests.sim.net import Network
from tests.sim.remote import Crash, SimHubClient, call_hub

T0 = datetime(2025, 3, 10, 8, 0, tzinfo=UTC)
STORES = ["S1", "S2", "S3"]
ROGUE = "S9"  # a store whose pushes an attacker writes by hand
WAREHOUSE = "W1"
SKUS = ["SKU-A", "SKU-B", "SKU-C", "SKU-D"]
SHM = Path("/dev/shm") if Path("/dev/shm").is_dir() else None

# The runner's own writes, each a commit boundary it may die at.
RUNNER_COMMITS = ("apply_grant", "release_quota", "record_pull", "set_meta", "note_grants", "restore_tail",
                  "expire_holds")
STEP_KINDS = (("store", 56), ("sync", 20), ("web", 13), ("ops", 6), ("fault", 5))


class SimFailure(AssertionError):
    pass


def _pick(rng: random.Random, table: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([n for n, _ in table], weights=[w for _, w in table])[0]


class _Chain:
    """The world's chain in the shape `Hub.load_chain` takes (fixtures.chain's)."""

    def __init__(self, rng: random.Random, buffers: dict[str, int], prices: dict[str, int]) -> None:
        from fixtures.chain import Item, Location, StockLine

        self.catalog = [Item(sku, f"Item {sku}", f"40063813{i:05d}", prices[sku], False, None, None, 1, False,
                             buffers[sku]) for i, sku in enumerate(SKUS)]
        self.locations = [*(Location(s, f"Store {s}", "store") for s in (*STORES, ROGUE)),
                          Location(WAREHOUSE, "Warehouse", "warehouse")]
        self._stock = {loc.id: [StockLine(loc.id, sku, b, q) for sku in SKUS for b in (BACK, FLOOR)
                                if (q := rng.randint(0, 6 if loc.kind == "warehouse" else 4))]
                       for loc in self.locations}

    def stock(self, location: str) -> list:
        return self._stock[location]

    def item(self, sku: str) -> Any:
        return next(i for i in self.catalog if i.sku == sku)


_TEMPLATE: dict[str, Path] = {}


def _templates() -> dict[str, Path]:
    """A migrated hub database and node file, made once per process and copied for each seed."""
    if not _TEMPLATE:
        d = Path(tempfile.mkdtemp(prefix="backroom-sim-template-", dir=SHM))
        atexit.register(shutil.rmtree, d, ignore_errors=True)  # one a process, left in /dev/shm until now
        Hub.open(f"sqlite:///{d / 'hub.sqlite'}").close()
        Node(d / "node.sqlite").close()
        _TEMPLATE.update(hub=d / "hub.sqlite", node=d / "node.sqlite")
    return _TEMPLATE


class World(Disasters):
    def __init__(self, seed: int, *, steps: int = 500, only: list[int] | None = None, verbose: bool = False,
                 faults: Faults | None = None, bugs: frozenset[str] = frozenset()) -> None:
        self.seed = seed
        self.steps = steps
        self.only = only
        self.verbose = verbose
        self.bugs = bugs
        self.rng = random.Random(seed)
        self.orders_rng = random.Random(f"{seed}:orders")
        self.faults = faults if faults is not None else Faults.draw(self.rng)
        self.now = T0
        self.step_no = 0
        self.stores = list(STORES)
        self.rogue_store = ROGUE
        self.warehouse = WAREHOUSE
        self.skus = list(SKUS)
        self.stats: dict[str, int] = defaultdict(int)
        self.tally: dict[str, dict[str, int]] = {s: defaultdict(int) for s in self.skus}
        self.buffers = {s: self.rng.choice((0, 0, 1)) for s in self.skus}
        self.prices = {s: self.rng.randint(1, 50) * 100 for s in self.skus}
        self.store_skew = {s: timedelta(seconds=self.rng.randint(-self.faults.store_skew_s, self.faults.store_skew_s))
                           for s in self.stores}
        self.hub_skew = [timedelta(0), timedelta(seconds=self.rng.randint(0, self.faults.hub_skew_s))]
        self.policy = {s: ("strict" if self.rng.random() < 0.2 else "in-hand") for s in self.stores}
        self.pull_every = self.rng.choice((60, 600, 1800))  # seconds between a runner's pulls
        self.dir = Path(tempfile.mkdtemp(prefix=f"backroom-sim-{seed}-", dir=SHM))
        self.net = Network(self.stores, self.faults.link)
        self.hub_faults = HubFaults(self, self.faults.serialization, self.faults.ambiguous,
                                    self.faults.interleave if self.faults.two_hubs else 0.0)
        self.ambiguous = hub_db.AmbiguousCommit
        self.shelf = {s: {k: {FLOOR: 0, BACK: 0} for k in self.skus} for s in self.stores}
        self.transfers: list[dict] = []  # boxes between stores: sent, arrives, booked
        self.web: dict[str, dict] = {}  # what the web shop was told: reservation id -> its request and status
        self.backups: dict[str, tuple[Path, datetime]] = {}
        self.hub_backup: Path | None = None
        self.restored: set[str] = set()  # stores restored from a backup, not yet caught up with the hub
        self.orphans: dict[str, list] = {s: [] for s in self.stores}  # entries a restore took from a store
        self._op = 0
        self.chain = _Chain(self.rng, self.buffers, self.prices)
        self.hubs: list[Hub] = []
        self._hub_epoch = 0
        self.nodes: dict[str, dict[str, Node]] = {}  # each store's processes: the runner's node and terminals
        self.runners: dict[str, Runner] = {}
        self._ticking: str | None = None  # the store whose runner is running now
        self._swept = ""  # the latest hub clock an expiry sweep ran at
        self.clients = {s: SimHubClient(self, s) for s in self.stores}
        self._open()
        self.rogue = rogue.Rogue(self, ROGUE)
        self.checker = Checker(self)
        self.check()

    # -- plumbing -------------------------------------------------------------------

    def log(self, msg: str) -> None:
        if self.verbose:
            print(f"[{self.step_no:5d} {self.now:%d %H:%M}] {msg}")

    def op_id(self, what: str) -> str:
        self._op += 1
        return f"{what}-{self.step_no}-{self._op}"

    def hub_path(self) -> Path:
        return self.dir / "hub.sqlite"

    def node_path(self, store: str) -> Path:
        return self.dir / f"{store}.sqlite"

    def _hub_clock(self, i: int) -> Any:
        return lambda: self.now + self.hub_skew[i]

    def _store_clock(self, store: str) -> Any:
        return lambda: self.now + self.store_skew[store]

    def _open_hubs(self) -> None:
        self.hubs = []
        self._hub_epoch += 1  # a restored hub's ids come from a new source, as a real one's would
        for i in range(2 if self.faults.two_hubs else 1):
            engine = hub_db.make_engine(f"sqlite:///{self.hub_path()}").execution_options(faults=self.hub_faults)
            ids = random.Random(f"{self.seed}:{i}:{self._hub_epoch}")
            hub = Hub(engine, self._hub_clock(i), unique=lambda n, r=ids: r.randbytes(n).hex())
            # A seed plays days, not the week after which production asks a store for quota back.
            hub.cadence = replace(hub.cadence, min_history=timedelta(hours=2))
            self.hubs.append(hub)

    def pick_hub(self) -> Hub:
        return self.hubs[0] if len(self.hubs) == 1 else self.rng.choice(self.hubs)

    def _start_runner(self, store: str) -> None:
        r = Runner(str(self.node_path(store)), clock=self._store_clock(store), client=self.clients[store],
                   pull_every=self.pull_every)
        # The runner's process may also die right after any of its own commits (a grant applied,
        # a request answered, a pull recorded, progress noted), before it did the next thing.
        for name in RUNNER_COMMITS:
            setattr(r.node, name, self._then_maybe_crash(store, name, getattr(r.node, name)))
        self.runners[store] = r
        self.nodes.setdefault(store, {})["runner"] = r.node

    def _then_maybe_crash(self, store: str, name: str, commit: Any) -> Any:
        def call(*args: Any, **kw: Any) -> Any:
            result = commit(*args, **kw)
            if self._ticking == store:  # the world's own setup and reads are not the runner
                self.maybe_crash(store, f"after {name}")
            return result
        return call

    def _open_node(self, store: str) -> None:
        path, clock = self.node_path(store), self._store_clock(store)
        self._start_runner(store)
        procs = self.nodes[store]
        for t in range(1, self.faults.terminals + 1):
            procs[f"T{t}"] = Node(path, terminal=f"T{t}", clerk=f"clerk{t}", clock=clock)

    def _close_node(self, store: str) -> None:
        self.runners.pop(store, None)
        for n in self.nodes.pop(store, {}).values():
            n.close()

    def _open(self) -> None:
        t = _templates()
        shutil.copyfile(t["hub"], self.hub_path())
        self.hub_faults.on = False
        self._open_hubs()
        self.hubs[0].load_chain(self.chain)
        for line in self.chain.stock(WAREHOUSE):
            self.tally[line.sku]["opening"] += line.qty
        for s in self.stores:
            shutil.copyfile(t["node"], self.node_path(s))
            self._open_node(s)
            node = self.nodes[s]["runner"]
            runner.initialise_from_hub(node, _Direct(self.hubs[0], s), s, hub_url="sim://hub", token="sim")
            node.set_meta(policy=self.policy[s])
            for line in self.chain.stock(s):
                self.shelf[s][line.sku][line.bin] += line.qty
                self.tally[line.sku]["opening"] += line.qty
        self.hub_faults.on = True

    def close(self) -> None:
        for s in list(self.nodes):
            self._close_node(s)
        for h in self.hubs:
            h.close()
        self.checker.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def check(self) -> None:
        try:
            self.checker.check()
        except Violation as v:
            raise SimFailure(self.failure(str(v))) from None

    def failure(self, msg: str) -> str:
        only = f" --only {','.join(map(str, self.only))}" if self.only is not None else ""
        return (f"seed {self.seed}, step {self.step_no} ({self.now:%Y-%m-%d %H:%M}): {msg}\n"
                f"faults: {self.faults.describe()}\n"
                f"replay: python -m tests.sim {self.seed} --steps {self.steps}{only} --verbose\n"
                f"shrink: python -m tests.sim {self.seed} --steps {self.steps} --shrink")

    # -- the run ----------------------------------------------------------------------

    def run(self) -> World:
        for i in self.only if self.only is not None else range(1, self.steps + 1):
            self.step(i)
        self.heal()
        return self

    def step(self, i: int) -> None:
        self.step_no = i
        self.rng = random.Random(self.seed * 1_000_003 + i)
        # Web orders' fulfilment draws from its own stream: a step that fulfils nothing draws as it did
        # before fulfilment was simulated, so the faults and the shrinker's schedules stay as they were.
        self.orders_rng = random.Random(f"{self.seed}:{i}:orders")
        self.now += timedelta(minutes=self.rng.randint(1, 15))
        self.deliver_late()
        self.sweep()
        kind = _pick(self.rng, STEP_KINDS)
        self.stats[f"step:{kind}"] += 1
        try:
            getattr(self, f"do_{kind}")()
        except Crash as c:
            self.log(f"crash: {c}")
        clerk.book_arrived_transfers(self)
        balancer.step(self, i)
        self.check()

    def deliver_late(self) -> None:
        while (m := self.net.due(self.now)) is not None:
            try:
                call_hub(self.pick_hub(), m.store, m.kind, m.body)
                self.stats["late_delivered"] += 1
            except (hub_rules.HubError, self.ambiguous):
                pass  # nobody is waiting for this answer

    # -- steps ------------------------------------------------------------------------------

    def do_store(self) -> None:
        store = self.rng.choice(self.stores)
        if store in self.restored:
            return  # the restored machine is being brought up to date before the clerks use it
        clerk.act(self, store)

    def do_sync(self, store: str | None = None) -> dict:
        """A tick of the store's runner (node.runner.Runner.tick, as its scheduler calls it)."""
        store = store or self.rng.choice(self.stores)
        self._ticking = store
        try:
            result = self.runners[store].tick() or {"online": None}
        except Crash as c:
            self.crash(store, str(c))
            return {"crashed": True}
        finally:
            self._ticking = None
        self.stats["syncs"] += 1
        if result.get("stopped"):
            self.stats[f"sync_stopped:{result['stopped']}"] += 1
            if result["stopped"] == "error":  # the runner met something it has no answer for
                raise SimFailure(self.failure(f"{store}'s runner stopped: {result['error']}"))
        if not result.get("online"):
            self.stats["sync_offline"] += 1
        elif result.get("refused"):
            self.stats[f"sync_refused:{result['refused']}"] += 1
        self._caught_up(store)
        return result

    def _caught_up(self, store: str) -> None:
        if store in self.restored:
            held = self.checker.hub_next_seq(store) - 1
            if self.nodes[store]["runner"].last_seq() >= held:
                self.restored.discard(store)
                self.log(f"{store} has caught up with the hub ({held} entries)")

    def crash(self, store: str, where: str) -> None:
        """The runner's process died at `where`: start it again from its file."""
        self.stats["fault:crash"] += 1
        self.log(f"{store} runner crashed {where}")
        self.runners.pop(store).node.close()
        self._start_runner(store)

    def maybe_crash(self, store: str, where: str) -> None:
        if self.faults.crash and self.rng.random() < self.faults.crash:
            raise Crash(f"{store} {where}")

    def sweep(self) -> None:
        """The hub's scheduled expiry of carts past their time, on whichever hub process runs it, by that
        process's clock. A real hub sweeps every 30 s; here a step sweeps when a cart the web shop holds
        may be due by the fastest hub clock, and every tenth step for carts it never heard of."""
        fast = stamp(self.now + max(self.hub_skew))
        if self.step_no % 10 and not any(x["status"] == "held" and self._swept < x["expires_at"] <= fast
                                         for x in self.web.values()):
            return
        hub = self.pick_hub()
        try:
            self.stats["web_expired"] += hub.expire_due()
        except (hub_rules.HubError, self.ambiguous):
            self.stats["sweep_failed"] += 1
            return
        self._swept = max(self._swept, stamp(hub.clock()))  # what is due by then, a sweep has seen

    def do_web(self) -> None:
        clerk.web_shop(self)

    def do_ops(self) -> None:
        clerk.ops(self)

    # -- the heal ---------------------------------------------------------------------------

    def heal(self) -> None:
        """Every fault stops; the stores sync until nothing is left to move; all must agree."""
        self.step_no = self.steps + 1
        self.rng = random.Random(self.seed * 1_000_003 + 10**9)
        self.orders_rng = random.Random(f"{self.seed}:heal:orders")
        self.net.perfect()
        self.faults.crash = 0.0
        self.hub_faults.on = False
        for _ in range(12):
            self.now += timedelta(seconds=max(300, self.pull_every))
            clerk.book_arrived_transfers(self, everything=True)
            for s in self.stores:
                self.do_sync(s)
            for h in self.hubs:
                h.expire_due()
            self.check()
        try:
            self.checker.converged()
        except Violation as v:
            raise SimFailure(self.failure(str(v))) from None

    def summary(self) -> dict:
        return {**{k: v for k, v in sorted(self.stats.items())}, **{f"net:{k}": v for k, v in self.net.stats.items()}}


class _Direct:
    """The opening, over a perfect link: a store is set up before the faults begin."""

    def __init__(self, hub: Hub, store: str) -> None:
        self.hub, self.store = hub, store

    def opening(self, store_id: str) -> Any:
        return self.hub.opening(store_id)


def run(seed: int, steps: int = 500, **kw: Any) -> World:
    w = World(seed, steps=steps, **kw)
    try:
        return w.run()
    finally:
        w.close()
