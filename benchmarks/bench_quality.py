"""PixelCNN vs PixelRNN at the same CPU budget: test NLL on the bundled binarized digits.

    python benchmarks/bench_quality.py [--minutes 10] [--out benchmarks/results/quality.json]

Trains each model for the same wall-clock budget (batch 32, Adam 1e-3) on the 4,500 training
digits and evaluates the exact test NLL (nats/image) on the 500 test digits. The recurrent
models use the paper's binarized-MNIST sizes (Diagonal BiLSTM 1 layer, h = 32; Section 5 /
Table 4); PixelCNN the demo configuration. Writes sample grids beside the JSON.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from pixelar.plotting import save_grid
from pixelar.training import TrainConfig, Trainer

SPECS = {
    "pixelcnn": {"num_layers": 6, "hidden_channels": 32},
    "row-lstm": {"num_layers": 2, "hidden_channels": 32},
    "diagonal-bilstm": {"num_layers": 1, "hidden_channels": 32},
    "gated-pixelcnn": {"num_layers": 6, "hidden_channels": 32},
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=",".join(SPECS))
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--out", default="benchmarks/results/quality.json")
    a = p.parse_args()
    rows = []
    for name in a.models.split(","):
        cfg = TrainConfig(
            model=name,
            model_args=SPECS[name],
            data="digits-binary",
            batch_size=32,
            steps=10**9,
            max_minutes=a.minutes,
            eval_every=0,
            checkpoint_every=0,
            num_samples=0,
        )
        with tempfile.TemporaryDirectory() as d:
            trainer = Trainer(cfg, d, progress=False)
            result = trainer.fit()
            samples = trainer.eval_model.sample(16, generator=0)
        grid = Path(a.out).with_name(f"quality_{name}.png")
        save_grid(samples, 2, grid)
        params = sum(p.numel() for p in trainer.model.parameters())
        rows.append(
            {
                "model": name,
                "args": SPECS[name],
                "parameters": params,
                "minutes": a.minutes,
                "steps": result["step"],
                "test_nll_nats": result["nats_per_image"],
                "grid": str(grid),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    print()
    print(f"{'model':18s} {'config':36s} {'params':>8s} {'steps':>6s} {'test NLL (nats)':>16s}")
    for r in rows:
        print(
            f"{r['model']:18s} {json.dumps(r['args']):36s} {r['parameters']:8d} {r['steps']:6d} {r['test_nll_nats']:16.2f}"
        )
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
