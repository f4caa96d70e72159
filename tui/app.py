"""The clerk's terminal: a Textual app over one store node.

Writes go through `self.node` on the UI thread (each is one local SQLite
transaction, well under a millisecond); name searches, "check in the back"
lookups and sync state run in thread workers over `self.reader`, a second
connection, so the screen never waits on them. Nothing here touches the
network: the sync runner does that, in the background.
"""

from __future__ import annotations

import gc
from datetime import datetime
from pathlib import Path

from textual.app import App
from textual.binding import Binding

from node.errors import StoreError
from node.service import Clock, Node
from sync.kinds import utcnow
from tui.screens.dialogs import StockMenu
from tui.screens.forms import OperationForm
from tui.screens.lookup import LookupScreen
from tui.screens.sale import SaleScreen
from tui.widgets.status import StatusBar


class BackroomApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "Backroom"
    ENABLE_COMMAND_PALETTE = False  # keyboard-only tills: every action is on a key in the footer
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", priority=True)]

    def __init__(self, node_path: str | Path, *, terminal: str = "T1", clerk: str = "clerk",
                 clock: Clock = utcnow, receipts_dir: str | Path | None = None) -> None:
        super().__init__()
        self.node = Node(node_path, terminal=terminal, clerk=clerk, clock=clock)
        self.reader = Node(node_path, terminal=terminal, clerk=clerk, clock=clock)
        self.store_name = f"{self.node.store_id} {self.node.meta().get('store_name', '')}".strip()
        self.receipts_dir = Path(receipts_dir or Path(node_path).resolve().parent / "receipts")
        self.receipts_dir.mkdir(parents=True, exist_ok=True)
        self.scan_latencies: list[float] = []  # ms from a scan's Enter to its line on screen
        self.started_at = datetime.now()

    def make_status_bar(self) -> StatusBar:
        return StatusBar(self.reader, self.node.terminal, self.node.clerk, clock=self.node.clock)

    def on_mount(self) -> None:
        self.sale = SaleScreen()
        self.push_screen(self.sale)
        self.set_interval(5.0, self.expire_holds)
        # Everything built at start lives as long as the app: keep it out of the collector's
        # full passes, which otherwise land on a scan now and then as a 100 ms pause.
        self.call_after_refresh(gc.freeze)

    def expire_holds(self) -> None:
        try:
            self.node.expire_holds()
        except StoreError as err:  # another terminal closed it first: try again next time
            self.log.warning(str(err))

    def action_lookup(self) -> None:
        self.push_screen(LookupScreen())

    def action_form(self, kind: str) -> None:
        self.push_screen(OperationForm(kind))

    def action_stock_menu(self) -> None:
        self.push_screen(StockMenu(), lambda kind: self.action_form(kind) if kind else None)

    def sell_hold(self, hold: dict, name: str, price: int) -> None:
        self.pop_screen()
        self.sale.add_held(hold, name, price)

    def on_unmount(self) -> None:
        self.node.close()
        self.reader.close()
