"""Small modal dialogs: confirm, tender, receipt, recall a parked sale, put aside."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from node.present import local_time, money


class Confirm(ModalScreen[bool]):
    BINDINGS = [Binding("enter", "yes", "Yes", priority=True), Binding("escape", "no", "No")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question, classes="question")
            yield Label("Enter = yes    Esc = no", classes="hint")

    def action_yes(self) -> None:
        self.dismiss(True)

    def action_no(self) -> None:
        self.dismiss(False)


class Tender(ModalScreen[tuple[str, int] | None]):
    """How the customer pays; cash asks what was handed over and shows the change."""

    BINDINGS = [Binding("f1", "pay('card')", "Card", priority=True),
                Binding("f2", "pay('other')", "Other", priority=True),
                Binding("escape", "back", "Back to sale")]

    def __init__(self, total: int) -> None:
        super().__init__()
        self.total = total

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Total due: {money(self.total)}", classes="question")
            yield Label("Cash received (Enter alone = exact):")
            yield Input(placeholder=money(self.total), id="cash")
            yield Label("", id="change")
            yield Label("Enter = cash    F1 = card    F2 = other    Esc = back", classes="hint")

    def on_input_changed(self, ev: Input.Changed) -> None:
        got = self._cash(ev.value)
        label = self.query_one("#change", Label)
        if got is None:
            label.update("Type an amount like 20 or 20.00." if ev.value.strip() else "")
        elif got < self.total:
            label.update(f"That is {money(self.total - got)} short.")
        else:
            label.update(f"Change due: {money(got - self.total)}")

    @staticmethod
    def _cash(text: str) -> int | None:
        text = text.strip().replace(",", ".")
        if not text:
            return None
        try:
            whole, _, frac = text.partition(".")
            if len(frac) > 2 or (whole and not whole.isdigit()) or (frac and not frac.isdigit()):
                return None
            return int(whole or 0) * 100 + int((frac + "00")[:2])
        except ValueError:
            return None

    def on_input_submitted(self, ev: Input.Submitted) -> None:
        ev.stop()
        got = self._cash(ev.value) if ev.value.strip() else self.total
        if got is None or got < self.total:
            self.query_one("#change", Label).update(
                f"Cash must cover {money(self.total)}; that is not enough." if got is not None
                else "Type an amount like 20 or 20.00.")
            return
        self.dismiss(("cash", got))

    def action_pay(self, tender: str) -> None:
        self.dismiss((tender, self.total))

    def action_back(self) -> None:
        self.dismiss(None)


class Receipt(ModalScreen[None]):
    BINDINGS = [Binding("enter", "close", "Next customer", priority=True), Binding("escape", "close", "Close")]

    def __init__(self, text: str, saved_to: str) -> None:
        super().__init__()
        self.text = text
        self.saved_to = saved_to

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog receipt"):
            yield Static(self.text, id="receipt-text")
            yield Label(f"Saved to {self.saved_to}. Enter = next customer", classes="hint")

    def action_close(self) -> None:
        self.dismiss(None)


class Recall(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "back", "Back")]

    def __init__(self, parked: list[dict]) -> None:
        super().__init__()
        self.parked = parked

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Parked sales (Enter = recall, Esc = back)", classes="question")
            yield OptionList(*[
                Option(f"{local_time(p['parked_at'], '%H:%M')}  {p['terminal']} {p['clerk']}  "
                       f"{sum(ln.qty for ln in p['lines'])} items  "
                       f"{money(sum(ln.qty * ln.unit_price for ln in p['lines']))}", id=p["park_id"])
                for p in self.parked])

    def on_option_list_option_selected(self, ev: OptionList.OptionSelected) -> None:
        self.dismiss(ev.option.id)

    def action_back(self) -> None:
        self.dismiss(None)


class PutAside(ModalScreen[tuple[int, int, str] | None]):
    """Units put aside for a customer: how many, for how long, for whom."""

    BINDINGS = [Binding("escape", "back", "Back")]

    def __init__(self, name: str, free: int) -> None:
        super().__init__()
        self.item_name = name
        self.free = free

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Put aside {self.item_name} ({self.free} free to hold)", classes="question")
            yield Label("Units:")
            yield Input("1", id="qty")
            yield Label("Minutes:")
            yield Input("120", id="minutes")
            yield Label("Customer:")
            yield Input(placeholder="name or phone", id="customer")
            yield Label("", id="problem")
            yield Label("Enter = next / put aside    Esc = back", classes="hint")

    def on_input_submitted(self, ev: Input.Submitted) -> None:
        ev.stop()
        if ev.input.id != "customer":
            self.focus_next()
            return
        qty, minutes = self.query_one("#qty", Input).value.strip(), self.query_one("#minutes", Input).value.strip()
        if not qty.isdigit() or int(qty) < 1 or not minutes.isdigit() or int(minutes) < 1:
            self.query_one("#problem", Label).update("Units and minutes must be whole numbers of at least 1.")
            return
        self.dismiss((int(qty), int(minutes), self.query_one("#customer", Input).value.strip()))

    def action_back(self) -> None:
        self.dismiss(None)


class StockMenu(ModalScreen[str | None]):
    """The stock operations, each on its own key (also usable straight from the sale screen)."""

    CHOICES = (("f3", "return", "Return", "Return"), ("f4", "receive", "Receive", "Receive a delivery"),
               ("f5", "count", "Count", "Count a shelf"),
               ("f6", "write_off", "Write off", "Write off (damaged, expired, lost)"),
               ("f7", "move", "Move", "Move between bins"))
    BINDINGS = [*(Binding(key, f"pick('{kind}')", short, priority=True) for key, kind, short, _ in CHOICES),
                Binding("escape", "pick('')", "Back")]

    def compose(self) -> ComposeResult:
        from textual.widgets import Footer

        with Vertical(classes="dialog"):
            yield Label("Stock", classes="question")
            for key, _, _, label in self.CHOICES:
                yield Label(f"{key.upper():>4}  {label}")
            yield Label("Esc = back to the sale", classes="hint")
        yield Footer(compact=True, show_command_palette=False)

    def action_pick(self, kind: str) -> None:
        self.dismiss(kind or None)
