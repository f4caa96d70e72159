"""How large a figure or how long a name a store may write, checked where it is first written.

A value that passes here fits the wire (`sync.models`) and the hub's integer
columns, so one typo (a barcode typed into a quantity field, a pasted essay
as a customer name) is refused at the till with a sentence, instead of being
written locally and stopping the store's sync at the first push.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from node.errors import BadQuantity, BadText, TooLarge

MAX_ID = 128  # the wire's `Id`: op ids, hold ids, refs, terminals, clerks, locations
MAX_TERMINAL = 40  # a receipt number is "<store>-<terminal>-<n>" and is a ref too
MAX_NOTE = 500  # a free-text reason kept in an entry's detail
MAX_UNITS = 1_000_000  # any quantity the hub sends (grants, transfers, release requests)
MAX_UNIT_PRICE = 10_000_000  # minor units: 100,000.00 a unit
MAX_HOLD = timedelta(days=30)
MIN_RECEIPT_WIDTH = 24  # narrower, a line's amount and a short name no longer fit side by side

# Units "found at the till" (sold in hand past what the book shows free) or found by a count
# need the clerk to confirm when they are more than this many, or more than the book itself:
# a few units a miscount explains; tens more than the shelf ever held is likelier a typo.
FOUND_WITHOUT_CONFIRMING = 5


@dataclass(frozen=True)
class Limits:
    """A store's own bounds (node meta `max_line_qty`, `max_counted`)."""

    max_line_qty: int = 999  # units on one line typed at a till or the CLI
    max_counted: int = 100_000  # a counted figure for one bin
    confirm_line_qty: int = 20  # more units than this on one line, the till asks before adding them
    receipt_width: int = 40  # columns of the receipt printer (and the saved receipt)

    @classmethod
    def from_meta(cls, meta: dict[str, str]) -> Limits:
        d = cls()
        return cls(int(meta.get("max_line_qty") or d.max_line_qty), int(meta.get("max_counted") or d.max_counted),
                   int(meta.get("confirm_line_qty") or d.confirm_line_qty),
                   max(MIN_RECEIPT_WIDTH, int(meta.get("receipt_width") or d.receipt_width)))


DEFAULT_LIMITS = Limits()

# The store's own settings (node meta), what each bounds, and the range a value may take.
SETTINGS: dict[str, tuple[int, int, str]] = {
    "max_line_qty": (1, MAX_UNITS, "most units on one line typed at a till or the CLI"),
    "confirm_line_qty": (1, MAX_UNITS, "more units than this on one line, the terminal asks before adding them"),
    "max_counted": (1, 10 * MAX_UNITS, "most units a count may record for one bin"),
    "receipt_width": (MIN_RECEIPT_WIDTH, 120, "columns of the receipt printer and the saved receipts"),
}


def check_setting(name: str, text: str) -> int:
    """A store setting's new value, refused with the reason if it is not one."""
    if name not in SETTINGS:
        raise BadText(f"There is no store setting {name!r}; the settings are {', '.join(SETTINGS)}.")
    least, most, _ = SETTINGS[name]
    return read_whole(text, name, least=least, most=most)


def check_qty(qty: object, what: str = "Quantity", *, most: int = DEFAULT_LIMITS.max_line_qty) -> int:
    if isinstance(qty, bool) or not isinstance(qty, int):
        raise BadQuantity(f"{what} must be a whole number of units, not {qty!r}.")
    if qty <= 0:
        raise BadQuantity(f"{what} must be at least 1, not {qty}.")
    if qty > most:
        raise TooLarge(f"{what} {qty} is more than the {most} units one line may hold; "
                       f"check the figure (a barcode typed as a quantity?) or split it.")
    return qty


def read_whole(text: str, what: str, *, most: int, least: int = 1) -> int:
    """A whole number typed by a person, bounded before it is read (a 5,000-digit figure is refused, not parsed)."""
    t = text.strip()
    if not (t.isascii() and t.isdigit()):
        shown = t if len(t) <= 20 else t[:20] + "..."
        raise BadQuantity(f"{what} must be a whole number, not '{shown}'.")
    if len(t.lstrip("0")) > len(str(most)) or int(t) > most:
        raise TooLarge(f"{what} {t if len(t) <= 20 else t[:20] + '...'} is more than the {most} allowed; check the figure.")
    if int(t) < least:
        raise BadQuantity(f"{what} must be at least {least}, not {int(t)}.")
    return int(t)


def check_counted(counted: object, *, most: int = DEFAULT_LIMITS.max_counted) -> int:
    if isinstance(counted, bool) or not isinstance(counted, int) or counted < 0:
        raise BadQuantity(f"A counted figure must be a whole number of 0 or more, not {counted!r}.")
    if counted > most:
        raise TooLarge(f"A counted figure of {counted} is more than the {most} one bin may hold here; "
                       f"check the figure.")
    return counted


def check_price(price: object, what: str) -> int:
    if isinstance(price, bool) or not isinstance(price, int) or price < 0:
        raise BadQuantity(f"Price of {what} must be a whole number of minor units, not {price!r}.")
    if price > MAX_UNIT_PRICE:
        raise TooLarge(f"Price of {what} ({price} minor units) is more than the {MAX_UNIT_PRICE} a unit may cost.")
    return price


def check_text(value: object, what: str, *, most: int = MAX_ID, empty_ok: bool = False) -> str:
    if not isinstance(value, str):
        raise BadText(f"{what} must be text, not {value!r}.")
    if not value.strip() and not empty_ok:
        raise BadText(f"{what} must not be empty.")
    if len(value) > most:
        raise BadText(f"{what} is {len(value)} characters long; at most {most} fit (it starts {value[:20]!r}).")
    return value


def check_ttl(ttl: timedelta) -> timedelta:
    if ttl <= timedelta(0):
        raise BadQuantity(f"A hold must last a while, not {ttl}.")
    if ttl > MAX_HOLD:
        raise TooLarge(f"A hold may last at most {MAX_HOLD.days} days, not {ttl}.")
    return ttl


def found_needs_confirming(found: int, book: int) -> bool:
    """Whether `found` units beyond the book are too many to record without the clerk confirming."""
    return found > max(FOUND_WITHOUT_CONFIRMING, book)
