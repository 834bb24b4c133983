"""The documentation: README.md stays short and its links lead somewhere, every page is in the
site's navigation, and the generated CLI reference covers every verb and flag of the parser.

`make docs` (run by CI) builds the site itself with warnings as errors; these checks need no
MkDocs and run with the tests.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def _hooks():
    path = DOCS / "hooks" / "pixelar_docs.py"
    spec = importlib.util.spec_from_file_location("pixelar_docs_hooks", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _local_links(text: str) -> list[str]:
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    return [link.split("#")[0] for link in links if not re.match(r"[a-z][a-z0-9+.-]*:|#", link)]


def test_readme_is_short_and_shows_the_two_commands():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 150, f"README.md has {len(lines)} lines (at most 150)"
    text = "\n".join(lines)
    assert "make demo" in text and "make test" in text and "make docs" in text


def test_readme_links_lead_to_files():
    missing = [link for link in _local_links((ROOT / "README.md").read_text()) if not (ROOT / link).exists()]
    assert not missing, f"README.md links to missing files: {missing}"


def test_every_page_is_in_the_nav_and_every_nav_entry_exists():
    config = (ROOT / "mkdocs.yml").read_text()
    nav = config[config.index("\nnav:\n") : config.index("\nmarkdown_extensions:")]
    listed = set(re.findall(r"[\s:-] ?([\w/.-]+\.md)\s*$", nav, re.M))
    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    assert listed == pages, f"in the nav only: {listed - pages}; not in the nav: {pages - listed}"


def test_cli_reference_covers_every_verb_and_flag():
    hooks = _hooks()
    parser = hooks.build_parser()
    text = hooks.cli_markdown(parser)
    (verbs,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert len(verbs.choices) >= 10
    for name, verb in verbs.choices.items():
        section = text.split(f"\n## pixelar {name}\n")[1].split("\n## ")[0]
        assert f"usage: pixelar {name}" in section
        for action in verb._actions:
            if action.help == argparse.SUPPRESS or isinstance(action, argparse._HelpAction):
                continue
            shown = action.option_strings or [action.metavar or action.dest]
            for option in shown:
                assert f"`{option}" in section or f", {option}" in section, f"pixelar {name}: {option} is missing"
    assert "--resume RUN" in text and "| `--split SPLIT` | `test` |" in text


def test_results_pictures_are_served_from_their_folder():
    hooks = _hooks()
    assert hooks.served_link("results/sampling.md", "../../benchmarks/results/sampling.png") == "img/sampling.png"
    assert hooks.served_link("guide/see.md", "../../benchmarks/results/sampling.png") == "../results/img/sampling.png"
    assert hooks.served_link("results/sampling.md", "../../benchmarks/results/nothing.png") is None
    assert hooks.served_link("results/sampling.md", "codec.md") is None
    assert hooks.served_link("results/sampling.md", "https://example.org/a.png") is None
