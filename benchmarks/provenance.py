"""Results files that say where their numbers come from: which commit, tree, machine and
command measured each row.

A results file (``benchmarks/results/<name>.json``, read by ``benchmarks/report.py``)::

    {
      "benchmark": "models",            # which bench_*.py wrote it
      "schema": 2,
      "config": {...},                  # what every row was measured with (the options that
                                        # change numbers; not --out, --models, ...)
      "runs": {"<run id>": {            # every run that measured a row still in the file
          "commit": "<sha>" | null, "dirty": bool | null, "dirty_paths": [...],
          "python": "3.x.y", "torch": "2.x", "platform": "...", "machine": "x86_64",
          "cpu_count": 2, "torch_threads": 2, "date": "2025-...Z" (UTC, ISO 8601),
          "argv": [...], "command": "python benchmarks/...", "config": {...}}},
      "rows": [{"run": "<run id>", ...measurements...}]
    }

A file is rewritten by each run unless ``--merge`` is given; then rows of earlier runs are kept
(with their own run, hence commit) where the new run did not measure them, and only runs of the
same configuration merge. A row measured with a model trained by an earlier run (the training
cache, :func:`train_for_budget`) also records ``trained_commit`` / ``trained_dirty``.

``dirty`` ignores ``benchmarks/results/`` (the benchmarks write there) and ``runs/``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
SCHEMA = 2
OUTPUT_OPTIONS = {
    "out",
    "merge",
    "runs",
    "retrain",
    "reuse_any",
    "models",
    "datasets",
    "batches",
    "pages",
    "jobs",
}  # not configuration


def config_of(a: argparse.Namespace) -> dict[str, Any]:
    """The options that change the numbers (everything but where results go and which rows),
    with the number of torch threads the run used."""
    config = {k: v for k, v in sorted(vars(a).items()) if k not in OUTPUT_OPTIONS and k != "threads"}
    return config | {"torch_threads": torch.get_num_threads()}


# -- provenance -------------------------------------------------------------------------------
def git_state() -> tuple[str | None, bool | None, list[str]]:
    """(HEAD commit, whether the tree has changes outside benchmarks/results and runs, those paths)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--", ".", ":(exclude)benchmarks/results", ":(exclude)runs"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None, None, []
    paths = [line[3:] for line in status.splitlines() if line.strip()]
    return commit, bool(paths), paths


def run_metadata(config: dict[str, Any], argv: list[str] | None = None) -> dict[str, Any]:
    """Where and how a run measured: commit, tree state, versions, machine, date, command."""
    commit, dirty, paths = git_state()
    argv = list(sys.argv if argv is None else argv)
    script = Path(argv[0]).resolve() if argv else None
    if script is not None and script.is_relative_to(ROOT):
        argv[0] = str(script.relative_to(ROOT))
    return {
        "commit": commit,
        "dirty": dirty,
        "dirty_paths": paths[:20],
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "date": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "argv": argv,
        "command": "python " + shlex.join(argv),
        "config": config,
    }


# -- results files ----------------------------------------------------------------------------
def write_results(
    path: str | Path,
    benchmark: str,
    rows: list[dict],
    keys: tuple[str, ...],
    a: argparse.Namespace,
    meta: dict[str, Any] | None = None,
) -> Path:
    """Write the rows of this run (each tagged with the run) to ``path``; with ``a.merge``, keep
    the rows of earlier runs of the same configuration that ``keys`` do not match."""
    config = config_of(a)
    meta = meta or run_metadata(config)
    run = f"{meta['date']} {(meta['commit'] or 'unknown')[:12]}"
    rows = [{"run": run, **r} for r in rows]
    runs = {run: meta}
    path = Path(path)
    if a.merge and path.exists():
        old = json.loads(path.read_text())
        if old.get("benchmark") != benchmark or old.get("config") != config:
            raise SystemExit(
                f"error: {path} holds results of another benchmark or configuration "
                f"({old.get('config')}); drop --merge to replace it, or choose another --out"
            )
        new = {tuple(r.get(k) for k in keys) for r in rows}
        kept = [r for r in old["rows"] if tuple(r.get(k) for k in keys) not in new]
        rows = kept + rows
        runs = {k: v for k, v in old.get("runs", {}).items() if any(r.get("run") == k for r in kept)} | runs
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"benchmark": benchmark, "schema": SCHEMA, "config": config, "runs": runs, "rows": rows}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(path)
    print(f"wrote {_shown(path)}")
    return path


def load_rows(path: str | Path) -> list[dict]:
    return json.loads(Path(path).read_text())["rows"]


def show(path: str | Path, benchmark: str) -> None:
    """Print the Markdown table report.py makes of a results file (rows of other commits marked)."""
    sys.path.insert(0, str(Path(__file__).parent))
    import report

    print()
    print(report.render_one(benchmark, Path(path)))


def _shown(path: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def relative(path: str | Path) -> str:
    """A path as the README should show it: relative to the repository where it lies inside it."""
    return _shown(Path(path))
