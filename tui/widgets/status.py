"""The status bar: online or offline, how long ago the last sync was, entries waiting, who and where, the clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from textual import work
from textual.widgets import Static

from node.present import age
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
        self._painted = ""
        self.since = clock()  # how long "connecting" has lasted, for a store that never synced

    def on_mount(self) -> None:
        self.poll()
        self.set_interval(1.0, self.paint)  # repaints only when the text changes: the clock shows minutes
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
        if not self.state:
            return  # nothing read yet: an empty state would read as "no hub"
        link, sync, alarm = self.describe(self.state)
        self.set_class(alarm, "-offline")
        text = (f"{link} · {sync} │ {self.state.get('store_id') or '?'} │ "
                f"{self.terminal} {self.clerk} │ {self.clock().astimezone().strftime('%H:%M')}")
        if text != self._painted:  # a poll that changed nothing repaints nothing
            self._painted = text
            self.update(text, layout=False)  # one line, always: laying the screen out again is a scan's frame

    def describe(self, st: dict) -> tuple[str, str, bool]:
        """(link, sync figures, whether it is an alarm): red only for what a clerk must act on."""
        now = self.clock()
        last, waiting, online = st.get("last_sync_at"), st.get("waiting", 0), st.get("online")
        stopped = st.get("sync_stopped")
        if st.get("hub") is None:
            return "NO HUB", "standalone", False
        figures = f"synced {age(last, now)} · {waiting} waiting"
        if stopped == "behind_hub":
            # the clerk's words for an old copy of the node file: ops know what to do with the numbers
            return f"RESTORED BEHIND THE HUB (seq {st.get('last_seq')}, hub {st.get('hub_seq') or '?'})", figures, True
        if stopped == "diverged":
            return "SYNC STOPPED: DIVERGED FROM THE HUB", figures, True
        if stopped:
            return f"SYNC STOPPED ({stopped})", figures, True
        if online is False:
            return "OFFLINE", figures, True
        if last is None:
            # A store just set up is catching up, not failing; unless nobody answers for long.
            if (now - self.since).total_seconds() > STALE_S:
                return "NOT SYNCING", f"never synced · {waiting} waiting", True
            return ("ONLINE" if online else "CONNECTING"), f"first sync · {waiting} to send", False
        if (now - datetime.fromisoformat(last)).total_seconds() > STALE_S:
            return "NOT SYNCING", figures, True  # nobody is running the sync runner, or it is stuck
        return "ONLINE", figures, False
