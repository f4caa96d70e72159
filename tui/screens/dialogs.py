"""Small modal dialogs over the sale: confirm, tender, receipt, recall, a line's quantity, quit.

Every text in a dialog wraps to the dialog's width, and a dialog taller than
the screen scrolls, so a question is never cut short at 80x24. Each dialog
says its own keys on its last line; they are few and the same everywhere:
Enter says yes, Esc goes back.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from node.bounds import read_whole
from node.errors import StoreError
from node.present import local_time, money


class Dialog(ModalScreen):
    """A modal box: a bold question or title, what the dialog holds, its keys on the last line."""

    def say(self, text: str) -> None:
        self.query_one("#problem", Static).update(text)


class Confirm(Dialog):
    BINDINGS = [Binding("enter", "answer(True)", "Yes", priority=True), Binding("escape", "answer(False)", "No")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog"):
            yield Static(self.question, classes="question")
            yield Static("Enter = yes    Esc = no", classes="hint")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class CashInput(Input):
    """An amount field that leaves letters to the dialog's keys (C = card, O = other)."""

    def check_consume_key(self, key: str, character: str | None) -> bool:
        return character is not None and (character.isdigit() or character in ".,")


class Tender(Dialog):
    """How the customer pays; cash asks what was handed over and shows the change."""

    BINDINGS = [Binding("c", "pay('card')", "Card", priority=True),
                Binding("o", "pay('other')", "Other", priority=True),
                Binding("escape", "back", "Back to sale")]

    def __init__(self, total: int) -> None:
        super().__init__()
        self.total = total

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(f"Total due: {money(self.total)}", classes="question")
            yield Static("Cash received (Enter alone = exact):")
            yield CashInput(placeholder=money(self.total), id="cash", restrict=r"[0-9.,]*")
            yield Static("", id="problem")
            yield Static("Enter = cash    C = card    O = other    Esc = back", classes="hint")

    def on_input_changed(self, ev: Input.Changed) -> None:
        got = self._cash(ev.value)
        if got is None:
            self.say("Type an amount like 20 or 20.00." if ev.value.strip() else "")
        elif got < self.total:
            self.say(f"That is {money(self.total - got)} short.")
        else:
            self.say(f"Change due: {money(got - self.total)}")

    @staticmethod
    def _cash(text: str) -> int | None:
        whole, _, frac = text.strip().replace(",", ".").partition(".")
        if not (whole or frac) or len(frac) > 2 or len(whole) > 12:  # a trillion in cash is a typo
            return None
        if not all(part.isascii() and part.isdigit() for part in (whole, frac) if part):
            return None
        return int(whole or 0) * 100 + int((frac + "00")[:2])

    def on_input_submitted(self, ev: Input.Submitted) -> None:
        ev.stop()
        got = self._cash(ev.value) if ev.value.strip() else self.total
        if got is None or got < self.total:
            self.say(f"Cash must cover {money(self.total)}; that is not enough." if got is not None
                     else "Type an amount like 20 or 20.00.")
            return
        self.dismiss(("cash", got))

    def action_pay(self, tender: str) -> None:
        self.dismiss((tender, self.total))

    def action_back(self) -> None:
        self.dismiss(None)


class Receipt(Dialog):
    BINDINGS = [Binding("enter", "close", "Next customer", priority=True), Binding("escape", "close", "Close")]

    def __init__(self, text: str, saved_to: str, width: int = 40) -> None:
        super().__init__()
        self.text = text
        self.saved_to = saved_to
        self.receipt_width = width

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog receipt") as box:
            box.styles.width = self.receipt_width + 8  # the receipt's own width, plus border and padding
            # A long receipt scrolls (Up/Down) inside the dialog instead of running off the screen.
            with VerticalScroll(id="receipt-scroll"):
                yield Static(self.text, id="receipt-text")
            yield Static(f"Saved as {self.saved_to}\nEnter = next customer    Up/Down = scroll", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#receipt-scroll").focus()

    def action_close(self) -> None:
        self.dismiss(None)


class Recall(Dialog):
    BINDINGS = [Binding("escape", "back", "Back")]

    def __init__(self, parked: list[dict]) -> None:
        super().__init__()
        self.parked = parked

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static("Parked sales", classes="question")
            yield OptionList(*[
                Option(f"{local_time(p['parked_at'], '%H:%M')}  {p['terminal']} {p['clerk']}  "
                       f"{sum(ln.qty for ln in p['lines'])} items  "
                       f"{money(sum(ln.qty * ln.unit_price for ln in p['lines']))}", id=p["park_id"])
                for p in self.parked])
            yield Static("Enter = recall    Up/Down = choose    Esc = back", classes="hint")

    def on_option_list_option_selected(self, ev: OptionList.OptionSelected) -> None:
        self.dismiss(ev.option.id)

    def action_back(self) -> None:
        self.dismiss(None)


class Quantity(Dialog):
    """A new quantity for one sale line, bounded like a scan's."""

    BINDINGS = [Binding("escape", "back", "Back")]

    def __init__(self, name: str, qty: int, most: int) -> None:
        super().__init__()
        self.item_name = name
        self.qty = qty
        self.most = most

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(f"Quantity of {self.item_name}", classes="question")
            yield Input(str(self.qty), id="qty")
            yield Static("", id="problem")
            yield Static(f"Enter = set (1 to {self.most})    Esc = back    F10 on the sale voids the line",
                         classes="hint")

    def on_input_submitted(self, ev: Input.Submitted) -> None:
        ev.stop()
        try:
            self.dismiss(read_whole(ev.value, "A quantity", most=self.most))
        except StoreError as err:
            self.say(str(err))

    def action_back(self) -> None:
        self.dismiss(None)


class QuitSale(Dialog):
    """Quitting with a sale open: park it, void it, or stay."""

    BINDINGS = [Binding("p", "choose('park')", "Park and quit", priority=True),
                Binding("v", "choose('void')", "Void and quit", priority=True),
                Binding("escape", "choose(None)", "Stay")]

    def __init__(self, lines: int, total: int) -> None:
        super().__init__()
        self.lines, self.total = lines, total

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(f"This sale is still open: {self.lines} line{'s' if self.lines != 1 else ''}, "
                         f"total {money(self.total)}. What happens to it?", classes="question")
            yield Static("P = park it and quit (any terminal can recall it)\nV = void it and quit\nEsc = stay")

    def action_choose(self, what: str | None) -> None:
        self.dismiss(what)
