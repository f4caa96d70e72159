"""The terminal's one key map: each key means one thing on every screen.

Every screen builds its bindings from here, the footer shows the primary
keys, and the help screen (F1, or `?` typed alone) lists every key with its
alternative. The alternatives exist because a browser keeps some keys for
itself (F1 help, F3 find, F5 reload, F6/F7, F11, F12 developer tools) before
textual-serve's page sees them; Ctrl+letter reaches the page, except
Ctrl+N/T/W, which no page may have, so none of those is used.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True)
class Key:
    action: str
    key: str  # the till's key, shown in the footer
    alt: str | None  # the same action where a browser takes `key` for itself
    label: str  # the footer's word for it
    what: str  # the help screen's sentence

    def bindings(self, *, show: bool = True) -> list[Binding]:
        shown = Binding(self.key, self.action, self.label, show=show, priority=True,
                        key_display=_display(self.key))
        if self.alt is None:
            return [shown]
        # The alternative does the same and is listed on the help screen; the footer shows one key per action.
        return [shown, Binding(self.alt, self.action, self.label, show=False, priority=True)]


def _display(key: str) -> str:
    if key.startswith("ctrl+"):
        return "^" + key.removeprefix("ctrl+").upper()
    return {"escape": "Esc", "enter": "Enter"}.get(key, key.upper())


# Anywhere: on the sale, lookup and form screens (not inside a dialog, which has its own few keys).
HELP = Key("app.help", "f1", None, "Help", "This list of keys (or type ? alone in an empty field).")
LOOKUP = Key("app.lookup", "f2", "ctrl+b", "In back", "Check in the back: floor, back, holds, the rest of the chain.")
STOCK = Key("app.stock_menu", "f4", "ctrl+o", "Stock",
            "Stock work: return, receive a delivery, count, write off, move between bins, hand over web orders.")
QUIT = Key("app.quit", "ctrl+q", None, "Quit", "Close the terminal; an open sale is parked or voided first, as you say.")
EVERYWHERE = (HELP, LOOKUP, STOCK, QUIT)

# The sale screen.
QTY = Key("qty", "f3", "ctrl+e", "Qty", "Change the selected line's quantity.")
PARK = Key("park", "f8", "ctrl+k", "Park", "Park this sale; any terminal can recall it.")
RECALL = Key("recall", "f9", "ctrl+r", "Recall", "Recall a parked sale.")
VOID = Key("void", "f10", "ctrl+d", "Void", "Void the selected line.")
PAY = Key("pay", "f12", "ctrl+p", "Pay", "Take payment: cash, card or other.")
SALE = (QTY, PARK, RECALL, VOID, PAY)

# Check in the back.
PUT_ASIDE = Key("put_aside", "f5", "ctrl+a", "Put aside", "Put units of the item aside for a customer (a hold).")
RELEASE = Key("release", "f6", "ctrl+l", "Release", "Release the selected hold: its units are back on sale.")
SELL_HOLD = Key("sell_hold", "f7", "ctrl+y", "Sell hold", "Sell the selected hold: the customer came.")
LOOKUP_KEYS = (PUT_ASIDE, RELEASE, SELL_HOLD)

# The stock forms.
RECORD = Key("submit", "ctrl+s", None, "Record", "Record the operation (Enter on the last field does too).")
BACK = Key("app.back", "escape", None, "Back", "Back to the sale, or close a dialog without doing anything.")

# Letters in the stock menu (it has no text field, so a letter is only ever a choice).
STOCK_CHOICES = (("r", "return", "Return"), ("d", "receive", "Receive a delivery"), ("c", "count", "Count a shelf"),
                 ("w", "write_off", "Write off (damaged, expired, lost)"), ("m", "move", "Move between bins"),
                 ("h", "hand_over", "Hand over a web order (pick-up, send off)"))

# Keys with no action of their own, listed so the help screen names every key the terminal reads.
PLAIN = (("Enter", "Scan field: add the scan. Forms: next field. Dialogs: yes / confirm."),
         ("Up / Down", "Sale: select a line. Lookup: move through the results and holds."),
         ("N*", "Before a scan: N of it, e.g. 3*9309243598147 (at most the store's line limit)."),
         ("Tab", "Next field."))


def _order(key: Key) -> tuple[int, int]:
    # The footer reads left to right as the keyboard does: F1, F2, ... then the Ctrl keys.
    name = key.key
    return (0, int(name[1:])) if name[:1] == "f" and name[1:].isdigit() else (1, 0)


def screen_bindings(*groups: tuple[Key, ...]) -> list[Binding]:
    ordered = sorted((key for group in groups for key in group), key=_order)
    return [b for key in ordered for b in key.bindings()]


def help_rows() -> list[tuple[str, str, str, str]]:
    """(where, key, alternative, what) for every key the terminal reads."""
    rows = [("Anywhere", _display(k.key), _display(k.alt) if k.alt else "", k.what) for k in (*EVERYWHERE, BACK)]
    rows += [("Sale", _display(k.key), _display(k.alt) if k.alt else "", k.what) for k in SALE]
    rows += [("In back", _display(k.key), _display(k.alt) if k.alt else "", k.what) for k in LOOKUP_KEYS]
    rows += [("Stock menu", letter.upper(), "", label) for letter, _, label in STOCK_CHOICES]
    rows += [("Forms", _display(RECORD.key), "", RECORD.what)]
    rows += [("", key, "", what) for key, what in PLAIN]
    return rows
