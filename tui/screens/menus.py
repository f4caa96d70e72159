"""The help screen, the stock menu, and putting units aside for a customer."""

from __future__ import annotations

from datetime import timedelta

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Input, Static

from node.bounds import MAX_HOLD, read_whole
from node.errors import StoreError
from tui.keys import STOCK_CHOICES, help_rows
from tui.screens.dialogs import Dialog


class Help(Dialog):
    """Every key the terminal reads, where it works, and its alternative for a browser."""

    BINDINGS = [Binding("escape,enter,f1", "close", "Close", priority=True)]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog help"):
            yield Static("Keys (the second column works where a browser keeps the first for itself)",
                         classes="question")
            yield DataTable(id="keys", cursor_type="row", zebra_stripes=True)
            yield Static("Up/Down = scroll    Esc = close", classes="hint")

    def on_mount(self) -> None:
        t = self.query_one("#keys", DataTable)
        t.add_column("Where", width=10)
        t.add_column("Key", width=9)
        t.add_column("Or", width=3)
        t.add_column("What it does", width=34)
        for where, key, alt, what in help_rows():
            t.add_row(where, key, alt, what, height=None)
        t.focus()

    def action_close(self) -> None:
        self.dismiss(None)


class StockMenu(Dialog):
    """The stock operations, each on a letter (the menu has no text field a letter could be meant for)."""

    BINDINGS = [*(Binding(letter, f"pick('{kind}')", label, priority=True) for letter, kind, label in STOCK_CHOICES),
                Binding("escape", "pick('')", "Back")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static("Stock", classes="question")
            for letter, _, label in STOCK_CHOICES:
                yield Static(f"  {letter.upper()}  {label}")
            yield Static("A letter = open it    Esc = back to the sale", classes="hint")

    def action_pick(self, kind: str) -> None:
        self.dismiss(kind or None)


class PutAside(Dialog):
    """Units put aside for a customer: how many, for how long, for whom."""

    BINDINGS = [Binding("escape", "back", "Back")]

    def __init__(self, name: str, free: int, most: int) -> None:
        super().__init__()
        self.item_name = name
        self.free = free
        self.most = most

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(f"Put aside {self.item_name} ({self.free} free to hold)", classes="question")
            yield Static("Units:")
            yield Input("1", id="qty")
            yield Static("Minutes:")
            yield Input("120", id="minutes")
            yield Static("Customer:")
            yield Input(placeholder="name or phone", id="customer")
            yield Static("", id="problem")
            yield Static("Enter = next / put aside    Esc = back", classes="hint")

    def on_input_submitted(self, ev: Input.Submitted) -> None:
        ev.stop()
        if ev.input.id != "customer":
            self.focus_next()
            return
        try:
            qty = read_whole(self.query_one("#qty", Input).value, "Units", most=self.most)
            minutes = read_whole(self.query_one("#minutes", Input).value, "Minutes",
                                 most=int(MAX_HOLD / timedelta(minutes=1)))
        except StoreError as err:
            self.say(str(err))
            self.query_one("#qty", Input).focus()
            return
        self.dismiss((qty, minutes, self.query_one("#customer", Input).value.strip()))

    def action_back(self) -> None:
        self.dismiss(None)
