"""The status bar in the real app under Textual's pilot: the age of the last sync, and red only for real trouble.

The first test walks one store file through the states by writing the node's
sync figures as the runner would (no runner runs, so nothing else writes
them) on a manual clock. The second starts a real hub, sets a store up from
it and runs the real runner: the first sync must never show red, and a hub
that hangs (SIGSTOP) must show OFFLINE within 5 s.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from node.service import Node
from sync.kinds import stamp
from tests.conftest import ManualClock
from tests.test_tui import STORE, copy_store, make_app, run, templates, wait_for  # noqa: F401 - a fixture
from tui.widgets.status import STALE_S


def bar_of(app) -> tuple[str, bool]:  # noqa: ANN001
    widget = app.screen.query_one("StatusBar")
    return str(widget.content), widget.has_class("-offline")


def test_first_sync_offline_stale_and_the_age_of_the_last_sync(templates: dict[str, Path],  # noqa: F811
                                                              tmp_path: Path) -> None:
    path = copy_store(templates, tmp_path)
    clock = ManualClock()
    writer = Node(path, terminal="runner", clerk="test", clock=clock)
    writer.set_meta(hub_url="http://127.0.0.1:9", token="t")  # a hub, never asked: no runner in this test
    waiting = writer.last_seq()
    app = make_app(path, tmp_path, clock)

    async def shows(pilot: Pilot, start: str, alarm: bool) -> str:
        await wait_for(pilot, lambda: bar_of(app)[0].startswith(start) and bar_of(app)[1] == alarm,
                       f"{start!r} (alarm {alarm}); the bar says {bar_of(app)}")
        return bar_of(app)[0]

    async def scenario(pilot: Pilot) -> None:
        # a store just set up, catching up: no alarm, and the figure is what it has to send
        assert await shows(pilot, f"CONNECTING · first sync · {waiting} to send │ {STORE}", alarm=False)
        writer.set_meta(online="1")
        await shows(pilot, f"ONLINE · first sync · {waiting} to send", alarm=False)

        writer.set_meta(online="0")  # the runner asked, and nobody answered: that is red
        await shows(pilot, f"OFFLINE · synced never · {waiting} waiting", alarm=True)

        writer.set_meta(online="1", last_sync_at=stamp(clock()), pushed_seq=str(waiting))
        await shows(pilot, "ONLINE · synced just now · 0 waiting", alarm=False)

        clock.advance(minutes=3)
        writer.set_meta(online="0")
        await shows(pilot, "OFFLINE · synced 3 min ago · 0 waiting", alarm=True)

        writer.set_meta(online="1")  # answered, but no sync for 3 minutes: nobody runs the runner
        await shows(pilot, "NOT SYNCING · synced 3 min ago", alarm=True)

        writer.set_meta(last_sync_at=stamp(clock()), sync_stopped="refused")
        await shows(pilot, "SYNC STOPPED (refused) · synced just now", alarm=True)

    try:
        run(app, scenario)
    finally:
        writer.close()


def test_never_synced_and_nobody_answering_for_long_turns_red(templates: dict[str, Path],  # noqa: F811
                                                             tmp_path: Path) -> None:
    path = copy_store(templates, tmp_path)
    clock = ManualClock()
    with Node(path) as node:
        node.set_meta(hub_url="http://127.0.0.1:9", token="t")
        waiting = node.last_seq()
    app = make_app(path, tmp_path, clock)

    async def scenario(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: bar_of(app) == (bar_of(app)[0], False) and "CONNECTING" in bar_of(app)[0],
                       "CONNECTING")
        clock.advance(seconds=STALE_S + 1)  # no runner has said anything for two minutes
        await wait_for(pilot, lambda: bar_of(app)[0].startswith(f"NOT SYNCING · never synced · {waiting} waiting")
                       and bar_of(app)[1], "NOT SYNCING in red")

    run(app, scenario)


@pytest.mark.slow
def test_a_real_first_start_is_never_red_and_a_hung_hub_shows_offline_within_5_s(tmp_path: Path) -> None:
    from node.runner import Runner
    from tests.hubfixtures import HubProcess, backroom

    hub_db = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    assert backroom("hub", "--db", hub_db, "init").returncode == 0
    done = backroom("hub", "--db", hub_db, "token", "issue", "--role", "store", "--store", STORE)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip().splitlines()[-1]
    hub = HubProcess(hub_db, log_dir=tmp_path).start()
    runner = None
    try:
        node_file = tmp_path / "store.sqlite"
        done = backroom("node", "init", "--db", str(node_file), "--store", STORE, "--hub", hub.url, "--token", token)
        assert done.returncode == 0, done.stderr
        app = make_app(node_file, tmp_path)
        seen: list[tuple[str, bool]] = []

        async def until(pilot: Pilot, cond: Callable[[str], bool], timeout: float) -> float:
            start = time.monotonic()
            while not cond((bar := bar_of(app))[0]):
                seen.append(bar)
                if time.monotonic() - start > timeout:
                    raise AssertionError(f"not within {timeout:g} s; the bar says {bar}")
                await pilot.pause(0.05)
            return time.monotonic() - start

        async def scenario(pilot: Pilot) -> None:
            nonlocal runner
            await until(pilot, lambda b: "first sync" in b, 10)  # the app is up before the runner starts
            runner = Runner(str(node_file), pull_every=2.0)
            runner.start()
            await until(pilot, lambda b: b.startswith("ONLINE · synced just now · 0 waiting"), 60)
            first_start = [b for b in seen if b[0]]
            assert first_start and not any(alarm or "OFFLINE" in text for text, alarm in first_start), first_start

            os.kill(hub.pid, signal.SIGSTOP)  # the hub hangs: it accepts connections and never answers
            hung = await until(pilot, lambda b: b.startswith("OFFLINE"), 15)
            assert bar_of(app)[1], "OFFLINE is red"
            print(f"seconds from SIGSTOP to OFFLINE on the bar: {hung:.2f}")
            assert hung < 5.0
            os.kill(hub.pid, signal.SIGCONT)
            await until(pilot, lambda b: b.startswith("ONLINE"), 10)

        run(app, scenario)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(hub.pid, signal.SIGCONT)
        if runner is not None:
            runner.stop()
        hub.stop()
