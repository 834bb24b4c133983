"""Fast vs naive sampling, and fast sampling vs one teacher-forced forward pass.

    python benchmarks/bench_sampling.py [--models pixelcnn] [--naive-rows 8] [--out benchmarks/results/sampling.json]

For each model with a fast sampler, at 28×28×1 (K=2) and 32×32×3 (K=256), for each --batches:
naive seconds (the first --naive-rows rows timed and scaled to the whole image: naive cost per
row is constant), fast seconds (the whole image), their ratio, and fast / one forward pass
over the same batch (the floor). The naive baseline runs the whole network once per sub-pixel,
or once per pixel where a pixel's parameters do not depend on its own channels (PixelCNN++:
the mixture carries them); each row says which (``naive_pass_per``). Also (unless
--no-identity) the fraction of sub-pixels identical between fast and naive samples in float32
for the same seed (28×28, --identity-images images, sampled in full both ways). Weights are
random (a trained model costs the same). Writes the JSON (see benchmarks/harness.py) and a
figure beside it (.png). --quick: a smoke test.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import harness
import pixelar
from pixelar.sampling import params_per_pixel


def plot(rows: list[dict], path: Path) -> None:
    """Speed-up of fast over naive sampling and fast ÷ one forward pass, per model (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if "speedup" in r]
    models = sorted({r["model"] for r in rows})
    cases = sorted({(r["size"], r["batch"]) for r in rows})
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    width = 0.8 / max(1, len(cases))
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


def main(argv: list[str] | None = None) -> None:
    p = harness.parser(__doc__, "sampling")
    p.add_argument("--models", default=None, help="comma-separated (default: every model with a fast sampler)")
    p.add_argument("--num-layers", type=int, default=6)
    p.add_argument("--hidden-channels", type=int, default=32)
    p.add_argument("--naive-rows", type=int, default=8)
    p.add_argument("--batches", default="1,16", help="batch sizes timed")
    p.add_argument(
        "--identity",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also sample --identity-images images at 28×28 in full both ways and report the fraction identical",
    )
    p.add_argument("--identity-images", type=int, default=4)
    a = harness.parse(
        p,
        "sampling",
        {
            "models": "pixelcnn,pixelcnn++",
            "num_layers": 1,
            "hidden_channels": 8,
            "naive_rows": 1,
            "batches": "1,2",
            "identity_images": 1,
        },
        argv,
    )
    args = {"num_layers": a.num_layers, "hidden_channels": a.hidden_channels}
    names = harness.each(a.models) if a.models else pixelar.list_models()
    rows = []
    for name in names:
        for size, (shape, levels) in harness.SIZES.items():
            torch.manual_seed(0)
            model = pixelar.create_model(name, image_shape=shape, num_levels=levels, **args).eval()
            if not model.has_fast_sampler:
                continue
            for n in (int(b) for b in a.batches.split(",")):
                naive = harness.time_sampling(model, n, "naive", a.naive_rows)
                fast = harness.time_sampling(model, n, "fast")
                fwd = harness.time_forward(model, n)
                row = {
                    "kind": "timing",
                    "model": name,
                    "size": size,
                    "batch": n,
                    "naive_s": naive,
                    "naive_pass_per": "pixel" if params_per_pixel(model) and shape[0] > 1 else "sub-pixel",
                    "fast_s": fast,
                    "speedup": naive / fast,
                    "fast_over_forward": fast / fwd,
                    "forward_s": fwd,
                }
                rows.append(row)
                harness.emit(row)
        torch.manual_seed(0)
        model = pixelar.create_model(name, image_shape=(1, 28, 28), num_levels=2, **args).eval()
        if model.has_fast_sampler and a.identity:
            n = a.identity_images
            same = model.sample(n, generator=1, method="fast") == model.sample(n, generator=1, method="naive")
            rows.append(
                {
                    "kind": "identity",
                    "model": name,
                    "size": "28x28x1",
                    "batch": n,
                    "float32_identical": float(same.float().mean()),
                }
            )
            harness.emit(rows[-1])
    out = harness.write_results(a.out, "sampling", rows, ("kind", "model", "size", "batch"), a)
    plot(harness.load_rows(out), out.with_suffix(".png"))
    print(f"wrote {harness.relative(out.with_suffix('.png'))}")
    harness.show(out, "sampling")


if __name__ == "__main__":
    main()
