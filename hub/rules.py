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
    """A refusal by the hub; nothing was written. `code` is for programs (hub.api.errors gives
    each its HTTP status)."""

    code = "hub_error"

    def __init__(self, message: str, **extra: object) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra

    def __str__(self) -> str:
        return self.message


class Gap(HubError):
    code = "gap"


class Divergence(HubError):
    code = "divergence"


class WrongStore(HubError):
    code = "wrong_store"


class NotEnough(HubError):
    code = "not_enough"


class Unknown(HubError):
    code = "unknown"


class Blocked(HubError):
    code = "blocked"


class Busy(HubError):
    code = "busy"


class KeyReused(HubError):
    code = "key_reused"


class BadRequest(HubError):
    code = "bad_request"


class Conflict(BadRequest):
    """A well-formed request that the state of things refuses (an order cannot be cancelled twice)."""

    code = "conflict"


class Unauthenticated(HubError):
    code = "unauthenticated"


class Forbidden(HubError):
    code = "forbidden"


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
    # Mismatches ops should see, as (incident kind, message); the entry is applied anyway.
    problems: list[tuple[str, str]] = field(default_factory=list)

    def problem(self, kind: str, message: str) -> None:
        self.problems.append((kind, message))

    @property
    def note(self) -> str | None:
        return "; ".join(m for _, m in self.problems) or None


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
    hub_ordered: bool = False  # what the store claims; see apply_entry
    quota_after: int | None = None
    request_id: str | None = None  # the release request a quota_released entry answers
    counterpart: str | None = None  # a transfer's other location: "to" of a transfer out, "from" of one in


def apply_entry(pos: Position, e: EntryFacts, reservations: Iterable[Reservation] = (),
                grant_qty: int | None = None, grant_status: str | None = None) -> Settlement:
    """Mirror one store entry on the hub's position; settle what the store could not cover.

    A store's entry is a fact: it is never refused here. `grant_qty` and
    `grant_status` are the hub's record of the grant a `quota_granted` entry
    applies; None if the entry may not apply any (unknown, another store's:
    see `check_grant`), and then its units are settled like an over-quota.
    `reservations` (the open ones at this position, newest first) are only
    looked at when the entry takes more than the hub's share, so a caller
    may read them lazily.
    """
    s = Settlement()
    pos.on_hand += e.on_hand_delta
    pos.quota += e.quota_delta
    pos.held += e.held_delta
    hub_side = e.on_hand_delta - e.quota_delta - e.held_delta
    if hub_side > 0:
        pos.credit_hub(hub_side)
    need = max(0, -hub_side)
    if e.kind == "quota_granted" and grant_qty is not None:
        need = _apply_grant(pos, e, need, grant_qty, grant_status, s)
    elif e.kind == "transfer_out" and e.hub_ordered:
        # Only the hub can say it ordered a transfer, and it orders none yet: a store's claim would
        # take the units out of web reservations' backing. Settled as the store's own transfer.
        s.problem("unverified_hub_order", f"store {pos.location} says transfer {e.ref} (seq {e.seq}) was ordered "
                                          "by the hub; the hub has no such order: settled as the store's own")
    if need:
        _settle(pos, need, reservations, s)
    if e.quota_after is not None and pos.quota != e.quota_after:
        s.problem("mismatch", f"store says quota {e.quota_after} after seq {e.seq}, hub has {pos.quota}")
    return s


def _apply_grant(pos: Position, e: EntryFacts, applied: int, grant_qty: int, grant_status: str | None,
                 s: Settlement) -> int:
    """A grant applied by the store: returns what is left to settle like an over-quota.

    The grant's own units leave in-flight once, whatever the store applied: more than
    the grant is settled like an over-quota, less returns the rest to the hub's share
    (which pays a shortfall first). An entry naming the grant's quantity that backs
    fewer units is no mismatch: a node backs quota only with units on hand, and an
    over-quota sale may have taken the units in flight. A second application takes
    nothing from in-flight.
    """
    if grant_status == "applied":
        s.problem("grant_repeated", f"store applied grant {e.ref} again (seq {e.seq}); "
                                    f"{applied} units settled like an over-quota")
        return applied
    own = min(grant_qty, pos.in_flight)
    pos.in_flight -= own
    used = min(applied, own)
    pos.credit_hub(own - used)
    if e.qty != grant_qty or applied > grant_qty:
        s.problem("grant_mismatch", f"store applied grant {e.ref} as {applied} units (seq {e.seq}); "
                                    f"the grant was of {grant_qty}")
    return applied - used


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
        s.problem("shortfall", f"{uncovered} of {pos.sku} went over quota at {pos.location} beyond the hub's "
                               "share; the store's quota may outrun its stock: count it")


# -- what a store's entry refers to ---------------------------------------------
#
# Every id a store's entry names (a grant, a release request, a transfer) must be that
# store's own. A foreign or unknown one is a problem for ops and never changes the
# record: the entry is still applied as a fact (see apply_entry).


@dataclass
class GrantRecord:
    grant_id: str
    store_id: str
    sku: str
    qty: int
    status: str  # in_flight | applied


@dataclass
class ReleaseRecord:
    request_id: str
    store_id: str
    sku: str
    status: str  # open | answered
    released: int | None = None


@dataclass
class TransferRecord:
    """Units between two stores. Whichever entry reaches the hub first opens it: a transfer out
    as `in_transit` (the receiver's pull lists it), a transfer in as `arrived`; the other closes
    it as `received`."""

    transfer_id: str
    from_location: str
    to_location: str
    sku: str
    qty: int
    status: str  # in_transit | arrived | received


@dataclass
class Records:
    """The hub's records that a batch's entries name, by id, as they stand while it is applied.

    `changed` are the ids whose record an entry changed or made (`made`): the caller writes them.
    """

    grants: dict[str, GrantRecord] = field(default_factory=dict)
    releases: dict[str, ReleaseRecord] = field(default_factory=dict)
    transfers: dict[str, TransferRecord] = field(default_factory=dict)
    locations: set[str] = field(default_factory=set)  # the chain's, when a transfer is named
    changed: set[str] = field(default_factory=set)
    made: set[str] = field(default_factory=set)


class Wanted(NamedTuple):
    grants: set[str]
    releases: set[str]
    transfers: set[str]


def wanted(entries: Iterable[EntryFacts]) -> Wanted:
    """The ids of the hub's records that these entries name, by table."""
    w = Wanted(set(), set(), set())
    for e in entries:
        if e.kind == "quota_granted" and e.ref:
            w.grants.add(e.ref)
        elif e.kind == "quota_released" and e.request_id:
            w.releases.add(e.request_id)
        elif e.kind in ("transfer_out", "transfer_in") and e.ref:
            w.transfers.add(e.ref)
    return w


def apply_store_entry(pos: Position, store_id: str, e: EntryFacts, records: Records,
                      reservations: Iterable[Reservation] = ()) -> Settlement:
    """Check what `e` refers to against `records`, update those that are the store's, apply `e`."""
    problems: list[tuple[str, str]] = []
    grant = None
    if e.kind == "quota_granted":
        grant, problem = check_grant(store_id, e, records.grants.get(e.ref) if e.ref else None)
        problems += [problem] if problem else []
    elif e.kind == "quota_released" and e.request_id:
        problems += _answer_release(store_id, e, records)
    elif e.kind in ("transfer_out", "transfer_in"):
        problems += _match_transfer(store_id, e, records)
    s = apply_entry(pos, e, reservations, grant.qty if grant else None, grant.status if grant else None)
    if grant is not None and grant.status != "applied":
        grant.status = "applied"
        records.changed.add(grant.grant_id)
    s.problems[:0] = problems
    return s


def check_grant(store_id: str, e: EntryFacts, g: GrantRecord | None) -> tuple[GrantRecord | None,
                                                                               tuple[str, str] | None]:
    """The grant a quota_granted entry may apply, or None and why not."""
    if g is None:
        return None, ("unknown_reference", f"store {store_id} applied grant {e.ref} (seq {e.seq}), which the hub "
                                           "never made; its units settled like an over-quota")
    if g.store_id != store_id:
        return None, ("foreign_reference", f"store {store_id} applied grant {e.ref} (seq {e.seq}) of store "
                                           f"{g.store_id}; its units settled like an over-quota")
    if g.sku != e.sku:
        return None, ("reference_mismatch", f"store {store_id} applied grant {e.ref} of {g.sku} to {e.sku} "
                                            f"(seq {e.seq}); its units settled like an over-quota")
    return g, None


def _answer_release(store_id: str, e: EntryFacts, records: Records) -> list[tuple[str, str]]:
    rid = e.request_id or ""
    r = records.releases.get(rid)
    if r is None:
        return [("unknown_reference", f"store {store_id} answered release request {rid} (seq {e.seq}), "
                                      "which the hub never made")]
    if r.store_id != store_id:
        return [("foreign_reference", f"store {store_id} answered release request {rid} (seq {e.seq}) "
                                      f"of store {r.store_id}")]
    if r.sku != e.sku:
        return [("reference_mismatch", f"store {store_id} answered release request {rid} of {r.sku} "
                                       f"with {e.sku} (seq {e.seq})")]
    if r.status == "open":
        r.status, r.released = "answered", e.qty
        records.changed.add(rid)
    return []


def _match_transfer(store_id: str, e: EntryFacts, records: Records) -> list[tuple[str, str]]:
    """Match a transfer's two halves by id, SKU, quantity, source and destination, in either order."""
    tid, other = e.ref, e.counterpart
    out = e.kind == "transfer_out"
    if not tid or not other:
        return [("reference_mismatch", f"store {store_id} wrote a {e.kind} (seq {e.seq}) without a transfer id "
                                       "or the other location; it cannot be matched")]
    if other not in records.locations or other == store_id:
        return [("unknown_reference", f"store {store_id} wrote a {e.kind} (seq {e.seq}) of transfer {tid} "
                                      f"{'to' if out else 'from'} {other[:40]!r}, which is no other location")]
    src, dst = (store_id, other) if out else (other, store_id)
    t = records.transfers.get(tid)
    if t is None:
        records.transfers[tid] = TransferRecord(tid, src, dst, e.sku, e.qty, "in_transit" if out else "arrived")
        records.changed.add(tid)
        records.made.add(tid)
        return []
    mine = t.from_location == store_id if out else t.to_location == store_id
    if not mine:
        return [("foreign_reference", f"store {store_id} wrote a {e.kind} (seq {e.seq}) under transfer {tid}, "
                                      f"which is from {t.from_location} to {t.to_location}")]
    if t.status != ("arrived" if out else "in_transit"):
        return [("transfer_repeated", f"store {store_id} wrote a second {e.kind} (seq {e.seq}) for transfer {tid}")]
    t.status = "received"
    records.changed.add(tid)
    differ = [f"{name} {a} against {b}" for name, a, b in (
        ("source", src, t.from_location), ("destination", dst, t.to_location), ("SKU", e.sku, t.sku),
        ("quantity", e.qty, t.qty)) if a != b]
    if differ:
        return [("transfer_mismatch", f"transfer {tid}: store {store_id}'s {e.kind} (seq {e.seq}) says "
                                      + ", ".join(differ) + " in the other store's entry")]
    return []


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
    seen: dict[int, str] = {}
    for i in order:
        seq, h = seqs_and_hashes[i]
        if seq in seen:
            if seen[seq] != h:
                raise Conflict(f"The batch holds two different entries under sequence {seq}.", seq=seq)
            dups += 1  # the same entry twice, as a resend may carry it
            continue
        seen[seq] = h
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
        raise Conflict(f"Reservation {r.reservation_id} is {r.status}; it cannot become {status}.")
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
        raise Conflict(f"Reservation {r.reservation_id} is {r.status}; it cannot become an order.")
    if r.expires_at is not None and now >= r.expires_at:
        raise Conflict(f"Reservation {r.reservation_id} expired at {r.expires_at:%Y-%m-%d %H:%M} UTC.")
    r.status = "ordered"


def pick_location(positions: Iterable[Position], qty: int) -> Position:
    """Where to reserve when the web shop does not name a location: the most promisable."""
    best = max(positions, key=lambda p: (p.promisable, p.location), default=None)
    if best is None or best.promisable < qty:
        have = best.promisable if best else 0
        raise NotEnough(f"No location can promise {qty}; the most any can is {have}.")
    return best
