"""PixelCNN vs PixelRNN at the same CPU budget: test NLL on the bundled binarized digits.

    python benchmarks/bench_quality.py [--minutes 5] [--models pixelcnn,...] [--out benchmarks/results/quality.json]

Trains each model for the same wall-clock budget (batch 32, Adam 1e-3) on the 4,500 training
digits and evaluates the exact test NLL (nats/image) on the 500 test digits. The recurrent
models use the paper's binarized-MNIST sizes (Diagonal BiLSTM 1 layer, h = 32; Section 5 /
Table 4); PixelCNN the demo configuration. Writes sample grids beside the JSON. Trained
models are cached in runs/ by configuration (see benchmarks/harness.py). --quick: a smoke test.
"""

from __future__ import annotations

from pathlib import Path

import harness
from pixelar.plotting import save_grid

SPECS = {
    "pixelcnn": {"num_layers": 6, "hidden_channels": 32},
    "row-lstm": {"num_layers": 2, "hidden_channels": 32},
    "diagonal-bilstm": {"num_layers": 1, "hidden_channels": 32},
    "gated-pixelcnn": {"num_layers": 6, "hidden_channels": 32},
}
QUICK = {"pixelcnn": {"num_layers": 1, "hidden_channels": 8}, "row-lstm": {"num_layers": 1, "hidden_channels": 8}}


def main(argv: list[str] | None = None) -> None:
    p = harness.parser(__doc__, "quality")
    p.add_argument("--models", default="pixelcnn,row-lstm,diagonal-bilstm", help=f"any of {', '.join(SPECS)}")
    p.add_argument("--minutes", type=float, default=5.0)
    p.add_argument("--samples", type=int, default=16, help="images in each sample grid")
    a = harness.parse(p, "quality", {"models": "pixelcnn,row-lstm", "minutes": 0.05, "samples": 4}, argv)
    a.specs = QUICK if a.quick else SPECS  # recorded in the configuration
    rows = []
    for name in harness.each(a.models):
        cfg = harness.budget_config(name, a.specs[name], "digits-binary", a.minutes, batch_size=32, lr=1e-3)
        trained = harness.train_for_budget(cfg, a, "quality")
        samples = trained.model.sample(a.samples, generator=0)
        grid = Path(a.out).with_name(f"quality_{name}.png")
        save_grid(samples, 2, grid)
        rows.append(
            {
                "model": name,
                "args": a.specs[name],
                "parameters": harness.parameters(trained.model),
                "minutes": a.minutes,
                **trained.row_fields(),
                "grid": harness.relative(grid),
            }
        )
        harness.emit(rows[-1])
    out = harness.write_results(a.out, "quality", rows, ("model",), a)
    harness.show(out, "quality")


if __name__ == "__main__":
    main()
