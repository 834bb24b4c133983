"""``bench_training.py --part sampling``: fast vs compiled sampling of 32×32×3 images at batch 1
and 16, with one teacher-forced forward pass as the yardstick, in interleaved rounds."""

from __future__ import annotations

import argparse
import statistics
import tempfile

import harness


def sample_once(model, uniforms, method: str):
    """(seconds, images) of sampling as many images as ``uniforms`` holds with ``method``."""
    import torch

    from pixelar.sampling import draw

    x = torch.zeros(uniforms.shape, dtype=torch.long)
    known = torch.zeros_like(x, dtype=torch.bool)
    with harness.Timer() as t:
        model.autoregress(x, known, None, method, lambda p, c, f: draw(p, f.take(uniforms, c)))
    return t.seconds, x


def sampling_rows(a: argparse.Namespace) -> list[dict]:
    """Sampling 32×32×3 images (K = 256) from each of ``--sample-models`` with random weights
    (``--sample-layers`` × ``--sample-channels``; bench_sampling.py's default configuration) at
    each of ``--batches``: one teacher-forced forward pass over the batch, the fast sampler and
    the compiled one (``method="compiled"``), measured in ``--times`` interleaved rounds
    (forward, fast, compiled): the times are the medians over the rounds, the ratios the medians
    of each round's ratios, so that drift in the machine's speed (how much of the second core
    the forward pass gets varies from round to round) reaches all three alike. A model's first compiled sampling builds its kernel into an empty
    cache dir: ``build_s`` is that sampling's time beyond a steady one (the first batch size
    only; later ones load the kernel). ``identical``: the fraction of sub-pixels fast and
    compiled drew alike from the same uniforms (float32: equal up to rare rounding ties)."""
    import os

    import torch

    import pixelar

    rows = []
    before = os.environ.get("PIXELAR_NATIVE_DIR")
    with tempfile.TemporaryDirectory() as cache:
        os.environ["PIXELAR_NATIVE_DIR"] = cache  # an empty cache: the first compiled sampling builds the kernel
        for name in harness.each(a.sample_models):
            torch.manual_seed(0)
            args = {"num_layers": a.sample_layers, "hidden_channels": a.sample_channels}
            model = pixelar.create_model(name, image_shape=(3, 32, 32), num_levels=256, **args).eval()
            for k, n in enumerate(int(b) for b in a.batches.split(",")):
                uniforms = torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
                first = sample_once(model, uniforms, "compiled")
                times: dict[str, list[float]] = {"forward": [], "fast": [], "compiled": []}
                images = {}
                for _ in range(a.times):
                    times["forward"].append(harness.time_forward(model, n, repeats=5))
                    for method in ("fast", "compiled"):
                        seconds, images[method] = sample_once(model, uniforms, method)
                        times[method].append(seconds)
                forward, fast, compiled = (statistics.median(times[key]) for key in ("forward", "fast", "compiled"))
                rounds = list(zip(times["forward"], times["fast"], times["compiled"]))
                row = {
                    "kind": "sampling",
                    "model": name,
                    "mode": f"batch {n}",
                    "batch": n,
                    "args": args,
                    "forward_s": forward,
                    "fast_s": fast,
                    "compiled_s": compiled,
                    "build_s": max(0.0, first[0] - compiled) if k == 0 else None,  # built for the first batch
                    # each round's ratios (its three timings side by side), then their median
                    "fast_over_forward": statistics.median(b / a for a, b, _ in rounds),
                    "compiled_over_forward": statistics.median(c / a for a, _, c in rounds),
                    "compiled_speedup": statistics.median(b / c for _, b, c in rounds),
                    "identical": float((images["fast"] == images["compiled"]).float().mean()),
                    "times": times,
                }
                rows.append(row)
                harness.emit(row)
    if before is None:
        del os.environ["PIXELAR_NATIVE_DIR"]
    else:
        os.environ["PIXELAR_NATIVE_DIR"] = before
    return rows


def sampling_table(rows: list[dict]) -> str:
    head = ["model", "batch", "forward ms", "fast s", "compiled s", "fast ÷ forward", "compiled ÷ forward"]
    head.append("fast ÷ compiled")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["model"], str(r["batch"]), f"{r['forward_s'] * 1e3:.1f}", f"{r['fast_s']:.3f}"]
        cells += [
            f"{r['compiled_s']:.3f}",
            f"{r['fast_over_forward']:.1f}×",
            f"{r['compiled_over_forward']:.1f}×",
            f"{r['compiled_speedup']:.2f}×",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
