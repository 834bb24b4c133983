"""Class-conditional generation: do samples show the requested digit?

    python benchmarks/bench_conditional.py [--minutes 3] [--models pixelcnn,gated-pixelcnn] [--out ...]

Trains each model class-conditionally on the bundled binarized digits for --minutes (batch 32,
Adam 1e-3), draws --per-class samples per class, and classifies them with a logistic-regression
classifier fitted on the training digits (scikit-learn). Reports the agreement with the
requested label (chance: 10%) and, as a reference, the classifier's accuracy on the real test
digits. Trained models are cached in runs/ by configuration (see benchmarks/harness.py).
--quick: a smoke test.
"""

from __future__ import annotations

from pathlib import Path

import torch
from sklearn.linear_model import LogisticRegression

import harness
from pixelar.plotting import save_grid


def main(argv: list[str] | None = None) -> None:
    p = harness.parser(__doc__, "conditional")
    p.add_argument("--models", default="pixelcnn,gated-pixelcnn")
    p.add_argument("--num-layers", type=int, default=4)
    p.add_argument("--hidden-channels", type=int, default=32)
    p.add_argument("--minutes", type=float, default=3.0)
    p.add_argument("--per-class", type=int, default=10, help="samples drawn per class")
    a = harness.parse(
        p,
        "conditional",
        {"models": "pixelcnn", "num_layers": 1, "hidden_channels": 8, "minutes": 0.05, "per_class": 1},
        argv,
    )
    train = harness.dataset("digits-binary", "train")
    test = harness.dataset("digits-binary", "test")
    clf = LogisticRegression(max_iter=2000, C=0.1).fit(train.images.flatten(1).numpy(), train.labels.numpy())
    real_acc = float((clf.predict(test.images.flatten(1).numpy()) == test.labels.numpy()).mean())
    rows = []
    for name in harness.each(a.models):
        args = {"num_layers": a.num_layers, "hidden_channels": a.hidden_channels}
        cfg = harness.budget_config(name, args, "digits-binary", a.minutes, batch_size=32, lr=1e-3, conditional=True)
        trained = harness.train_for_budget(cfg, a, "conditional")
        labels = torch.arange(10).repeat_interleave(a.per_class)
        samples = trained.model.sample(len(labels), cond=labels, generator=0)
        grid = Path(a.out).with_name(f"conditional_{name}.png")
        save_grid(samples, 2, grid, nrow=a.per_class)  # a row per class
        predicted = clf.predict(samples.flatten(1).numpy())
        rows.append(
            {
                "model": name,
                "args": args,
                "minutes": a.minutes,
                **trained.row_fields(),
                "samples": len(labels),
                "label_agreement": float((predicted == labels.numpy()).mean()),
                "classifier_accuracy_on_real_test": real_acc,
                "grid": harness.relative(grid),
            }
        )
        harness.emit(rows[-1])
    out = harness.write_results(a.out, "conditional", rows, ("model",), a)
    harness.show(out, "conditional")


if __name__ == "__main__":
    main()
