"""Soak tests: what must not fail when it is done again and again — distributed start + resume,
a rank killed then resumed, codec round trips, codec files under 64 bytes (each decoded or
refused in under a second), concurrent requests to the web app. Prints
failures over attempts per part and writes benchmarks/results/soak.json. Not part of
``make test`` (it takes minutes to an hour): ``make soak`` runs the issue's sizes.

    python benchmarks/soak.py                          # every part at the issue's sizes
    python benchmarks/soak.py --parts dist --pairs 5   # one part, smaller
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from provenance import write_results

PARTS = ("dist", "kill", "term", "codec", "small", "web")
RESULTS = Path(__file__).resolve().parent / "results" / "soak.json"


def run_part(part: str, a: argparse.Namespace) -> dict[str, Any]:
    """One part's result: name, attempts, failures, errors (first few), seconds, and more."""
    if part == "dist":
        import soak_distributed

        return soak_distributed.run_pairs(a.pairs)
    if part in ("kill", "term"):
        import soak_distributed

        return (soak_distributed.run_kills if part == "kill" else soak_distributed.run_terms)(a.kills)
    if part == "codec":
        import soak_codec

        return soak_codec.run(a.codec, seed=a.seed)
    if part == "small":
        import soak_codec_small

        return soak_codec_small.run()
    import soak_web

    return soak_web.run(a.requests, clients=a.clients, seed=a.seed)


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| part | attempts | failures | seconds | notes |", "|---|---|---|---|---|"]
    for r in rows:
        notes = []
        if "slowest_cpu_seconds" in r:
            notes.append(f"slowest file {r['slowest_cpu_seconds']:.2f} CPU s")
        if "refused" in r:
            notes.append(f"{r['refused']} refused (429/503)")
        if "rss_start_mb" in r:
            flat = "flat" if r.get("memory_flat") else "NOT flat"
            notes.append(f"RSS {r['rss_start_mb']:.0f} → {r['rss_end_mb']:.0f} MB ({flat})")
        lines.append(f"| {r['name']} | {r['attempts']} | {r['failures']} | {r['seconds']:.0f} | {'; '.join(notes)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}")
    p.add_argument("--pairs", type=int, default=50, help="distributed start + resume pairs")
    p.add_argument(
        "--kills", type=int, default=5, help="runs with a rank killed (kill) or stopped (term), then resumed"
    )
    p.add_argument("--codec", type=int, default=200, help="codec round trips")
    p.add_argument("--requests", type=int, default=200, help="web requests in all")
    p.add_argument("--clients", type=int, default=8, help="concurrent web clients")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--merge", action="store_true", help="keep the other parts' rows already in --out")
    a = p.parse_args(argv)
    parts = [part for part in a.parts.split(",") if part]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        p.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    rows = []
    for part in parts:
        row = {"part": part, **run_part(part, a)}
        rows.append(row)
        for error in row.get("errors", []):
            print(f"  {part}: {error}", file=sys.stderr)
    print(table(rows))
    settings = argparse.Namespace(**{k: v for k, v in vars(a).items() if k != "parts"})  # which rows, not how
    write_results(a.out, "soak", rows, ("part",), settings)
    return 1 if any(r["failures"] for r in rows) or not all(r.get("memory_flat", True) for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
