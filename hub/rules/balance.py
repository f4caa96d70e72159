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
`1 - hysteresis` of its target and then fills it to `top_up` times the target,
a release waits until it rises above `release_above` times the target, and no
move is smaller than `min_move`, but one: a store with no quota left gets the
last of its own hub share, however little (else its walk-ins are refused
online with units on its shelf). A store that sells a SKU at all is topped
up as if it aimed at `least_target` units at least, once its quota falls
under its demand's own band. Those wide bands make few moves, but they
leave units in the stores' quota; so while what the web can reach (the hub
shares and the releases asked, less the grants) covers less than `web_cover`
windows of its demand, the bands narrow to a little over the target (a slow
store's, over its demand), and stores holding more give it back. A plan's moves
bring every store inside those bands, so planning again over the state the
moves leave behind (grants in flight or applied, releases pending, transfers
ordered or arrived) moves nothing. Only a release once answered can bring
more: as many units as it made central may then go to a store that runs
out, which they could not before (a transfer the hub orders comes out of
the hub's share). A store ops pinned is brought to its pin, a grant from its
own hub share or a release of any size, whatever the bands say, and no band
moves it; a store switched off is not moved at all.

The hub passes millions of spots, so `plan` takes plain tuples in `Spot`'s
field order as well as `Spot`s: a tuple costs a fraction of a frozen
dataclass to make, and far less to read. The work is one lean pass per spot;
only the stores outside their bands, and SKUs that are scarce or have a
store running out, get a second look. SKUs are planned independently, so
the spots may be split by SKU across processes and the moves joined.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import fields
from itertools import groupby
from math import ceil
from operator import attrgetter, itemgetter

from hub.rules.balance_terms import SPOT_FIELDS, BalanceSettings, Move, Spot, span, whole
from hub.rules.balance_transfers import propose_transfers

__all__ = ["SPOT_FIELDS", "BalanceSettings", "Move", "Spot", "plan"]


_as_row = attrgetter(*SPOT_FIELDS)


def plan(spots: Iterable[Spot | tuple], settings: BalanceSettings = BalanceSettings(), *,
         web_demand: Mapping[str, float] | None = None, tight: set[str] | None = None) -> list[Move]:
    """The moves that bring every store's quota toward its demand, SKU by SKU.

    `spots` are `Spot`s or plain tuples in `Spot`'s field order (trailing
    defaults may be left off; full ones are fastest, and fastest of all when
    each SKU's spots come together). `web_demand` is the web shop's expected
    units per SKU, chain-wide, over the same window as `Spot.demand`: that much
    stays central, and under scarcity the web shares with the stores by rate.
    `tight`, if given, gets the SKUs planned scarce or with the web short: there
    a store's grant is the plan's to size, with every location in view.
    """
    spots = spots if isinstance(spots, list) else list(spots)
    try:
        by_sku = _by_sku(spots, _SKU)
    except TypeError:  # not all of them tuples
        by_sku = _by_sku(spots, _sku_of)
    web = web_demand or {}
    moves: list[Move] = []
    for sku, rows in by_sku.items():
        planned = len(moves)
        try:
            was_tight = _plan_sku(sku, rows, settings, float(web.get(sku, 0.0)), moves)
        except (TypeError, ValueError):  # a Spot, or a tuple short of the trailing defaults
            del moves[planned:]
            was_tight = _plan_sku(sku, [_as_tuple(r) for r in rows], settings, float(web.get(sku, 0.0)), moves)
        if was_tight and tight is not None:
            tight.add(sku)
    return moves


def _by_sku(spots: list, sku_of) -> dict[str, list]:
    """The spots of each SKU together; a run of one SKU is taken whole (the hub reads them ordered)."""
    by_sku: dict[str, list] = {}
    for sku, run in groupby(spots, sku_of):
        rows = by_sku.get(sku)
        if rows is None:
            by_sku[sku] = list(run)
        else:
            rows.extend(run)
    return by_sku


_SKU = itemgetter(1)


def _sku_of(s: Spot | tuple) -> str:
    return s[1] if type(s) is tuple else s.sku


def _as_tuple(s: Spot | tuple) -> tuple:
    if type(s) is not tuple:
        return _as_row(s)
    return s + _DEFAULTS[len(s):] if len(s) < _WIDTH else s


_DEFAULTS = tuple(f.default for f in fields(Spot))
_WIDTH = len(SPOT_FIELDS)


def _plan_sku(sku: str, rows: list[tuple], st: BalanceSettings, web: float, moves: list[Move]) -> bool:
    """Append the SKU's moves; True if it was scarce or the web short."""
    low, release_above, least = 1.0 - st.hysteresis, st.release_above, st.least_target
    # One lean pass (it runs once a spot): the stores whose quota is outside its band, as (location,
    # quota it will have, units, promisable, demand, unused quota, target, the demand's full target,
    # how far the hub share and the pending releases are under the safety buffer).
    near: list[tuple] = []
    roomy: list[tuple] = []  # inside the band but over what they would keep while the web is short
    give_above = 1.0 + 2.0 * st.hysteresis
    fixed_free = surplus = 0  # what could serve the web: promisable where no quota moves, units past targets
    to_pins = 0  # granted to stores ops pinned, to bring them to their pin
    central = 0  # what the web can reach at the stores the balancer moves: hub share, and releases asked
    for (loc, _, kind, _, quota, _, in_flight, hub_share, _, buffer, demand, pinned, off, asked, incoming) in rows:
        if kind != "store" or pinned is not None or off:
            free = hub_share - buffer if hub_share > buffer else 0
            if kind == "store" and pinned is not None and not off:
                to_pins += (to_pin := _to_pin(sku, loc, pinned, quota, in_flight + incoming, free, asked, moves))
                free -= to_pin
            fixed_free += free  # the web may draw on it; the balancer moves none of the quota here
            continue
        if asked > quota:  # a store gives what it holds unused, maybe less than asked (it sold since)
            asked = quota if quota > 0 else 0
        has = quota + in_flight + incoming - asked
        want = ceil(demand - 1e-9) if demand > 0 else 0
        # A store selling less than a unit over the window still aims at a few: after one sale the next
        # customer would otherwise wait for the next plan and sync. Only stock from elsewhere goes by `want`.
        target = least if 0 < want < least else want
        # Units count wherever they are, whichever share holds them: a grant or a release only moves
        # units between a store's shares, so the sharing under scarcity stays as it was.
        units = has + asked + hub_share - buffer
        if units > target:
            surplus += units - target
        free = hub_share - buffer if hub_share > buffer else 0
        central += free + asked
        if has < want * low or has > release_above * target:
            near.append((loc, has, units if units > 0 else 0, free, demand, quota - asked, target, want,
                         buffer - hub_share - asked))
        elif has > give_above * want + st.min_move and web > 0:
            roomy.append((loc, has, units if units > 0 else 0, free, demand, quota - asked, target, want,
                          buffer - hub_share - asked))
    ratio = 1.0
    if web > 0 and fixed_free + surplus < web:
        # Short of the targets, which lift a slow store's demand to least_target; scarce only if short
        # of the demand itself, else sharing by rate would take those least_target units back.
        ratio, shares = _scarce(rows, st, fixed_free, web)
        if ratio < 1.0:
            near = shares
    planned = len(moves)
    short, granted = _grants_and_releases(sku, near, st, moves, ratio < 1.0)
    # The web is short when what it can reach, less what these grants take, covers under web_cover
    # windows of its demand: a delivery joins the stores' quota, and the wide bands keep it there.
    # Then stores give back what they hold past a little over their target, and grants fill only
    # to that (at 3 windows rather than 1, 0.4 weeks' stock made 8% more moves for the same units
    # sold). Judged after the grants, so that the next plan, over the state these moves leave,
    # judges the same.
    pressed = ratio == 1.0 and web > 0 and fixed_free + central - sum(granted.values()) < st.web_cover * web
    if pressed:
        del moves[planned:]
        short, granted = _grants_and_releases(sku, near + roomy, st, moves, pressed=True)
    if short:
        # A plan not pressed leaves the web what keeps it so, or the next plan, over the state the
        # transfers leave, would find the web short and ask stores back (the same at web_cover 1).
        web_keeps = (ratio if ratio < 1.0 else st.web_cover) * web
        propose_transfers(sku, rows, short, granted, web_keeps + to_pins, ratio, st, moves)
    return pressed or ratio < 1.0


def _to_pin(sku: str, loc: str, pinned: int, quota: int, coming: int, free: int, asked: int,
            moves: list[Move]) -> int:
    """Bring a pinned store's quota to the pin, whatever the bands say (ops chose the figure); the units granted.

    A grant takes only the store's own hub share; a release asks only what the store holds unused.
    """
    asked = min(asked, quota) if quota > 0 else 0
    has = quota + coming - asked
    reason = f"{loc} is pinned at {pinned} by ops; has {has}"
    if has < pinned and free > 0:
        qty = min(pinned - has, free)
        moves.append(Move("grant", sku, qty, loc, reason=reason, pin=pinned))
        return qty
    if has > pinned and quota - asked > 0:
        moves.append(Move("release", sku, min(has - pinned, quota - asked), loc, reason=reason, pin=pinned))
    return 0


def _scarce(rows: list[tuple], st: BalanceSettings, fixed_free: int, web: float) -> tuple[float, list[tuple]]:
    """The share of demand every claimant gets, and the stores near a move at that share."""
    low, release_above = 1.0 - st.hysteresis, st.release_above
    stores = [(loc, quota + in_flight + incoming - asked, max(0, quota + in_flight + incoming + hub_share - buffer),
               hub_share - buffer if hub_share > buffer else 0, demand, quota - asked, buffer - hub_share - asked)
              for (loc, _, kind, _, quota, _, in_flight, hub_share, _, buffer, demand, pinned, off, asked, incoming)
              in ((*r[:13], min(r[13], max(r[4], 0)), r[14]) for r in rows)
              if kind == "store" and pinned is None and not off]
    supply = fixed_free + sum(s[2] for s in stores)
    ratio = _fill([(s[2], s[4]) for s in stores if s[4] > 0], supply, web)
    near = []
    for loc, has, units, free, demand, unused, stuck in stores:
        want = int(ratio * demand + 0.5)
        target = min(units, want)
        # A share rounded to nothing is not asked back below what a plan out of scarcity would grant
        # at: else a SKU on the edge of scarcity is given back and granted in turn.
        if has < target * low or has > max(release_above * target, _kept(demand, st)):
            near.append((loc, has, units, free, demand, unused, target, want, stuck))
    return ratio, near


def _kept(demand: float, st: BalanceSettings) -> int:
    """What a store whose share under scarcity rounds to nothing keeps: no plan out of scarcity tops it up."""
    return min(st.least_target, whole(demand))


def _fill(claims: list[tuple[int, float]], supply: int, web: float) -> float:
    """r such that supply == sum(min(units, r * demand)) + r * web: each claimant's share of its demand.

    The claimants are each store's walk-ins, which get at most the units at that store
    (quota only moves within a store), and the web. Stores are taken in the order their
    units run out as r grows; past that point a store's claim is its units.
    """
    capped, rate = 0, web + sum(d for _, d in claims)
    ratio = supply / rate
    for run_out, units, demand in sorted((u / d, u, d) for u, d in claims):
        if ratio <= run_out:
            break
        capped += units
        rate -= demand
        ratio = (supply - capped) / rate
    return min(1.0, max(0.0, ratio))


def _grants_and_releases(sku: str, near: list[tuple], st: BalanceSettings, moves: list[Move],
                         scarce: bool = False, pressed: bool = False) -> tuple[list[tuple], dict[str, int]]:
    """Grants and release requests for the stores near a move; and the stores still short after them.

    A grant tops the quota up well past the target, to `top_up` times it (never past
    `release_above` times it), so that one grant lasts a while; under scarcity only to the
    store's share, and while the web is short (`pressed`) to `1 + hysteresis` times it. A
    release leaves `1 + hysteresis` times the target; while the web is short it is asked of
    every store over `1 + 2 * hysteresis` times its target.
    """
    min_move, low, keep_up = st.min_move, 1.0 - st.hysteresis, 1.0 + st.hysteresis
    release_above = 1.0 + 2.0 * st.hysteresis if pressed else st.release_above
    short: list[tuple] = []
    granted: dict[str, int] = {}
    hours, window = st.window.total_seconds() / 3600, span(st.window)
    for loc, has, units, free, demand, unused, target, want, stuck in near:
        # A grant waits until the quota is under the demand's own band; `least_target` only sizes it.
        if has < (target if scarce else want) * low:
            # Top up past the target, to where the next grant is as far off as the band allows: a grant
            # only to the target is soon under it again (2-unit top-ups). Under scarcity only the share.
            top = target if scarce else ceil(target * keep_up) if pressed else \
                min(ceil(target * st.top_up), int(target * release_above + 1e-9))
            qty = min(max(top - has, min_move), free)
            # Less than min_move only to a store with no quota left, and then all its hub share holds:
            # otherwise its walk-ins are refused online with units on its shelf.
            if qty >= min_move or (has <= 0 and qty > 0):
                granted[loc] = qty
                moves.append(Move("grant", sku, qty, loc, reason=(
                    f"{loc} sells {demand / hours:.1f}/h; {window} needs {target}, has {has}")))
            else:
                qty = 0
            after = has + qty
            # Short even with all of its own hub share: only stock from elsewhere helps.
            if want > 0 and want - after - (free - qty) >= min_move and after < want * low:
                short.append((after / want, loc, want - after - (free - qty), want, after))
        elif has > release_above * (aim := want if pressed and want < target else target):
            # Under scarcity a share rounded to nothing still keeps what a plan out of it would not top up;
            # while the web is short a slow store keeps a little over its demand, not over least_target.
            qty = min(has - max(ceil(aim * keep_up), _kept(demand, st) if scarce else 0), unused)
            # Units released while the hub share is under the safety buffer fill the buffer first,
            # where no one may promise them: ask only if at least min_move would be of use.
            if qty - (stuck if stuck > 0 else 0) >= min_move:
                moves.append(Move("release", sku, qty, loc, reason=(
                    f"{loc} sells {demand / hours:.1f}/h; {window} needs {target}, has {has}: "
                    f"asked to give back {qty}")))
    return short, granted
