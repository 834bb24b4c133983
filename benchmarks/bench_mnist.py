"""The published record on the standard data: test NLL against training time on full MNIST
(dynamically binarized, nats per image) or Fashion-MNIST (8-bit, bits per dimension), pixelar's
models and the peers' in one loop, with the papers' converged numbers beside them.

    make data                                          # MNIST and Fashion-MNIST, offline
    python benchmarks/bench_mnist.py --budgets 15,30,60 [--models ...] [--peers DIR] [--jobs 2 --threads 1]
    python benchmarks/bench_mnist.py --data fashion-mnist --models pixelcnn++,pclucas-pixelcnn++
    python benchmarks/bench_mnist.py --quick           # seconds per contender: the loop works

The loop, the same for every contender: ``torch.manual_seed(0)`` before building the network;
the training images of each step from pixelar's seeded batches (``StepBatches``, seed 0: a
fresh permutation and, for ``mnist-dynamic``, a fresh Bernoulli draw every epoch); the
contender's own recipe (optimizer, learning rate, batch, schedule, EMA: ``CONTENDERS``); the
clock counts training steps only. Every ``--curve-minutes`` of training the NLL of the first
``--curve-images`` test images is logged (the learning curve); at each budget, the NLL of the
whole test split (10,000 images). Budgets run in one pass: the 60-minute model is the
30-minute one trained on. With ``--jobs N`` (and ``--threads``) N contenders train at a time,
each in its own process. Writes benchmarks/results/mnist.json (or --out) and, beside it, the
learning curves of every row it holds (mnist_curves.png).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

import harness
from mnist_curves import plot_curves
from peers import PclucasModels, PeerModels, bernoulli_nll, parameters
from pixelar import distributed
from pixelar.data import ImageDataset, get_dataset
from pixelar.errors import PixelarError
from pixelar.metrics import bits_per_dim
from pixelar.presets import get_preset
from pixelar.training import TrainConfig, Trainer
from pixelar.training.batches import StepBatches, step_seed
from provenance import RESULTS

# The papers' and the peers' converged numbers (binarized MNIST, nats; Fashion-MNIST, bits/dim).
PUBLISHED = [
    ("mnist-dynamic", "PixelCNN", 81.30, "PixelRNN paper, Table 4 (fixed binarization)"),
    ("mnist-dynamic", "Row LSTM", 80.54, "PixelRNN paper, Table 4 (fixed binarization)"),
    ("mnist-dynamic", "Diagonal BiLSTM, 1 layer, h = 32", 80.75, "PixelRNN paper, Table 4 (fixed binarization)"),
    ("mnist-dynamic", "Diagonal BiLSTM, 7 layers, h = 16", 79.20, "PixelRNN paper, Table 4 (fixed binarization)"),
    ("mnist-dynamic", "pytorch-generative PixelCNN", 81.45, "its README: dynamic binarization, 457 epochs, GPU"),
    ("mnist-dynamic", "pytorch-generative Gated PixelCNN", 81.50, "its README: dynamic binarization, 457 epochs, GPU"),
]


@dataclass
class Contender:
    """One row of the table: what is trained and how."""

    kind: str  # "pixelar" (trained by pixelar's Trainer) or a peer network's name
    data: str
    model: str = ""
    model_args: dict[str, Any] | None = None
    recipe: dict[str, Any] | None = None  # TrainConfig fields (pixelar) or lr / lr_decay / batch_size (peers)
    note: str = ""


def _pixelar(model: str, data: str = "mnist-dynamic", note: str = "", **args: Any) -> Contender:
    recipe = {"batch_size": 32, "lr": 1e-3}
    recipe |= args.pop("recipe", {})
    return Contender("pixelar", data, model, args, recipe, note)


NOT_RECIPE = ("model", "model_args", "data", "steps", "max_minutes", "eval_every", "eval_images")


def _preset(name: str, note: str, **changes: Any) -> Contender:
    """A contender trained as ``pixelar train --preset name`` trains (its steps and budget aside),
    with ``changes`` to its recipe (an ablation)."""
    preset = get_preset(name)
    recipe = {k: v for k, v in preset.items() if k not in NOT_RECIPE} | changes
    return Contender("pixelar", preset["data"], preset["model"], preset["model_args"], recipe, note)


CONTENDERS: dict[str, Contender] = {
    "pixelcnn": _pixelar("pixelcnn", num_layers=14, hidden_channels=32, note="the paper's 15 masked layers"),
    "gated-pixelcnn": _pixelar("gated-pixelcnn", num_layers=10, hidden_channels=32, note="the peers' 10 × 32"),
    "mnist-fast": _preset("mnist-fast", "the preset: 10 × 32, vertical_rows=2, warm-up, EMA"),
    "mnist-fast-decay": _preset(
        "mnist-fast", "ablation: the preset at lr 2e-3 decayed ×0.99945 a step (÷10 by ~4,200 steps)",
        lr=2e-3, lr_decay=0.99945,
    ),
    "row-lstm": _pixelar("row-lstm", num_layers=7, hidden_channels=16, note="7 layers × 16"),
    "diagonal-bilstm": _pixelar("diagonal-bilstm", num_layers=1, hidden_channels=32, note="the paper's 1 × 32"),
    "multiscale": _pixelar(
        "multiscale-pixelrnn", num_layers=4, hidden_channels=16, note="Diagonal BiLSTM 4 × 16 at both scales, f = 2"
    ),
    "pg-pixelcnn": Contender(
        "pg-pixelcnn", "mnist-dynamic", recipe={"lr": 1e-3, "lr_decay": 0.999977, "batch_size": 256},
        note="pytorch-generative's reproduce() as shipped (each block's residual added twice): 15 residual × 16, batch 256",
    ),
    "pg-gated-pixelcnn": Contender(
        "pg-gated-pixelcnn", "mnist-dynamic", model_args={"gated_channels": 32},
        recipe={"lr": 1e-3, "lr_decay": 0.9999, "batch_size": 256},
        note="pytorch-generative's reproduce() at 10 × 32 (theirs: 10 × 128), batch 256",
    ),
    "pixelcnn++": _pixelar(
        "pixelcnn++", data="fashion-mnist", num_layers=1, hidden_channels=40, num_components=10, dropout=0.5,
        recipe={"ema": 0.999, "betas": [0.95, 0.9995]}, note="1 × 40 like the peer's, the paper's Adam betas, EMA",
    ),
    "pclucas-pixelcnn++": Contender(
        "pclucas-pixelcnn++", "fashion-mnist", model_args={"nr_resnet": 1, "nr_filters": 40},
        recipe={"lr": 2e-4, "batch_size": 64},
        note="pclucas14's PixelCNN++ at 1 × 40 (theirs: 5 × 160), its lr and batch; its per-epoch decay 0.999995 omitted",
    ),
}  # fmt: skip


class Learner:
    """What the loop needs of a contender: a training step on a batch and the test NLL."""

    step: Callable[[torch.Tensor, int], float]
    nll: Callable[[torch.Tensor], torch.Tensor]  # per-image nats of a test batch
    parameters: int


def pixelar_learner(c: Contender, run_dir: Path, data_dir: str | None) -> Learner:
    config = TrainConfig(
        model=c.model,
        model_args=dict(c.model_args or {}),
        data=c.data,
        data_dir=data_dir,
        steps=10**9,
        seed=0,
        **(c.recipe or {}),
    )
    trainer = Trainer(config, run_dir, progress=False)
    learner = Learner()

    def step(x: torch.Tensor, index: int) -> float:
        torch.manual_seed(step_seed(0, index))
        loss = trainer.train_step(x, None, len(x))
        trainer.step += 1
        return loss

    learner.step = step

    def nll(x: torch.Tensor) -> torch.Tensor:
        with trainer.eval_model.in_mode(training=False):  # dropout off, as the peers' net.eval()
            return -trainer.eval_model.log_prob(x)

    learner.nll = nll
    learner.parameters = sum(p.numel() for p in trainer.model.parameters())
    return learner


def peer_learner(c: Contender, checkout: str | None) -> Learner:
    """A peer's network trained by its own recipe (Adam, the learning rate decayed per step as
    its trainer does) on its own loss."""
    recipe = c.recipe or {}
    if c.kind == "pclucas-pixelcnn++":
        pclucas = PclucasModels(None)
        net = pclucas.pixelcnn_pp(**(c.model_args or {}))
        loss_of: Callable[[torch.Tensor], torch.Tensor] = lambda x: pclucas.nll(net, x)  # noqa: E731
    else:
        peers = PeerModels(checkout)
        net = {"pg-pixelcnn": peers.pixelcnn, "pg-gated-pixelcnn": peers.gated_pixelcnn}[c.kind](**(c.model_args or {}))
        loss_of = lambda x: bernoulli_nll(net(x.float()), x)  # noqa: E731
    optimizer = torch.optim.Adam(net.parameters(), lr=recipe["lr"])
    decay = float(recipe.get("lr_decay", 1.0))
    scheduler = torch.optim.lr_scheduler.MultiplicativeLR(optimizer, lambda _: decay)
    learner = Learner()

    def step(x: torch.Tensor, index: int) -> float:
        net.train()
        loss = loss_of(x).sum() / len(x)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        return float(loss.detach())

    def nll(x: torch.Tensor) -> torch.Tensor:
        net.eval()
        return loss_of(x)

    learner.step, learner.nll, learner.parameters = step, nll, parameters(net)
    return learner


def test_nll(learner: Learner, data: ImageDataset, count: int) -> float:
    """Mean NLL (nats per image) over the first ``count`` test images (all when 0)."""
    images = data.images if count <= 0 else data.images[:count]
    with torch.no_grad():
        total = sum(float(learner.nll(images[i : i + 500]).double().sum()) for i in range(0, len(images), 500))
    return total / len(images)


_SLOT = 0  # a --jobs worker's line for its progress bar


def _worker(slots: Any, threads: int) -> None:
    """Start a --jobs worker process: its own progress-bar line, the parent's torch threads."""
    global _SLOT
    _SLOT = slots.get()
    torch.set_num_threads(threads)


_BAR = "{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total} s trained [{elapsed}<{remaining}{postfix}]"


def run(name: str, c: Contender, a: argparse.Namespace, test: ImageDataset) -> dict[str, Any]:
    torch.manual_seed(0)
    run_dir = Path(a.runs) / f"mnist-{name}"
    learner = pixelar_learner(c, run_dir, a.data_dir) if c.kind == "pixelar" else peer_learner(c, a.peers)
    train = get_dataset(c.data, "train", data_dir=a.data_dir, download=False)
    batch = int((c.recipe or {}).get("batch_size", 32))
    batches = StepBatches(train, batch, 0, distributed.Context(), labels=False)
    budgets = sorted({float(b) for b in a.budgets.split(",")})
    unit = "nats" if test.num_levels == 2 else "bits/dim"
    convert = (lambda v: v) if unit == "nats" else (lambda v: bits_per_dim(v, test.image_shape))
    curve: list[tuple[float, float]] = []
    at_budget: dict[str, float] = {}
    elapsed, step, next_curve = 0.0, 0, a.curve_minutes * 60
    bar = tqdm(total=round(budgets[-1] * 60), desc=name, leave=False, position=_SLOT, bar_format=_BAR)
    while len(at_budget) < len(budgets):
        tick = time.monotonic()
        learner.step(batches[step][0], step)
        elapsed += time.monotonic() - tick
        bar.update(min(time.monotonic() - tick, bar.total - bar.n))
        step += 1
        if elapsed >= next_curve:
            curve.append((round(elapsed / 60, 3), round(convert(test_nll(learner, test, a.curve_images)), 4)))
            bar.set_postfix_str(f"step {step}, {curve[-1][1]:g} {unit}")
            next_curve += a.curve_minutes * 60
        for b in budgets:
            if str(b) not in at_budget and elapsed >= b * 60:
                at_budget[str(b)] = round(convert(test_nll(learner, test, a.test_images)), 4)
                print(f"{name}: {at_budget[str(b)]} {unit} after {b:g} minutes ({step} steps)", flush=True)
    bar.close()
    return {
        "contender": name,
        "data": c.data,
        "kind": c.kind,
        "model": c.model or c.kind,
        "model_args": c.model_args or {},
        "recipe": c.recipe or {},
        "note": c.note,
        "parameters": learner.parameters,
        "unit": unit,
        "test_images": len(test) if a.test_images <= 0 else min(a.test_images, len(test)),
        "nll_at_minutes": at_budget,
        "steps": step,
        "curve": curve,
    }


def main(argv: list[str] | None = None) -> None:
    p = harness.parser(__doc__, "mnist")
    p.add_argument("--data", default="mnist-dynamic", choices=["mnist-dynamic", "fashion-mnist"])
    p.add_argument("--models", help="comma-separated names of CONTENDERS (default: every one on --data)")
    p.add_argument("--budgets", default="15,30,60", help="training minutes at which the whole test set is scored")
    p.add_argument("--curve-minutes", type=float, default=2.5)
    p.add_argument("--curve-images", type=int, default=2000)
    p.add_argument("--test-images", type=int, default=0, help="test images scored at each budget (0: all)")
    p.add_argument(
        "--peers",
        help="a pytorch-generative checkout (default $PIXELAR_PEERS/pytorch-generative; pclucas14's: $PIXELAR_PEERS/pixel-cnn-pp)",
    )
    p.add_argument("--data-dir", help="where `make data` put the datasets (default $PIXELAR_DATA_DIR)")
    p.add_argument(
        "--jobs", type=int, default=1, help="contenders trained side by side, one process each (e.g. 2 × --threads 1)"
    )
    quick = {"budgets": "0.1,0.2", "curve_minutes": 0.05, "curve_images": 100, "test_images": 200}
    a = harness.parse(p, "mnist", quick, argv)
    if a.data != "mnist-dynamic" and not a.quick and a.out == str(RESULTS / "mnist.json"):
        a.out = str(RESULTS / f"{a.data.replace('-', '_')}.json")
    if a.jobs > 1 and not a.threads:
        raise SystemExit("error: --jobs needs --threads (each process's torch threads, e.g. --jobs 2 --threads 1)")
    names = (
        list(dict.fromkeys(harness.each(a.models)))
        if a.models
        else [n for n, c in CONTENDERS.items() if c.data == a.data]
    )
    unknown = [n for n in names if n not in CONTENDERS or CONTENDERS[n].data != a.data]
    if unknown:
        on = [n for n, c in CONTENDERS.items() if c.data == a.data]
        raise SystemExit(f"error: no contender {', '.join(unknown)} on {a.data}; choose from {', '.join(on)}")
    try:
        test = get_dataset(a.data, "test", data_dir=a.data_dir, download=False)
    except PixelarError as e:
        raise SystemExit(f"error: {e}") from None
    published = [
        {"contender": n, "data": d, "kind": "published", "nll": v, "source": s}
        for d, n, v, s in PUBLISHED
        if d == a.data
    ]
    rows: list[dict[str, Any]] = []
    for row in each_run(names, a, test):
        rows = sorted([*rows, row], key=lambda r: names.index(r["contender"]))  # the table's order, not the finish
        harness.emit(row)
        written = harness.write_results(a.out, "mnist", rows + published, ("contender", "data"), a)  # none lost
        plot_curves(json.loads(written.read_text())["rows"], written.with_name(f"{written.stem}_curves.png"))
    rows += published
    print("\n".join(table(rows)))


def each_run(names: list[str], a: argparse.Namespace, test: ImageDataset) -> Iterator[dict[str, Any]]:
    """The contenders' rows as they finish: one after another, or with ``--jobs N`` N at a time,
    each in its own process with ``--threads`` threads (so that one run times them side by side
    on the same machine). A peer without its checkout is skipped with how to get it."""
    if a.jobs <= 1:
        for name in names:
            try:
                yield run(name, CONTENDERS[name], a, test)
            except PixelarError as e:
                print(f"{name}: skipped ({e})", flush=True)
        return
    spawn = multiprocessing.get_context("spawn")  # no forked OpenMP pools
    slots = spawn.Queue()
    for slot in range(a.jobs):
        slots.put(slot)
    pool = ProcessPoolExecutor(a.jobs, mp_context=spawn, initializer=_worker, initargs=(slots, a.threads))
    try:
        futures = {pool.submit(run, n, CONTENDERS[n], a, test): n for n in names}
        for future in as_completed(futures):
            try:
                yield future.result()
            except PixelarError as e:
                print(f"{futures[future]}: skipped ({e})", flush=True)
    except BaseException:  # an error or Ctrl-C: stop the others rather than train them to the end for nothing
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            process.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


def table(rows: list[dict[str, Any]]) -> list[str]:
    """The Markdown table of a run: each contender's NLL at each budget, the papers' beside them."""
    budgets = sorted({b for r in rows for b in r.get("nll_at_minutes", {})}, key=float)
    head = " | ".join(f"{float(b):g} min" for b in budgets)
    lines = [f"| contender | parameters | {head} | converged, published | note |"]
    lines.append("|---|---:|" + "---:|" * len(budgets) + "---:|---|")
    for r in rows:
        if r["kind"] == "published":
            blank = " | ".join("" for _ in budgets)
            lines.append(f"| {r['contender']} | | {blank} | {r['nll']:.2f} | {r['source']} |")
        else:
            cells = " | ".join(f"{r['nll_at_minutes'][b]:.2f}" if b in r["nll_at_minutes"] else "" for b in budgets)
            lines.append(f"| {r['contender']} | {r['parameters']:,} | {cells} | | {r['note']} |")
    return lines


if __name__ == "__main__":
    main()
