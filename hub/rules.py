"""The hub's rules, with no I/O: applying a store's ledger, settling, grants, releases, reservations.

The hub keeps one `Position` per SKU and location. Its figures always satisfy

    on_hand + shortfall == quota + held + in_flight + hub_share + reserved

where `quota` and `held` mirror the store's ledger, `in_flight` is granted
but not yet applied by the store, `hub_share` is the hub's to promise (minus
the safety buffer), `reserved` is what the hub promised (web reservations and
orders, ordered transfers), and `shortfall` is what over-quota sales took
that no share could cover: reservations at that location are then at risk.

Every entry moves units between the store's side (quota, held) and the
hub's side; an entry's hub-side delta is `on_hand_delta - quota_delta -
held_delta`. A positive one (a release, the hub part of an opening) pays
the shortfall first, then joins the hub share. A negative one is a grant
being applied (out of in-flight), a transfer the hub ordered (out of its
reservation), or over-quota to settle (hub share, then reservations at risk).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple


class HubError(Exception):
    """A refusal by the hub; nothing was written. `code` is for programs."""

    code = "hub_error"
    status = 400

    def __init__(self, message: str, **extra: object) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra

    def __str__(self) -> str:
        return self.message


class Gap(HubError):
    code = "gap"
    status = 409


class Divergence(HubError):
    code = "divergence"
    status = 409


class WrongStore(HubError):
    code = "wrong_store"
    status = 403


class NotEnough(HubError):
    code = "not_enough"
    status = 409


class Unknown(HubError):
    code = "unknown"
    status = 404


class Blocked(HubError):
    code = "blocked"
    status = 409


class Busy(HubError):
    code = "busy"
    status = 503


class KeyReused(HubError):
    code = "key_reused"
    status = 422


class BadRequest(HubError):
    code = "bad_request"
    status = 422


class Unauthenticated(HubError):
    code = "unauthenticated"
    status = 401


class Forbidden(HubError):
    code = "forbidden"
    status = 403


@dataclass(frozen=True)
class Principal:
    """Who a token belongs to."""

    role: str  # store | ops | web
    store_id: str | None = None


def authorize(who: Principal | None, roles: Sequence[str], store_id: str | None = None) -> Principal:
    """May `who` (None: no such live token) act here? `store_id` names the store acted for, if any:
    a store token acts only for its own store, and ops may act for any."""
    if who is None:
        raise Unauthenticated("That token is unknown or revoked.")
    if who.role not in roles:
        raise Forbidden(f"{_a(who.role).capitalize()} token cannot do this; it needs {_a(' or '.join(roles))} token.")
    if store_id is not None and who.role == "store" and who.store_id != store_id:
        raise WrongStore(f"This token belongs to store {who.store_id}, not {store_id}.")
    return who


def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


@dataclass
class Position:
    location: str
    sku: str
    on_hand: int = 0
    quota: int = 0
    held: int = 0
    in_flight: int = 0
    hub_share: int = 0
    reserved: int = 0
    shortfall: int = 0
    safety_buffer: int = 0

    @property
    def promisable(self) -> int:
        """What the hub may still promise here: its share above the safety buffer."""
        return max(0, self.hub_share - self.safety_buffer)

    def row(self) -> tuple:
        """location, sku and the figures, in declaration order (the positions table's columns)."""
        return (self.location, self.sku, self.on_hand, self.quota, self.held, self.in_flight, self.hub_share,
                self.reserved, self.shortfall, self.safety_buffer)

    @property
    def balanced(self) -> bool:
        return (self.on_hand + self.shortfall
                == self.quota + self.held + self.in_flight + self.hub_share + self.reserved)

    def credit_hub(self, units: int) -> None:
        """Units coming to the hub's side: they pay any shortfall first."""
        paid = min(self.shortfall, units)
        self.shortfall -= paid
        self.hub_share += units - paid


@dataclass
class Reservation:
    reservation_id: str
    location: str
    sku: str
    qty: int
    status: str  # held | ordered | cancelled | expired | transfer | done
    expires_at: datetime | None
    at_risk: bool = False


OPEN = ("held", "ordered", "transfer")


@dataclass
class Settlement:
    """What applying one store entry did beyond mirroring it."""

    from_share: int = 0
    shortfall: int = 0
    at_risk: list[str] = field(default_factory=list)
    note: str | None = None  # a mismatch ops should see; the entry is applied anyway


class EntryFacts(NamedTuple):
    """The parts of a ledger entry the hub's arithmetic needs (sync.models.LedgerEntry has them).

    A NamedTuple: the hub makes one per entry it takes in, and a tuple is made in a
    quarter of the time a frozen dataclass takes.
    """

    seq: int
    kind: str
    sku: str
    qty: int
    on_hand_delta: int
    quota_delta: int
    held_delta: int
    over_quota: int
    ref: str | None
    hub_ordered: bool = False
    quota_after: int | None = None


def apply_entry(pos: Position, e: EntryFacts, reservations: Iterable[Reservation] = (),
                grant_qty: int | None = None) -> Settlement:
    """Mirror one store entry on the hub's position; settle what the store could not cover.

    A store's entry is a fact: it is never refused here. `grant_qty` is the
    quantity the hub recorded for the grant this entry applies (None if the
    hub has no such grant, which is noted for ops). `reservations` (the open
    ones at this position, newest first) are only looked at when the entry
    takes more than the hub's share, so a caller may read them lazily.
    """
    s = Settlement()
    pos.on_hand += e.on_hand_delta
    pos.quota += e.quota_delta
    pos.held += e.held_delta
    hub_side = e.on_hand_delta - e.quota_delta - e.held_delta
    if hub_side > 0:
        pos.credit_hub(hub_side)
    elif hub_side < 0:
        need = -hub_side
        if e.kind == "quota_granted" and grant_qty is not None:
            take = min(pos.in_flight, need)
            pos.in_flight -= take
            need -= take
            if need:
                s.note = f"grant {e.ref} applied for more than was in flight"
        elif e.kind == "transfer_out" and e.hub_ordered:
            take = min(pos.reserved, need)
            pos.reserved -= take
            need -= take
        elif e.kind == "quota_granted":
            s.note = f"store applied grant {e.ref}, which the hub never made"
        if need:
            _settle(pos, need, reservations, s)
    if e.quota_after is not None and pos.quota != e.quota_after:
        s.note = (s.note + "; " if s.note else "") + (
            f"store says quota {e.quota_after} after seq {e.seq}, hub has {pos.quota}")
    return s


def _settle(pos: Position, need: int, reservations: Iterable[Reservation], s: Settlement) -> None:
    """Units gone from the hub's side without its say (over-quota, uncovered loss)."""
    take = min(pos.hub_share, need)
    pos.hub_share -= take
    s.from_share = take
    need -= take
    if not need:
        return
    pos.shortfall += need
    s.shortfall = need
    # Reservations here are promises no longer backed (callers pass newest first): ops re-sources them.
    uncovered = need
    for r in reservations:
        if uncovered <= 0:
            break
        if r.location == pos.location and r.sku == pos.sku and r.status in OPEN and not r.at_risk:
            r.at_risk = True
            s.at_risk.append(r.reservation_id)
            uncovered -= r.qty
    if uncovered > 0:
        # No promise of ours is hurt, but the store's quota may now outrun its stock.
        s.note = (f"{uncovered} of {pos.sku} went over quota at {pos.location} beyond the hub's share; "
                  "the store's quota may outrun its stock: count it")


# -- ingest ---------------------------------------------------------------


@dataclass(frozen=True)
class BatchPlan:
    """Which entries of a batch are new, which the hub already had."""

    new: list[int]  # indexes into the batch, in sequence order
    duplicates: int
    next_seq: int


def plan_batch(seqs_and_hashes: Sequence[tuple[int, str]], next_seq: int,
               held_hashes: Mapping[int, str]) -> BatchPlan:
    """Check a store's batch against what the hub holds: idempotent, gapless, no divergence.

    `held_hashes` are the hub's hashes for the batch's sequences below `next_seq`.
    Raises Gap (with the sequence expected) or Divergence; otherwise nothing is refused.
    """
    new, dups, expect = [], 0, next_seq
    order = sorted(range(len(seqs_and_hashes)), key=lambda i: seqs_and_hashes[i][0])
    seen: set[int] = set()
    for i in order:
        seq, h = seqs_and_hashes[i]
        if seq in seen:
            raise BadRequest(f"The batch holds sequence {seq} twice.")
        seen.add(seq)
        if seq < next_seq:
            if held_hashes.get(seq) != h:
                raise Divergence(
                    f"Entry {seq} differs from the one the hub already holds under that sequence "
                    "(was the store restored from an old backup?); ops must look at it.", seq=seq)
            dups += 1
        elif seq == expect:
            new.append(i)
            expect += 1
        else:
            raise Gap(f"The hub expects sequence {expect} next, not {seq}.", expected_seq=expect)
    return BatchPlan(new, dups, expect)


# -- quota moves ----------------------------------------------------------


def grant(pos: Position, qty: int, *, blocked: bool = False) -> None:
    """Hub -> store: the hub's share goes down now; the units are in flight until the store applies them."""
    if blocked:
        raise Blocked(f"Store {pos.location} has an open incident; no grants until ops clears it.")
    if qty <= 0:
        raise BadRequest(f"A grant must be of at least 1 unit, not {qty}.")
    if qty > pos.promisable:
        raise NotEnough(f"The hub can promise only {pos.promisable} of {pos.sku} at {pos.location}; {qty} asked.")
    pos.hub_share -= qty
    pos.in_flight += qty


def reserve(pos: Position, qty: int) -> None:
    if qty <= 0:
        raise BadRequest(f"A reservation must be of at least 1 unit, not {qty}.")
    if qty > pos.promisable:
        raise NotEnough(f"Only {pos.promisable} of {pos.sku} can be promised at {pos.location}; {qty} asked.")
    pos.hub_share -= qty
    pos.reserved += qty


def unreserve(pos: Position, r: Reservation, status: str) -> None:
    """A reservation cancelled or expired: its units come back to the hub.

    A cancel takes a cart hold or an order; only a cart hold expires (an order never does).
    """
    allowed = ("held",) if status == "expired" else ("held", "ordered")
    if r.status not in allowed:
        raise BadRequest(f"Reservation {r.reservation_id} is {r.status}; it cannot become {status}.")
    pos.reserved -= r.qty
    pos.credit_hub(r.qty)
    r.status = status


def due(r: Reservation, now: datetime) -> bool:
    """Is this a cart hold past its time, as of `now`? An order is never due."""
    return r.status == "held" and r.expires_at is not None and r.expires_at <= now


def expire(pos: Position, r: Reservation, now: datetime) -> bool:
    """Expire `r` if, in its current state, it is a cart hold past its time; else change nothing.

    The caller reads `r` in the transaction that writes the result: a hold committed to an order,
    or cancelled, since it was listed as due is left alone.
    """
    if not due(r, now):
        return False
    unreserve(pos, r, "expired")
    return True


def commit(r: Reservation, now: datetime) -> None:
    if r.status == "ordered":
        return
    if r.status != "held":
        raise BadRequest(f"Reservation {r.reservation_id} is {r.status}; it cannot become an order.")
    if r.expires_at is not None and now >= r.expires_at:
        raise BadRequest(f"Reservation {r.reservation_id} expired at {r.expires_at:%Y-%m-%d %H:%M} UTC.")
    r.status = "ordered"


def pick_location(positions: Iterable[Position], qty: int) -> Position:
    """Where to reserve when the web shop does not name a location: the most promisable."""
    best = max(positions, key=lambda p: (p.promisable, p.location), default=None)
    if best is None or best.promisable < qty:
        have = best.promisable if best else 0
        raise NotEnough(f"No location can promise {qty}; the most any can is {have}.")
    return best
