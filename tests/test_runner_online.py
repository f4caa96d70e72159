"""The runner's online flag follows a real hub process within 5 s: hung (SIGSTOP), back (SIGCONT), dead (SIGKILL).

A hung hub is the hard case: the kernel still accepts the TCP connection, so
only a read timeout tells. The push's own timeout and retries would take
about 20 s; the runner's probe (one short /health request a second, on its
own thread) must say OFFLINE well before that.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from node.runner import Runner, status
from node.service import Node
from tests.hubfixtures import HubProcess, backroom

pytestmark = pytest.mark.slow

PROMISE_S = 5.0
STORE = "S001"


def seconds_until(pred: Callable[[], bool], timeout: float) -> float:
    start = time.monotonic()
    while not pred():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout:g} s")
        time.sleep(0.05)
    return time.monotonic() - start


@pytest.fixture
def hub_and_store(tmp_path: Path) -> Iterator[tuple[HubProcess, Path]]:
    db = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    done = backroom("hub", "--db", db, "init")
    assert done.returncode == 0, done.stderr
    done = backroom("hub", "--db", db, "token", "issue", "--role", "store", "--store", STORE)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip().splitlines()[-1]
    hub = HubProcess(db, log_dir=tmp_path).start()
    try:
        node_file = tmp_path / "store.sqlite"
        done = backroom("node", "init", "--db", str(node_file), "--store", STORE, "--hub", hub.url, "--token", token)
        assert done.returncode == 0, done.stderr
        yield hub, node_file
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(hub.pid, signal.SIGCONT)  # a stopped hub would sit on its SIGTERM
        hub.stop()


def test_offline_within_5_s_of_the_hub_hanging_and_of_it_dying(hub_and_store: tuple[HubProcess, Path]) -> None:
    hub, node_file = hub_and_store
    runner = Runner(str(node_file), pull_every=2.0)
    runner.start()
    watcher = Node(node_file, terminal="test", clerk="watch")
    figures: dict[str, float] = {}
    try:
        def online() -> bool | None:
            return status(watcher)["online"]

        seconds_until(lambda: online() is True and status(watcher)["waiting"] == 0, 60)  # first sync done

        os.kill(hub.pid, signal.SIGSTOP)  # hung: connections accepted, never answered
        figures["hang"] = seconds_until(lambda: online() is False, 15)

        os.kill(hub.pid, signal.SIGCONT)
        figures["back"] = seconds_until(lambda: online() is True, 15)

        os.kill(hub.pid, signal.SIGKILL)  # dead: connections refused
        hub.proc.wait(5)
        figures["kill"] = seconds_until(lambda: online() is False, 15)
        assert status(watcher)["last_error"]  # the clerk's screens can say why
    finally:
        runner.stop()
        watcher.close()
    print(f"seconds to the flag: {figures}")
    assert figures["hang"] < PROMISE_S, figures
    assert figures["back"] < PROMISE_S, figures
    assert figures["kill"] < PROMISE_S, figures


def test_a_store_never_asked_is_neither_online_nor_offline(tmp_path: Path) -> None:
    node_file = tmp_path / "store.sqlite"
    with Node(node_file) as node:
        from fixtures.chain import demo_chain
        from node.service import initialise_from_chain

        initialise_from_chain(node, demo_chain(), STORE)
        assert status(node)["online"] is None  # standalone: no hub at all
        node.set_meta(hub_url="http://127.0.0.1:9", token="t")
        assert status(node)["online"] is None  # a hub, not yet asked: the status bar says CONNECTING
        node.set_meta(online="0")
        assert status(node)["online"] is False
