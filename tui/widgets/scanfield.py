"""The sale screen's scan field: an Input made cheap for the 13 to 40 keys a scanner types at once.

A scan was timed key by key (bench/tui_scan.py), and each of these cost
the clerk part of a frame:

- Input's virtual width follows its text, and a virtual size is a layout
  reactive: every character laid the whole screen out. The field's size is
  the stylesheet's, and a scan fits in it.
- Each character went through Input's insert, its cursor and selection
  watchers, a Changed message bubbling up two levels. Characters typed at
  the end of the field are gathered and inserted once, when the field's
  queue has caught up (before any other key, a paste or a click is
  handled), and Changed is posted only for what is read from it: "?" typed
  alone opens help.
- Painting the field after the first character cost a frame, and then the
  wait for the next frame, before the line could show. The screen is held
  from a typing run's first key until the sale screen has handled its
  Enter, or for HOLD_S at most: a person typing still sees each character
  within 35 ms.
- A blinking cursor is a frame every half second, landing on scans now and then.
"""

from __future__ import annotations

from textual import events
from textual.geometry import Size
from textual.message import Message
from textual.reactive import Reactive
from textual.timer import Timer
from textual.widgets import Input


class ScanField(Input):
    HOLD_S = 0.035
    virtual_size = Reactive(Size(0, 0), layout=False)
    _hold: Timer | None = None

    def __init__(self, *args, **kw) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kw)
        self.cursor_blink = False
        self._typed = ""  # characters typed at the end, not yet in the value

    def _on_key(self, event: events.Key) -> None:
        # Runs before Input's own key handler (Textual dispatches along the MRO); bindings (Enter,
        # Backspace, the arrows) run after both, once the key has bubbled to the app.
        if not event.is_printable:
            self.catch_up()
            return
        if self._hold is None:
            self.app._begin_batch()  # what App.delay_update does, ended by the scan instead of by a timer
            self._hold = self.set_timer(self.HOLD_S, lambda: self.let_paint(prompt=True))
        if self.selection.is_empty and self.cursor_position == len(self.value):
            if not self._typed:
                self.call_later(self.catch_up)  # after the keys already in this field's queue
            self._typed += event.character or ""
            event.stop()
            event.prevent_default()  # Input's handler would insert it again
        else:
            self.catch_up()

    def catch_up(self) -> None:
        """Put the gathered characters into the value: one insert for a whole scan."""
        if self._typed:
            typed, self._typed = self._typed, ""
            self.insert_text_at_cursor(typed)

    def _on_paste(self, event: events.Paste) -> None:
        self.catch_up()

    def _on_click(self, event: events.Click) -> None:
        self.catch_up()

    def let_paint(self, *, prompt: bool = False) -> None:
        """End the hold. After an Enter the widgets' updates are on their way to the screen and wake it;
        after the timer (a person typing) or a dialog opening nothing else may: `prompt` wakes it."""
        if self._hold is not None:
            self._hold.stop()
            self._hold = None
            self.app._end_batch()
            if prompt:
                # Not after an Enter: woken now, the screen would paint before the line's update reached it.
                self.app.screen.check_idle()

    def _on_unmount(self) -> None:
        self.let_paint(prompt=True)

    def post_message(self, message: Message) -> bool:
        if isinstance(message, Input.Changed) and len(message.value) > 1:
            return True
        return super().post_message(message)
