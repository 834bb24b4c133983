"""MkDocs hooks of pixelar's documentation (listed under ``hooks:`` in mkdocs.yml).

* The CLI reference is generated at build time from the argparse parser the ``pixelar`` command
  runs (:func:`pixelar.cli.parser.build_parser`): the page ``reference/cli.md`` holds the marker
  ``<!-- cli-reference -->``, replaced by every verb's usage, description and arguments, so the
  page cannot drift from the command.
* The results pages (written by ``benchmarks/report.py``) show pictures from
  ``benchmarks/results/``, outside the docs folder, by paths relative to the page (so they also
  work when the Markdown is read in the repository). The site serves those pictures under
  ``results/img/`` and the links are rewritten to them.
* The API reference renders docstrings written with Sphinx roles (``:class:`X```); the roles
  are dropped, leaving the code span.
"""

from __future__ import annotations

import argparse
import html
import os
import posixpath
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CLI_MARKER = "<!-- cli-reference -->"
# repository folder -> where the site serves its files (and which files)
SERVED = {"benchmarks/results": ("results/img", "*.png")}
LINK = re.compile(r"(\]\()([^)\s]+)(\))")
ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|exc|obj):(<code>)~?")


# -- the CLI reference ----------------------------------------------------------------------------
def _escape(text: str) -> str:
    """Plain text as Markdown that renders it as it is (in a table cell too)."""
    return re.sub(r"([\\`*_\[\]|])", r"\\\1", html.escape(text, quote=False))


def _subcommands(parser: argparse.ArgumentParser) -> tuple[dict[str, argparse.ArgumentParser], dict[str, str]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            return dict(action.choices), helps
    return {}, {}


def _default(action: argparse.Action) -> str:
    if action.nargs == 0 or action.default in (None, argparse.SUPPRESS, [], False):
        return ""
    return f"`{action.default}`"


def _argument_rows(verb: argparse.ArgumentParser) -> list[str]:
    formatter = verb._get_formatter()
    rows = []
    for action in verb._actions:
        if action.help == argparse.SUPPRESS or isinstance(action, argparse._HelpAction):
            continue
        if action.option_strings or action.choices is None:
            invocation = formatter._format_action_invocation(action)
        else:  # a positional with choices: its name (the choices are listed beside it)
            invocation = action.dest
        text = _escape(action.help or "")
        if action.choices is not None and not isinstance(action, argparse._SubParsersAction):
            choices = ", ".join(f"`{c}`" for c in action.choices)
            text = f"{text} (one of {choices})" if text else f"one of {choices}"
        if action.required and action.option_strings:
            text = f"**required**; {text}" if text else "**required**"
        rows.append(f"| `{invocation}` | {_default(action)} | {text} |")
    return rows


def cli_markdown(parser: argparse.ArgumentParser) -> str:
    """Every verb of the parser: its one-line help, usage and a table of its arguments."""
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # argparse wraps usage lines at the terminal's width
    try:
        verbs, helps = _subcommands(parser)
        out = [
            f"Every verb of `{parser.prog}`, generated from the parser the command runs "
            "(`pixelar.cli.parser.build_parser`). `-h` / `--help` after any verb prints the same.",
            "",
            "```text",
            parser.format_usage().strip(),
            "```",
            "",
        ]
        for name, verb in verbs.items():
            summary = _escape(helps.get(name, ""))
            out += [f"## {parser.prog} {name}", "", summary[:1].upper() + summary[1:] + ".", ""]
            out += ["```text", verb.format_usage().strip(), "```", ""]
            out += ["| argument | default | what |", "|---|---|---|", *_argument_rows(verb), ""]
        return "\n".join(out)
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


def build_parser() -> argparse.ArgumentParser:
    """The parser of this checkout's ``pixelar`` (src/ first on the path, not an installed copy)."""
    src = str(ROOT / "src")
    if src not in sys.path:
        sys.path.insert(0, src)
    from pixelar.cli.parser import build_parser as build

    return build()


# -- pictures served from outside docs/ -----------------------------------------------------------
def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    for folder, (site, pattern) in SERVED.items():
        for path in sorted((ROOT / folder).glob(pattern)):
            files.append(File.generated(config, f"{site}/{path.name}", abs_src_path=str(path)))
    return files


def served_link(page_src: str, target: str) -> str | None:
    """Where the site serves a repository file a page links to by a relative path, as a link
    from that page (None if the link does not lead to a served file)."""
    if re.match(r"[a-z][a-z0-9+.-]*:|[#/]", target):
        return None
    page_dir = posixpath.dirname(f"docs/{page_src}")
    path = posixpath.normpath(posixpath.join(page_dir, target))
    folder, name = posixpath.split(path)
    if folder not in SERVED or not (ROOT / path).is_file():
        return None
    return posixpath.relpath(f"docs/{SERVED[folder][0]}/{name}", page_dir)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    src = page.file.src_uri
    if src == "reference/cli.md":
        if CLI_MARKER not in markdown:
            raise ValueError(f"{src} lacks the marker {CLI_MARKER}")
        markdown = markdown.replace(CLI_MARKER, cli_markdown(build_parser()))
    return LINK.sub(lambda m: m[1] + (served_link(src, m[2]) or m[2]) + m[3], markdown)


def on_page_content(content: str, page: Any, config: Any, files: Any) -> str:
    if page.file.src_uri.startswith("reference/api/"):
        return ROLE.sub(r"\1", content)
    return content
