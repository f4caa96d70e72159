"""The balancer's core: where quota should sit before the next sync can be relied on.

One pass over every SKU at every location proposes three kinds of move:

- a **grant** tops a store's quota up from that same store's hub share (the
  demarcation rule: quota and hub share are shares of the units at one store,
  so a grant never reaches into another location's stock);
- a **release** asks a store holding far more than it sells to give quota back;
  it is only a request: the store gives what it has unused, maybe less;
- a **transfer** proposes moving units physically, from a location where they
  sit (the warehouse, or a store with far more than it sells) to a store that
  will run out even with all of its own hub share.

A store's quota aims at its forecast walk-in demand over the horizon (the
outage it must ride out) plus one sync interval; the rest of its units stay
central for the web shop and for other stores. When a SKU is scarce, meaning
the units cannot cover every store's walk-ins and the web demand, every
claimant gets the same fraction of its demand (water-filling; a store cannot
get more than the units it has), rather than whoever asked first.

Small differences are left alone: a grant waits until the quota falls below
`1 - hysteresis` of its target, a release until it rises above `release_above`
times the target, and no move is smaller than `min_move`. A plan's moves
bring every store inside those bands, so planning again over the state the
moves leave behind moves nothing.

The hub passes millions of spots, so `plan` works on plain tuples in `Spot`'s
field order (a `Spot` is turned into one); a tuple costs a fraction of a
frozen dataclass to make, and far less to read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import timedelta
from math import ceil
from operator import attrgetter



@dataclass(frozen=True)
class BalanceSettings:
    horizon: timedelta = timedelta(hours=8)  # the outage a store must ride out on its own quota
    sync_interval: timedelta = timedelta(minutes=15)
    min_move: int = 2
    hysteresis: float = 0.25  # a grant waits until quota is below (1 - hysteresis) of its target
    release_above: float = 2.0  # a release waits until quota is above this many times its target

    @property
    def window(self) -> timedelta:
        """What a store's quota must cover: the outage, and the sync that ends it."""
        return self.horizon + self.sync_interval


@dataclass(frozen=True, slots=True)
class Spot:
    """One SKU at one location as the balancer sees it."""

    location: str
    sku: str
    kind: str  # "store" | "warehouse"
    on_hand: int
    quota: int
    held: int
    in_flight: int
    hub_share: int
    reserved: int
    safety_buffer: int = 0
    demand: float = 0.0  # forecast walk-in units over horizon + sync interval
    pinned: int | None = None  # ops pinned this store's quota for this SKU: leave it
    off: bool = False  # balancer switched off for this store or SKU
    asked: int = 0  # release already requested and not yet answered
    incoming: int = 0  # units of transfers ordered to here that have not arrived (they join the quota)


SPOT_FIELDS = tuple(f.name for f in fields(Spot))
_as_row = attrgetter(*SPOT_FIELDS)


@dataclass(frozen=True)
class Move:
    kind: str  # "grant" | "release" | "transfer"
    sku: str
    qty: int
    location: str  # grant: the store that gets quota; release: the store asked; transfer: the destination
    source: str | None = None  # transfer: where the units come from
    reason: str = ""  # one sentence ops can read


def plan(spots: Iterable[Spot | tuple], settings: BalanceSettings = BalanceSettings(), *,
         web_demand: Mapping[str, float] | None = None) -> list[Move]:
    """The moves that bring every store's quota toward its demand, SKU by SKU.

    `spots` are `Spot`s or plain tuples in `Spot`'s field order (trailing
    defaults may be left off). `web_demand` is the web shop's expected units
    per SKU, chain-wide, over the same window as `Spot.demand`; the
    balancer keeps that much central before it counts stock as sitting.
    """
    by_sku: dict[str, list] = {}
    get = by_sku.get
    for s in spots:
        if type(s) is not tuple:
            s = _as_row(s)
        elif len(s) < _WIDTH:
            s = s + _DEFAULTS[len(s):]
        rows = get(s[1])
        if rows is None:
            by_sku[s[1]] = rows = []
        rows.append(s)
    web = web_demand or {}
    moves: list[Move] = []
    for sku, rows in by_sku.items():
        _plan_sku(sku, rows, settings, float(web.get(sku, 0.0)), moves)
    return moves


_DEFAULTS = tuple(f.default for f in fields(Spot))
_WIDTH = len(SPOT_FIELDS)


def _plan_sku(sku: str, rows: list[tuple], st: BalanceSettings, web: float, moves: list[Move]) -> None:
    min_move, low, keep_up, release_above = st.min_move, 1.0 - st.hysteresis, 1.0 + st.hysteresis, st.release_above
    # Stores the balancer may move, as [location, quota it will have, units, promisable, demand, unused quota].
    stores: list[list] = []
    warehouses: list[list] = []  # [location, promisable]
    fixed_free = 0  # promisable where no quota moves: warehouses, pinned and switched-off stores
    for (loc, _, kind, _, quota, _, in_flight, hub_share, _, buffer, demand, pinned, off, asked, incoming) in rows:
        free = hub_share - buffer if hub_share > buffer else 0
        if kind != "store" or pinned is not None or off:
            fixed_free += free
            if kind != "store" and not off:
                warehouses.append([loc, free])
            continue
        # Units count wherever they are, whichever share holds them: a grant or a release only moves
        # units between a store's shares, so the sharing under scarcity stays as it was.
        units = quota + in_flight + incoming + hub_share - buffer
        stores.append([loc, quota + in_flight + incoming - asked, units if units > 0 else 0, free, demand,
                       quota - asked])
    ratio = _fill(stores, fixed_free, web)
    hours = st.window.total_seconds() / 3600
    window = _span(st.window)
    granted = [0] * len(stores)
    targets = [0] * len(stores)
    for i, (loc, has, units, free, demand, unused) in enumerate(stores):
        if demand <= 0:
            target = 0
        elif ratio >= 1.0:
            target = ceil(demand - 1e-9)
        else:
            target = min(units, int(ratio * demand + 0.5))
        targets[i] = target
        if has < target * low:
            qty = min(max(target - has, min_move), free)
            if qty >= min_move:
                granted[i] = qty
                moves.append(Move("grant", sku, qty, loc, reason=(
                    f"{loc} sells {demand / hours:.1f}/h; {window} needs {target}, has {has}")))
        elif has > release_above * target:
            qty = min(has - ceil(target * keep_up), unused)
            if qty >= min_move:
                moves.append(Move("release", sku, qty, loc, reason=(
                    f"{loc} sells {demand / hours:.1f}/h; {window} needs {target}, has {has}: "
                    f"asked to give back {qty}")))
    short = []
    for i, (loc, has, units, free, demand, _) in enumerate(stores):
        if demand <= 0:
            continue
        want = ceil(demand - 1e-9) if ratio >= 1.0 else int(ratio * demand + 0.5)
        after = has + granted[i]
        lack = want - after - (free - granted[i])
        if lack >= min_move and after < want * low:
            short.append((after / want, loc, lack, want, after))
    if not short:
        return
    # Stock sits where a location has far more than its own demand; the web's share stays central.
    sources = [w for w in warehouses if w[1] >= min_move]
    for i, (loc, has, units, free, demand, _) in enumerate(stores):
        target = targets[i]
        if units > release_above * target:
            offer = min(free - granted[i], units - ceil(target * keep_up))
            if offer >= min_move:
                sources.append([loc, offer])
    spare = int(sum(w[1] for w in warehouses) + sum(s[3] for s in stores) - sum(granted) - ratio * web)
    sources.sort(key=lambda s: (-s[1], s[0]))
    short.sort()
    for _, dest, lack, want, after in short:
        for src in sources:
            qty = min(lack, src[1], spare)
            if qty < min_move:
                continue
            src[1] -= qty
            spare -= qty
            lack -= qty
            moves.append(Move("transfer", sku, qty, dest, source=src[0], reason=(
                f"{src[0]} has {sku} sitting; {dest} needs {want} over {window}, has {after}")))
            if lack < min_move:
                break


def _fill(stores: list[list], fixed_free: int, web: float) -> float:
    """The share of its demand every claimant gets: 1.0 unless the units cannot cover all of it.

    Claimants are each store's walk-ins (at most the units at that store: quota only moves
    within a store) and the web shop; the ratio r solves
    supply = sum(min(units, r * demand)) + r * web, found by walking the stores in the order
    their units run out.
    """
    if web <= 0:
        return 1.0
    supply = fixed_free + sum(s[2] for s in stores)
    if supply - sum(min(s[2], ceil(s[4] - 1e-9)) for s in stores if s[4] > 0) >= web:
        return 1.0
    by_run_out = sorted((s[2] / s[4], s[2], s[4]) for s in stores if s[4] > 0)
    capped, rate = 0.0, web + sum(d for _, _, d in by_run_out)
    ratio = supply / rate
    for run_out, units, demand in by_run_out:
        ratio = (supply - capped) / rate
        if ratio <= run_out:
            break
        capped += units
        rate -= demand
        ratio = (supply - capped) / rate
    return min(1.0, max(0.0, ratio))


def _span(td: timedelta) -> str:
    minutes = int(td.total_seconds() // 60)
    h, m = divmod(minutes, 60)
    return " + ".join(p for p in (f"{h} h" if h else "", f"{m} min" if m else "") if p) or "0 min"
