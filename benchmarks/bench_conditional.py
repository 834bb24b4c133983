"""Class-conditional generation: do samples show the requested digit?

    python benchmarks/bench_conditional.py [--minutes 3] [--models pixelcnn,gated-pixelcnn] [--out ...]

Trains each model class-conditionally on the bundled binarized digits for --minutes, draws
10 samples per class, and classifies them with a logistic-regression classifier fitted on the
training digits (scikit-learn). Reports the agreement with the requested label (chance: 10%)
and, as a reference, the classifier's accuracy on the real test digits.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from pixelar.data import get_dataset
from pixelar.plotting import save_grid
from pixelar.training import TrainConfig, Trainer


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="pixelcnn,gated-pixelcnn")
    p.add_argument("--num-layers", type=int, default=4)
    p.add_argument("--hidden-channels", type=int, default=32)
    p.add_argument("--minutes", type=float, default=3.0)
    p.add_argument("--out", default="benchmarks/results/conditional.json")
    a = p.parse_args()
    train = get_dataset("digits-binary", "train")
    test = get_dataset("digits-binary", "test")
    clf = LogisticRegression(max_iter=2000, C=0.1).fit(train.images.flatten(1).numpy(), train.labels.numpy())
    real_acc = float((clf.predict(test.images.flatten(1).numpy()) == test.labels.numpy()).mean())
    rows = []
    for name in a.models.split(","):
        cfg = TrainConfig(
            model=name,
            model_args={"num_layers": a.num_layers, "hidden_channels": a.hidden_channels},
            data="digits-binary",
            conditional=True,
            steps=10**9,
            max_minutes=a.minutes,
            eval_every=0,
            checkpoint_every=0,
            num_samples=0,
        )
        with tempfile.TemporaryDirectory() as d:
            trainer = Trainer(cfg, d, progress=False)
            result = trainer.fit()
            model = trainer.eval_model
            labels = torch.arange(10).repeat_interleave(10)
            samples = model.sample(100, cond=labels, generator=0)
        grid = Path(a.out).with_name(f"conditional_{name}.png")
        save_grid(samples, 2, grid, nrow=10)
        predicted = clf.predict(samples.flatten(1).numpy())
        acc = float((predicted == labels.numpy()).mean())
        rows.append(
            {
                "model": name,
                "minutes": a.minutes,
                "steps": result["step"],
                "test_nll_nats": result["nats_per_image"],
                "label_agreement": acc,
                "classifier_accuracy_on_real_test": real_acc,
                "grid": str(grid),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    print()
    print(f"{'model':18s} {'steps':>6s} {'test NLL':>9s} {'samples classified as requested':>32s}")
    for r in rows:
        print(f"{r['model']:18s} {r['steps']:6d} {r['test_nll_nats']:9.2f} {r['label_agreement']:31.0%}")
    print(f"(chance 10%; the classifier scores {real_acc:.0%} on real test digits)")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
