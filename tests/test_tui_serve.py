"""`backroom tui --serve` needs nothing from the internet: a store's back office may have no way out.

Headless Chromium is started with every host but 127.0.0.1 unreachable (a
resolver that finds nothing and a proxy that is not there) and the page is
loaded over the DevTools protocol. Every request the page makes
(`Network.requestWillBeSent`, seen before it is sent, so a blocked one still
counts) must go to 127.0.0.1, none may fail, the terminal's font must be the
one served from there, and the terminal must still draw the sale screen.

The browser helpers come from tests/test_tui_browser.py.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.test_tui import templates  # noqa: F401 - a fixture `served` needs
from tests.test_tui_browser import CHROMIUM, DevTools, served, stop  # noqa: F401 - served is a fixture
from tui.cli import SERVE_TEMPLATES

LOCAL = "127.0.0.1"


@pytest.fixture
def offline_chromium(tmp_path: Path) -> Iterator[DevTools]:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's `chromium` package or set BACKROOM_CHROMIUM")
    profile = Path(tempfile.mkdtemp(prefix="backroom-chromium-", dir=tmp_path))
    proc = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-domain-reliability",
         f"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE {LOCAL}", "--proxy-server=http://127.0.0.1:9",
         f"--proxy-bypass-list={LOCAL}", f"--user-data-dir={profile}", "--remote-debugging-port=0",
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
        pages = [t for t in httpx.get(f"http://{LOCAL}:{port}/json/list", timeout=5).json() if t["type"] == "page"]
        tools = DevTools(pages[0]["webSocketDebuggerUrl"])
        yield tools
    finally:
        if tools is not None:
            tools.close()
        stop(proc)


def events(tools: DevTools, method: str) -> list[dict]:
    return [ev["params"] for ev in tools.events if ev.get("method") == method]


@pytest.mark.slow
def test_the_served_page_loads_everything_from_127_0_0_1(served: str, offline_chromium: DevTools) -> None:
    tools = offline_chromium
    tools.send("Network.enable")
    tools.send("Page.enable")
    tools.send("Page.navigate", url=served + "?fontsize=14")

    seen = tools.wait_for_text("Sale · S001", timeout=45)
    assert "Traceback" not in seen
    deadline = time.monotonic() + 15
    while tools.evaluate("document.fonts.status") != "loaded" and time.monotonic() < deadline:
        tools.drain(0.25)
    tools.drain(1.0)  # anything the page asks for late (a font swapped in, an image) is in the record too

    urls = [ev["request"]["url"] for ev in events(tools, "Network.requestWillBeSent")]
    assert urls, "the browser recorded no requests"
    elsewhere = [u for u in urls if urlsplit(u).scheme not in ("data", "blob") and urlsplit(u).hostname != LOCAL]
    assert not elsewhere, f"the page reached beyond {LOCAL}: {elsewhere}"
    failed = [(ev["requestId"], ev.get("errorText")) for ev in events(tools, "Network.loadingFailed")]
    assert not failed, failed
    assert any(u.endswith("/static/fonts/RobotoMono-VariableFont_wght.ttf") for u in urls), urls
    # the terminal's font is the served one, not a fallback the browser settled for
    assert tools.evaluate("document.fonts.check('14px \"Roboto Mono\"')") is True
    assert tools.evaluate("[...document.fonts].some(f => f.family.includes('Roboto Mono') && f.status == 'loaded')")


def test_our_page_is_textual_serves_but_for_the_font() -> None:
    """When textual-serve's page changes (an upgrade), our copy must be brought up to date by hand."""
    import textual_serve

    theirs = (Path(textual_serve.__file__).parent / "templates" / "app_index.html").read_text()
    ours = (SERVE_TEMPLATES / "app_index.html").read_text()
    google = ('    <link\n      rel="stylesheet"\n'
              '      href="https://fonts.googleapis.com/css?family=Roboto%20Mono"\n    />\n')
    start, end = ours.index("    <!-- backroom:font"), ours.index("<!-- /backroom:font -->\n")
    assert ours[:start] + ours[end + len("<!-- /backroom:font -->\n"):] == theirs.replace(google, "")
    assert "https://" not in ours and "//fonts." not in ours
