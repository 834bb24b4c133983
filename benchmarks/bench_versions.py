"""Fast sampling of this tree against an earlier commit, side by side in one run.

    python benchmarks/bench_versions.py --baseline REV [--models pixelcnn,...] [--repeat 3]

For a restructuring that must not slow anything down: for each model with a fast sampler, at
28×28×1 (K=2) and 32×32×3 (K=256) and each of --batches, the seconds to sample with the fast
sampler at ``REV`` (its ``src/`` extracted with ``git archive``) and with the working tree,
each in its own fresh process, --repeat processes per version in the order B C C B B C ...
(B baseline, C current), each timing --times samplings; the best time of each version is
kept, so drift of the machine hits both alike. Both processes use the same weights
(the baseline process creates the model with seed 0 and saves its state dict; the current one
loads it, which also checks that checkpoints of REV still load) and the same seed, and the
sampled images are compared: ``identical`` says whether they are the same. Writes
benchmarks/results/versions.json and prints the table; ``ratio`` = current ÷ baseline seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import harness

WORKER = "worker"


def worker(argv: list[str]) -> None:
    """In a process whose ``pixelar`` is one version: time fast sampling, print JSON."""
    p = argparse.ArgumentParser()
    p.add_argument("--model")
    p.add_argument("--size")
    p.add_argument("--batch", type=int)
    p.add_argument("--weights")
    p.add_argument("--save", action="store_true")
    p.add_argument("--args")
    p.add_argument("--times", type=int, default=1)
    a = p.parse_args(argv)
    import hashlib

    import torch

    import pixelar

    shape, levels = harness.SIZES[a.size]
    torch.manual_seed(0)
    model = pixelar.create_model(a.model, image_shape=shape, num_levels=levels, **json.loads(a.args)).eval()
    if a.save:
        torch.save(model.state_dict(), a.weights)
    else:
        model.load_state_dict(torch.load(a.weights, weights_only=True))
    best = float("inf")
    for _ in range(a.times):
        start = time.perf_counter()
        images = model.sample(a.batch, generator=0, method="fast")
        best = min(best, time.perf_counter() - start)
    digest = hashlib.sha256(images.cpu().numpy().tobytes()).hexdigest()
    print(json.dumps({"seconds": best, "images": digest, "fast": model.has_fast_sampler}))


def run_worker(
    src: Path, args: list[str], threads: int | None, script: str = __file__, env: dict[str, str] | None = None
) -> dict:
    """Run ``script worker ARGS`` in a fresh process whose ``pixelar`` is the one in ``src``
    (``env``: more environment variables); its last line of output, parsed as JSON."""
    env = dict(os.environ, PYTHONPATH=f"{src}{os.pathsep}{Path(__file__).parent}", **(env or {}))
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    out = subprocess.run([sys.executable, script, WORKER, *args], env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"error: the worker failed ({' '.join(args)}):\n{out.stderr.strip()}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def extract_src(rev: str, into: Path) -> tuple[str, Path]:
    """The commit ``rev`` names, and its ``src/`` extracted (``git archive``) under ``into``:
    the directory to put on PYTHONPATH for that version of ``pixelar``."""
    commit = subprocess.run(
        ["git", "rev-parse", "--verify", f"{rev}^{{commit}}"], cwd=harness.ROOT, capture_output=True, text=True
    )
    if commit.returncode != 0:
        raise SystemExit(f"error: {rev!r} is not a commit of this repository")
    archive = subprocess.run(
        ["git", "archive", commit.stdout.strip(), "src"], cwd=harness.ROOT, capture_output=True, check=True
    )
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return commit.stdout.strip(), into / "src"


def main(argv: list[str] | None = None) -> None:
    p = harness.parser(__doc__, "versions")
    p.add_argument("--baseline", required=True, help="the git revision to compare against (e.g. a commit)")
    p.add_argument("--models", default=None, help="comma-separated (default: every model with a fast sampler)")
    p.add_argument("--num-layers", type=int, default=4)
    p.add_argument("--hidden-channels", type=int, default=32)
    p.add_argument("--batches", default="1,16", help="batch sizes timed")
    p.add_argument("--repeat", type=int, default=3, help="alternating processes per version")
    p.add_argument("--times", type=int, default=1, help="timed samplings per process (the best is kept)")
    a = harness.parse(p, "versions", {"models": "pixelcnn", "batches": "1", "repeat": 1, "num_layers": 1}, argv)
    import pixelar

    names = harness.each(a.models) if a.models else pixelar.list_models()
    model_args = json.dumps({"num_layers": a.num_layers, "hidden_channels": a.hidden_channels})
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        baseline, old_src = extract_src(a.baseline, Path(tmp) / "baseline")
        current = harness.ROOT / "src"
        for name in names:
            for size in harness.SIZES:
                for batch in (int(b) for b in a.batches.split(",")):
                    weights = str(Path(tmp) / f"{name}-{size}.pt")
                    common = ["--model", name, "--size", size, "--batch", str(batch), "--weights", weights]
                    common += ["--args", model_args, "--times", str(a.times)]
                    before, after = [], []
                    for i in range(a.repeat):  # B A A B B A ...: neither version always runs first
                        if i % 2 == 0:
                            before.append(run_worker(old_src, [*common, *(["--save"] if i == 0 else [])], a.threads))
                            if not before[-1]["fast"]:
                                break
                            after.append(run_worker(current, common, a.threads))
                        else:
                            after.append(run_worker(current, common, a.threads))
                            before.append(run_worker(old_src, common, a.threads))
                    if not before[-1]["fast"]:
                        continue
                    row = {
                        "model": name,
                        "size": size,
                        "batch": batch,
                        "baseline_s": min(r["seconds"] for r in before),
                        "current_s": min(r["seconds"] for r in after),
                        # the spread of each version's process bests: how far one process can drift
                        "baseline_spread": max(r["seconds"] for r in before) / min(r["seconds"] for r in before),
                        "current_spread": max(r["seconds"] for r in after) / min(r["seconds"] for r in after),
                        "identical": len({r["images"] for r in before + after}) == 1,
                    }
                    row["ratio"] = row["current_s"] / row["baseline_s"]
                    rows.append(row)
                    harness.emit(row)
    a.baseline = baseline  # the resolved commit is part of the configuration
    out = harness.write_results(a.out, "versions", rows, ("model", "size", "batch"), a)
    harness.show(out, "versions")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == WORKER:
        worker(sys.argv[2:])
    else:
        main()
