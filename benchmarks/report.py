"""Write the README's results — every table and every claim made from them — from
benchmarks/results/*.json, so no number in the README is typed by hand.

    python benchmarks/report.py                 # print the generated blocks
    python benchmarks/report.py --write         # put them into README.md, between their markers
    python benchmarks/report.py --check         # exit 1 if README.md differs from what --write writes
    options: --allow-mixed  --results DIR  --readme PATH

README.md's "## Results" section holds one marker pair per block (BLOCKS):

    <!-- results:NAME:begin -->
    ...written by this script...
    <!-- results:NAME:end -->

Everything between a pair is replaced; everything outside is left alone (hand-written prose
there says nothing numeric). Each table says which commit, machine and command measured it.
Rows measured at different commits (or with a model trained at another commit, or in files
that predate recorded provenance) are refused — one line, exit status 2 — unless
--allow-mixed is given; then they are marked in the table and named under it.

This script needs only the standard library (the README check runs in the tests without torch).
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report_base import (
    CODECS,
    COMMANDS,
    README,
    RESULTS,
    Doc,
    ReportError,
    Results,
    normalise,
)
from report_blocks import (
    block_codec,
    block_codec_real,
    block_compiled_sampling,
    block_conditional,
    block_demo,
    block_distributed,
    block_drift,
    block_imagenet_memory,
    block_learning,
    block_models,
    block_quality,
    block_sampling,
    block_sampling_paper,
    block_training,
    block_versions,
)
from report_claims import (
    block_claims,
    claim_codec,
    claim_training,
)

# What the tests and the benchmarks use through this module.
__all__ = [
    "BLOCKS",
    "CODECS",
    "MARKER",
    "RESULTS",
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
    "claims": block_claims,
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
    block |= {"codec_real": block_codec_real}
    return "\n".join(block[benchmark](Results(docs, allow_mixed=True)))


# -- README -------------------------------------------------------------------------------------
MARKER = re.compile(r"<!-- results:(?P<name>[a-z0-9-]+):begin -->\n(?P<body>.*?)<!-- results:(?P=name):end -->", re.S)


def results_section(text: str) -> tuple[int, int]:
    """Start and end offsets of the "## Results" section (to the next "## " heading)."""
    start = text.find("\n## Results\n")
    if start < 0:
        raise ReportError("README.md has no '## Results' section")
    nxt = re.search(r"^## ", text[start + 12 :], re.M)
    return start, start + 12 + nxt.start() if nxt else len(text)


def splice(text: str, blocks: dict[str, str]) -> str:
    """README text with every block's body replaced by its generated text."""
    lo, hi = results_section(text)
    found = [(m.group("name"), m.start(), m.end()) for m in MARKER.finditer(text)]
    names = [n for n, _, _ in found]
    for name, s, e in found:
        if name not in blocks:
            raise ReportError(f"README.md has a marker for an unknown results block {name!r}")
        if not lo <= s < e <= hi:
            raise ReportError(f"README.md's results block {name!r} lies outside the '## Results' section")
    absent = [n for n in blocks if n not in names]
    dup = {n for n in names if names.count(n) > 1}
    if absent or dup:
        raise ReportError(f"README.md's Results section lacks (or repeats) the markers of: {', '.join(absent or dup)}")
    return MARKER.sub(
        lambda m: f"<!-- results:{m['name']}:begin -->\n{blocks[m['name']]}<!-- results:{m['name']}:end -->", text
    )


def outside_blocks(text: str) -> str:
    """The hand-written part of the Results section (everything but the generated blocks)."""
    lo, hi = results_section(text)
    return MARKER.sub("", text[lo:hi])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="write the blocks into README.md")
    mode.add_argument("--check", action="store_true", help="exit 1 if README.md is not what --write would make it")
    p.add_argument("--allow-mixed", action="store_true", help="mark rows of other commits instead of refusing them")
    p.add_argument("--results", type=Path, default=RESULTS)
    p.add_argument("--readme", type=Path, default=README)
    a = p.parse_args(argv)
    try:
        blocks = render(Results.read(a.results, a.allow_mixed))
        if not (a.write or a.check):
            for name, body in blocks.items():
                print(f"<!-- results:{name}:begin -->\n{body}<!-- results:{name}:end -->\n")
            return 0
        text = a.readme.read_text()
        new = splice(text, blocks)
    except ReportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if a.check:
        if new == text:
            return 0
        diff = difflib.unified_diff(text.splitlines(), new.splitlines(), "README.md", "generated", lineterm="", n=0)
        print("\n".join(list(diff)[:40]), file=sys.stderr)
        print(f"error: {a.readme} is out of date; run python benchmarks/report.py --write", file=sys.stderr)
        return 1
    if new != text:
        a.readme.write_text(new)
        print(f"updated {a.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
