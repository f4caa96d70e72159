"""The clerk's terminal: a Textual app over one store node.

Three connections to the node file, each kept to one side of the screen:
`till` reads on the UI thread (a scan: what is this, how much quota is
left), `reader` reads in thread workers (name searches, "check in the back",
sync state), and `writer` writes, one at a time, on its own thread. Under
WAL a reader never waits for the write lock, so however long another
terminal or the sync runner holds it, the screen answers at once. Nothing
here touches the network: the sync runner does that, in the background.
"""

from __future__ import annotations

import gc
from datetime import datetime
from pathlib import Path

from textual.app import App
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from node.service import Clock, Node
from sync.kinds import utcnow
from tui import keys
from tui.screens.dialogs import QuitSale
from tui.screens.forms import OperationForm
from tui.screens.lookup import LookupScreen
from tui.screens.menus import Help, StockMenu
from tui.screens.orders import HandOverScreen
from tui.screens.sale import SaleScreen
from tui.widgets.status import StatusBar
from tui.writer import Writer

SAVING = "  · saving…"  # on the title line while a write takes longer than a frame
_MAIN_SCREEN_ONLY = {"lookup", "stock_menu", "help", "back"}  # not from inside a dialog


class BackroomApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "Backroom"
    ENABLE_COMMAND_PALETTE = False  # keyboard-only tills: every action is on a key in the footer
    BINDINGS = keys.QUIT.bindings()

    def __init__(self, node_path: str | Path, *, terminal: str = "T1", clerk: str = "clerk",
                 clock: Clock = utcnow, receipts_dir: str | Path | None = None) -> None:
        super().__init__()
        self.node = Node(node_path, terminal=terminal, clerk=clerk, clock=clock)  # the writer's
        self.till = Node(node_path, terminal=terminal, clerk=clerk, clock=clock)
        self.reader = Node(node_path, terminal=terminal, clerk=clerk, clock=clock)
        self.store_name = f"{self.till.store_id} {self.till.meta().get('store_name', '')}".strip()
        self.receipts_dir = Path(receipts_dir or Path(node_path).resolve().parent / "receipts")
        self.receipts_dir.mkdir(parents=True, exist_ok=True)
        self.scan_latencies: list[float] = []  # ms from a scan's Enter to its line on screen
        self.started_at = datetime.now()

    def make_status_bar(self) -> StatusBar:
        return StatusBar(self.reader, self.node.terminal, self.node.clerk, clock=self.node.clock)

    def on_mount(self) -> None:
        self.writer = Writer(self, self.node)
        self.writer.on_saving = self._show_saving
        self.sale = SaleScreen()
        self.push_screen(self.sale)
        self.set_interval(5.0, self.expire_holds)
        # Everything built at start lives as long as the app: keep it out of the collector's
        # full passes, which otherwise land on a scan now and then as a 100 ms pause.
        self.call_after_refresh(gc.freeze)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # A dialog answers its own few keys; the screens' doors stay shut until it is closed.
        if action in _MAIN_SCREEN_ONLY and isinstance(self.screen, ModalScreen):
            return False
        return True

    def _show_saving(self, saving: bool) -> None:
        for screen in self.screen_stack:
            for title in screen.query("#title").results(Label):
                was = str(title.content)
                text = was.removesuffix(SAVING) + (SAVING if saving else "")
                if text != was:  # most writes end before "saving…" shows: then the title is left alone
                    title.update(text, layout=False)

    def expire_holds(self) -> None:
        # another terminal may expire them first, or hold the lock: try again next time
        self.writer.submit(lambda node: node.expire_holds(), failed=lambda err: self.log.warning(str(err)))

    # -- the doors, the same from every screen ---------------------------------------

    def action_help(self) -> None:
        self.push_screen(Help(), lambda _: self._refocus())

    def on_input_changed(self, ev: Input.Changed) -> None:
        if ev.value == "?":  # typed alone in an empty field: no scan or name is just "?"
            ev.input.value = ""
            self.action_help()

    def action_lookup(self) -> None:
        if isinstance(self.screen, LookupScreen):
            return
        self.push_screen(LookupScreen())

    def action_form(self, kind: str) -> None:
        if isinstance(self.screen, (OperationForm, HandOverScreen)):
            self.pop_screen()
        self.push_screen(HandOverScreen() if kind == "hand_over" else OperationForm(kind))

    def action_stock_menu(self) -> None:
        self.push_screen(StockMenu(), lambda kind: self.action_form(kind) if kind else self._refocus())

    def action_back(self) -> None:
        if self.screen is not self.sale:
            self.pop_screen()

    def _refocus(self) -> None:
        focus = getattr(self.screen, "focus_scan", None)
        if focus is not None:
            focus()

    def sell_hold(self, hold: dict, name: str, price: int) -> None:
        self.pop_screen()
        self.sale.add_held(hold, name, price)

    # -- closing ------------------------------------------------------------------------

    async def action_quit(self) -> None:
        sale = self.sale
        if not sale.cart:
            self.exit()
            return
        if isinstance(self.screen, QuitSale):
            return

        def chosen(what: str | None) -> None:
            if what == "park":
                sale.action_park(then=self.exit)
            elif what == "void":
                sale.void_sale(then=self.exit)
            else:
                self._refocus()
        while self.screen is not sale:  # the question is about the sale: ask it there
            self.pop_screen()
        self.push_screen(QuitSale(len(sale.cart), sale.total), chosen)

    def on_unmount(self) -> None:
        self.writer.close()  # what was asked is written before the node file is closed
        for node in (self.node, self.till, self.reader):
            node.close()
