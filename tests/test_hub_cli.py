"""`backroom hub ...` and `backroom report ...` on a database that is missing, unreachable or not a hub's:
one sentence and exit status 2, nothing created; and `backroom --help` naming every hub command.

The commands run in-process (`hub.cli.main`, `hub.report_cli.main`): what is checked is their exit status,
what they print and which files exist afterwards.
"""

from __future__ import annotations

import contextlib
import io
import socket
import sqlite3
from pathlib import Path

import pytest

from hub import cli as hub_cli
from hub import report_cli

SECRET = "s3cr3t-pw"


@pytest.fixture(autouse=True)
def _no_database_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BACKROOM_HUB_DATABASE_URL", raising=False)


def _refused_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(main, argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


WITHOUT_A_HUB = [
    ["rebalance", "--dry-run"],
    ["rebalance"],
    ["token", "issue", "--role", "ops"],
    ["token", "revoke", "br_ops_nothing"],
]


@pytest.mark.parametrize("command", WITHOUT_A_HUB, ids=" ".join)
def test_a_command_on_a_missing_sqlite_file_refuses_and_makes_no_file(
        tmp_path: Path, command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'typo.sqlite'}"
    code, out, err = _run(hub_cli.main, ["--db", url, *command], capsys)
    assert code == 2 and out == ""
    assert err == f"There is no hub database at {url}; run `backroom hub --db {url} init` first.\n"
    assert _files(tmp_path) == []


def test_a_dry_run_with_no_db_given_writes_nothing_in_the_current_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(hub_cli.main, ["rebalance", "--dry-run"], capsys)
    assert code == 2 and out == ""
    assert err == (f"There is no hub database at sqlite:///hub.sqlite ({tmp_path / 'hub.sqlite'}); "
                   "run `backroom hub init` first.\n")
    assert _files(tmp_path) == []


def test_an_empty_file_or_a_nodes_file_is_not_a_hub(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    code, _, err = _run(hub_cli.main, ["--db", f"sqlite:///{empty}", "token", "issue", "--role", "ops"], capsys)
    assert code == 2 and err.startswith("There is no hub database at ") and err.count("\n") == 1
    assert empty.stat().st_size == 0

    other = tmp_path / "s1.sqlite"  # a store's node file, say
    with contextlib.closing(sqlite3.connect(other)) as conn:
        conn.execute("CREATE TABLE ledger (seq INTEGER PRIMARY KEY)")
    before = other.read_bytes()
    code, _, err = _run(hub_cli.main, ["--db", f"sqlite:///{other}", "init"], capsys)
    assert code == 2 and "holds something other than a hub (ledger)" in err and err.count("\n") == 1
    assert other.read_bytes() == before


def test_report_commands_refuse_a_missing_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'nope.sqlite'}"
    for argv in (["--db", url, "nightly", "--date", "2025-03-10"], ["--db", url, "zone", "S001", "UTC"]):
        code, out, err = _run(report_cli.main, argv, capsys)
        assert code == 2 and out == ""
        assert err == f"backroom report: There is no hub database at {url}; run `backroom hub --db {url} init` first.\n"
    assert _files(tmp_path) == []


def _bad_urls(tmp_path: Path) -> list[tuple[str, str]]:
    """(URL, what the one line must say about it)."""
    port = _refused_port()
    return [
        (f"sqlite:///{tmp_path / 'no-such-dir' / 'hub.sqlite'}", f"there is no directory {tmp_path / 'no-such-dir'}"),
        (f"postgresql://hub:{SECRET}@127.0.0.1:{port}/backroom", "Connection refused"),
        ("mysql://x", "not mysql"),
        ("hub.sqlite", "is not a database URL"),
    ]


@pytest.mark.parametrize("command", [["init"], *WITHOUT_A_HUB], ids=" ".join)
def test_an_unreachable_or_unsupported_url_is_one_line_naming_it(
        tmp_path: Path, command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    for url, problem in _bad_urls(tmp_path):
        code, out, err = _run(hub_cli.main, ["--db", url, *command], capsys)
        assert code == 2 and out == "", url
        assert err.count("\n") == 1 and problem in err, err
        assert url.replace(SECRET, "***") in err and SECRET not in err
    assert _files(tmp_path) == []


def test_serve_and_report_say_the_same_of_an_unreachable_url(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import uvicorn
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("served on a database it could not open"))
    for url, problem in _bad_urls(tmp_path):
        for main, argv in ((hub_cli.main, ["--db", url, "serve", "--port", "1"]),
                           (report_cli.main, ["--db", url, "zone", "S001", "UTC"])):
            code, _, err = _run(main, argv, capsys)
            assert code == 2 and err.count("\n") == 1 and problem in err and SECRET not in err, err


def test_init_makes_the_hub_and_then_every_command_opens_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    code, out, _ = _run(hub_cli.main, ["--db", url, "init", "--skus", "20", "--stores", "2"], capsys)
    assert code == 0 and '"locations": 3' in out
    code, out, _ = _run(hub_cli.main, ["--db", url, "token", "issue", "--role", "ops"], capsys)
    assert code == 0 and out.startswith("br_ops_")
    code, out, _ = _run(hub_cli.main, ["--db", url, "rebalance", "--dry-run"], capsys)
    assert code == 0 and out.startswith("Dry run (nothing written)")
    code, out, _ = _run(report_cli.main, ["--db", url, "zone", "S001", "Europe/Paris"], capsys)
    assert code == 0 and "Europe/Paris" in out


def test_serve_still_makes_and_migrates_a_new_database(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # The runbook: "The hub migrates its schema on start".
    import uvicorn
    served = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: served.append(k["port"]))
    url = f"sqlite:///{tmp_path / 'new.sqlite'}"
    code, _, err = _run(hub_cli.main, ["--db", url, "serve", "--port", "8799"], capsys)
    assert (code, served) == (0, [8799])
    # A typo in --db makes a new, empty hub: serving says so, not only that it serves.
    assert err.splitlines() == [f"Serving the hub at http://127.0.0.1:8799 (database {url}, 0 stores).",
                                f"That database holds no chain yet: every token is refused until "
                                f"`backroom hub --db {url} init` loads one."]
    code, out, _ = _run(hub_cli.main, ["--db", url, "token", "issue", "--role", "ops"], capsys)
    assert code == 0 and out.startswith("br_ops_")


def test_backroom_help_lists_every_hub_and_report_command() -> None:
    from backroom_cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    text = " ".join(out.getvalue().split())  # the listing is wrapped
    hub_line = text.split(" hub ", 1)[1].split(" report ", 1)[0]
    for name in ("init", "serve", "rebalance", "token"):
        assert name in hub_line, f"`backroom --help` does not name `hub {name}`: {hub_line}"
    report_line = text.split(" report ", 1)[1].split(" tui ", 1)[0]
    for name in ("nightly", "zone"):
        assert name in report_line


def test_a_wrong_hub_setting_is_one_line_naming_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    assert _run(hub_cli.main, ["--db", url, "init", "--skus", "20", "--stores", "2"], capsys)[0] == 0
    for name, value, argv in (("BACKROOM_HUB_BALANCE_MIN_HISTORY_H", "abc", ["rebalance"]),
                              ("BACKROOM_HUB_BALANCE_EVERY_S", "-1", ["serve", "--port", "1"])):
        monkeypatch.setenv(name, value)
        code, _, err = _run(hub_cli.main, ["--db", url, *argv], capsys)
        assert code == 2 and err.count("\n") == 1 and err.startswith(f"{name} is wrong: ") and repr(value) in err, err
        monkeypatch.delenv(name)
