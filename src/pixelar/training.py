"""Teacher-forced maximum-likelihood training with exact resume.

A run directory holds::

    train_config.json   the TrainConfig of the run (pixelar.training_config)
    checkpoint.pt       model, optimizer, step, RNG state (atomic; loaded with weights_only=True)
    model/              the latest weights as config.json + model.safetensors (pixelar.load)
    metrics.jsonl       one JSON record per log interval / evaluation
    loss.png            training and test NLL curves
    samples.png         a grid of samples from the final model

The order of the training images is a pure function of (seed, step), so a resumed run sees
exactly the batches, and (with the restored RNG state) the numbers, of an uninterrupted one.
"""

from __future__ import annotations

import copy
import json
import math
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from pixelar.checkpoint import atomic_write_text, torch_load_safe, torch_save_atomic
from pixelar.compiling import check_compile
from pixelar.data import ImageDataset, get_dataset
from pixelar.errors import PixelarError
from pixelar.evaluation import evaluate
from pixelar.metrics import in_unit, preferred_unit
from pixelar.models.base import AutoregressiveModel
from pixelar.plotting import save_grid, save_loss_curve
from pixelar.registry import create_model
from pixelar.training_config import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    RESUMABLE,
    DataSource,
    TrainConfig,
    is_run_dir,
    load_run_config,
    resume_config,
    run_data_source,
)

METRICS_FILE = "metrics.jsonl"

__all__ = [
    "CHECKPOINT_FILE",
    "CONFIG_FILE",
    "METRICS_FILE",
    "RESUMABLE",
    "DataSource",
    "TrainConfig",
    "Trainer",
    "batch_indices",
    "batch_nll",
    "check_compile",
    "has_checkpoint",
    "is_run_dir",
    "load_run_config",
    "read_metrics",
    "resolve_device",
    "resume_config",
    "resume_run",
    "run_data_source",
    "train",
]


def resolve_device(name: str) -> torch.device:
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise PixelarError("CUDA is not available on this machine; use device='cpu'", param="device")
    if name not in ("cpu",) and not name.startswith("cuda"):
        raise PixelarError(f"unknown device {name!r}; use cpu or cuda")
    return torch.device(name)


def batch_indices(num_images: int, batch_size: int, seed: int, step: int) -> torch.Tensor:
    """Indices of the training images of ``step``: a fresh seeded permutation every epoch."""
    per_epoch = max(1, num_images // batch_size)
    epoch, batch = divmod(step, per_epoch)
    perm = torch.randperm(num_images, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
    return perm[batch * batch_size : (batch + 1) * batch_size]


def batch_nll(model: AutoregressiveModel, x: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
    """The mean NLL in nats per image of a batch that ``model.check_input`` accepted: the
    teacher-forced network and the loss, without the checks (whose data-dependent branches
    would split a compiled graph). The same numbers as ``-model.log_prob(x, cond).mean()``."""
    params = model.network(model.scale(x), cond)
    return -model.distribution.log_prob(params, x).flatten(1).sum(1).mean()


class Trainer:
    """Trains one model on one dataset into a run directory; see the module docstring."""

    def __init__(self, config: TrainConfig, run_dir: str | Path, progress: bool = True) -> None:
        self.config = config
        self.run_dir = Path(run_dir)
        self.progress = progress
        config.validate()
        config.check_model()  # an unknown model or hyperparameter fails before any data is loaded
        self.device = resolve_device(config.device)
        cfg = config
        self.train_data = get_dataset(cfg.data, "train", cfg.data_dir, **cfg.data_options())
        self.test_data = get_dataset(cfg.data, "test", cfg.data_dir, **cfg.data_options())
        if cfg.conditional and self.train_data.labels is None:
            raise PixelarError(
                f"dataset {cfg.data} has no labels, so it cannot train a class-conditional model: "
                "drop conditional=True",
                param="conditional",
            )
        if len(self.train_data) < 1:
            raise PixelarError(f"dataset {self.train_data.name} is empty")
        torch.manual_seed(cfg.seed)
        args = dict(cfg.model_args)
        if cfg.conditional:
            args["num_classes"] = self.train_data.num_classes
        # the hyperparameters passed check_model; the data's shape and levels are checked here
        model = create_model(
            cfg.model, image_shape=self.train_data.image_shape, num_levels=self.train_data.num_levels, **args
        )
        self.model: AutoregressiveModel = model.to(self.device)
        self.optimizer = self._make_optimizer()
        self.ema: AutoregressiveModel | None = None
        if cfg.ema > 0:
            self.ema = copy.deepcopy(self.model).requires_grad_(False)
        self.step = 0
        self.elapsed = 0.0
        self.unit = preferred_unit(self.model.num_levels)
        self.nll: Callable[[AutoregressiveModel, torch.Tensor, torch.Tensor | None], torch.Tensor] = batch_nll
        if cfg.compile:
            check_compile(self.device, "train without compile=True")
            # fallback_random: dropout draws the numbers eager PyTorch draws, so a compiled run
            # computes the eager run's numbers (to float rounding); fixed shapes: one graph
            self.nll = torch.compile(batch_nll, dynamic=False, options={"fallback_random": True})

    @property
    def eval_model(self) -> AutoregressiveModel:
        """The weights to evaluate and sample from: the moving average when enabled."""
        return self.ema if self.ema is not None else self.model

    def _update_ema(self) -> None:
        if self.ema is None:
            return
        with torch.no_grad():
            ema_params: list[torch.Tensor] = list(self.ema.parameters())
            params: list[torch.Tensor] = list(self.model.parameters())
            torch._foreach_lerp_(ema_params, params, 1.0 - self.config.ema)

    def _make_optimizer(self) -> torch.optim.Optimizer:
        params = self.model.parameters()
        if self.config.optimizer == "adam":
            return torch.optim.Adam(params, lr=self.config.lr)
        if self.config.optimizer == "rmsprop":
            return torch.optim.RMSprop(params, lr=self.config.lr)
        raise PixelarError(f"unknown optimizer {self.config.optimizer!r}; choose adam or rmsprop")

    # -- persistence --------------------------------------------------------------------
    def save_checkpoint(self) -> None:
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "step": self.step,
            "elapsed": self.elapsed,
            "torch_rng": torch.get_rng_state(),
        }
        if self.ema is not None:
            state["ema"] = self.ema.state_dict()
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        torch_save_atomic(state, self.run_dir / CHECKPOINT_FILE)
        self.eval_model.save_pretrained(self.run_dir / "model")

    def load_checkpoint(self) -> None:
        state = torch_load_safe(self.run_dir / CHECKPOINT_FILE)
        try:
            self.model.load_state_dict(state["model"])
            if self.ema is not None:
                self.ema.load_state_dict(state["ema"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.step = int(state["step"])
            self.elapsed = float(state.get("elapsed", 0.0))
            torch.set_rng_state(state["torch_rng"])
            if "cuda_rng" in state and self.device.type == "cuda":
                torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        except (KeyError, RuntimeError, ValueError, TypeError) as e:
            raise PixelarError(
                f"{self.run_dir / CHECKPOINT_FILE} does not match this run's configuration ({e.__class__.__name__}); "
                "start a new run directory"
            ) from None
        self._truncate_metrics()

    def _truncate_metrics(self) -> None:
        """Drop records logged after the checkpoint, which the resumed run will log again."""
        path = self.run_dir / METRICS_FILE
        if path.exists():
            keep = [json.dumps(rec) for rec in read_metrics(path) if rec["step"] <= self.step]
            atomic_write_text(path, "".join(ln + "\n" for ln in keep))

    def log(self, record: dict[str, Any]) -> None:
        with open(self.run_dir / METRICS_FILE, "a") as f:
            f.write(json.dumps(record) + "\n")

    # -- the loop -----------------------------------------------------------------------
    def train_step(self, x: torch.Tensor, cond: torch.Tensor | None) -> float:
        """One optimisation step; returns the batch NLL in nats per image."""
        self.model.train()
        self.model.check_input(x, cond)
        try:
            nll = self.nll(self.model, x, cond)
        except torch._dynamo.exc.BackendCompilerFailed as e:  # compile=True where inductor cannot build
            first = str(e).strip().splitlines()[0][:200] if str(e).strip() else e.__class__.__name__
            raise PixelarError(f"torch.compile failed ({first}); train without compile=True", param="compile") from e
        dims = math.prod(self.model.image_shape)
        self.optimizer.zero_grad(set_to_none=True)
        (nll / dims).backward()
        if self.config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self._update_ema()
        return float(nll.detach())

    def evaluate(self, data: ImageDataset | None = None) -> float:
        """Test NLL (nats per image) on ``eval_images`` test images (all when 0)."""
        data = data or self.test_data.subset(self.config.eval_images)
        return evaluate(self.eval_model, data, batch_size=max(64, self.config.batch_size)).nats_per_image

    def fit(self) -> dict[str, float]:
        """Train to ``steps`` (or the time budget), then evaluate on the whole test split and
        write the model, the loss curve and a sample grid. Returns the final metrics."""
        cfg = self.config
        self.run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.run_dir / CONFIG_FILE, cfg.to_json())
        shape = self.model.image_shape
        images, labels = self.train_data.images, self.train_data.labels
        bar = tqdm(total=cfg.steps, initial=self.step, desc="training", unit="step", disable=not self.progress)
        window: list[float] = []
        test_loss = None
        start = time.monotonic() - self.elapsed
        while self.step < cfg.steps:
            if cfg.max_minutes is not None and time.monotonic() - start >= cfg.max_minutes * 60:
                break
            idx = batch_indices(len(images), cfg.batch_size, cfg.seed, self.step)
            x = images[idx].to(self.device)
            cond = labels[idx].to(self.device) if cfg.conditional and labels is not None else None
            window.append(self.train_step(x, cond))
            self.step += 1
            self.elapsed = time.monotonic() - start
            if cfg.max_minutes is not None:  # a time budget: show the steps it will allow
                bar.total = min(cfg.steps, max(self.step + 1, int(self.step * cfg.max_minutes * 60 / self.elapsed)))
            bar.update(1)
            if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                loss = in_unit(sum(window) / len(window), shape, self.unit)
                self.log({"step": self.step, "train_loss": loss, "unit": self.unit, "elapsed": round(self.elapsed, 2)})
                bar.set_postfix_str(f"loss {loss:.4g} {self.unit}" + (f", test {test_loss:.4g}" if test_loss else ""))
                window.clear()
            if cfg.eval_every and self.step % cfg.eval_every == 0 and self.step < cfg.steps:
                subset = self.test_data.subset(cfg.eval_images)
                test_loss = in_unit(self.evaluate(subset), shape, self.unit)
                self.log({"step": self.step, "test_loss": test_loss, "unit": self.unit, "test_images": len(subset)})
            if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                self.save_checkpoint()
        bar.close()
        self.save_checkpoint()
        final = evaluate(self.eval_model, self.test_data, batch_size=max(64, cfg.batch_size), progress=self.progress)
        self.log(
            {
                "step": self.step,
                "test_loss": in_unit(final.nats_per_image, shape, self.unit),
                "unit": self.unit,
                "test_images": final.count,
                "final": True,  # the whole test split, after training (loss.png plots it apart)
            }
        )
        try:
            save_loss_curve(self.run_dir / METRICS_FILE, self.run_dir / "loss.png", self.unit)
        except PixelarError as error:  # an optional extra is missing: the run itself is complete
            warnings.warn(f"loss.png not drawn: {error}", stacklevel=1)
        if cfg.num_samples:
            cond = None
            if self.model.num_classes:
                cond = torch.arange(cfg.num_samples, device=self.device) % self.model.num_classes
            samples = self.eval_model.sample(cfg.num_samples, cond=cond, generator=cfg.seed, progress=self.progress)
            save_grid(samples, self.model.num_levels, self.run_dir / "samples.png")
        return {"step": self.step, "minutes": self.elapsed / 60, **final.as_dict()}


def train(config: TrainConfig, run_dir: str | Path, resume: bool = False, progress: bool = True) -> dict[str, float]:
    """Train a model as ``config`` says into ``run_dir`` (continuing its checkpoint if ``resume``).

    Resuming a run that stopped before its first checkpoint starts it again from step 0 (the
    same batches and numbers as the run it continues would have had).
    """
    config.validate()  # bad settings fail before the run directory is looked at
    if Path(run_dir).exists() and not Path(run_dir).is_dir():
        raise PixelarError(f"{run_dir} is a file, not a run directory; choose another run_dir", param="run_dir")
    if not resume and has_checkpoint(run_dir):
        raise PixelarError(
            f"{run_dir} already holds a run; pass resume=True to continue it, or choose a new run_dir",
            param=("resume", "run_dir"),
        )
    if resume and not has_checkpoint(run_dir):
        resume = False  # nothing saved yet: start from step 0 (stale metrics are dropped below)
    trainer = Trainer(config, run_dir, progress=progress)
    if resume:
        trainer.load_checkpoint()
    else:
        (Path(run_dir) / METRICS_FILE).unlink(missing_ok=True)
    return trainer.fit()


def resume_run(
    run_dir: str | Path,
    steps: int | None = None,
    max_minutes: float | None = None,
    device: str | None = None,
    progress: bool = True,
) -> dict[str, float]:
    """Continue the run in ``run_dir`` where its checkpoint left off, with its own settings but
    for the :data:`RESUMABLE` ones given here (e.g. more ``steps``); see :func:`resume_config`."""
    config = resume_config(run_dir, steps=steps, max_minutes=max_minutes, device=device)
    return train(config, run_dir, resume=True, progress=progress)


def has_checkpoint(run_dir: str | Path) -> bool:
    """Whether the run in ``run_dir`` has saved a checkpoint (a resumed run without one starts at step 0)."""
    return (Path(run_dir) / CHECKPOINT_FILE).exists()


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a metrics.jsonl file, skipping lines that do not parse (a line cut short
    when a run was killed while writing it)."""
    records = []
    for line in Path(path).read_text(errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and isinstance(rec.get("step"), int):
            records.append(rec)
    return records
