"""Write the results — every table and every claim made from them — from
benchmarks/results/*.json into the documentation's results pages (docs/results/*.md) and the
README's headline table, so no result is typed by hand.

    python benchmarks/report.py                 # print the generated blocks
    python benchmarks/report.py --write         # put them into their pages, between their markers
    python benchmarks/report.py --check         # exit 1 if any page differs from what --write writes
    options: --allow-mixed  --results DIR  --root DIR

Each page of PAGES holds one marker pair per block it lists (BLOCKS), and no other:

    <!-- results:NAME:begin -->
    ...written by this script...
    <!-- results:NAME:end -->

Everything between a pair is replaced; everything outside is left alone (hand-written prose
there says nothing numeric: in the README, inside its "## Results" section; in the results
pages, anywhere). Links the blocks make to repository files (pictures in benchmarks/results/)
are written relative to the page. Each table says which commit, machine and command measured it.
Rows measured at different commits (or with a model trained at another commit, or in files
that predate recorded provenance) are refused — one line, exit status 2 — unless
--allow-mixed is given; then they are marked in the table and named under it.

This script needs only the standard library (the pages' check runs in the tests without torch).
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report_base import (
    CODECS,
    COMMANDS,
    RESULTS,
    ROOT,
    Doc,
    ReportError,
    Results,
    normalise,
)
from report_blocks import (
    block_conditional,
    block_demo,
    block_drift,
    block_models,
    block_quality,
    block_sampling,
    block_sampling_paper,
    block_versions,
)
from report_claims import (
    block_claims,
    claim_codec,
    claim_training,
)
from report_codec import block_codec, block_codec_real
from report_documents import block_documents, block_documents_headline
from report_headline import block_headline
from report_mnist import block_standard, block_standard_headline
from report_ood import block_ood, block_ood_headline
from report_orders import block_orders
from report_training import (
    block_compiled_sampling,
    block_distributed,
    block_imagenet_memory,
    block_learning,
    block_training,
)

# What the tests and the benchmarks use through this module.
__all__ = [
    "BLOCKS",
    "CODECS",
    "MARKER",
    "PAGES",
    "README",
    "RESULTS",
    "Page",
    "ReportError",
    "Results",
    "block_drift",
    "block_models",
    "block_quality",
    "claim_codec",
    "claim_training",
    "main",
    "outside_blocks",
    "render",
    "render_one",
    "results_section",
    "splice",
]

BLOCKS: dict[str, Callable[[Results], list[str]]] = {
    "demo": block_demo,
    "models": block_models,
    "drift": block_drift,
    "sampling": block_sampling,
    "sampling-paper": block_sampling_paper,
    "versions": block_versions,
    "quality": block_quality,
    "conditional": block_conditional,
    "codec": block_codec,
    "codec-real": block_codec_real,
    "training": block_training,
    "compiled-sampling": block_compiled_sampling,
    "learning": block_learning,
    "distributed": block_distributed,
    "imagenet-memory": block_imagenet_memory,
    "orders": block_orders,
    "standard": block_standard_headline,
    "standard-full": block_standard,
    "ood": block_ood_headline,
    "ood-full": block_ood,
    "documents": block_documents_headline,
    "documents-full": block_documents,
    "claims": block_claims,
    "headline": block_headline,
}


def render(res: Results) -> dict[str, str]:
    """Every block's Markdown (ending in one newline); raises ReportError."""
    out = {}
    for name, fn in BLOCKS.items():
        lines = fn(res)
        while lines and not lines[-1]:
            lines.pop()
        out[name] = "\n".join(lines) + "\n"
    return out


def render_one(benchmark: str, path: Path) -> str:
    """The table of one results file, wherever it lies (what a benchmark prints when it ends)."""
    docs: dict[str, Doc | None] = {n: None for n in COMMANDS}
    docs[benchmark] = normalise(benchmark, json.loads(Path(path).read_text()))
    block = {"demo": block_demo, "models": block_models, "sampling": block_sampling, "quality": block_quality}
    block |= {"conditional": block_conditional, "codec": block_codec, "versions": block_versions}
    block |= {"codec_real": block_codec_real, "orders": block_orders, "ood": block_ood, "documents": block_documents}
    return "\n".join(block[benchmark](Results(docs, allow_mixed=True)))


# -- the pages ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Page:
    """A file the blocks are written into: its path in the repository, the blocks it holds (each
    block lies in exactly one page), and the "## " section they lie in (None: anywhere)."""

    path: str
    blocks: tuple[str, ...]
    section: str | None = None

    @property
    def up(self) -> str:
        """From the page's folder back to the repository root ("" at the root)."""
        return "../" * self.path.count("/")


README = Page("README.md", ("headline", "standard", "ood", "documents"), section="Results")
PAGES: tuple[Page, ...] = (
    README,
    Page("docs/results/index.md", ("claims",)),
    Page("docs/results/models.md", ("demo", "models", "drift", "quality", "conditional")),
    Page("docs/results/sampling.md", ("sampling", "sampling-paper", "versions", "compiled-sampling")),
    Page("docs/results/codec.md", ("codec", "codec-real", "documents-full")),
    Page("docs/results/training.md", ("training", "learning")),
    Page("docs/results/scale.md", ("distributed", "imagenet-memory")),
    Page("docs/results/orders.md", ("orders",)),
    Page("docs/results/ood.md", ("ood-full",)),
    Page("docs/results/standard.md", ("standard-full",)),
)

MARKER = re.compile(r"<!-- results:(?P<name>[a-z0-9-]+):begin -->\n(?P<body>.*?)<!-- results:(?P=name):end -->", re.S)
# A Markdown link or picture to a repository file, as the blocks write it (relative to the root).
REPO_LINK = re.compile(r"(\]\()(?![a-z][a-z0-9+.-]*:|[#/])")


def results_section(text: str, page: Page = README) -> tuple[int, int]:
    """Start and end offsets of the part of a page that holds its blocks: its "## <section>"
    section (to the next "## " heading), or the whole text."""
    if page.section is None:
        return 0, len(text)
    heading = f"\n## {page.section}\n"
    start = text.find(heading)
    if start < 0:
        raise ReportError(f"{page.path} has no '## {page.section}' section")
    nxt = re.search(r"^## ", text[start + len(heading) :], re.M)
    return start, start + len(heading) + nxt.start() if nxt else len(text)


def splice(text: str, blocks: dict[str, str], page: Page = README) -> str:
    """The page's text with each of its blocks' bodies replaced by the generated text (its links
    to repository files made relative to the page)."""
    lo, hi = results_section(text, page)
    found = [(m.group("name"), m.start(), m.end()) for m in MARKER.finditer(text)]
    names = [n for n, _, _ in found]
    where = f"'## {page.section}' section" if page.section else "page"
    for name, s, e in found:
        if name not in page.blocks:
            other = next((p.path for p in PAGES if name in p.blocks), None)
            why = f"it belongs in {other}" if other else "an unknown results block"
            raise ReportError(f"{page.path} has a marker for the results block {name!r} ({why})")
        if not lo <= s < e <= hi:
            raise ReportError(f"{page.path}'s results block {name!r} lies outside the {where}")
    absent = [n for n in page.blocks if n not in names]
    dup = {n for n in names if names.count(n) > 1}
    if absent or dup:
        raise ReportError(f"{page.path} lacks (or repeats) the markers of: {', '.join(absent or sorted(dup))}")

    def body(name: str) -> str:
        return REPO_LINK.sub(lambda m: m[1] + page.up, blocks[name])

    return MARKER.sub(
        lambda m: f"<!-- results:{m['name']}:begin -->\n{body(m['name'])}<!-- results:{m['name']}:end -->", text
    )


def outside_blocks(text: str, page: Page = README) -> str:
    """The hand-written part of a page's results (everything there but the generated blocks)."""
    lo, hi = results_section(text, page)
    return MARKER.sub("", text[lo:hi])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="write the blocks into their pages")
    mode.add_argument("--check", action="store_true", help="exit 1 if a page is not what --write would make it")
    p.add_argument("--allow-mixed", action="store_true", help="mark rows of other commits instead of refusing them")
    p.add_argument("--results", type=Path, default=RESULTS)
    p.add_argument("--root", type=Path, default=ROOT, help="the repository whose pages are written (PAGES)")
    a = p.parse_args(argv)
    try:
        blocks = render(Results.read(a.results, a.allow_mixed))
        if not (a.write or a.check):
            for name, body in blocks.items():
                print(f"<!-- results:{name}:begin -->\n{body}<!-- results:{name}:end -->\n")
            return 0
        texts = {page: (a.root / page.path).read_text() for page in PAGES}
        new = {page: splice(text, blocks, page) for page, text in texts.items()}
    except (ReportError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    stale = [page for page in PAGES if new[page] != texts[page]]
    if a.check:
        for page in stale:
            old = texts[page].splitlines()
            diff = difflib.unified_diff(old, new[page].splitlines(), page.path, "generated", lineterm="", n=0)
            print("\n".join(list(diff)[:40]), file=sys.stderr)
        if stale:
            names = ", ".join(page.path for page in stale)
            print(f"error: out of date: {names}; run python benchmarks/report.py --write", file=sys.stderr)
            return 1
        return 0
    for page in stale:
        (a.root / page.path).write_text(new[page])
        print(f"updated {page.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
