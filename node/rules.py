"""A store's rules: quota, holds and ledger entries, with no I/O.

Every operation here takes the balances it needs (loaded by whoever calls it:
the SQLite store, or a simulation holding them in memory) and returns a
`Plan`: the ledger changes, each with the balance after it, and the new
balances. Nothing is mutated before every check has passed, so a refused
operation leaves no trace anywhere.

Words (see DESIGN.md): a store's on-hand is split into its **quota** (units it
may sell or hold with no one's permission, offline included) and the hub's
share. A **hold** moves units from quota to `held`. A sale or loss that the
quota cannot cover is **over-quota**: recorded, and settled by the hub.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from node.bounds import (
    DEFAULT_LIMITS,
        MAX_NOTE,
    MAX_UNITS,
    Limits,
    check_counted,
    check_price,
    check_qty,
    check_text,
    check_ttl,
    found_needs_confirming,
)
from node.errors import (
    AlreadyApplied,
    BadQuantity,
    BadReceipt,
    ConfirmFound,
    GrantMismatch,
    HoldUnavailable,
    NotOnHand,
    QuotaExceeded,
    TransferMismatch,
    UnknownGrant,
    UnknownSku,
    UnknownTransfer,
)
from sync.kinds import BACK, BINS, FLOOR, SOLD, WRITE_OFFS, Kind, Policy  # the shared words, re-exported

class Tender(StrEnum):
    CASH = "cash"
    CARD = "card"
    OTHER = "other"


@dataclass
class Balance:
    """One SKU at one store: units per bin, and how the store may use them."""

    sku: str
    bins: dict[str, int] = field(default_factory=dict)
    quota: int = 0
    held: int = 0
    over_quota: int = 0  # units ever sold or lost beyond quota (for the record; the hub settles)

    @property
    def on_hand(self) -> int:
        return sum(self.bins.values())

    def copy(self) -> Balance:
        return Balance(self.sku, dict(self.bins), self.quota, self.held, self.over_quota)


@dataclass(frozen=True)
class Change:
    """One ledger entry's effect, before the store gives it a sequence number."""

    kind: Kind
    sku: str
    qty: int  # units the entry is about, never negative
    bins: tuple[tuple[str, int], ...] = ()  # per-bin deltas; their sum is the on-hand delta
    quota_delta: int = 0
    held_delta: int = 0
    over_quota: int = 0
    ref: str | None = None  # receipt, hold, grant, transfer or release id
    amount: int = 0  # money in minor units: + taken at a sale, - refunded
    detail: Mapping[str, object] = field(default_factory=dict)

    @property
    def on_hand_delta(self) -> int:
        return sum(d for _, d in self.bins)


@dataclass(frozen=True)
class Posted:
    """A change and the balances right after it: what the ledger records."""

    change: Change
    on_hand: int
    quota: int
    held: int


@dataclass(frozen=True)
class Hold:
    hold_id: str
    sku: str
    qty: int
    expires_at: datetime
    customer: str = ""


@dataclass
class Plan:
    """What an operation will write: entries in order and the balances after them."""

    balances: dict[str, Balance]
    entries: list[Posted] = field(default_factory=list)
    opened_holds: list[Hold] = field(default_factory=list)
    closed_holds: list[tuple[str, Kind]] = field(default_factory=list)

    @classmethod
    def over(cls, balances: Mapping[str, Balance], skus: Iterable[str]) -> Plan:
        work = {}
        for sku in skus:
            if sku not in balances:
                raise UnknownSku(f"SKU {sku} is not in this store's catalog.")
            work[sku] = balances[sku].copy()
        return cls(work)

    def post(self, change: Change) -> None:
        b = self.balances[change.sku]
        apply_change(b, change)
        self.entries.append(Posted(change, b.on_hand, b.quota, b.held))

    @property
    def changed(self) -> list[Balance]:
        return list(self.balances.values())


def apply_change(b: Balance, c: Change) -> None:
    """The one place a change alters a balance (used by planning and by replay)."""
    for bin_, delta in c.bins:
        b.bins[bin_] = b.bins.get(bin_, 0) + delta
    b.quota += c.quota_delta
    b.held += c.held_delta
    b.over_quota += c.over_quota


# -- checks ---------------------------------------------------------------


def check_bin(bin_: str) -> str:
    if bin_ not in BINS:
        raise BadQuantity(f"Bin {bin_!r} does not exist here; use one of: {', '.join(BINS)}.")
    return bin_


def _take_from_bins(b: Balance, qty: int, first: str) -> tuple[tuple[str, int], ...]:
    """Units leaving the store: from `first` bin, then the others; never past zero."""
    if b.on_hand < qty:
        raise NotOnHand(
            f"The book shows only {b.on_hand} of {b.sku} in the store, not {qty}; count the shelf first."
        )
    order = [first] + [x for x in sorted(b.bins) if x != first]
    taken, left = [], qty
    for bin_ in order:
        n = min(left, max(b.bins.get(bin_, 0), 0))
        if n:
            taken.append((bin_, -n))
            left -= n
    return tuple(taken)


def _take_from_bin(b: Balance, qty: int, bin_: str) -> tuple[tuple[str, int], ...]:
    have = b.bins.get(bin_, 0)
    if have < qty:
        raise NotOnHand(f"The book shows only {have} of {b.sku} in the {bin_} bin, not {qty}.")
    return ((bin_, -qty),)


def _keep_holds_backed(b: Balance, leaving: int, doing: str) -> None:
    """Units leaving without a sale may not take those held for customers (their holds go first)."""
    if leaving > 0 and b.on_hand - leaving < b.held:
        raise NotOnHand(
            f"{doing} {leaving} of {b.sku} would take units held for customers (only "
            f"{max(b.on_hand - b.held, 0)} are not held); release or sell those holds first.")


def _quota_cover(b: Balance, qty: int) -> tuple[int, int]:
    """How much of `qty` leaving the store the quota covers, and what is over-quota."""
    covered = min(b.quota, qty)
    return -covered, qty - covered


# -- operations -----------------------------------------------------------


@dataclass(frozen=True)
class SaleLine:
    sku: str
    qty: int
    unit_price: int  # minor units, tax included
    hold_id: str | None = None


@dataclass(frozen=True)
class TillCheck:
    """What selling `qty` units of one SKU (not from a hold) means for the store's book.

    The till asks this before it adds a line (to warn the clerk, or ask) and
    the sale asks it again when it is written, so both decide alike.
    """

    qty: int
    book: int  # on hand, as the book says
    free: int  # on hand and not held for a customer: the most that may leave without taking a promise
    found: int  # units the book lacks, in the customer's hand: recorded as found at the till
    over_quota: int  # units past the quota (after what was found joins it)
    refusal: str | None = None  # strict policy: why this cannot be sold
    refusal_is_quota: bool = True  # the refusal is about quota (else about units on hand)

    @property
    def confirm_found(self) -> bool:
        """Found units too many to take on the clerk's word alone (see node.bounds)."""
        return found_needs_confirming(self.found, self.book)

    def found_message(self, sku: str) -> str:
        return (f"Selling {self.qty} of {sku} finds {self.found} more than the book has ({self.book} on hand, "
                f"{self.book - max(self.free, 0)} of them held); if they really are in the customer's hand, "
                f"confirm it (at the command line: --confirm-found).")


def till_check(b: Balance, qty: int, policy: Policy | str) -> TillCheck:
    """How a sale of `qty` in-hand units of `b` is covered: quota, found at the till, over quota.

    Held units are promised to another customer: a sale never takes them,
    so what the book cannot cover from its unheld units was found at the till.
    """
    free = b.on_hand - b.held
    if Policy(policy) is Policy.STRICT:
        if qty > free:
            return TillCheck(qty, b.on_hand, free, 0, max(qty - b.quota, 0),
                             f"The book shows only {max(free, 0)} of {b.sku} in the store, not {qty} (held units "
                             f"are promised to customers); count the shelf first.", refusal_is_quota=False)
        if qty > b.quota:
            return TillCheck(qty, b.on_hand, free, 0, qty - b.quota,
                             f"Only {b.quota} of {b.sku} may be sold here without the hub (policy strict); "
                             f"{qty} asked. Ask the hub for more quota, or sell fewer.")
        return TillCheck(qty, b.on_hand, free, 0, 0)
    found = max(qty - max(free, 0), 0)
    return TillCheck(qty, b.on_hand, free, found, max(qty - b.quota - found, 0))


def sell(
    balances: Mapping[str, Balance],
    lines: list[SaleLine],
    *,
    policy: Policy,
    receipt: str,
    tender: Tender,
    holds: Mapping[str, Hold] | None = None,
    now: datetime | None = None,
    confirm_found: bool = False,
    limits: Limits = DEFAULT_LIMITS,
) -> Plan:
    """A sale of one or more lines. A line naming a hold sells the held units."""
    if not lines:
        raise BadQuantity("A sale needs at least one line.")
    if len(lines) > limits.max_line_qty:
        raise BadQuantity(f"A sale may have at most {limits.max_line_qty} lines, not {len(lines)}.")
    policy = Policy(policy)  # "strict" as a plain string must not be read as in-hand (`is` below)
    holds = holds or {}
    check_text(receipt, "A receipt number")
    plan = Plan.over(balances, {ln.sku for ln in lines})
    for ln in lines:
        check_qty(ln.qty, most=limits.max_line_qty)
        check_price(ln.unit_price, ln.sku)
        if ln.hold_id is not None:
            check_text(ln.hold_id, "A hold id")
        b = plan.balances[ln.sku]
        detail = {"receipt": receipt, "tender": str(tender), "unit_price": ln.unit_price}
        if ln.hold_id is not None:
            hold = _open_hold(holds, ln.hold_id, now, plan)
            if hold.sku != ln.sku or hold.qty != ln.qty:
                raise HoldUnavailable(
                    f"Hold {hold.hold_id} is for {hold.qty} of {hold.sku}, not {ln.qty} of {ln.sku}."
                )
            plan.post(Change(Kind.HOLD_CONVERTED, ln.sku, ln.qty, _take_from_bins(b, ln.qty, FLOOR),
                             held_delta=-ln.qty, ref=receipt, amount=ln.qty * ln.unit_price,
                             detail={**detail, "hold_id": hold.hold_id}))
            plan.closed_holds.append((hold.hold_id, Kind.HOLD_CONVERTED))
            continue
        check = till_check(b, ln.qty, policy)
        if check.refusal:
            raise (QuotaExceeded if check.refusal_is_quota else NotOnHand)(check.refusal)
        if check.found:
            if check.confirm_found and not confirm_found:
                raise ConfirmFound(check.found_message(ln.sku))
            # The customer holds a unit the book does not know: the book was short. The
            # unit is new supply nobody was promised, so it joins the quota, then sells.
            plan.post(Change(Kind.COUNT, ln.sku, check.found, ((FLOOR, check.found),), quota_delta=check.found,
                             detail={"found_at_till": True, "receipt": receipt}))
        bins = _take_from_bins(b, ln.qty, FLOOR)
        quota_delta, over = _quota_cover(b, ln.qty)
        plan.post(Change(Kind.SALE, ln.sku, ln.qty, bins, quota_delta=quota_delta, over_quota=over,
                         ref=receipt, amount=ln.qty * ln.unit_price, detail=detail))
    return plan


@dataclass(frozen=True)
class Sold:
    """What a receipt sold of one SKU and what has come back of it already."""

    qty: int
    unit_price: int
    returned: int = 0


def return_items(
    balances: Mapping[str, Balance],
    sku: str,
    qty: int,
    *,
    resellable: bool,
    unit_price: int,
    receipt: str | None = None,
    sold: Sold | None = None,
    bin_: str = BACK,
    limits: Limits = DEFAULT_LIMITS,
) -> Plan:
    """A customer brings units back. Resellable units are new supply: they join the quota."""
    check_qty(qty, most=limits.max_line_qty)
    check_bin(bin_)
    check_price(unit_price, sku)
    if receipt is not None:
        check_text(receipt, "A receipt number")
    plan = Plan.over(balances, [sku])
    if receipt is not None:
        if sold is None:
            raise BadReceipt(f"Receipt {receipt} has no sale of {sku}.")
        if qty > sold.qty - sold.returned:
            raise BadReceipt(
                f"Receipt {receipt} sold {sold.qty} of {sku} and {sold.returned} came back already; "
                f"{qty} more cannot be returned on it."
            )
        unit_price = sold.unit_price
    detail = {"receipt": receipt, "resellable": resellable, "unit_price": unit_price}
    if resellable:
        plan.post(Change(Kind.RETURN, sku, qty, ((bin_, qty),), quota_delta=qty, ref=receipt,
                         amount=-qty * unit_price, detail=detail))
    else:
        # The unit never rejoins stock: the refund is recorded, the book is unchanged.
        plan.post(Change(Kind.RETURN, sku, qty, (), ref=receipt, amount=-qty * unit_price, detail=detail))
    return plan


def receive(balances: Mapping[str, Balance], sku: str, qty: int, *, bin_: str = BACK,
            delivery: str | None = None, detail: Mapping[str, object] | None = None,
            limits: Limits = DEFAULT_LIMITS) -> Plan:
    """A delivery: new physical supply joins the store's quota at once."""
    check_qty(qty, most=limits.max_line_qty)
    check_bin(bin_)
    if delivery is not None:
        check_text(delivery, "A delivery note's reference")
    plan = Plan.over(balances, [sku])
    plan.post(Change(Kind.RECEIVE, sku, qty, ((bin_, qty),), quota_delta=qty, ref=delivery,
                     detail=dict(detail or {})))
    return plan


def place_hold(balances: Mapping[str, Balance], hold_id: str, sku: str, qty: int, *, now: datetime,
               ttl: timedelta, customer: str = "", limits: Limits = DEFAULT_LIMITS) -> Plan:
    """Put units aside for a customer, out of the store's quota."""
    check_qty(qty, most=limits.max_line_qty)
    check_text(hold_id, "A hold id")
    check_text(customer, "A customer's name", empty_ok=True)
    check_ttl(ttl)
    plan = Plan.over(balances, [sku])
    b = plan.balances[sku]
    if qty > b.quota:
        raise QuotaExceeded(f"Only {b.quota} of {sku} are free to hold here; {qty} asked.")
    if qty > b.on_hand - b.held:
        # Quota can outrun the book (a grant landing after an unsynced over-quota sale):
        # a hold is a promise to a customer, so it needs a unit on the shelf too.
        raise NotOnHand(f"The book shows only {max(b.on_hand - b.held, 0)} of {sku} not already held; "
                        f"{qty} cannot be put aside.")
    hold = Hold(hold_id, sku, qty, now + ttl, customer)
    plan.post(Change(Kind.HOLD, sku, qty, (), quota_delta=-qty, held_delta=qty, ref=hold_id,
                     detail={"expires_at": hold.expires_at.isoformat(), "customer": customer}))
    plan.opened_holds.append(hold)
    return plan


def _open_hold(holds: Mapping[str, Hold], hold_id: str, now: datetime | None, plan: Plan) -> Hold:
    hold = holds.get(hold_id)
    if hold is None or any(h == hold_id for h, _ in plan.closed_holds):
        raise HoldUnavailable(f"Hold {hold_id} is not open (unknown, already released, sold or expired).")
    if now is not None and now >= hold.expires_at:
        raise HoldUnavailable(f"Hold {hold_id} expired at {hold.expires_at:%Y-%m-%d %H:%M} UTC.")
    return hold


def release_hold(balances: Mapping[str, Balance], holds: Mapping[str, Hold], hold_id: str, *,
                 now: datetime) -> Plan:
    """The customer will not come: the held units go back to the quota."""
    hold = holds.get(hold_id)
    if hold is None:
        raise HoldUnavailable(f"Hold {hold_id} is not open (unknown, already released, sold or expired).")
    plan = Plan.over(balances, [hold.sku])
    kind = Kind.HOLD_EXPIRED if now >= hold.expires_at else Kind.HOLD_RELEASED
    plan.post(Change(kind, hold.sku, hold.qty, (), quota_delta=hold.qty, held_delta=-hold.qty, ref=hold_id))
    plan.closed_holds.append((hold_id, kind))
    return plan


def expire_holds(balances: Mapping[str, Balance], holds: Mapping[str, Hold], *, now: datetime) -> Plan:
    """Every hold past its time returns its units to the quota."""
    due = sorted((h for h in holds.values() if now >= h.expires_at), key=lambda h: (h.expires_at, h.hold_id))
    plan = Plan.over(balances, {h.sku for h in due})
    for h in due:
        plan.post(Change(Kind.HOLD_EXPIRED, h.sku, h.qty, (), quota_delta=h.qty, held_delta=-h.qty, ref=h.hold_id))
        plan.closed_holds.append((h.hold_id, Kind.HOLD_EXPIRED))
    return plan


def count(balances: Mapping[str, Balance], sku: str, bin_: str, counted: int, *, confirm_found: bool = False,
          limits: Limits = DEFAULT_LIMITS) -> Plan:
    """A counted figure replaces the book's; the difference is recorded.

    Units found join the quota (nobody else can have promised them); units
    missing come out of the quota first, the rest is over-quota for the hub.
    Far more found than the book had must be confirmed (a typo must not
    invent stock), and a count may not leave fewer units than are held for
    customers: those holds are released or sold first, so no promise is left
    without a unit behind it.
    """
    check_bin(bin_)
    check_counted(counted, most=limits.max_counted)
    plan = Plan.over(balances, [sku])
    b = plan.balances[sku]
    book = b.bins.get(bin_, 0)
    diff = counted - book
    detail = {"book": book, "counted": counted}
    if diff > 0 and found_needs_confirming(diff, book) and not confirm_found:
        raise ConfirmFound(f"Counting {counted} of {sku} in the {bin_} bin finds {diff} more than the book's "
                           f"{book}; if that is right, confirm the count (at the command line: --confirm-found).")
    _keep_holds_backed(b, -diff, "Counting away")
    if diff >= 0:
        plan.post(Change(Kind.COUNT, sku, diff, ((bin_, diff),), quota_delta=diff, detail=detail))
    else:
        quota_delta, over = _quota_cover(b, -diff)
        plan.post(Change(Kind.COUNT, sku, -diff, ((bin_, diff),), quota_delta=quota_delta,
                         over_quota=over, detail=detail))
    return plan


def write_off(balances: Mapping[str, Balance], kind: Kind, sku: str, qty: int, *, bin_: str = FLOOR,
              reason: str = "", limits: Limits = DEFAULT_LIMITS) -> Plan:
    """Damaged, expired or lost units leave without a sale, out of the quota first."""
    if kind not in WRITE_OFFS:
        raise ValueError(f"{kind} is not a write-off")
    check_qty(qty, most=limits.max_line_qty)
    check_bin(bin_)
    check_text(reason, "A write-off's note", most=MAX_NOTE, empty_ok=True)
    plan = Plan.over(balances, [sku])
    b = plan.balances[sku]
    bins = _take_from_bin(b, qty, bin_)
    _keep_holds_backed(b, qty, "Writing off")
    quota_delta, over = _quota_cover(b, qty)
    plan.post(Change(kind, sku, qty, bins, quota_delta=quota_delta, over_quota=over,
                     detail={"reason": reason} if reason else {}))
    return plan


def move(balances: Mapping[str, Balance], sku: str, qty: int, *, from_bin: str, to_bin: str,
         limits: Limits = DEFAULT_LIMITS) -> Plan:
    check_qty(qty, most=limits.max_line_qty)
    check_bin(from_bin)
    check_bin(to_bin)
    if from_bin == to_bin:
        raise BadQuantity(f"A move needs two different bins, not {from_bin} to {to_bin}.")
    plan = Plan.over(balances, [sku])
    bins = _take_from_bin(plan.balances[sku], qty, from_bin)
    plan.post(Change(Kind.MOVE, sku, qty, bins + ((to_bin, qty),)))
    return plan


def transfer_out(balances: Mapping[str, Balance], transfer_id: str, sku: str, qty: int, *, to_location: str,
                 hub_ordered: bool = False, bin_: str = BACK, limits: Limits = DEFAULT_LIMITS) -> Plan:
    """Units leave for another location: from the hub share if the hub ordered it, else from quota."""
    check_qty(qty, most=limits.max_line_qty)
    check_bin(bin_)
    check_text(transfer_id, "A transfer id")
    check_text(to_location, "A destination")
    plan = Plan.over(balances, [sku])
    b = plan.balances[sku]
    bins = _take_from_bins(b, qty, bin_)
    quota_delta = 0
    if hub_ordered:
        share = b.on_hand - b.quota - b.held
        if qty > share:
            # the store's quota and its customers' holds are promises the hub cannot send away
            raise QuotaExceeded(f"Only {max(share, 0)} of {sku} here are the hub's to send; {qty} asked.")
    else:
        if qty > b.quota:
            raise QuotaExceeded(f"Only {b.quota} of {sku} are this store's to send; {qty} asked.")
        quota_delta = -qty
    plan.post(Change(Kind.TRANSFER_OUT, sku, qty, bins, quota_delta=quota_delta, ref=transfer_id,
                     detail={"to": to_location, "hub_ordered": hub_ordered}))
    return plan


@dataclass(frozen=True)
class Incoming:
    """A transfer to this store as the hub described it in a pull."""

    transfer_id: str
    sku: str
    qty: int
    from_location: str


def transfer_in(balances: Mapping[str, Balance], transfer_id: str, sku: str, qty: int, *, from_location: str,
                expected: Incoming | None, already_applied: bool, bin_: str = BACK) -> Plan:
    """Units arrive from another location and join this store's quota.

    Only a transfer the hub told this node about, received as the hub
    described it: units received against nothing, or more than were sent,
    would be stock no one ever had.
    """
    if already_applied:
        raise AlreadyApplied(f"Transfer {transfer_id} was already received here.")
    check_qty(qty, most=MAX_UNITS)
    check_bin(bin_)
    check_text(transfer_id, "A transfer id")
    if expected is None:
        raise UnknownTransfer(f"Transfer {transfer_id} is not known here yet; sync with the hub first "
                              f"(or receive the units as a delivery).")
    wrong = [f"{what} {got} (the hub sent {want})" for what, got, want in (
        ("SKU", sku, expected.sku), ("quantity", qty, expected.qty), ("source", from_location, expected.from_location))
        if got != want]
    if wrong:
        raise TransferMismatch(f"Transfer {transfer_id} does not match the hub's: {'; '.join(wrong)}. "
                               f"Nothing was received.")
    plan = Plan.over(balances, [sku])
    plan.post(Change(Kind.TRANSFER_IN, sku, qty, ((bin_, qty),), quota_delta=qty, ref=transfer_id,
                     detail={"from": from_location}))
    return plan


@dataclass(frozen=True)
class PulledGrant:
    """A quota grant as the hub sent it: its quantity is the hub's, not anyone's at the node."""

    grant_id: str
    sku: str
    qty: int


def grant_news(known: PulledGrant | None, pulled: PulledGrant) -> str:
    """'new', 'repeat', or 'conflict': a grant id seen before is a repeat only with the same content."""
    if known is None:
        return "new"
    return "repeat" if (known.sku, known.qty) == (pulled.sku, pulled.qty) else "conflict"


def apply_grant(balances: Mapping[str, Balance], grant_id: str, sku: str, qty: int, *,
                pulled: PulledGrant | None, already_applied: bool) -> Plan:
    """The hub gave up `qty` of its share here; it becomes quota (once per grant, as the hub sent it)."""
    check_qty(qty, most=MAX_UNITS)
    if pulled is None:
        raise UnknownGrant(f"Grant {grant_id} has not come from the hub; sync first.")
    if (sku, qty) != (pulled.sku, pulled.qty):
        raise GrantMismatch(f"Grant {grant_id} is for {pulled.qty} of {pulled.sku} as the hub sent it, "
                            f"not {qty} of {sku}. Nothing was applied.")
    if already_applied:
        raise AlreadyApplied(f"Grant {grant_id} was already applied here.")
    plan = Plan.over(balances, [sku])
    b = plan.balances[sku]
    # Quota is only ever backed by a unit on hand. An over-quota sale the hub had not yet
    # heard of when it granted may have taken the very units in flight: the entry still
    # names the grant's quantity, and says how many it could back; the hub returns the
    # rest (it pays the shortfall that sale left).
    backed = min(qty, max(0, b.on_hand - b.quota - b.held))
    plan.post(Change(Kind.QUOTA_GRANTED, sku, qty, (), quota_delta=backed, ref=grant_id,
                     detail={"backed": backed} if backed < qty else {}))
    return plan


def release_quota(balances: Mapping[str, Balance], release_id: str, sku: str, asked: int, *,
                  request_id: str | None = None) -> Plan:
    """Give unused quota back to the hub: at most what is unused.

    Answering a hub request always writes an entry (maybe of 0 units) so the hub
    knows the request is closed; a release on the store's own initiative needs
    something to release.
    """
    check_qty(asked, most=MAX_UNITS)
    check_text(release_id, "A release id")
    if request_id is not None:
        check_text(request_id, "A release request id")
    plan = Plan.over(balances, [sku])
    b = plan.balances[sku]
    released = min(asked, b.quota)
    if released == 0 and request_id is None:
        raise QuotaExceeded(f"This store has no unused quota of {sku} to release.")
    plan.post(Change(Kind.QUOTA_RELEASED, sku, released, (), quota_delta=-released, ref=release_id,
                     detail={"asked": asked, "request_id": request_id}))
    return plan
