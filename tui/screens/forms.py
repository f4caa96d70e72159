"""Short keyboard-only forms: returns, receiving, counts, write-offs, moves.

Each is one `OperationForm` with its fields and the node call it makes:
Enter moves to the next field and, on the last one, records the operation.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.suggester import SuggestFromList
from textual.widgets import Footer, Input, Label

from node.bounds import read_whole
from node.errors import BadInput, ConfirmFound, StoreError
from node.rules import BACK, BINS, FLOOR, WRITE_OFFS, Kind
from tui import keys
from tui.screens.dialogs import Confirm


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    default: str = ""
    choices: tuple[str, ...] = ()  # typed, with suggestions; anything else is refused
    number: bool = False
    optional: bool = False


@dataclass(frozen=True)
class FormSpec:
    title: str
    fields: tuple[Field, ...]
    record: Callable[..., str]  # (node, op_id, **values) -> what happened, in a sentence


def _units(node, code: str, qty: int) -> tuple[str, int, str]:  # noqa: ANN001
    item = node.resolve(code)
    return item.sku, item.units * qty, item.name


def _return(node, op_id, code, qty, receipt, resellable):  # noqa: ANN001, ANN201
    sku, units, name = _units(node, code, qty)
    r = node.return_items(op_id, sku, units, resellable=resellable == "yes", receipt=receipt or None)
    return f"Returned {units} of {name}; refund {r['refund'] / 100:.2f}."


def _receive(node, op_id, code, qty, bin, delivery):  # noqa: ANN001, ANN201
    sku, units, name = _units(node, code, qty)
    node.receive(op_id, sku, units, bin_=bin, delivery=delivery or None)
    return f"Received {units} of {name} into {bin}."


def _count(node, op_id, code, bin, counted, confirm_found=False):  # noqa: ANN001, ANN201
    sku, _, name = _units(node, code, 1)
    book = node.balance(sku).bins.get(bin, 0)
    node.count(op_id, sku, bin, counted, confirm_found=confirm_found)
    return f"Counted {counted} of {name} in {bin}; the book said {book}."


def _write_off(node, op_id, code, qty, kind, bin, reason):  # noqa: ANN001, ANN201
    sku, units, name = _units(node, code, qty)
    r = node.write_off(op_id, kind, sku, units, bin_=bin, reason=reason)
    over = f" {r['over_quota']} beyond quota, for the hub to settle." if r["over_quota"] else ""
    return f"Wrote off {units} of {name} as {kind}.{over}"


def _move(node, op_id, code, qty, from_bin, to_bin):  # noqa: ANN001, ANN201
    sku, units, name = _units(node, code, qty)
    node.move(op_id, sku, units, from_bin=from_bin, to_bin=to_bin)
    return f"Moved {units} of {name} from {from_bin} to {to_bin}."


ITEM = Field("code", "Item (scan or SKU)")
QTY = Field("qty", "Units", "1", number=True)
FORMS: dict[str, FormSpec] = {
    "return": FormSpec("Return", (ITEM, QTY, Field("receipt", "Receipt (blank if none)", optional=True),
                                  Field("resellable", "Resellable?", "yes", ("yes", "no"))), _return),
    "receive": FormSpec("Receive a delivery", (ITEM, QTY, Field("bin", "Into bin", BACK, BINS),
                                               Field("delivery", "Delivery note", optional=True)), _receive),
    "count": FormSpec("Count a shelf", (ITEM, Field("bin", "Bin", FLOOR, BINS),
                                        Field("counted", "Counted units", number=True)), _count),
    "write_off": FormSpec("Write off", (ITEM, QTY, Field("kind", "Why", str(Kind.DAMAGED), WRITE_OFFS),
                                        Field("bin", "From bin", FLOOR, BINS),
                                        Field("reason", "Note", optional=True)), _write_off),
    "move": FormSpec("Move between bins", (ITEM, QTY, Field("from_bin", "From", BACK, BINS),
                                           Field("to_bin", "To", FLOOR, BINS)), _move),
}


class OperationForm(Screen):
    """One stock operation. It is written on the app's writer thread; the form waits for the answer
    (the clerk sees "saving…" if that takes a while) and then is ready for the next one."""

    BINDINGS = keys.screen_bindings(keys.EVERYWHERE, (keys.RECORD, keys.BACK))

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.spec = FORMS[kind]
        self.op_id = uuid.uuid4().hex

    def compose(self) -> ComposeResult:
        yield Label(self.spec.title, id="title")
        with Vertical(id="form"):
            for f in self.spec.fields:
                hint = f" ({'/'.join(f.choices)})" if f.choices else ""
                yield Label(f.label + hint)
                yield Input(f.default, id=f"f-{f.name}",
                            suggester=SuggestFromList(f.choices, case_sensitive=False) if f.choices else None)
        yield Label("", id="message")
        yield self.app.make_status_bar()
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.saving = False
        self.focus_scan()

    def focus_scan(self) -> None:
        """The item field is this form's scan field: after anything is done or refused, the next scan goes there."""
        self.query_one(f"#f-{self.spec.fields[0].name}", Input).focus()

    def on_screen_resume(self) -> None:
        self.focus_scan()

    def say(self, text: str, *, error: bool = False) -> None:
        m = self.query_one("#message", Label)
        m.update(text)
        m.set_class(error, "-error")
        if error:
            self.app.bell()
            self.focus_scan()

    def on_input_submitted(self, ev: Input.Submitted) -> None:
        ev.stop()
        if ev.input.id == f"f-{self.spec.fields[-1].name}":
            self.action_submit()
        else:
            self.focus_next()

    def values(self) -> dict:
        limits = self.app.till.limits
        out = {}
        for f in self.spec.fields:
            raw = self.query_one(f"#f-{f.name}", Input).value.strip()
            if not raw and not f.optional:
                raise BadInput(f"{f.label} is needed.")
            if f.choices and raw.lower() not in f.choices:
                raise BadInput(f"{f.label} must be one of {', '.join(f.choices)}, not '{raw}'.")
            if f.number:
                counted = f.name == "counted"
                out[f.name] = read_whole(raw, f.label, least=0 if counted else 1,
                                         most=limits.max_counted if counted else limits.max_line_qty)
            else:
                out[f.name] = raw.lower() if f.choices else raw
        return out

    def action_submit(self, confirm_found: bool = False) -> None:
        if self.saving:
            return
        try:
            values = self.values()
        except StoreError as err:
            self.say(str(err), error=True)
            return
        if confirm_found:
            values["confirm_found"] = True
        self.saving = True
        self.app.writer.submit(self.spec.record, self.op_id, **values, done=self._recorded, failed=self._refused)

    def _refused(self, err: StoreError) -> None:
        self.saving = False
        if isinstance(err, ConfirmFound):
            # far more found than the book had: the clerk says yes (Enter) or no (Esc)
            self.app.push_screen(Confirm(str(err).replace(" (at the command line: --confirm-found)", "")),
                                 lambda ok: self.action_submit(confirm_found=True) if ok else self.say(
                                     "Not recorded: check the count.", error=True))
            return
        self.say(str(err), error=True)

    def _recorded(self, said: str) -> None:
        self.saving = False
        self.say(said)
        self.op_id = uuid.uuid4().hex  # the next one is a new operation
        for f in self.spec.fields:
            if f.name in ("code", "qty", "counted", "receipt", "reason", "delivery"):
                self.query_one(f"#f-{f.name}", Input).value = f.default
        self.focus_scan()
