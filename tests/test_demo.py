"""`backroom demo` from nothing: a hub on embedded defaults, a demo store set up from it, a sale that syncs;
and the demo's hub: its address said plainly (another one when the preferred port is taken), restarted when it dies."""

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.hubfixtures import free_port

ROOT = Path(__file__).resolve().parent.parent


def demo(folder: Path, port: int) -> dict:
    r = subprocess.run([sys.executable, "-c", "from backroom_cli import main; main()", "demo", "--smoke",
                        "--dir", str(folder), "--port", str(port)],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_the_demo_runs_from_nothing_and_again(tmp_path: Path) -> None:
    folder = tmp_path / "demo-data"
    first = demo(folder, free_port())
    assert first["sync"]["online"] and first["status"]["waiting"] == 0
    assert first["sale"].startswith("S001-T1-")
    assert {p.name for p in folder.iterdir()} >= {"hub.sqlite", "store-S001.sqlite", "tokens.json", "hub.log"}
    # a second run carries on with the same hub and store (maybe on another port)
    second = demo(folder, free_port())
    assert second["status"]["last_seq"] == first["status"]["last_seq"] + 1
    assert second["status"]["waiting"] == 0
    assert second["hub_on_hand"] == first["hub_on_hand"] - 1


class Demo:
    """`backroom demo --headless` as a subprocess; its output read line by line on a thread."""

    def __init__(self, folder: Path, port: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-c", "from backroom_cli import main; main()", "demo", "--headless",
             "--dir", str(folder), "--port", str(port)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            # As a shell without job control starts it in the background (CI's shell did): SIGINT ignored.
            # Ctrl+C (SIGINT) must stop it all the same.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def expect(self, pattern: str, timeout: float = 60) -> re.Match:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r}; the demo said:\n" + "\n".join(self.seen)) from None
            self.seen.append(line)
            if m := re.search(pattern, line):
                return m

    def wait_or_tell(self, timeout: float) -> int:
        """The demo's exit code; if it is still running after `timeout`, fail with where its threads are."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGUSR1)  # the demo dumps every thread's stack (faulthandler)
            time.sleep(2)
            while not self.lines.empty():
                self.seen.append(self.lines.get())
            raise AssertionError(f"the demo still ran {timeout} s after Ctrl+C; it said:\n" + "\n".join(self.seen))

    def kill(self) -> None:
        """Only what this test started: the demo by its pid (it stops its own hub on SIGTERM)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
def test_the_demo_says_where_its_hub_is_and_brings_it_back_when_it_dies(tmp_path: Path) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    busy = taken.getsockname()[1]  # the port the demo prefers, held by someone else
    demo = Demo(tmp_path / "demo-data", busy)
    hub_pids = []
    try:
        m = demo.expect(rf"Port {busy} is taken; the hub uses port (\d+) instead\.")
        port = int(m.group(1))
        url = f"http://127.0.0.1:{port}"
        m = demo.expect(rf"^Hub: +{re.escape(url)} +\(pid (\d+);")
        hub_pids.append(int(m.group(1)))
        token = demo.expect(r"^Ops token: (\S+)$").group(1)
        demo.expect(r"Ctrl\+C stops")
        assert httpx.get(f"{url}/ops/stores", headers={"Authorization": f"Bearer {token}"}).status_code == 200

        os.kill(hub_pids[0], signal.SIGKILL)  # the hub dies
        demo.expect(rf"The hub \(pid {hub_pids[0]}\) stopped")
        m = demo.expect(rf"The hub is back at {re.escape(url)} \(pid (\d+)\)")
        hub_pids.append(int(m.group(1)))
        assert hub_pids[1] != hub_pids[0]
        assert httpx.get(f"{url}/health").status_code == 200  # the same address as before

        demo.proc.send_signal(signal.SIGINT)  # Ctrl+C
        assert demo.wait_or_tell(30) == 0, "\n".join(demo.seen)
        demo.expect("Stopped the demo's hub and sync runner")
        assert not alive(hub_pids[1]), "the demo left its hub running"
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{url}/health", timeout=1)
    finally:
        demo.kill()
        taken.close()
        for pid in hub_pids:  # only if the demo failed to: these are the hubs this test's demo started
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
