"""Training speed, sampling speed and the NLL reached on a fixed CPU budget, for every model.

    python benchmarks/bench_models.py [--minutes 2] [--models pixelcnn,...] [--out benchmarks/results/models.json]

For each model at the same depth and width:
  * training images/s at 28×28×1 (K=2) and 32×32×3 (K=256);
  * seconds to sample 16 images at both sizes with the model's default method (fast where it
    has one; naive otherwise, timed on --sample-rows rows and scaled, marked "est.");
  * the test NLL (nats/image) on the bundled binarized digits after --minutes of training.
Prints a table and writes JSON. Ratios measured side by side in one run are what to compare.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch

import pixelar
from bench_sampling import merge_rows, time_sampling
from pixelar.training import TrainConfig, Trainer

SIZES = {"28x28x1": ((1, 28, 28), 2), "32x32x3": ((3, 32, 32), 256)}


def train_rate(name: str, shape, levels, args, batch: int = 16, steps: int = 6) -> float:
    torch.manual_seed(0)
    model = pixelar.create_model(name, image_shape=shape, num_levels=levels, **args)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    x = torch.randint(0, levels, (batch, *shape))
    for i in range(steps + 1):
        if i == 1:
            t = time.perf_counter()
        loss = -model.log_prob(x).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return steps * batch / (time.perf_counter() - t)


def nll_after(name: str, args, minutes: float) -> dict:
    cfg = TrainConfig(
        model=name,
        model_args=args,
        data="digits-binary",
        batch_size=32,
        steps=10**9,
        max_minutes=minutes,
        eval_every=0,
        checkpoint_every=0,
        num_samples=0,
    )
    with tempfile.TemporaryDirectory() as d:
        trainer = Trainer(cfg, d, progress=False)
        result = trainer.fit()
    return {"nats_per_image": result["nats_per_image"], "steps": result["step"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=",".join(pixelar.list_models()))
    p.add_argument("--num-layers", type=int, default=4)
    p.add_argument("--hidden-channels", type=int, default=32)
    p.add_argument("--minutes", type=float, default=2.0, help="training budget for the NLL column (0 skips it)")
    p.add_argument("--sample-rows", type=int, default=4, help="rows timed for naive sampling at 32×32×3")
    p.add_argument("--out", default="benchmarks/results/models.json")
    a = p.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    args = {"num_layers": a.num_layers, "hidden_channels": a.hidden_channels}
    rows = []
    for name in a.models.split(","):
        row: dict = {"model": name}
        for size, (shape, levels) in SIZES.items():
            row[f"train_img_s_{size}"] = train_rate(name, shape, levels, args)
            model = pixelar.create_model(name, image_shape=shape, num_levels=levels, **args)
            fast = model.has_fast_sampler
            row[f"sample16_s_{size}"] = time_sampling(model, 16, "auto", None if fast else a.sample_rows)
            row[f"sample16_s_{size}_estimated"] = not fast
        if a.minutes > 0:
            row.update(
                {f"digits_binary_{k}_after_{a.minutes:g}min": v for k, v in nll_after(name, args, a.minutes).items()}
            )
        rows.append(row)
        print(json.dumps(row))
    print()
    header = (
        f"{'model':20s} {'train img/s 28²':>16s} {'train img/s 32²×3':>18s} "
        f"{'sample 16, s, 28²':>18s} {'sample 16, s, 32²×3':>20s} {'NLL nats':>9s}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        nll = next((v for k, v in r.items() if k.startswith("digits_binary_nats")), float("nan"))
        cells = [f"{r[f'sample16_s_{s}']:.2f}" + (" est." if r[f"sample16_s_{s}_estimated"] else "") for s in SIZES]
        print(
            f"{r['model']:20s} {r['train_img_s_28x28x1']:16.1f} {r['train_img_s_32x32x3']:18.1f} "
            f"{cells[0]:>18s} {cells[1]:>20s} {nll:9.2f}"
        )
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = merge_rows(out, rows, ("model",))
    meta = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "num_layers": a.num_layers,
        "hidden_channels": a.hidden_channels,
        "minutes": a.minutes,
    }
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
