"""The status bar: online or offline, last sync, entries waiting, who and where, the clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from textual import work
from textual.widgets import Static

from node.present import local_time
from node.runner import status


STALE_S = 120  # the runner pulls every few seconds: a last sync older than this means it is not running


class StatusBar(Static):
    """Reads sync state from the node file in a worker: the runner (another thread or process) writes it."""

    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; color: $text; padding: 0 1; }
    StatusBar.-offline { background: $error 60%; }
    """

    def __init__(self, reader, terminal: str, clerk: str, *,  # noqa: ANN001
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC), **kw) -> None:
        super().__init__("", **kw)
        self.reader = reader
        self.clock = clock  # the app's clock: a test that fixes it gets a fixed status bar
        self.terminal = terminal
        self.clerk = clerk
        self.state: dict = {}

    def on_mount(self) -> None:
        self.poll()
        self.set_interval(1.0, self.paint)
        self.set_interval(1.0, self.poll)

    @work(thread=True, exclusive=True, group="status", exit_on_error=False)
    def poll(self) -> None:
        st = status(self.reader)
        self.app.call_from_thread(self._got, st)

    def _got(self, st: dict) -> None:
        self.state = st
        self.paint()

    @property
    def online(self) -> bool | None:
        return self.state.get("online")

    def paint(self) -> None:
        st = self.state
        last = st.get("last_sync_at")
        stale = last is not None and (self.clock() - datetime.fromisoformat(last)).total_seconds() > STALE_S
        stopped = st.get("sync_stopped")
        if st.get("hub") is None:
            link = "NO HUB"
        elif stopped == "behind_hub":
            # the clerk's words for an old copy of the node file: ops know what to do with the numbers
            link = f"RESTORED BEHIND THE HUB (seq {st.get('last_seq')}, hub {st.get('hub_seq') or '?'})"
        elif stopped == "diverged":
            link = "SYNC STOPPED: DIVERGED FROM THE HUB"
        elif stopped:
            link = f"SYNC STOPPED ({stopped})"
        elif stale:
            link = "NOT SYNCING"  # nobody is running the sync runner, or it is stuck
        elif st.get("online"):
            link = "ONLINE"
        else:
            link = "OFFLINE"
        self.set_class(st.get("hub") is not None and (stale or not st.get("online") or bool(stopped)), "-offline")
        synced = local_time(st.get("last_sync_at"), "%H:%M") or "never"
        sync = "standalone" if st.get("hub") is None else f"synced {synced} · {st.get('waiting', 0)} waiting"
        self.update(
            f"{link} · {sync} │ {st.get('store_id') or '?'} │ "
            f"{self.terminal} {self.clerk} │ {self.clock().astimezone().strftime('%H:%M:%S')}"
        )
