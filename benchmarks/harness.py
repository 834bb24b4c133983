"""What every benchmark shares: arguments, data, timing, and training for a budget (cached by
configuration). Results files and their provenance: :mod:`provenance` (re-exported here)."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import json
import shutil
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

import pixelar
from pixelar.data import get_dataset
from pixelar.sampling import as_generator, draw
from pixelar.training import TrainConfig, Trainer
from provenance import (  # the results-file helpers every benchmark calls through harness
    RESULTS,
    ROOT,
    git_state,
    relative,
)
from provenance import load_rows as load_rows
from provenance import show as show
from provenance import write_results as write_results

CACHE_VERSION = 1  # bump when what a cached training run holds changes
SIZES = {"28x28x1": ((1, 28, 28), 2), "32x32x3": ((3, 32, 32), 256)}  # shape, levels


# -- arguments --------------------------------------------------------------------------------
def parser(doc: str, name: str) -> argparse.ArgumentParser:
    """An argument parser with the options every benchmark takes."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--out",
        default=None,
        help=f"results JSON (default benchmarks/results/{name}.json; runs/bench-quick/{name}.json with --quick)",
    )
    p.add_argument("--quick", action="store_true", help="tiny budgets for a smoke test (numbers mean nothing)")
    p.add_argument(
        "--merge", action="store_true", help="keep rows of earlier runs in --out that this run does not measure"
    )
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: PyTorch's choice)")
    p.add_argument("--runs", default=str(ROOT / "runs"), help="where trained models are cached")
    p.add_argument("--retrain", action="store_true", help="train again even where a cached model exists")
    p.add_argument(
        "--reuse-any",
        action="store_true",
        help="reuse a cached model trained at another commit or from a dirty tree (rows say so)",
    )
    return p


def parse(p: argparse.ArgumentParser, name: str, quick: dict[str, Any], argv: list[str] | None = None):
    """Parse; with --quick, the benchmark's ``quick`` values replace the defaults not given."""
    a = p.parse_args(argv)
    if a.quick:
        given = set(_given_options(p, sys.argv[1:] if argv is None else argv))
        for key, value in {"threads": 1, **quick}.items():  # one thread: a smoke test shares the machine
            if key not in given:
                setattr(a, key, value)
    if a.out is None:
        a.out = str(ROOT / "runs" / "bench-quick" / f"{name}.json") if a.quick else str(RESULTS / f"{name}.json")
    if a.threads:
        torch.set_num_threads(a.threads)
    return a


def _given_options(p: argparse.ArgumentParser, argv: list[str]) -> Iterable[str]:
    flags = {s: act.dest for act in p._actions for s in act.option_strings}
    for arg in argv:
        flag = arg.split("=", 1)[0]
        if flag in flags:
            yield flags[flag]


# -- data and timing --------------------------------------------------------------------------
def dataset(name: str, split: str = "test", limit: int | None = None):
    """A dataset split, its first ``limit`` images when given."""
    data = get_dataset(name, split)
    return data.subset(limit) if limit else data


class Timer:
    """``with Timer() as t: ...`` then ``t.seconds``."""

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


def train_rate(name: str, shape, levels: int, args: dict, batch: int = 16, steps: int = 6) -> float:
    """Training images/s of a model on random images (one warm-up step, then ``steps`` timed)."""
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


def time_sampling(model, n: int, method: str, rows: int | None = None) -> float:
    """Seconds to sample n images with ``method`` through the model's own loop; with ``rows``,
    only the first rows are generated (the rest marked known) and the time is scaled (every
    row costs the same)."""
    C, H, W = model.image_shape
    rows = H if rows is None else min(rows, H)
    x = torch.zeros(n, C, H, W, dtype=torch.long, device=model.device)
    known = torch.zeros(n, C, H, W, dtype=torch.bool, device=model.device)
    known[:, :, rows:] = True  # nothing after the timed rows is generated
    uniforms = torch.rand(n, C, H, W, generator=as_generator(0), dtype=torch.float64)

    def choose(logp, c, front):
        return draw(logp, front.take(uniforms, c))

    with Timer() as t:
        model.autoregress(x, known, None, method, choose)
    return t.seconds * H / rows


def time_forward(model, n: int, repeats: int = 5) -> float:
    """Seconds of one teacher-forced pass (log_prob) over a batch of n images."""
    x = torch.randint(0, model.num_levels, (n, *model.image_shape))
    with torch.inference_mode():
        model.log_prob(x)
        with Timer() as t:
            for _ in range(repeats):
                model.log_prob(x)
    return t.seconds / repeats


# -- training for a budget, cached by configuration -------------------------------------------
@dataclasses.dataclass
class Trained:
    model: Any  # the evaluation weights (the moving average where enabled), loaded from run_dir
    result: dict[str, Any]  # Trainer.fit's: step, minutes, nats_per_image, bits_per_dim, ...
    run_dir: Path
    provenance: dict[str, Any]  # commit, dirty, date of the run that trained it
    cached: bool

    def row_fields(self) -> dict[str, Any]:
        """What a results row records about the training behind it."""
        return {
            "steps": self.result["step"],
            "train_minutes": self.result["minutes"],
            "test_nll_nats": self.result["nats_per_image"],
            "test_images": self.result.get("images"),
            "trained_commit": self.provenance["commit"],
            "trained_dirty": self.provenance["dirty"],
            "trained_date": self.provenance["date"],
            "cached_model": self.cached,
            "run_dir": relative(self.run_dir),
        }


def cache_key(cfg: TrainConfig) -> str:
    """A short hash of the whole training configuration (model, its arguments, data, budget, ...)."""
    text = json.dumps({"train": dataclasses.asdict(cfg), "cache": CACHE_VERSION}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def budget_config(model: str, model_args: dict, data: str, minutes: float, **kw: Any) -> TrainConfig:
    """A TrainConfig for a wall-clock budget: no intermediate evaluation, checkpoint or samples."""
    return steps_config(model, model_args, data, 10**9, max_minutes=minutes, **kw)


def steps_config(model: str, model_args: dict, data: str, steps: int, **kw: Any) -> TrainConfig:
    """A TrainConfig for a budget in optimisation steps (deterministic for a seed and thread
    count, unlike a wall-clock budget): no intermediate evaluation, checkpoint or samples."""
    return TrainConfig(
        model=model,
        model_args=dict(model_args),
        data=data,
        steps=steps,
        eval_every=0,
        checkpoint_every=0,
        num_samples=0,
        **kw,
    )


def train_for_budget(cfg: TrainConfig, a: argparse.Namespace, tag: str) -> Trained:
    """Train as ``cfg`` says into ``<runs>/bench-<tag>-<model>-<hash of cfg>``, or reuse the model
    there: only one trained by this configuration, at the current commit from a clean tree
    (any commit with ``--reuse-any``), and never with ``--retrain``."""
    run_dir = Path(a.runs) / f"bench-{tag}-{cfg.model}-{cache_key(cfg)}"
    stamp = run_dir / "bench.json"
    commit, dirty, _ = git_state()
    if stamp.exists() and not a.retrain:
        info = json.loads(stamp.read_text())
        prov = info["provenance"]
        same_code = prov["commit"] == commit and prov["dirty"] is False and dirty is False
        if info.get("config") == dataclasses.asdict(cfg) and (same_code or a.reuse_any):
            print(f"reusing {relative(run_dir)} (trained at {(prov['commit'] or 'unknown')[:12]}, {prov['date']})")
            return Trained(pixelar.load(run_dir / "model"), info["result"], run_dir, prov, True)
        print(
            f"not reusing {relative(run_dir)}: trained at {(prov['commit'] or 'unknown')[:12]}, dirty={prov['dirty']}"
        )
    if run_dir.exists():
        shutil.rmtree(run_dir)
    budget = f"{cfg.max_minutes:g} min" if cfg.max_minutes is not None else f"{cfg.steps} steps"
    print(f"training {cfg.model} {json.dumps(cfg.model_args)} on {cfg.data} for {budget}", flush=True)
    trainer = Trainer(cfg, run_dir, progress=False)
    result = trainer.fit()
    date = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    prov = {"commit": commit, "dirty": dirty, "date": date, "torch": torch.__version__}
    stamp.write_text(json.dumps({"config": dataclasses.asdict(cfg), "result": result, "provenance": prov}, indent=2))
    return Trained(trainer.eval_model, result, run_dir, prov, False)


def emit(row: dict) -> None:
    """Print one measured row as a JSON line (progress while a benchmark runs)."""
    print(json.dumps(row, default=str), flush=True)


def parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def each(names: str) -> list[str]:
    return [n for n in names.split(",") if n]
