"""End to end, with real processes on 127.0.0.1: a hub, three stores, clerks, the web shop and ops.

The hub (`backroom hub serve`, SQLite) is set up and given its tokens through
its CLI; each store is set up with `backroom node init --hub` and synced by
`backroom node run`; each store's clerk is a process of its own
(tests/e2e_clerk.py) selling through `node.service.Node` under the in-hand
policy, with some scarce SKUs so that sales go over quota. Meanwhile the test
acts as the web shop (reservations, orders, cancels) and as ops (grants,
release requests) over HTTP. Halfway through, the hub is stopped with SIGTERM:
the stores keep selling and say they are offline with entries waiting. The
hub comes back on the same port and database, and then everything must
converge: each store's ledger at the hub entry for entry, on-hand and quota
per SKU, every grant applied exactly once, every release request answered
once, and the hub's books balanced with no unit promised twice.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from node.runner import status as sync_status
from node.service import Node
from tests.hubfixtures import ROOT, HubProcess, backroom, backroom_command, free_port

# About 40 s on 2 cores; the timeout only guards against a hang (cleanup still runs: it raises in this thread).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(240, method="signal")]

STORES = ("S001", "S002", "S003")
SKUS = 40  # a small catalog: figures stay readable and scarce SKUs sell out within seconds
FIGURES = ("on_hand", "quota", "held", "in_flight", "hub_share", "reserved", "shortfall")
CLERK = Path(__file__).with_name("e2e_clerk.py")


# -- helpers -----------------------------------------------------------------------


def cli(*args: str) -> str:
    """`backroom ARGS` to completion; its stdout (fails the test with stderr on a non-zero exit)."""
    r = backroom(*args)
    assert r.returncode == 0, f"backroom {' '.join(args)} exited {r.returncode}:\n{r.stderr}{r.stdout}"
    return r.stdout


def cli_parallel(commands: list[list[str]]) -> list[str]:
    """Several `backroom` commands at once (each a few hundred ms of start-up); their stdouts in order."""
    procs = [subprocess.Popen([*backroom_command(), *c], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for c in commands]
    outs = []
    for c, p in zip(commands, procs, strict=True):
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, f"backroom {' '.join(c)} exited {p.returncode}:\n{err}{out}"
        outs.append(out)
    return outs


def node_status(db: Path) -> dict:
    """`backroom node status --json`: what ops at the store would see."""
    return json.loads(cli("node", "status", "--json", "--db", str(db)))


def quick_status(db: Path) -> dict:
    """The same sync figures read in this process (polling the CLI costs half a second a call)."""
    with Node(db, terminal="e2e-check", clerk="e2e") as node:
        return sync_status(node)


def stop_processes(procs: list[subprocess.Popen], timeout: float = 15.0) -> None:
    """SIGTERM each by pid (once: a second one during interpreter shutdown would kill it), wait, then SIGKILL.
    Only ever the processes this test started."""
    running = [p for p in procs if p.poll() is None]
    for p in running:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for p in running:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, signal.SIGKILL)
            p.wait(5)


def wait_for(what: str, check: Callable[[], object], timeout: float, every: float = 0.2) -> object:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (last: {last!r})")


def read_lines(path: Path) -> list[list[str]]:
    try:
        return [ln.split() for ln in path.read_text().splitlines() if ln.strip()]
    except FileNotFoundError:
        return []


def node_ledger(db: Path) -> list[dict]:
    with Node(db, terminal="e2e-check", clerk="e2e") as node:
        rows, after = [], 0
        while page := node.ledger(after=after, limit=1000):
            rows += page
            after = page[-1]["seq"]
    return json.loads(json.dumps(rows))  # as plain JSON, the way the hub keeps it


def node_stock(db: Path) -> dict[str, dict]:
    with Node(db, terminal="e2e-check", clerk="e2e") as node:
        return {r["sku"]: dict(r) for r in node.conn.execute(
            "SELECT s.sku, s.floor, s.back, s.quota, s.held, s.over_quota, i.safety_buffer "
            "FROM stock s JOIN items i ON i.sku = s.sku ORDER BY s.sku")}


def hub_ledger(ops: httpx.Client, store: str) -> list[dict]:
    rows, after = [], 0
    while True:
        r = ops.get(f"/ops/stores/{store}/ledger", params={"after": after, "limit": 250})
        assert r.status_code == 200, r.text
        page = r.json()
        if not page:
            return rows
        rows += page
        after = page[-1]["seq"]


class Shop:
    """The test as the web shop and as ops, talking HTTP to the hub; it remembers what it was told."""

    def __init__(self, url: str, ops_token: str, web_token: str, stores: dict[str, dict], seed: int = 11) -> None:
        self.url = url
        self.ops_token = ops_token
        self.web_token = web_token
        self.stores = stores  # store -> {"scarce": [...], "plenty": [...]}
        self.rng = random.Random(seed)
        self.reservations: dict[str, dict] = {}  # reservation_id -> the hub's answer, status kept current
        self.grants: dict[str, dict] = {}  # grant_id -> the hub's answer
        self.release_requests: dict[str, dict] = {}  # request_id -> the hub's answer
        self.refusals: Counter[str] = Counter()
        self.n = 0  # idempotency keys made
        self.rounds = 0
        self.connect()

    def connect(self) -> None:
        # a fresh client after a hub restart: no kept-alive socket to the old process
        self.ops = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.ops_token}"}, timeout=10)
        self.web = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.web_token}"}, timeout=10)

    def close(self) -> None:
        self.ops.close()
        self.web.close()

    def key(self, what: str) -> str:
        self.n += 1
        return f"e2e-{what}-{self.n:05d}"

    def promisable(self, sku: str, location: str) -> int:
        r = self.ops.get(f"/ops/stock/{sku}")
        assert r.status_code == 200, r.text
        return next((x["promisable"] for x in r.json()["locations"] if x["location"] == location), 0)

    def reserve(self, sku: str, qty: int, location: str | None) -> dict | None:
        key = self.key("reserve")
        body = {"sku": sku, "qty": qty, "ttl_s": 3600, **({"location": location} if location else {})}
        r = self.web.post("/web/reservations", json=body, headers={"Idempotency-Key": key})
        if r.status_code == 409:
            self.refusals["reserve"] += 1
            return None
        assert r.status_code == 201, r.text
        res = r.json()
        again = self.web.post("/web/reservations", json=body, headers={"Idempotency-Key": key})
        assert again.status_code == 201 and again.json() == res, "a repeated reservation must give the first answer"
        self.reservations[res["reservation_id"]] = res
        return res

    def close_reservation(self, how: str) -> None:
        held = [r for r in self.reservations.values() if r["status"] == "held"]
        if not held:
            return
        res = self.rng.choice(held)
        r = self.web.post(f"/web/reservations/{res['reservation_id']}/{how}",
                          headers={"Idempotency-Key": self.key(how)})
        assert r.status_code == 200, r.text
        res["status"] = r.json()["status"]
        assert res["status"] == {"commit": "ordered", "cancel": "cancelled"}[how]

    def grant(self, store: str, sku: str, qty: int) -> dict | None:
        key = self.key("grant")
        body = {"store_id": store, "sku": sku, "qty": qty}
        r = self.ops.post("/ops/grants", json=body, headers={"Idempotency-Key": key})
        if r.status_code == 409:
            self.refusals["grant"] += 1
            return None
        assert r.status_code == 201, r.text
        g = r.json()
        again = self.ops.post("/ops/grants", json=body, headers={"Idempotency-Key": key})
        assert again.status_code == 201 and again.json() == g, "a repeated grant must give the first answer"
        self.grants[g["grant_id"]] = g
        return g

    def request_release(self, store: str, sku: str, qty: int) -> dict:
        r = self.ops.post("/ops/release-requests", json={"store_id": store, "sku": sku, "qty": qty},
                          headers={"Idempotency-Key": self.key("release")})
        assert r.status_code == 201, r.text
        rr = r.json()
        self.release_requests[rr["request_id"]] = rr
        return rr

    def some_grant(self, store: str) -> None:
        skus = self.stores[store]["scarce"] + self.stores[store]["plenty"]
        sku = self.rng.choice(skus)
        p = self.promisable(sku, store)
        if p > 0:
            self.grant(store, sku, min(p, self.rng.randint(1, 2)))

    def round(self) -> None:
        """One burst of web shop and ops traffic."""
        store = self.rng.choice(STORES)
        kit = self.stores[store]
        choice = self.rounds % 6
        self.rounds += 1
        if choice == 0:  # a pick-up reservation of a scarce SKU at the store that sells it out
            sku = self.rng.choice(kit["scarce"])
            p = self.promisable(sku, store)
            if p:
                self.reserve(sku, min(p, self.rng.randint(1, 2)), store)
            else:
                self.reserve(sku, 1, store)  # expected refused: nothing to promise
        elif choice == 1:  # anywhere in the chain
            self.reserve(self.rng.choice(kit["plenty"]), 1, None)
        elif choice == 2:
            self.some_grant(store)
        elif choice == 3:
            self.request_release(store, self.rng.choice(kit["plenty"]), self.rng.randint(1, 3))
        elif choice == 4:
            self.close_reservation("commit")
        else:
            self.close_reservation("cancel" if self.rng.random() < 0.5 else "commit")


def busy(shop: Shop, seconds: float, every: float = 0.15) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        shop.round()
        time.sleep(every)


def pick_skus(db: Path) -> dict[str, list[str]]:
    """Scarce: a few units of which the hub can promise some (they sell out); plenty: the rest."""
    stock = node_stock(db)
    scarce, plenty = [], []
    for sku, s in stock.items():
        on_hand = s["floor"] + s["back"]
        if 3 <= on_hand <= 12 and on_hand - s["quota"] - s["safety_buffer"] >= 1 and len(scarce) < 3:
            scarce.append(sku)
        elif on_hand >= 10 and len(plenty) < 8:
            plenty.append(sku)
    assert len(scarce) >= 2 and len(plenty) >= 4, f"the chain's stock does not suit this test: {stock}"
    return {"scarce": scarce, "plenty": plenty}


# -- the test --------------------------------------------------------------------------------


def test_three_stores_sell_through_a_hub_outage_and_the_chain_converges(tmp_path: Path) -> None:
    t_start = time.monotonic()
    db_url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    dbs = {s: tmp_path / f"{s.lower()}.sqlite" for s in STORES}
    stop_file = tmp_path / "clerks.stop"
    runners: dict[str, subprocess.Popen] = {}
    clerks: dict[str, subprocess.Popen] = {}
    logs: list = []
    hub: HubProcess | None = None
    shop: Shop | None = None

    def mark(what: str) -> None:
        sys.stderr.write(f"e2e: {time.monotonic() - t_start:5.1f} s {what}\n")

    def clerk_lines(store: str) -> list[list[str]]:
        return read_lines(tmp_path / f"clerk-{store}.log")

    try:
        # 1. The hub: a small demo chain, its tokens, and the server.
        cli("hub", "--db", db_url, "init", "--skus", str(SKUS), "--stores", str(len(STORES)))
        outs = cli_parallel([["hub", "--db", db_url, "token", "issue", "--role", "store", "--store", s]
                             for s in STORES] + [["hub", "--db", db_url, "token", "issue", "--role", "ops"],
                                                 ["hub", "--db", db_url, "token", "issue", "--role", "web"]])
        tokens = [o.strip() for o in outs]
        store_tokens, ops_token, web_token = dict(zip(STORES, tokens[:3], strict=True)), tokens[3], tokens[4]
        (tmp_path / "hub-1").mkdir()
        hub = HubProcess(db_url, port=port, log_dir=tmp_path / "hub-1").start()
        assert httpx.get(url + "/health").json() == {"ok": True}

        mark("hub up")
        # 2. Three stores set up from the hub, each with its sync runner.
        outs = cli_parallel([["node", "init", "--json", "--db", str(dbs[s]), "--store", s, "--hub", url,
                              "--token", store_tokens[s]] for s in STORES])
        opening_seq = {}
        for s, out in zip(STORES, outs, strict=True):
            st = json.loads(out)
            assert st["store_id"] == s and st["policy"] == "in-hand" and st["last_seq"] > 0 and st["hub"] == url, st
            assert st["waiting"] == st["last_seq"], st  # the opening entries are the first to push
            opening_seq[s] = st["last_seq"]
        for s in STORES:
            log = open(tmp_path / f"runner-{s}.log", "wb")  # noqa: SIM115 - closed in finally
            logs.append(log)
            runners[s] = subprocess.Popen(
                [*backroom_command(), "node", "run", "--db", str(dbs[s]), "--pull-every", "1", "--seconds", "120"],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        mark("stores initialised, runners started")
        kits = {s: pick_skus(dbs[s]) for s in STORES}

        shop = Shop(url, ops_token, web_token, kits)

        def hub_has_openings() -> bool:
            state = {x["store_id"]: x for x in shop.ops.get("/ops/stores").json()}
            return all(state[s]["last_seq"] >= opening_seq[s] for s in STORES)

        wait_for("the stores' opening entries at the hub", hub_has_openings, 20)

        mark("openings at the hub")
        # 3. The clerks start selling; the web shop and ops get busy.
        for i, s in enumerate(STORES):
            log = open(tmp_path / f"clerk-{s}.log", "wb")  # noqa: SIM115 - closed in finally
            logs.append(log)
            clerks[s] = subprocess.Popen(
                [sys.executable, str(CLERK), str(dbs[s]), "T2", str(100 + i), str(stop_file), "60",
                 ",".join(kits[s]["scarce"]), ",".join(kits[s]["plenty"])],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        wait_for("the clerks to start", lambda: all(clerk_lines(s) for s in STORES), 20)
        for s in STORES:  # the hub promises scarce units at the stores that are about to sell them out
            for sku in kits[s]["scarce"]:
                if p := shop.promisable(sku, s):
                    shop.reserve(sku, p, s)
        busy(shop, 5.0)
        for s in STORES:  # moves made just before the outage: some reach the stores only after it
            shop.some_grant(s)
            shop.request_release(s, kits[s]["plenty"][0], 2)

        mark("phase A done")
        # 4. The hub goes away; the stores keep selling.
        hub.stop()
        t_down = time.time()
        with pytest.raises(httpx.TransportError):
            httpx.get(url + "/health", timeout=1)

        def all_offline_and_waiting() -> bool:
            return all(x["online"] is False and x["waiting"] > 0 for x in (quick_status(dbs[s]) for s in STORES))

        wait_for("every store to notice the hub is gone, with entries waiting", all_offline_and_waiting, 15)
        for s in STORES:  # and `backroom node status` says so
            st = node_status(dbs[s])
            assert st["online"] is False and st["waiting"] > 0 and st["last_error"], f"{s}: {st}"
        mark("stores offline")
        time.sleep(max(0.0, t_down + 4.0 - time.time()))
        t_up = time.time()
        for s in STORES:
            sold_offline = [ln for ln in clerk_lines(s) if ln[0] == "SOLD" and t_down < float(ln[2]) < t_up]
            assert sold_offline, f"{s} committed no sale while the hub was down"

        mark("outage over")
        # The hub comes back on the same port and database.
        (tmp_path / "hub-2").mkdir()
        hub = HubProcess(db_url, port=port, log_dir=tmp_path / "hub-2").start()
        shop.close()
        shop.connect()
        busy(shop, 4.0)

        mark("phase C done")
        # The clerks close their tills; ops make a last few moves for the runners to carry.
        stop_file.touch()
        for s, p in clerks.items():
            p.wait(20)
            assert p.returncode == 0, f"clerk {s} failed:\n{(tmp_path / f'clerk-{s}.log').read_text()[-3000:]}"
        for s in STORES:
            shop.some_grant(s)
            shop.request_release(s, kits[s]["plenty"][1], 1)

        mark("clerks stopped")

        # 5. Everything converges (bounded).
        def converged() -> bool:
            state = {x["store_id"]: x for x in shop.ops.get("/ops/stores").json()}
            if any(state[s]["grants_in_flight"] for s in STORES):
                return False
            for s in STORES:
                st = quick_status(dbs[s])
                if st["waiting"] or not st["online"] or state[s]["last_seq"] != st["last_seq"]:
                    return False
            answered = {e["detail"].get("request_id") for s in STORES for e in node_ledger(dbs[s])
                        if e["kind"] == "quota_released"}
            return set(shop.release_requests) <= answered

        wait_for("every store's ledger, grant and release request to reach the hub", converged, 40, every=0.5)
        stop_processes(list(runners.values()))  # nothing moves any more
        for s, p in runners.items():
            assert p.returncode == 0, f"runner {s} exited {p.returncode} on SIGTERM"
        # one last `backroom node sync` each: nothing to push, and the chain picture as it now stands
        for s, out in zip(STORES, cli_parallel([["node", "sync", "--json", "--db", str(dbs[s])] for s in STORES]),
                          strict=True):
            result = json.loads(out)
            assert result["online"] is True and result["pushed"] == 0 and "refused" not in result, f"{s}: {result}"

        mark("converged, runners stopped")
        check_everything(shop, dbs, kits, clerk_lines)
        for s, st in zip(STORES, cli_parallel([["node", "status", "--json", "--db", str(dbs[s])] for s in STORES]),
                         strict=True):
            st = json.loads(st)
            assert st["waiting"] == 0 and st["online"] is True and st["last_error"] is None, f"{s}: {st}"
        mark("checked")
    except BaseException:
        for path in sorted(tmp_path.glob("*.log")) + sorted(tmp_path.glob("hub-*/*.log")):
            lines = [ln for ln in path.read_text(errors="replace").splitlines()
                     if not ln.startswith(("SOLD", "DONE", "REFUSED", "Execution of job"))]
            sys.stderr.write(f"--- {path.parent.name}/{path.name} (tail)\n" + "\n".join(lines[-15:]) + "\n")
        raise
    finally:
        stop_file.touch()
        stop_processes([*clerks.values(), *runners.values()])
        if hub is not None:
            hub.stop()
        if shop is not None:
            shop.close()
        for log in logs:
            log.close()


def check_everything(shop: Shop, dbs: dict[str, Path], kits: dict[str, dict],
                     clerk_lines: Callable[[str], list[list[str]]]) -> None:
    ledgers = {s: node_ledger(dbs[s]) for s in STORES}

    # The hub's copy of each ledger is the store's, entry for entry, every field; no entry twice, no gap.
    for s in STORES:
        mine, theirs = ledgers[s], hub_ledger(shop.ops, s)
        assert [e["seq"] for e in mine] == list(range(1, len(mine) + 1)), f"{s}: the node's ledger has gaps"
        assert [e["seq"] for e in theirs] == [e["seq"] for e in mine], f"{s}: the hub holds other sequences"
        for a, b in zip(mine, theirs, strict=True):
            assert a == b, f"{s} seq {a['seq']}: the node has {a}, the hub has {b}"
        # everything a clerk saw committed is in the ledger (and so at the hub)
        ops_ids = Counter(e["op_id"] for e in mine)
        committed = [ln[1] for ln in clerk_lines(s) if ln[0] in ("SOLD", "DONE")]
        assert committed, f"{s}: the clerk committed nothing"
        assert not [o for o in committed if o not in ops_ids], f"{s}: committed operations missing from the ledger"
        refused = [ln[1] for ln in clerk_lines(s) if ln[0] == "REFUSED"]
        assert not [o for o in refused if o in ops_ids], f"{s}: a refused operation wrote to the ledger"

    # Over-quota happened (scarce SKUs sold out under the in-hand policy), and was recorded.
    over = {s: sum(e["over_quota"] for e in ledgers[s]) for s in STORES}
    assert sum(over.values()) > 0, "no sale went over quota: the test did not exercise settlement"

    # Every grant issued was applied exactly once, at its store, for its SKU and quantity; nothing else was.
    assert shop.grants, "ops made no grant"
    applied = Counter()
    for s in STORES:
        for e in ledgers[s]:
            if e["kind"] == "quota_granted":
                applied[e["ref"]] += 1
                g = shop.grants.get(e["ref"])
                assert g is not None, f"{s} applied a grant nobody made: {e}"
                # a grant backs quota only with units on hand; the entry says how many it backed
                assert (g["store_id"], g["sku"], g["qty"]) == (s, e["sku"], e["qty"])
                assert e["quota_delta"] == e["detail"].get("backed", g["qty"])
    assert {g: applied[g] for g in shop.grants} == dict.fromkeys(shop.grants, 1), "a grant not applied exactly once"

    # Every release request was answered exactly once, with no more than was asked.
    answers = Counter()
    for s in STORES:
        for e in ledgers[s]:
            if e["kind"] == "quota_released" and e["detail"].get("request_id"):
                rr = shop.release_requests[e["detail"]["request_id"]]
                answers[rr["request_id"]] += 1
                assert (rr["store_id"], rr["sku"]) == (s, e["sku"]) and 0 <= e["qty"] <= rr["qty"]
                assert e["quota_delta"] == -e["qty"]
    assert {r: answers[r] for r in shop.release_requests} == dict.fromkeys(shop.release_requests, 1)

    # The hub's books, SKU by SKU and location by location.
    at_risk = {r["reservation_id"] for r in shop.ops.get("/ops/at-risk").json()}
    open_res: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in shop.reservations.values():
        if r["status"] in ("held", "ordered"):
            open_res[(r["location"], r["sku"])].append(r)
    assert at_risk <= set(shop.reservations), "the hub reports at-risk reservations the web shop never made"
    stocks = {s: node_stock(dbs[s]) for s in STORES}
    with Node(dbs[STORES[0]], terminal="e2e-check", clerk="e2e") as node:
        catalog = [r[0] for r in node.conn.execute("SELECT sku FROM items ORDER BY sku")]
    shortfalls = 0
    hub_stock: dict[str, dict[str, dict]] = {}
    for sku in catalog:
        r = shop.ops.get(f"/ops/stock/{sku}")
        assert r.status_code == 200, r.text
        at_hub = hub_stock[sku] = {x["location"]: x for x in r.json()["locations"]}
        for loc, p in at_hub.items():
            where = f"{sku} at {loc}: {p}"
            assert all(p[f] >= 0 for f in FIGURES), f"a negative figure: {where}"
            assert p["on_hand"] + p["shortfall"] == (p["quota"] + p["held"] + p["in_flight"] + p["hub_share"]
                                                     + p["reserved"]), f"the books do not balance: {where}"
            assert p["in_flight"] == 0, f"a grant still in flight after convergence: {where}"
            mine = open_res.get((loc, sku), [])
            assert p["reserved"] == sum(x["qty"] for x in mine), f"reserved differs from the open reservations: {where}"
            risky = sum(x["qty"] for x in mine if x["reservation_id"] in at_risk)
            # A reservation not at risk is backed by a unit on hand outside the store's quota, holds and
            # grants in flight. (That figure goes below zero when a grant was made from a hub share that
            # over-quota sales had already taken offline: the shortfall below records it.)
            backing = max(0, p["on_hand"] - p["quota"] - p["held"] - p["in_flight"])
            assert sum(x["qty"] for x in mine) - risky <= backing, \
                f"reservations promise more than the hub's side holds: {where}"
            if p["shortfall"]:
                shortfalls += 1
                assert loc in STORES, f"a shortfall where no store sells: {where}"
                recorded = sum(e["over_quota"] for e in ledgers[loc] if e["sku"] == sku)
                assert recorded >= p["shortfall"], f"a shortfall with no over-quota behind it: {where}"
                assert risky >= min(p["shortfall"], p["reserved"]), f"a shortfall not marked on reservations: {where}"
                assert p["hub_share"] == 0, f"a shortfall while the hub still had a share: {where}"
        for s in STORES:  # the hub's mirror of each store equals the store's own book
            n = stocks[s].get(sku)
            p = at_hub.get(s)
            if n is None:
                assert p is None or (p["on_hand"], p["quota"], p["held"]) == (0, 0, 0), f"{sku} at {s}: {p}"
                continue
            assert p is not None, f"the hub has no position for {sku} at {s}, the store has {n}"
            assert (p["on_hand"], p["quota"], p["held"]) == (n["floor"] + n["back"], n["quota"], n["held"]), \
                f"{sku} at {s}: the hub has {p}, the store has {n}"

    # Each store's picture of the rest of the chain ("check in the back") is the hub's, after a last pull.
    for s in STORES:
        with Node(dbs[s], terminal="e2e-check", clerk="e2e") as node:
            seen = {(r[0], r[1]): (r[2], r[3]) for r in node.conn.execute(
                "SELECT location, sku, on_hand, available FROM chain_stock")}
        expected = {(loc, sku): (p["on_hand"], p["promisable"]) for sku, per in hub_stock.items()
                    for loc, p in per.items() if loc != s}
        assert seen == expected, f"{s}'s chain picture differs from the hub: " + str(
            sorted((k, seen.get(k), expected.get(k)) for k in set(seen) | set(expected) if seen.get(k) != expected.get(k)))

    # Quiet now: the hub refuses to promise one unit more than it may, anywhere.
    for s in STORES:
        for sku in kits[s]["scarce"] + kits[s]["plenty"][:2]:
            p = shop.promisable(sku, s)
            r = shop.web.post("/web/reservations", json={"sku": sku, "qty": p + 1, "location": s},
                              headers={"Idempotency-Key": shop.key("overask")})
            assert r.status_code == 409, f"the hub promised {p + 1} of {sku} at {s} with only {p} promisable: {r.text}"
    sys.stderr.write(
        f"e2e: entries {[len(ledgers[s]) for s in STORES]}, over-quota {over}, grants {len(shop.grants)}, "
        f"release requests {len(shop.release_requests)}, reservations {len(shop.reservations)} "
        f"({len(at_risk)} at risk), positions short {shortfalls}, refusals {dict(shop.refusals)}\n")
