"""How fast a model learns in the loop the peer implementations were measured in: the test NLL
after each epoch, for the Gated PixelCNN's variants (ablations) side by side.

    python benchmarks/bench_learning.py [--variants paper,skips,...] [--epochs 5] [--threads 2]

The loop (REFERENCE.md, "Baselines"; the data and model seed of ``bench_training.py``): the
5,000 bundled digits permuted with ``np.random.default_rng(0).permutation(5000)``, the first
4,500 for training, the last 500 for the test, binarized with ``x > 127``;
``torch.manual_seed(0)`` before building the model; Adam lr 1e-3; batch 32, the last partial
batch kept (141 steps an epoch), reshuffled every epoch by one ``torch.Generator`` seeded 0;
loss = the batch mean of the per-image NLL in nats; the test NLL over all 500 images after
each epoch (in eval mode, excluded from the training rate). The configuration is the peers'
Gated PixelCNN, 10 layers × 32 features. Variants (``VARIANTS``):

* ``paper``: the paper's Figure 2 — the head reads the last horizontal stack;
* ``skips``: the head reads the sum of every layer's 1×1 skip output (``skips=True``), as the
  paper's successors and the public implementations do;
* ``zero-residual``: the paper's, with every residual 1×1 convolution of the horizontal
  stack initialised to zero (each layer starts as the identity);
* ``skips-zero-residual``: both;
* ``skips-live-init``: skips, and every masked convolution initialised as PyTorch initialises
  an unmasked one with its live connections only (PyTorch's default counts the masked ones);
* ``skips-vertical-residual``: skips, and the vertical stack residual like the horizontal one
  (``vertical_residual=True``);
* ``skips-vertical-rows-2``: skips, and each gated layer's vertical convolution reading two
  rows above instead of one (``vertical_rows=2``; a 3 × 3 kernel): the vertical stack's view
  grows two rows a layer, as in the public implementation (whose vertical convolution is
  padded one row more than the paper's);
* ``vertical-rows-2``: the paper's with ``vertical_rows=2`` alone;
* ``skips-vertical-rows-2-narrow``: skips and ``vertical_rows=2`` with 28 features instead of
  32, about the paper's parameter count (is it the view or the parameters?).

Writes benchmarks/results/learning.json (rows: variant, parameters, test NLL per epoch,
training images/s) and prints the table.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import harness
import pixelar
from bench_training import BATCH, LR, reference_digits

Variant = tuple[dict, Callable | None, str]


def zero_residuals(model) -> None:
    """Zero-initialise the residual 1×1 convolution of every gated layer's horizontal stack."""
    import torch

    for layer in model.layers[1:]:
        torch.nn.init.zeros_(layer.h_out.weight)
        torch.nn.init.zeros_(layer.h_out.bias)


def live_fan_in(model) -> None:
    """Redraw every masked convolution as PyTorch initialises an unmasked one of its live
    connections only: U(±1/√n) for weights and bias, n the inputs the mask leaves each output
    (PyTorch counts the masked ones too, so masked layers start smaller: a 1×3 mask-B kernel by
    √(2/3), the 1×7 mask-A one by √(3/7))."""
    import torch

    from pixelar.layers import MaskedConv2d

    with torch.no_grad():
        for conv in (m for m in model.modules() if isinstance(m, MaskedConv2d)):
            bound = conv.mask.flatten(1).sum(1).clamp(min=1).rsqrt()
            conv.weight.uniform_(-1.0, 1.0).mul_(bound[:, None, None, None])
            if conv.bias is not None:
                conv.bias.uniform_(-1.0, 1.0).mul_(bound)


VARIANTS: dict[str, Variant] = {
    "paper": ({}, None, "paper (head on the last horizontal stack)"),
    "skips": ({"skips": True}, None, "skip connections to the head"),
    "zero-residual": ({}, zero_residuals, "residual 1×1 zero-initialised"),
    "skips-zero-residual": ({"skips": True}, zero_residuals, "skips + residual 1×1 zero-initialised"),
    "skips-live-init": ({"skips": True}, live_fan_in, "skips + masked layers initialised by their live inputs"),
    "skips-vertical-residual": (
        {"skips": True, "vertical_residual": True},
        None,
        "skips + residual vertical stack",
    ),
    "skips-vertical-rows-2": (
        {"skips": True, "vertical_rows": 2},
        None,
        "skips + vertical stack reading 2 rows above per layer",
    ),
    "vertical-rows-2": ({"vertical_rows": 2}, None, "vertical stack reading 2 rows above per layer"),
    "skips-vertical-rows-2-narrow": (
        {"skips": True, "vertical_rows": 2, "hidden_channels": 28},
        None,
        "skips + 2 rows above, 28 features (the paper's parameter count)",
    ),
}
BASE = {"num_layers": 10, "hidden_channels": 32}


def test_nll(model, images, batch: int = 100) -> float:
    """Mean NLL in nats per image over ``images`` (eval mode, no gradients)."""
    import torch

    model.eval()
    with torch.no_grad():
        total = sum(float(-model.log_prob(images[i : i + batch]).sum()) for i in range(0, len(images), batch))
    model.train()
    return total / len(images)


def run(name: str, epochs: int, limit: int | None) -> dict:
    """Train variant ``name`` for ``epochs`` epochs in the reference loop; its row."""
    import torch

    args, init, label = VARIANTS[name]
    train, test = reference_digits(True, "train"), reference_digits(True, "test")
    if limit:
        train, test = train[:limit], test[: max(1, limit // 9)]
    torch.manual_seed(0)
    model = pixelar.create_model("gated-pixelcnn", image_shape=(1, 28, 28), num_levels=2, **{**BASE, **args})
    if init is not None:
        init(model)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    order = torch.Generator().manual_seed(0)
    nll, seconds, images = [], 0.0, 0
    for epoch in range(epochs):
        perm = torch.randperm(len(train), generator=order)
        start = time.perf_counter()
        for i in range(0, len(train), BATCH):
            x = train[perm[i : i + BATCH]]
            loss = -model.log_prob(x).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            images += len(x)
        seconds += time.perf_counter() - start
        nll.append(test_nll(model, test))
        print(f"  {name:22s} epoch {epoch + 1}: test {nll[-1]:.2f} nats", flush=True)
    return {
        "variant": name,
        "label": label,
        "args": {**BASE, **args},
        "parameters": harness.parameters(model),
        "test_nll_per_epoch": nll,
        "test_nll": nll[-1],
        "train_img_s": images / seconds,
    }


def table(rows: list[dict]) -> str:
    epochs = max(len(r["test_nll_per_epoch"]) for r in rows)
    head = ["variant", "params"] + [f"epoch {e + 1}" for e in range(epochs)] + ["train img/s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["label"], f"{r['parameters']:,}"] + [f"{v:.2f}" for v in r["test_nll_per_epoch"]]
        lines.append("| " + " | ".join([*cells, f"{r['train_img_s']:.1f}"]) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = harness.parser(__doc__, "learning")
    p.set_defaults(threads=2)
    p.add_argument("--variants", default=",".join(VARIANTS), help="of: " + ", ".join(VARIANTS))
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--limit", type=int, default=None, help="train on the first N digits only (smoke tests)")
    a = harness.parse(p, "learning", {"variants": "paper,skips", "epochs": 1, "limit": 64}, argv)
    names = harness.each(a.variants)
    if unknown := [n for n in names if n not in VARIANTS]:
        raise SystemExit(f"error: unknown variant {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    rows = []
    for name in names:
        rows.append(run(name, a.epochs, a.limit))
        harness.emit(rows[-1])
    harness.write_results(a.out, "learning", rows, ("variant",), a)
    print()
    print(table(rows))


if __name__ == "__main__":
    main()
