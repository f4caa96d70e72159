"""The disasters a seed may suffer, as steps of the world: partitions, power loss, restores, forgery, races.

A mixin of `World` (tests/sim/world.py): each method is one fault, drawn by
`do_fault` at the rates the seed's `Faults` set, or (`interleave`) called
from the hub's transaction hook.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path

from sync.kinds import stamp
from tests.sim import balancer, clerk, orders


def _copy_db(src: Path, dst: Path) -> None:
    for suffix in ("-wal", "-shm"):
        Path(str(dst) + suffix).unlink(missing_ok=True)
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    b.close()
    a.close()


class Disasters:
    """World's fault steps; `self` is the World."""

    def interleave(self) -> None:
        """Another hub service, its clock behind, checks out a cart this one counts as past its time."""
        # Carts the hub whose clock runs ahead already counts as due and the other does not: where
        # an expiry sweep and a checkout disagree.
        slow, fast = stamp(self.now), stamp(self.now + max(self.hub_skew))
        racing = sorted(r for r, x in self.web.items() if x["status"] == "held" and slow < x["expires_at"] <= fast)
        if racing:
            self.stats["fault:interleaved"] += 1
            clerk.commit_cart(self, self.hubs[0], self.rng.choice(racing))

    def do_fault(self) -> None:
        f, rng = self.faults, self.rng
        choices = [(name, w) for name, w in (("partition", f.partitions), ("power_loss", f.power_loss),
                                             ("stale_restore", f.stale_restore), ("hub_restore", f.hub_restore),
                                             ("forged", f.forged), ("backup", 0.02)) if w]
        if not choices:
            return
        name = rng.choices([c[0] for c in choices], weights=[c[1] for c in choices])[0]
        getattr(self, f"fault_{name}")()

    def fault_partition(self) -> None:
        store = self.rng.choice(self.stores)
        until = self.now + timedelta(minutes=self.rng.randint(60, 10 * 60))
        self.net.cut(store, until)
        self.stats["fault:partition"] += 1
        self.log(f"{store} cut off until {until:%d %H:%M}")

    def fault_power_loss(self) -> None:
        """Every process of a node dies at once. The file is WAL with synchronous=FULL, so every
        committed transaction survives (the checker holds the file to that setting); what was
        not committed is gone, which SQLite's atomic commit makes the same as never begun."""
        store = self.rng.choice(self.stores)
        self.stats["fault:power_loss"] += 1
        self.log(f"{store} loses power")
        self._close_node(store)
        self._open_node(store)

    def fault_backup(self) -> None:
        """Take the nightly backups the restores below go back to."""
        for s in self.stores:
            if s not in self.backups or self.now - self.backups[s][1] > timedelta(hours=20):
                dest = self.dir / f"{s}-backup-{self.step_no}.sqlite"
                self.nodes[s]["runner"].backup(dest)
                self.backups[s] = (dest, self.now)
        if self.hub_backup is None:
            self.hub_backup = self.dir / "hub-backup.sqlite"
            _copy_db(self.hub_path(), self.hub_backup)
        self.stats["backups"] += 1

    def fault_stale_restore(self) -> None:
        """A store's machine is replaced by last night's backup while the hub holds newer entries."""
        ready = [s for s in self.stores if s in self.backups and s not in self.restored]
        if not ready:
            return self.fault_backup()
        store = self.rng.choice(ready)
        path, taken = self.backups.pop(store)
        old = self.nodes[store]["runner"]
        kept = self.checker.node_last_seq_of(path)
        held = self.checker.hub_next_seq(store) - 1
        # Entries past both the backup and the hub's copy are gone for good; the late copies of
        # the dead machine's requests die with its connections.
        lost = old.ledger(after=max(kept, held), limit=10**6)
        self.net.queue = [m for m in self.net.queue if m.store != store]
        self._close_node(store)
        self.checker.release_node(store)
        _copy_db(path, self.node_path(store))
        self._open_node(store)
        self.orphans[store].extend(lost)
        self.restored.add(store)
        self.stats["fault:stale_restore"] += 1
        self.stats["entries_lost_in_restore"] += len(lost)
        self.checker.store_restored(store)
        self.log(f"{store} restored from its backup of {taken:%d %H:%M}: {kept} entries, the hub holds {held}, "
                 f"{len(lost)} lost")

    def fault_hub_restore(self) -> None:
        if self.hub_backup is None:
            return self.fault_backup()
        # A store restored from its own backup and not yet caught up has its newest entries only
        # at the hub: if the hub's backup lacks them too, they are gone for good.
        behind = {}
        with sqlite3.connect(self.hub_path()) as c:
            for s in self.restored:
                behind[s] = [json.loads(b) for (b,) in c.execute(
                    "SELECT body FROM store_entries WHERE store_id = ? AND seq > ? ORDER BY seq",
                    (s, self.nodes[s]["runner"].last_seq()))]
        c.close()
        for h in self.hubs:
            h.close()
        self.checker.close()
        _copy_db(self.hub_backup, self.hub_path())
        self.hub_backup = None
        self._open_hubs()
        self.checker.hub_restored()
        for s, entries in behind.items():
            kept = self.checker.hub_next_seq(s) - 1
            self.orphans[s].extend(e for e in entries if e["seq"] > kept)
        # What the web shop was told may be gone: an order committed after the backup is a cart
        # again, a cart made after it never existed. (A real web shop learns it from the hub.)
        with sqlite3.connect(self.hub_path()) as c:
            now = dict(c.execute("SELECT reservation_id, status FROM reservations").fetchall())
        c.close()
        orders.hub_restored(self, now)
        balancer.hub_restored(self)
        self.web = {rid: {**x, "status": now[rid]} for rid, x in self.web.items() if rid in now}
        self.stats["fault:hub_restore"] += 1
        self.log("the hub's database is restored from its backup")

    def fault_forged(self) -> None:
        self.rogue.push_forged()
