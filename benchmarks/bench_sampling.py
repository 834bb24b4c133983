"""Fast vs naive sampling, and fast sampling vs one teacher-forced forward pass.

    python benchmarks/bench_sampling.py [--models pixelcnn] [--naive-rows 8] [--out benchmarks/results/sampling.json]

For each model with a fast sampler, at 28×28×1 (K=2) and 32×32×3 (K=256), batch 1 and 16:
naive seconds (the first --naive-rows rows timed and scaled to the whole image: naive cost per
row is constant), fast seconds (the whole image), their ratio, and fast / one forward pass
over the same batch (the floor). Also (unless --no-identity) the fraction of sub-pixels
identical between fast and naive samples in float32 for the same seed (28×28, batch 16,
sampled in full by both). Weights are random (a trained model costs the same). Writes the
JSON (rows of earlier runs kept unless re-measured) and a figure beside it (.png).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

import pixelar
from pixelar.sampling import as_generator, draw

SIZES = {"28x28x1": ((1, 28, 28), 2), "32x32x3": ((3, 32, 32), 256)}


def time_sampling(model, n: int, method: str, rows: int | None = None) -> float:
    """Seconds to sample n images with ``method`` through the model's own loop; with ``rows``,
    only the first rows are generated (the rest marked known) and the time is scaled."""
    C, H, W = model.image_shape
    rows = H if rows is None else min(rows, H)
    gen = as_generator(0)
    x = torch.zeros(n, C, H, W, dtype=torch.long, device=model.device)
    known = torch.zeros(n, C, H, W, dtype=torch.bool, device=model.device)
    known[:, :, rows:] = True  # nothing after the timed rows is generated

    uniforms = torch.rand(n, C, H, W, generator=gen, dtype=torch.float64)

    def choose(logp, c, front):
        return draw(logp, front.take(uniforms, c))

    t = time.perf_counter()
    model.autoregress(x, known, None, method, choose)
    return (time.perf_counter() - t) * H / rows


def merge_rows(path: Path, rows: list[dict], keys: tuple[str, ...]) -> list[dict]:
    """Rows of an earlier run of the same benchmark, replaced where ``keys`` match."""
    if not path.exists():
        return rows
    new = {tuple(r.get(k) for k in keys) for r in rows}
    old = [r for r in json.loads(path.read_text())["rows"] if tuple(r.get(k) for k in keys) not in new]
    return old + rows


def time_forward(model, n: int, repeats: int = 5) -> float:
    """Seconds of one teacher-forced pass (log_prob) over a batch of n images."""
    x = torch.randint(0, model.num_levels, (n, *model.image_shape))
    with torch.inference_mode():
        model.log_prob(x)
        t = time.perf_counter()
        for _ in range(repeats):
            model.log_prob(x)
    return (time.perf_counter() - t) / repeats


def plot(rows: list[dict], path: Path) -> None:
    """Speed-up of fast over naive sampling and fast ÷ one forward pass, per model (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if "speedup" in r]
    models = sorted({r["model"] for r in rows})
    cases = sorted({(r["size"], r["batch"]) for r in rows})
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    width = 0.8 / len(cases)
    for ax, key, title in (
        (axes[0], "speedup", "fast sampling: times faster than naive"),
        (axes[1], "fast_over_forward", "fast sampling ÷ one forward pass"),
    ):
        for i, (size, batch) in enumerate(cases):
            values = [
                next((r[key] for r in rows if (r["model"], r["size"], r["batch"]) == (m, size, batch)), 0)
                for m in models
            ]
            ax.bar([j + i * width for j in range(len(models))], values, width, label=f"{size}, batch {batch}")
        ax.set_yscale("log")
        ax.set_xticks([j + width * (len(cases) - 1) / 2 for j in range(len(models))], models, rotation=20)
        ax.set_title(title)
        ax.grid(axis="y", alpha=0.3)
    axes[0].axhline(50, color="k", lw=0.8, ls="--")
    axes[1].axhline(10, color="k", lw=0.8, ls="--")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=None, help="comma-separated (default: every model with a fast sampler)")
    p.add_argument("--num-layers", type=int, default=6)
    p.add_argument("--hidden-channels", type=int, default=32)
    p.add_argument("--naive-rows", type=int, default=8)
    p.add_argument(
        "--identity",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also sample 16 images at 28×28 in full both ways and report the fraction identical",
    )
    p.add_argument("--out", default="benchmarks/results/sampling.json")
    a = p.parse_args()
    args = {"num_layers": a.num_layers, "hidden_channels": a.hidden_channels}
    names = a.models.split(",") if a.models else pixelar.list_models()
    rows = []
    for name in names:
        for size, (shape, levels) in SIZES.items():
            torch.manual_seed(0)
            model = pixelar.create_model(name, image_shape=shape, num_levels=levels, **args).eval()
            if not model.has_fast_sampler:
                continue
            for n in (1, 16):
                naive = time_sampling(model, n, "naive", a.naive_rows)
                fast = time_sampling(model, n, "fast")
                fwd = time_forward(model, n)
                row = {
                    "model": name,
                    "size": size,
                    "batch": n,
                    "naive_s": naive,
                    "fast_s": fast,
                    "speedup": naive / fast,
                    "fast_over_forward": fast / fwd,
                    "forward_s": fwd,
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
        torch.manual_seed(0)
        model = pixelar.create_model(name, image_shape=(1, 28, 28), num_levels=2, **args).eval()
        if model.has_fast_sampler and a.identity:
            same = model.sample(16, generator=1, method="fast") == model.sample(16, generator=1, method="naive")
            rows.append(
                {"model": name, "size": "28x28x1", "batch": 16, "float32_identical": float(same.float().mean())}
            )
    print()
    print(
        f"{'model':18s} {'size':8s} {'batch':>5s} {'naive s':>9s} {'fast s':>8s} {'fast ×':>8s} {'fast/forward':>13s}"
    )
    for r in rows:
        if "speedup" in r:
            print(
                f"{r['model']:18s} {r['size']:8s} {r['batch']:5d} {r['naive_s']:9.2f} {r['fast_s']:8.3f} "
                f"{r['speedup']:8.1f} {r['fast_over_forward']:13.1f}"
            )
    for r in rows:
        if "float32_identical" in r:
            print(
                f"{r['model']}: fraction of sub-pixels identical, fast vs naive, float32: {r['float32_identical']:.4f}"
            )
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = merge_rows(out, rows, ("model", "size", "batch"))
    meta = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
        **args,
        "naive_rows": a.naive_rows,
    }
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    plot(rows, out.with_suffix(".png"))
    print(f"\nwrote {out} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
