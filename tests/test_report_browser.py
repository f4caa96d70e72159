"""The report's page in headless Chromium with the network off: every chart drawn, nothing fetched, no console
errors; a screenshot kept as the test's artifact (its path is printed)."""

from __future__ import annotations

import base64
from pathlib import Path

from tests.report_day import DAY, build_day
from tests.test_tui_browser import DevTools, chromium  # noqa: F401 - chromium is a fixture


def test_report_page_opens_offline_and_draws_every_chart(chromium: DevTools, tmp_path: Path) -> None:  # noqa: F811
    day = build_day(f"sqlite:///{tmp_path}/hub.sqlite", tmp_path)
    done = day.hub.make_report(DAY, out_dir=str(tmp_path / "out"))
    day.hub.close()
    page = Path(done["written_to"]) / "report.html"

    for domain in ("Network", "Page", "Runtime", "Log"):
        chromium.send(f"{domain}.enable")
    chromium.send("Network.emulateNetworkConditions", offline=True, latency=0, downloadThroughput=-1,
                  uploadThroughput=-1)
    chromium.send("Emulation.setDeviceMetricsOverride", width=1280, height=900, deviceScaleFactor=1, mobile=False)
    chromium.send("Page.navigate", url=page.as_uri())
    chromium.drain(2.0)
    assert chromium.evaluate("document.readyState") == "complete"
    assert chromium.evaluate("document.title").startswith(f"Nightly report {DAY}")

    charts = chromium.evaluate("""[...document.querySelectorAll('svg.chart')].map(s => {
        const r = s.getBoundingClientRect();
        return [s.dataset.chart, r.width, r.height, s.querySelectorAll('path, rect, line, text, use').length];
    })""")
    assert [c[0] for c in charts] == ["shrink-by-store", "waterfall", "top-variance", "write-offs", "trend"]
    assert all(w > 100 and h > 50 and marks > 10 for _, w, h, marks in charts), charts
    assert chromium.evaluate("document.querySelectorAll('.tile').length") == 11  # walk-ins turned away too
    assert chromium.evaluate("document.querySelectorAll('script').length") == 0

    requests = [e["params"]["request"]["url"] for e in chromium.events if e.get("method") == "Network.requestWillBeSent"]
    assert requests and all(u.startswith("file://") for u in requests), requests
    errors = [e for e in chromium.events
              if (e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] == "error")
              or e.get("method") == "Runtime.exceptionThrown"
              or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")]
    assert errors == []

    shot = chromium.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    png = tmp_path / "report-page.png"
    png.write_bytes(base64.b64decode(shot["data"]))
    assert png.stat().st_size > 10_000
    print(f"\nscreenshot: {png}")
