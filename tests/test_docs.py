"""The docs tell the truth about the commands, settings and routes they name, and point only inside the repository.

As sqlite-utils checks its CLI against its docs: every `backroom ...` command
named in README.md or docs/ answers `--help`, every `BACKROOM_HUB_*` setting
is a real hub setting and every hub setting is documented, every store
setting is both real and documented, every HTTP route named is served, and
every link leads to a file in the repository.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUNBOOK = ROOT / "docs" / "runbook.md"


def text(page: Path) -> str:
    return page.read_text()


def command_paths() -> set[tuple[str, ...]]:
    """Each `backroom a b c` named in the docs, as its words up to the first option or argument."""
    found = set()
    for page in PAGES:
        for m in re.finditer(r"backroom((?: [a-z][a-z-]*)+)", text(page)):
            words = tuple(m.group(1).split())
            found.add(words)
    return found


def help_of(words: tuple[str, ...]) -> tuple[int, str]:
    from backroom_cli import main

    out = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            main([*words, "--help"])
        except SystemExit as done:
            code = done.code or 0
    return code, out.getvalue()


def test_the_docs_exist_and_the_readme_links_into_them() -> None:
    for name in ("how-it-works.md", "guarantees.md", "runbook.md"):
        assert (ROOT / "docs" / name).is_file()
        assert f"docs/{name}" in text(ROOT / "README.md"), f"README does not link docs/{name}"


def test_every_link_stays_inside_the_repository() -> None:
    for page in PAGES:
        for target in re.findall(r"\]\(([^)]+)\)", text(page)):
            assert "://" not in target, f"{page.name} links outside the repository: {target}"
            path = (page.parent / target.split("#", 1)[0]).resolve()
            assert path.is_relative_to(ROOT), f"{page.name} links outside the repository: {target}"
            assert path.exists(), f"{page.name} links to {target}, which is not in the repository"


@pytest.mark.parametrize("words", sorted(command_paths()), ids=" ".join)
def test_every_command_named_in_the_docs_exists(words: tuple[str, ...]) -> None:
    # Words after the command may be its arguments ("report zone S001"): the longest prefix that
    # is a command must take at least every word that is a lowercase name of a subcommand.
    code, out = help_of(words)
    while code != 0 and len(words) > 1:
        words = words[:-1]
        code, out = help_of(words)
    assert code == 0 and "usage: backroom" in out, f"`backroom {' '.join(words)} --help` fails:\n{out}"


def test_commands_the_docs_rely_on_are_found_by_the_check() -> None:
    named = {" ".join(w) for w in command_paths()}
    for expected in ("node init", "node recover", "node backup", "node settings", "hub token issue",
                     "hub rebalance", "report nightly"):
        assert any(n.startswith(expected) for n in named), f"the docs no longer name `backroom {expected}`"
    assert help_of(("node", "no-such-command"))[0] != 0, "the check would catch a command that does not exist"


def test_every_hub_setting_is_real_and_documented() -> None:
    from hub.settings import Settings

    fields = set(Settings.model_fields)
    named = {m.lower() for page in PAGES for m in re.findall(r"BACKROOM_HUB_([A-Z_]+[A-Z])", text(page))}
    assert named - fields == set(), f"the docs name hub settings that do not exist: {named - fields}"
    assert fields - named == set(), f"hub settings missing from the docs: {fields - named}"


def test_every_store_setting_is_real_and_documented() -> None:
    from node.bounds import SETTINGS
    from node.cli.tuning import WORDS  # the settings that are not figures (closing time, zone)

    runbook = text(RUNBOOK)
    table = runbook[runbook.index("**A store** keeps"):]
    named = set(re.findall(r"^\| `([a-z_]+)` \|", table, re.M))
    assert named == {*SETTINGS, *WORDS}, f"documented {sorted(named)}, real {sorted({*SETTINGS, *WORDS})}"


def test_every_route_named_is_served(tmp_path: Path) -> None:
    from hub.app import create_app
    from hub.settings import Settings

    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'hub.sqlite'}"))
    served = {(method.upper(), re.sub(r"\{[^}]+\}", "{}", path))
              for path, ops in app.openapi()["paths"].items() for method in ops}
    for page in PAGES:
        for method, path in re.findall(r"`(GET|POST|PUT|DELETE) (/[^`\s]+)`", text(page)):
            shape = re.sub(r"\{[^}]+\}", "{}", path)
            assert (method, shape) in served, f"{page.name} names {method} {path}, which the hub does not serve"
