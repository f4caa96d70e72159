"""What the balancer talks in: its settings, the spot it reads, the move it proposes.

`hub.rules.balance.plan` decides; these are its inputs and outputs, which the
hub's pass, the ops API and the policy benchmark read and write too.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import timedelta
from math import ceil


@dataclass(frozen=True)
class BalanceSettings:
    horizon: timedelta = timedelta(hours=8)  # the outage a store must ride out on its own quota
    sync_interval: timedelta = timedelta(minutes=15)
    min_move: int = 2
    hysteresis: float = 0.25  # a grant waits until quota is below (1 - hysteresis) of its target
    top_up: float = 3.0  # a grant fills quota to this many times its target: each grant is worth its message
    # (at 1.5x, half of all grants moved min_move units or fewer, and grants were 2/3 of all moves)
    release_above: float = 5.0  # a release waits until quota is above this many times its target (a delivery
    # joins the quota: at 2x, 82% of releases gave back what a delivery had brought within the day)
    least_target: int = 2  # a store that sells a SKU at all aims at no less quota than this
    web_cover: float = 1.0  # while the units the web can reach cover less than this many windows of its
    # demand, stores holding over (1 + 2 x hysteresis) x target give back down to (1 + hysteresis) x target

    def __post_init__(self) -> None:
        if (self.min_move < 1 or not 0.0 <= self.hysteresis < 1.0 or self.release_above < 1.0
                or self.top_up < 1.0 or self.least_target < 0 or self.web_cover < 0.0):
            raise ValueError(f"min_move >= 1, 0 <= hysteresis < 1, release_above >= 1, top_up >= 1, "
                             f"least_target >= 0 and web_cover >= 0, not {self}")

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


@dataclass(frozen=True)
class Move:
    kind: str  # "grant" | "release" | "transfer"
    sku: str
    qty: int
    location: str  # grant: the store that gets quota; release: the store asked; transfer: the destination
    source: str | None = None  # transfer: where the units come from
    reason: str = ""  # one sentence ops can read
    pin: int | None = None  # the quota ops pinned this spot at, which the move brings it to


def span(td: timedelta) -> str:
    minutes = int(td.total_seconds() // 60)
    h, m = divmod(minutes, 60)
    return " + ".join(p for p in (f"{h} h" if h else "", f"{m} min" if m else "") if p) or "0 min"


def whole(demand: float) -> int:
    """The most units a forecast can ask for, however `plan` rounds it (up, or to the nearest)."""
    return ceil(demand - 1e-9) if demand > 0 else 0


def pull_below(spot: tuple, granted: int, st: BalanceSettings, every: float, tight: bool = False) -> int | None:
    """The quota + in flight at or under which a store's pull plans this store spot on the spot, or None.

    `plan` has no move for the spot above it. `granted` is what the plan that read `spot` granted it;
    `every` the time to the next plan as a share of `st.window`. Watched only if the spot can fall
    that far before the next plan, and not where that plan found the SKU `tight` (scarce, or the web
    short): a pull plans one store's spots with no web demand, and would fill the quota past the
    share the plan left it, which the next plan would ask back.
    """
    (_, _, _, _, quota, _, in_flight, _, _, _, demand, pinned, off, asked, incoming) = spot
    want = whole(demand)  # `plan` grants under its band, whatever least_target sizes the grant to
    if want <= 0 or pinned is not None or off or tight:
        return None
    below = want - 1 - incoming + asked
    if quota + in_flight + granted <= below + ceil(demand * 2 * every) + st.min_move:
        return below
    return None
