"""The docs tell the truth about the commands, settings and routes they name, and point only inside the repository.

As sqlite-utils checks its CLI against its docs: every `backroom ...` command
named in README.md or docs/ answers `--help`, every `BACKROOM_HUB_*` setting
is a real hub setting and every hub setting is documented, every store
setting is both real and documented with the code's default, every HTTP
route named is served, every incident kind in the runbook is one the hub
records (and each one it records is explained), every file, folder and dotted
Python name given exists, and every link leads to a file in the repository.
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


def _table(page: Path, start: str) -> list[list[str]]:
    """The rows of the first Markdown table after `start` in `page`, as cells without their outer spaces."""
    rest = text(page)[text(page).index(start):]
    rows = []
    for line in rest.splitlines():
        if line.startswith("|"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif rows:
            break
    return rows[2:]  # after the header and its rule


def raised_incident_kinds() -> set[str]:
    """Every incident kind the hub's code can record, read from where it records them: a rule's
    `s.problem("kind", ...)`, a reference check's `("kind", f"...")` answer, `_note_incident(..., "kind", ...)`."""
    kinds = set()
    for src in (ROOT / "hub").rglob("*.py"):
        code = src.read_text()
        kinds |= set(re.findall(r"\bproblem\(\s*\"([a-z_]+)\"", code))
        kinds |= set(re.findall(r"(?:return None, |return \[)\(\"([a-z_]+)\",\s*f\"", code))
        kinds |= set(re.findall(r"_note_incident\(\w+, \w+, \"([a-z_]+)\"", code))
    return kinds


def test_every_incident_kind_in_the_runbook_is_one_the_hub_records_and_back() -> None:
    raised = raised_incident_kinds()
    # The reader above must see the hub's ways of recording one; else an empty set would pass anything.
    assert {"divergence", "push_refused", "shortfall", "unknown_reference", "transfer_mismatch"} <= raised, raised
    named = {k for row in _table(RUNBOOK, "## Incidents") for k in re.findall(r"`([a-z_]+)`", row[0])}
    assert named - raised == set(), f"the runbook names incident kinds the hub never records: {named - raised}"
    assert raised - named == set(), f"incident kinds the runbook does not explain: {raised - named}"


def test_the_settings_defaults_in_the_runbook_are_the_code_s() -> None:
    from hub.settings import Settings
    from node.bounds import DEFAULT_LIMITS

    def same(doc: str, real: object) -> bool:
        doc = doc.strip("`")
        if real is None:
            return doc in ("unset", "off")
        if isinstance(real, (int, float)):
            return float(doc.replace(",", "")) == float(real)
        return doc == str(real)

    hub_rows = _table(RUNBOOK, "**The hub** reads")
    assert hub_rows, "the runbook's hub settings table is gone"
    for name, default, _ in hub_rows:
        field = name.strip("`").removeprefix("BACKROOM_HUB_").lower()
        real = Settings.model_fields[field].default
        assert same(default, real), f"the runbook says {name} defaults to {default}; the code says {real!r}"
    words = {"close_at": None, "tz": "UTC"}  # node meta unset: no snapshot by the clock; UTC
    for name, default, _ in _table(RUNBOOK, "**A store** keeps"):
        key = name.strip("`")
        real = words[key] if key in words else getattr(DEFAULT_LIMITS, key)
        assert same(default, real), f"the runbook says store setting {key} defaults to {default}; the code: {real!r}"


def named_paths() -> set[tuple[str, str]]:
    """Each file or folder the docs name: `dir/file.py` anywhere, and in the README's table of parts each
    `name.py` or `name/` in a part's row, under that part's folder. (page, path) pairs."""
    tops = ("node/", "hub/", "sync/", "tui/", "fixtures/", "tests/", "bench/", "docs/")
    found = set()
    for page in PAGES:
        for p in re.findall(r"`([a-z_]+/(?:[a-z0-9_]+/)*[a-z0-9_]+(?:\.(?:py|md|toml))?/?)`", text(page)):
            if p.startswith(tops):  # else relative to a part the sentence names (`api/errors.py`)
                found.add((page.name, p))
    for row in _table(ROOT / "README.md", "| path | what it is |"):
        top = row[0].strip("`")
        for p in re.findall(r"`([a-z0-9_]+(?:/[a-z0-9_]+)*(?:\.py|/))`", row[1]):
            found.add(("README.md", p if p.startswith(tops) else top + p))
    return found


@pytest.mark.parametrize("page, path", sorted(named_paths()), ids=lambda v: v)
def test_every_file_the_docs_name_exists(page: str, path: str) -> None:
    assert (ROOT / path).exists(), f"{page} names {path}, which is not in the repository"


def named_objects() -> set[str]:
    """Each dotted Python name under the project's packages the docs name (`node.runner.Runner.tick`)."""
    pattern = r"(?<![\w/@.-])((?:node|hub|sync|tui|fixtures|tests)\.[a-z_]\w*(?:\.[A-Za-z_]\w*)*)"
    files = (".sqlite", ".log", ".json", ".csv", ".html")  # hub.sqlite, hub.log: files, not modules
    return {m for page in PAGES for m in re.findall(pattern, text(page)) if not m.endswith(files)}


def resolve(dotted: str) -> object:
    import importlib

    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(dotted)


@pytest.mark.parametrize("dotted", sorted(named_objects()))
def test_every_module_and_name_the_docs_name_exists(dotted: str) -> None:
    resolve(dotted)


def test_the_path_and_name_checks_can_fail() -> None:
    assert ("README.md", "node/push_pull.py") in named_paths()
    assert not (ROOT / "node/no_such_module.py").exists()
    assert "node.runner.Runner.tick" in named_objects()
    with pytest.raises((ModuleNotFoundError, AttributeError)):
        resolve("node.runner.NoSuchThing")


def test_the_readme_puts_the_two_commands_first_and_make_has_them() -> None:
    readme = text(ROOT / "README.md")
    first_block = readme[readme.index("```sh"):readme.index("```", readme.index("```sh") + 5)]
    assert "make demo" in first_block and "make test" in first_block, "the README's first commands are not make demo/test"
    assert readme.index("make demo") < readme.index("## A tour") < readme.index("docs/runbook.md")
    targets = set(re.findall(r"^([a-z]+):", (ROOT / "Makefile").read_text(), re.M))
    assert {"demo", "test"} <= targets, f"the Makefile has no demo or test target: {sorted(targets)}"


def test_the_runbook_covers_what_an_operator_needs() -> None:
    # Issue 12's list: each topic must keep a section (or a bold lead) an operator can find at 2 a.m.
    runbook = text(RUNBOOK)
    for topic in ("## Installing a hub", "PostgreSQL", "## Credentials", "token revoke", "## Backups",
                  "**A store's node file:**", "**The hub on SQLite:**", "## Restoring", "**A store's disk died.**",
                  "**The hub's database was restored", "**A store diverged**", "## Incidents", "/clear",
                  "## Reports", "report nightly --date", "## Settings"):
        assert topic in runbook, f"the runbook no longer covers {topic!r}"


def documented_barcodes() -> set[tuple[str, str]]:
    """Each GTIN-13 or GTIN-14 the docs give as a scan or a lookup (`3*9309243598147`), as (page, barcode)."""
    return {(page.name, code) for page in PAGES
            for code in re.findall(r"(?<![\d*])(?:\d{1,4}\*)?(\d{13,14})(?!\d)", text(page))}


def test_the_barcodes_in_the_docs_are_items_the_demo_store_sells() -> None:
    # A newcomer types the README's `node sell` into the demo chain: its barcode must be an item there,
    # stocked at S001 (the store the examples set up), whatever size `hub init` is given below 50,000 SKUs.
    from fixtures.chain import demo_chain, generate_chain

    found = documented_barcodes()
    assert ("README.md", "9309243598147") in found, f"the check no longer sees the README's sale: {found}"
    chain = demo_chain()
    stocked = {line.sku for line in chain.stock("S001") if line.qty > 0}
    for page, code in sorted(found):
        try:
            item = chain.item_by_barcode(code.zfill(14))
        except KeyError:
            raise AssertionError(f"{page} uses barcode {code}, which is no item of the demo chain") from None
        assert item.sku in stocked, f"{page} uses barcode {code} ({item.sku}), which S001 does not stock"
        assert generate_chain(100, 1).item(item.sku).gtin == item.gtin, f"{item.sku}'s barcode depends on the size"
