"""Check in the back: floor and back, holds, this store's quota, the rest of the chain and how old that is."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Label, Static
from textual.worker import get_current_worker

from node.errors import BadBarcode, StoreError
from node.present import age, countdown, money
from tui import keys
from tui.screens.menus import PutAside

SEARCH_PAUSE_S = 0.15  # wait for the clerk to stop typing before searching


def _looks_scanned(text: str) -> bool:
    """Digits, a GS1 string ("(01)...", a symbology prefix "]C1...", a Digital Link) or a SKU, not a name."""
    return (text[:1].isdigit() or text[:1] in ("(", "]") or text.upper().startswith("SKU")
            or text.lower().startswith(("http://", "https://")))


class LookupScreen(Screen):
    BINDINGS = [*keys.screen_bindings((keys.HELP, keys.STOCK, keys.QUIT), keys.LOOKUP_KEYS, (keys.BACK,)),
                Binding("down", "focus_results", "Results", show=False)]

    def __init__(self, query: str = "") -> None:
        super().__init__()
        self.initial = query
        self.current: dict | None = None

    def compose(self) -> ComposeResult:
        yield Label("Check in the back · scan, or type a name", id="title")
        yield Input(self.initial, placeholder="Scan, SKU, or the start of a name", id="query")
        yield DataTable(id="results", cursor_type="row")
        yield Static("", id="detail")
        yield DataTable(id="holds", cursor_type="row")
        yield Label("", id="message")
        yield self.app.make_status_bar()
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        # fixed widths: see SaleScreen.on_mount
        results, holds = self.query_one("#results", DataTable), self.query_one("#holds", DataTable)
        for label, width in (("SKU", 10), ("Item", 36), ("Floor", 5), ("Back", 5), ("Quota", 6)):
            results.add_column(label, width=width)
        for label, width in (("Hold", 10), ("Units", 5), ("Customer", 20), ("Left", 8)):
            holds.add_column(label, width=width)
        self.focus_scan()
        self.set_interval(1.0, self._tick)
        if self.initial:
            self.find(self.initial)

    def focus_scan(self) -> None:
        self.query_one("#query", Input).focus()

    def on_screen_resume(self) -> None:
        self.focus_scan()

    def say(self, text: str, *, error: bool = False) -> None:
        m = self.query_one("#message", Label)
        m.update(text)
        m.set_class(error, "-error")
        if error:
            self.focus_scan()

    # -- finding ----------------------------------------------------------------

    def on_input_changed(self, ev: Input.Changed) -> None:
        text = ev.value.strip()
        if len(text) >= 2 and not _looks_scanned(text):  # codes wait for Enter
            self.find(text, pause=True)

    def on_input_submitted(self, ev: Input.Submitted) -> None:
        if ev.value.strip():
            self.find(ev.value.strip())

    @work(thread=True, exclusive=True, group="find", exit_on_error=False)
    def find(self, text: str, pause: bool = False) -> None:
        if pause:
            time.sleep(SEARCH_PAUSE_S)  # a newer keystroke cancels this worker (exclusive)
            if get_current_worker().is_cancelled:  # a thread is not interrupted: look, and stop
                return
        reader = self.app.reader
        try:
            if _looks_scanned(text):  # a scan or a typed SKU: that one item
                try:
                    found = reader.lookup(text)
                except BadBarcode:
                    if text.isdigit():
                        raise
                    found = None  # "7up": a name that starts like a code
                if found is not None:
                    self.app.call_from_thread(self._show, found)
                    return
            rows = reader.search(text, limit=30)
        except StoreError as err:
            self.app.call_from_thread(self.say, str(err), error=True)
            return
        if not get_current_worker().is_cancelled:  # never paint an older search over a newer one
            self.app.call_from_thread(self._results, rows, text)

    def _results(self, rows: list[dict], text: str) -> None:
        t = self.query_one("#results", DataTable)
        t.clear()
        for r in rows:
            t.add_row(r["sku"], r["name"][:36], str(r["floor"]), str(r["back"]), str(r["quota"]), key=r["sku"])
        self.say(f"{len(rows)} items match '{text}'." if rows else f"Nothing matches '{text}'.")

    def action_focus_results(self) -> None:
        self.query_one("#results", DataTable).focus()

    def on_data_table_row_selected(self, ev: DataTable.RowSelected) -> None:
        if ev.data_table.id == "results":
            self.load(str(ev.row_key.value))

    @work(thread=True, exclusive=True, group="detail", exit_on_error=False)
    def load(self, sku: str, keep_message: bool = False) -> None:
        try:
            found = self.app.reader.lookup(sku)
        except StoreError as err:
            self.app.call_from_thread(self.say, str(err), error=True)
            return
        self.app.call_from_thread(self._show, found, keep_message)

    # -- showing ------------------------------------------------------------------

    def _show(self, d: dict, keep_message: bool = False) -> None:
        self.current = d
        lines = [
            f"[b]{d['name']}[/b]  {d['sku']}  {money(d['price'])}",
            f"Floor {d['floor']}   Back {d['back']}   On hand {d['on_hand']}   "
            f"Quota {d['quota']}   Held {d['held']}",
        ]
        if d["chain"]:
            parts = [f"{c['location']} {c['on_hand']} ({age(c['as_of'])})" for c in d["chain"]]
            lines.append("Elsewhere: " + "  ".join(parts))
        else:
            lines.append("Elsewhere: no picture from the hub yet.")
        if d["incoming"]:
            lines.append("Incoming: " + "  ".join(f"{i['qty']} from {i['from_location']}" for i in d["incoming"]))
        self.query_one("#detail", Static).update("\n".join(lines))
        t = self.query_one("#holds", DataTable)
        t.clear()
        for h in d["holds"]:
            t.add_row(h["hold_id"][:10], str(h["qty"]), h["customer"][:20], countdown(h["expires_at"]),
                      key=h["hold_id"])
        if not keep_message:  # a refresh after a hold keeps saying what was just done
            self.say("F5 puts units aside for a customer; F6 releases the selected hold; F7 sells it.")

    def _tick(self) -> None:
        if self.current and self.current["holds"]:
            t = self.query_one("#holds", DataTable)
            for h in self.current["holds"]:
                try:
                    t.update_cell(h["hold_id"], t.ordered_columns[3].key, countdown(h["expires_at"]))
                except Exception:  # noqa: BLE001 - the row went away with a refresh
                    pass

    def refresh_current(self) -> None:
        if self.current:
            self.load(self.current["sku"], keep_message=True)

    # -- holds ------------------------------------------------------------------------

    def action_put_aside(self) -> None:
        d = self.current
        if d is None:
            self.say("Look an item up first.", error=True)
            return

        def chosen(v: tuple[int, int, str] | None) -> None:
            if v is None:
                return
            qty, minutes, customer = v

            def held(r: dict) -> None:
                self.say(f"Put aside {qty} of {d['name']} for {minutes} min: hold {r['hold_id']}.")
                self.refresh_current()
            self.app.writer.submit(lambda node: node.hold(uuid.uuid4().hex[:12], d["sku"], qty,
                                                          ttl=timedelta(minutes=minutes), customer=customer),
                                   done=held, failed=lambda err: self.say(str(err), error=True))
        self.app.push_screen(PutAside(d["name"], d["quota"], self.app.till.limits.max_line_qty), chosen)

    def _selected_hold(self) -> dict | None:
        if not self.current or not self.current["holds"]:
            self.say("This item has no holds.", error=True)
            return None
        t = self.query_one("#holds", DataTable)
        return self.current["holds"][max(0, min(t.cursor_row, len(self.current["holds"]) - 1))]

    def action_release(self) -> None:
        h = self._selected_hold()
        if h is None:
            return
        def released(_: object) -> None:
            self.say(f"Released hold {h['hold_id']}: {h['qty']} back on sale.")
            self.refresh_current()
        self.app.writer.submit(lambda node: node.release_hold(uuid.uuid4().hex, h["hold_id"]),
                               done=released, failed=lambda err: self.say(str(err), error=True))

    def action_sell_hold(self) -> None:
        h = self._selected_hold()
        if h is None or self.current is None:
            return
        # the lookup's hold rows do not repeat the SKU: the sale line needs it
        self.app.sell_hold({**h, "sku": self.current["sku"]}, self.current["name"], self.current["price"])
