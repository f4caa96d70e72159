"""A scenario: the chain, its demand, its outages and its stock, as data; read from and written to JSON.

The file (`format` "backroom-balance-scenario/1") is one JSON object. Every time
is a tick: `tick_minutes` long (5), counted from `start` (ISO 8601, UTC); a
negative tick is before the run starts.

    {"format": "backroom-balance-scenario/1", "name": "seed 1",
     "start": "2026-11-02T00:00:00+00:00", "tick_minutes": 5, "ticks": 8064,
     "stores": [{"id": "S01", "opens_hour": 8, "closes_hour": 21}, ...],
     "warehouse": "W",
     "skus": ["K001", ...],
     "demand":  [[tick, location, sku, qty], ...],   # location: a store id, or "web" for the web shop
     "history": [[tick, location, sku, qty], ...],   # ticks < 0: sales the hub saw before the run
     "outages": [[store, first_tick, end_tick], ...], # the store's network is down on [first, end)
     "promos":  [[sku|null, location|null, first_tick, end_tick, factor], ...],  # the hub's promo calendar
     "stock": {"normal": {"initial": [[location, sku, qty], ...],
                          "deliveries": [[tick, location, sku, qty], ...]}, ...}}

A demand line is one customer asking for `qty` units of a SKU: a walk-in at
a store, or a web order. `stock` holds one or more stock variants (named; the
bench's own are "normal", "scarce_07" and "scarce_04"); every variant is played
with the same demand and outages. Promos are what the hub is told in advance;
the demand lines already carry their effect. A store's `closes_hour` is when
stranded quota is measured; `opens_hour` is informational.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

FORMAT = "backroom-balance-scenario/1"
WEB = -1  # the location index of a web order


@dataclass(frozen=True)
class Stock:
    initial: list[tuple[int, int, int]]  # (location index, sku index, qty)
    deliveries: list[tuple[int, int, int, int]]  # (tick, location index, sku index, qty)


@dataclass
class Scenario:
    """Locations are indices: stores 0..S-1, the warehouse S; web orders carry WEB (-1)."""

    name: str
    start: datetime
    tick_minutes: int
    ticks: int
    stores: list[str]
    closes_hour: list[int]
    opens_hour: list[int]
    warehouse: str
    skus: list[str]
    demand: list[tuple[int, int, int, int]]  # (tick, location, sku, qty), sorted by tick
    history: list[tuple[int, int, int, int]]
    outages: list[tuple[int, int, int]]  # (store, first tick, end tick)
    promos: list[tuple[int | None, int | None, int, int, float]]
    stock: dict[str, Stock] = field(default_factory=dict)

    @property
    def n_stores(self) -> int:
        return len(self.stores)

    @property
    def wh(self) -> int:
        return len(self.stores)

    @property
    def ticks_per_hour(self) -> int:
        return 60 // self.tick_minutes

    @property
    def ticks_per_day(self) -> int:
        return 24 * 60 // self.tick_minutes

    def at(self, tick: int) -> datetime:
        return self.start + timedelta(minutes=self.tick_minutes * tick)

    def location_name(self, loc: int) -> str:
        return "web" if loc == WEB else self.warehouse if loc == self.wh else self.stores[loc]

    def demand_by_tick(self) -> list[list[tuple[int, int, int]]]:
        out: list[list[tuple[int, int, int]]] = [[] for _ in range(self.ticks)]
        for t, loc, k, q in self.demand:
            if 0 <= t < self.ticks:
                out[t].append((loc, k, q))
        return out

    def next_day_walk_in(self) -> dict[int, dict[int, int]]:
        """Walk-in units asked per store spot (store * skus + sku) in the day after each close tick.

        Keyed by the close tick: the demand in the following 24 hours at that store.
        """
        k_n, day, tph = len(self.skus), self.ticks_per_day, self.ticks_per_hour
        out: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        for t, loc, k, q in self.demand:
            if loc == WEB or loc >= self.n_stores:
                continue
            c = self.closes_hour[loc] * tph  # the store's last close before t
            close = (t - 1 - c) // day * day + c
            if close >= 0:
                out[close][loc * k_n + k] += q
        return out

    # -- JSON ------------------------------------------------------------------

    def to_json(self) -> dict:
        loc = self.location_name
        sku = self.skus
        return {
            "format": FORMAT, "name": self.name, "start": self.start.isoformat(),
            "tick_minutes": self.tick_minutes, "ticks": self.ticks,
            "stores": [{"id": s, "opens_hour": o, "closes_hour": c}
                       for s, o, c in zip(self.stores, self.opens_hour, self.closes_hour)],
            "warehouse": self.warehouse, "skus": list(self.skus),
            "demand": [[t, loc(l), sku[k], q] for t, l, k, q in self.demand],
            "history": [[t, loc(l), sku[k], q] for t, l, k, q in self.history],
            "outages": [[self.stores[s], a, b] for s, a, b in self.outages],
            "promos": [[None if k is None else sku[k], None if l is None else loc(l), a, b, f]
                       for k, l, a, b, f in self.promos],
            "stock": {name: {"initial": [[loc(l), sku[k], q] for l, k, q in st.initial],
                             "deliveries": [[t, loc(l), sku[k], q] for t, l, k, q in st.deliveries]}
                      for name, st in self.stock.items()},
        }

    @classmethod
    def from_json(cls, data: dict) -> Scenario:
        if data.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} file (format: {data.get('format')!r})")
        stores = [s["id"] for s in data["stores"]]
        wh = data["warehouse"]
        locs = {s: i for i, s in enumerate(stores)} | {wh: len(stores), "web": WEB}
        skus = list(data["skus"])
        kx = {k: i for i, k in enumerate(skus)}
        ticks = int(data["ticks"])

        def where(name: str, what: str) -> int:
            if name not in locs:
                raise ValueError(f"{what}: unknown location {name!r}")
            return locs[name]

        def sku(name: str, what: str) -> int:
            if name not in kx:
                raise ValueError(f"{what}: unknown SKU {name!r}")
            return kx[name]

        def lines(rows: list, what: str) -> list[tuple[int, int, int, int]]:
            out = []
            for t, l, k, q in rows:
                if int(q) < 0:
                    raise ValueError(f"{what}: negative quantity {q} at tick {t}")
                out.append((int(t), where(l, what), sku(k, what), int(q)))
            out.sort(key=lambda r: r[0])
            return out

        stock = {}
        for name, st in data["stock"].items():
            initial = [(where(l, name), sku(k, name), int(q)) for l, k, q in st["initial"]]
            stock[name] = Stock(initial, lines(st.get("deliveries", []), name))
        for name, st in stock.items():
            if any(l == WEB for l, _, _ in st.initial) or any(l == WEB for _, l, _, _ in st.deliveries):
                raise ValueError(f"stock {name!r}: the web shop holds no stock")
        return cls(
            name=data.get("name", ""), start=datetime.fromisoformat(data["start"]).astimezone(timezone.utc),
            tick_minutes=int(data["tick_minutes"]), ticks=ticks, stores=stores,
            closes_hour=[int(s.get("closes_hour", 21)) for s in data["stores"]],
            opens_hour=[int(s.get("opens_hour", 8)) for s in data["stores"]],
            warehouse=wh, skus=skus,
            demand=lines(data["demand"], "demand"), history=lines(data.get("history", []), "history"),
            outages=[(where(s, "outages"), int(a), int(b)) for s, a, b in data.get("outages", [])],
            promos=[(None if k is None else sku(k, "promos"), None if l is None else where(l, "promos"),
                     int(a), int(b), float(f)) for k, l, a, b, f in data.get("promos", [])],
            stock=stock,
        )

    def dump(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), separators=(",", ":")) + "\n")

    @classmethod
    def load(cls, path: Path) -> Scenario:
        return cls.from_json(json.loads(path.read_text()))
