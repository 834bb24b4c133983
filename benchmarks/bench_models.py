"""Training speed, sampling speed and the NLL reached on a fixed CPU budget, for every model.

    python benchmarks/bench_models.py [--minutes 2] [--models pixelcnn,...] [--out benchmarks/results/models.json]

For each model at the same depth and width:
  * training images/s at 28×28×1 (K=2) and 32×32×3 (K=256), random images, batch 16;
  * seconds to sample 16 images at both sizes with the model's default method (fast where it
    has one; naive otherwise, timed on --sample-rows rows and scaled, marked "est.");
  * the test NLL (nats/image) on the bundled binarized digits after --minutes of training at
    batch 32 (Adam 1e-3); --minutes 0 skips it (the timing columns alone take about a minute,
    which is how `benchmarks/results/models_run2.json` measures how far timings drift).
Prints the table and writes JSON (see benchmarks/harness.py). --quick: a smoke test.
"""

from __future__ import annotations

import harness
import pixelar


def main(argv: list[str] | None = None) -> None:
    p = harness.parser(__doc__, "models")
    p.add_argument("--models", default=",".join(pixelar.list_models()))
    p.add_argument("--num-layers", type=int, default=4)
    p.add_argument("--hidden-channels", type=int, default=32)
    p.add_argument("--minutes", type=float, default=2.0, help="training budget for the NLL column (0 skips it)")
    p.add_argument("--train-batch", type=int, default=16, help="batch of the training-speed columns")
    p.add_argument("--train-steps", type=int, default=6, help="timed steps of the training-speed columns")
    p.add_argument("--sample-rows", type=int, default=4, help="rows timed for naive sampling (models without fast)")
    a = harness.parse(
        p,
        "models",
        {"models": "pixelcnn,row-lstm", "num_layers": 1, "hidden_channels": 8, "minutes": 0.05, "train_steps": 1},
        argv,
    )
    args = {"num_layers": a.num_layers, "hidden_channels": a.hidden_channels}
    rows = []
    for name in harness.each(a.models):
        row: dict = {"model": name}
        for size, (shape, levels) in harness.SIZES.items():
            row[f"train_img_s_{size}"] = harness.train_rate(name, shape, levels, args, a.train_batch, a.train_steps)
            model = pixelar.create_model(name, image_shape=shape, num_levels=levels, **args).eval()
            fast = model.has_fast_sampler
            row[f"sample16_s_{size}"] = harness.time_sampling(model, 16, "auto", None if fast else a.sample_rows)
            row[f"sample16_s_{size}_estimated"] = not fast
        if a.minutes > 0:
            cfg = harness.budget_config(name, args, "digits-binary", a.minutes, batch_size=32, lr=1e-3)
            row.update(harness.train_for_budget(cfg, a, "models").row_fields())
        rows.append(row)
        harness.emit(row)
    out = harness.write_results(a.out, "models", rows, ("model",), a)
    harness.show(out, "models")


if __name__ == "__main__":
    main()
