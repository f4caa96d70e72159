"""The clerk's terminal in a browser: `backroom tui --serve` (textual-serve) under headless Chromium.

What this proves, and how. The served page draws the terminal with xterm.js
on a WebGL/canvas renderer, so the app's text is never in the DOM and
`--dump-dom` cannot show it. Instead the test drives Chromium over the
DevTools protocol (`--remote-debugging-port`) and

1. checks the page loaded and xterm.js built its terminal in it (`.xterm-screen`);
2. reads the websocket frames the browser itself received from textual-serve
   (`Network.webSocketFrameReceived`): they are the terminal bytes xterm.js
   paints, so once the escape codes are stripped, "Sale · S001" in them means
   the app process started, drew its sale screen and the browser got it;
3. presses F2 in the page (a real key event into xterm's input) and waits for
   "Check in the back" to come back: the browser's keys reach the app.

Needs /usr/bin/chromium (Debian's `chromium` package); skipped with the reason if it is absent.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.hubfixtures import ROOT, backroom_command, free_port
from tests.test_tui import copy_store, templates  # noqa: F401 - templates is a fixture

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("BACKROOM_CHROMIUM", "/usr/bin/chromium")
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[PX^_][^\x1b]*\x1b\\|\x1b[@-Z\\-_]")


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM the process group we started (by its pid), then SIGKILL if it lingers."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


@pytest.fixture
def served(templates: dict[str, Path], tmp_path: Path) -> Iterator[str]:  # noqa: F811
    store = copy_store(templates, tmp_path)
    port = free_port()
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([*backroom_command(), "tui", "--serve", "--db", str(store), "--port", str(port),
                             "--clerk", "ann"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)  # its own group: the app processes it starts go with it
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"`backroom tui --serve` exited: {(tmp_path / 'serve.log').read_text()}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(url, timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise AssertionError(f"textual-serve did not answer: {(tmp_path / 'serve.log').read_text()}")
            time.sleep(0.1)
        yield url
    finally:
        stop(proc)
        log.close()


class DevTools:
    """Just enough of the Chrome DevTools protocol: commands, and the events seen so far."""

    def __init__(self, ws_url: str) -> None:
        from websockets.sync.client import connect

        self.stack = contextlib.ExitStack()
        self.ws = self.stack.enter_context(connect(ws_url, max_size=None, open_timeout=10))
        self.next_id = 0
        self.events: list[dict] = []

    def send(self, method: str, **params: object) -> dict:
        self.next_id += 1
        my_id = self.next_id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=20))
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise AssertionError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def drain(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            try:
                self.events.append(json.loads(self.ws.recv(timeout=left)))
            except TimeoutError:
                return

    def settle(self, quiet: float = 0.5, most: float = 5.0) -> None:
        """Wait until the app has sent nothing for `quiet` seconds: a frame arrives in several websocket
        messages, and a key sent mid-frame can land on the screen that frame is taking away."""
        end = time.monotonic() + most
        while time.monotonic() < end:
            before = len(self.events)
            self.drain(quiet)
            if len(self.events) == before:
                return

    def terminal_text(self) -> str:
        """Everything textual-serve sent the page over its websocket, escape codes removed."""
        chunks = []
        for ev in self.events:
            if ev.get("method") == "Network.webSocketFrameReceived":
                frame = ev["params"]["response"]
                data = frame["payloadData"]
                if frame.get("opcode") == 2:
                    data = base64.b64decode(data).decode("utf-8", "replace")
                chunks.append(data)
        return ANSI.sub("", "".join(chunks))

    def wait_for_text(self, text: str, timeout: float = 30, after: int = 0) -> str:
        """Wait until `text` is among what the browser received (past the first `after` characters)."""
        deadline = time.monotonic() + timeout
        while text not in (seen := self.terminal_text())[after:]:
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never reached the browser; it got:\n{seen[-2000:]}")
            self.drain(0.25)
        return seen

    def evaluate(self, expression: str) -> object:
        return self.send("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def close(self) -> None:
        self.stack.close()


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[DevTools]:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's `chromium` package (CI does) "
                    "or set BACKROOM_CHROMIUM")
    profile = Path(tempfile.mkdtemp(prefix="backroom-chromium-", dir=tmp_path))
    proc = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}", "--remote-debugging-port=0",
         "--remote-allow-origins=*", "--window-size=1024,768", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    tools = None
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"Chromium did not start (exit {proc.poll()})")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        pages = [t for t in httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=5).json() if t["type"] == "page"]
        tools = DevTools(pages[0]["webSocketDebuggerUrl"])
        yield tools
    finally:
        if tools is not None:
            with contextlib.suppress(Exception):
                tools.close()
        stop(proc)


def test_served_terminal_starts_in_chromium_and_takes_keys(served: str, chromium: DevTools) -> None:
    chromium.send("Network.enable")
    chromium.send("Page.enable")
    chromium.send("Page.navigate", url=served + "?fontsize=14")

    seen = chromium.wait_for_text("Sale · S001", timeout=45)  # the app's title bar, painted by the app
    assert "Scan, or type a SKU" in seen
    assert "Traceback" not in seen
    assert chromium.evaluate("document.querySelectorAll('.textual-terminal .xterm-screen').length") == 1
    assert chromium.evaluate("document.body.classList.contains('-first-byte')") is True  # the page got output

    # a key pressed in the browser reaches the app: F2 opens "check in the back"
    chromium.evaluate("document.querySelector('.xterm-helper-textarea').focus()")
    for kind in ("rawKeyDown", "keyUp"):
        chromium.send("Input.dispatchKeyEvent", type=kind, key="F2", code="F2", windowsVirtualKeyCode=113,
                      nativeVirtualKeyCode=113)
    seen = chromium.wait_for_text("Check in the back", timeout=20)
    assert "Traceback" not in seen


def press(chromium: DevTools, key: str, code: str, vk: int, *, ctrl: bool = False) -> None:
    """A real key event into xterm's input, as a keyboard makes it (Ctrl held for a Ctrl+letter)."""
    chromium.evaluate("document.querySelector('.xterm-helper-textarea').focus()")
    for kind in ("rawKeyDown", "keyUp"):
        chromium.send("Input.dispatchKeyEvent", type=kind, key=key, code=code, windowsVirtualKeyCode=vk,
                      nativeVirtualKeyCode=vk, modifiers=2 if ctrl else 0)


def test_every_door_has_a_key_a_browser_leaves_alone(served: str, chromium: DevTools) -> None:
    """F1, F5 and F12 are the browser's own in a real browser: each action has a Ctrl key (or ?) that
    reaches the app through textual-serve, checked here by what the app draws in answer."""
    chromium.send("Network.enable")
    chromium.send("Page.navigate", url=served + "?fontsize=14")
    chromium.wait_for_text("Sale · S001", timeout=45)

    def answer(do, text: str) -> None:  # noqa: ANN001
        mark = len(chromium.terminal_text())
        do()
        chromium.wait_for_text(text, timeout=20, after=mark)
        chromium.settle()

    escape = lambda: press(chromium, "Escape", "Escape", 27)  # noqa: E731
    # The sale screen's footer, in the frame that takes the dialog away; `answer` then waits for the app
    # to go quiet, since the dialog's own frame, still arriving, can hold the same text.
    back = "F1 Help"
    chromium.evaluate("document.querySelector('.xterm-helper-textarea').focus()")
    answer(lambda: chromium.send("Input.insertText", text="?"), "Keys (the second column")  # help, no F1
    answer(escape, back)
    answer(lambda: press(chromium, "b", "KeyB", 66, ctrl=True), "Check in the back")
    answer(escape, back)
    answer(lambda: press(chromium, "o", "KeyO", 79, ctrl=True), "A letter = open it")
    answer(escape, back)
    answer(lambda: chromium.send("Input.insertText", text="SKU000001"), "SKU000001")
    answer(lambda: press(chromium, "Enter", "Enter", 13), "TOTAL")
    answer(lambda: press(chromium, "p", "KeyP", 80, ctrl=True), "Total due")  # pay, no F12
    assert "Traceback" not in chromium.terminal_text()
