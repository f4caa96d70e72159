"""Every write the terminal makes, off the UI thread, one at a time, in the order asked.

The node file has one write lock, shared with the other terminals and the
sync runner. A write on the UI thread would freeze the till for as long as
another holder keeps that lock (up to the node's busy timeout). Here each
write runs in one background thread, in order (a sale before the next
autosave of the cart), and its outcome comes back to the UI thread; if it
takes longer than a frame the screen says "saving…" until it is done.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from textual.app import App

from node.errors import StoreError
from node.service import Node

SAVING_AFTER_S = 0.05  # about three frames: a write that takes longer is visible as "saving…"


class Writer:
    def __init__(self, app: App, node: Node) -> None:
        self.app = app
        self._loop = asyncio.get_running_loop()  # made on the UI thread, in the app's loop
        self.node = node  # used from the writer's thread only
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="node-writer")
        self.pending = 0
        self.on_saving: Callable[[bool], None] = lambda saving: None

    def submit(self, write: Callable[..., Any], *args: Any,
               done: Callable[[Any], None] | None = None,
               failed: Callable[[StoreError], None] | None = None, **kw: Any) -> Future:
        """Run `write(node, *args, **kw)` in the writer's thread; `done(result)` or `failed(err)` on the UI thread.

        A StoreError is the node refusing (a bad quantity, a closed hold, a busy
        file): it goes to `failed`. Anything else is a bug and is raised in the
        app like any other.
        """
        context = contextvars.copy_context()  # Textual's: the answer runs as if on the UI thread
        self.pending += 1
        if self.pending == 1:
            self.app.set_timer(SAVING_AFTER_S, self._maybe_saving)

        def run() -> Any:
            try:
                result = write(self.node, *args, **kw)
            except StoreError as err:
                self._back(context, self._finish, failed, err)
                return None
            except BaseException as exc:  # noqa: BLE001 - shown by the app, not lost in a thread
                self._back(context, self._crash, exc)
                raise
            self._back(context, self._finish, done, result)
            return result

        return self._pool.submit(run)

    def _back(self, context: contextvars.Context, fn: Callable, *args: Any) -> None:
        # Not call_from_thread, which waits for the UI thread: closing the app waits for this
        # thread to finish, and the two would wait for each other.
        try:
            self._loop.call_soon_threadsafe(fn, *args, context=context)
        except RuntimeError:  # the loop has closed: nobody is left to tell
            pass

    def _finish(self, then: Callable | None, value: Any) -> None:
        self.pending -= 1
        if self.pending == 0:
            self.on_saving(False)
        if then is not None:
            then(value)

    def _crash(self, exc: BaseException) -> None:
        self.pending -= 1
        self.app._handle_exception(exc)

    def _maybe_saving(self) -> None:
        if self.pending:
            self.on_saving(True)

    def close(self) -> None:
        """Finish what was asked (a sale in flight is written), then stop."""
        self._pool.shutdown(wait=True)
