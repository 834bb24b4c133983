"""Teacher-forced maximum-likelihood training with exact resume.

A run directory holds::

    train_config.json   the TrainConfig of the run (pixelar.training_config)
    checkpoint.pt       model, optimizer, step, RNG state (atomic; loaded with weights_only=True)
    model/              the latest weights as config.json + model.safetensors (pixelar.load)
    metrics.jsonl       one JSON record per log interval / evaluation
    loss.png            training and test NLL curves
    samples.png         a grid of samples from the final model
    samples/            step_XXXXXXX.png: a grid of samples at every evaluation and at the end

The order of the training images is a pure function of (seed, step), and so is the random
state of every step (dropout), so a resumed run sees exactly the batches, and computes the
numbers, of an uninterrupted one.

Under ``torchrun --nproc-per-node N -m pixelar train ...`` the same loop runs in N processes
with :class:`~torch.nn.parallel.DistributedDataParallel` (see :mod:`pixelar.distributed`): each
takes a contiguous part of every step's images, the gradients are averaged so that the step is
the one-process step over the whole batch, and only rank 0 logs and writes the run directory; a
checkpoint written by N processes continues on any number.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import math
import sys
import time
import warnings
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from pixelar import distributed
from pixelar.checkpoint import atomic_write_text, torch_load_safe, torch_save_atomic
from pixelar.compiling import check_compile
from pixelar.data import ImageDataset, get_dataset
from pixelar.errors import PixelarError
from pixelar.evaluation import evaluate
from pixelar.metrics import bits_per_dim, in_unit, preferred_unit
from pixelar.models.base import AutoregressiveModel
from pixelar.plotting import make_grid, save_grid, save_image, save_loss_curve
from pixelar.registry import create_model
from pixelar.tensorboard_log import TensorBoardLog, check_tensorboard
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
SAMPLES_DIR = "samples"  # the sample grids over time: samples/step_XXXXXXX.png
GRID_SAMPLES = 16  # images per grid in samples/ (at most; TrainConfig.num_samples when fewer)

__all__ = [
    "CHECKPOINT_FILE",
    "CONFIG_FILE",
    "GRID_SAMPLES",
    "METRICS_FILE",
    "RESUMABLE",
    "SAMPLES_DIR",
    "DataSource",
    "LRSchedule",
    "Objective",
    "TrainConfig",
    "Trainer",
    "batch_indices",
    "batch_nll",
    "check_compile",
    "grid_path",
    "has_checkpoint",
    "image_nll",
    "is_run_dir",
    "load_run_config",
    "read_metrics",
    "resolve_device",
    "resume_config",
    "resume_run",
    "run_data_source",
    "sample_grids",
    "step_seed",
    "train",
]


def resolve_device(name: str) -> torch.device:
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise PixelarError("CUDA is not available on this machine; use device='cpu'", param="device")
    if name not in ("cpu",) and not name.startswith("cuda"):
        raise PixelarError(f"unknown device {name!r}; use cpu or cuda")
    return torch.device(name)


def epoch_permutation(num_images: int, seed: int, epoch: int) -> torch.Tensor:
    """The seeded order of the training images in ``epoch``."""
    return torch.randperm(num_images, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


def batch_indices(num_images: int, batch_size: int, seed: int, step: int) -> torch.Tensor:
    """Indices of the training images of ``step``: a fresh seeded permutation every epoch."""
    per_epoch = max(1, num_images // batch_size)
    epoch, batch = divmod(step, per_epoch)
    return epoch_permutation(num_images, seed, epoch)[batch * batch_size : (batch + 1) * batch_size]


def step_seed(seed: int, step: int, rank: int = 0) -> int:
    """The seed of the random numbers (dropout) that process ``rank`` draws at ``step``: a pure
    function of the three, so a resumed run, on any number of processes, draws what an
    uninterrupted one would."""
    digest = hashlib.blake2b(f"{seed}/{step}/{rank}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def image_nll(model: AutoregressiveModel, x: Tensor, cond: Tensor | None, precision: str = "fp32") -> Tensor:
    """The NLL in nats of every image of a batch that ``model.check_input`` accepted, [B]: the
    teacher-forced network and the loss, without the checks (whose data-dependent branches would
    split a compiled graph). With ``precision="bf16"`` the network runs under bfloat16 autocast
    and the distribution's log-likelihood is computed in float32."""
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        params = model.network(model.scale(x), cond)
    if params.dtype in (torch.bfloat16, torch.float16):
        params = params.float()
    return -model.distribution.log_prob(params, x).flatten(1).sum(1)


def batch_nll(model: AutoregressiveModel, x: Tensor, cond: Tensor | None, precision: str = "fp32") -> Tensor:
    """The mean NLL in nats per image of a batch: ``image_nll(...).mean()``, the same numbers
    as ``-model.log_prob(x, cond).mean()`` in float32."""
    return image_nll(model, x, cond, precision).mean()


class Objective(nn.Module):
    """The training loss as a module (what DistributedDataParallel wraps and torch.compile
    compiles): ``forward(x, cond)`` is :func:`image_nll`, [B] nats per image."""

    def __init__(self, model: AutoregressiveModel, precision: str = "fp32") -> None:
        super().__init__()
        self.model = model
        self.precision = precision

    def forward(self, x: Tensor, cond: Tensor | None) -> Tensor:
        return image_nll(self.model, x, cond, self.precision)


@dataclass
class LRSchedule:
    """The learning rate's factor at a step: ``decay ** step``, ramped linearly over the first
    ``warmup`` steps (the callable of a :class:`torch.optim.lr_scheduler.LambdaLR`)."""

    decay: float = 1.0
    warmup: int = 0

    def __call__(self, step: int) -> float:
        factor = self.decay**step
        if self.warmup > 0:
            factor *= min(1.0, (step + 1) / self.warmup)
        return factor


class StepBatches(torch.utils.data.Dataset[tuple[Tensor, Tensor | None]]):
    """Item ``step``: this process's part of the images (and labels) of that training step;
    read by a :class:`torch.utils.data.DataLoader` (workers, prefetch, pinned memory)."""

    def __init__(self, data: ImageDataset, batch_size: int, seed: int, ctx: distributed.Context, labels: bool) -> None:
        self.images = data.images
        self.labels = data.labels if labels else None
        self.batch_size, self.seed, self.ctx = batch_size, seed, ctx
        self._epoch: tuple[int, Tensor] | None = None

    def __len__(self) -> int:
        return 2**62  # any step; the sampler says which

    def indices(self, step: int) -> Tensor:
        """This process's part of ``batch_indices(len(images), batch_size, seed, step)``, in
        ascending order (reads of a memory-mapped file in file order; the loss is a sum), with
        each epoch's permutation drawn once."""
        per_epoch = max(1, len(self.images) // self.batch_size)
        epoch, batch = divmod(step, per_epoch)
        if self._epoch is None or self._epoch[0] != epoch:
            self._epoch = (epoch, epoch_permutation(len(self.images), self.seed, epoch))
        order = self._epoch[1][batch * self.batch_size : (batch + 1) * self.batch_size]
        return distributed.shard(order, self.ctx).sort().values

    def __getitem__(self, step: int) -> tuple[Tensor, Tensor | None]:
        idx = self.indices(step)
        return self.images[idx], None if self.labels is None else self.labels[idx]


class Trainer:
    """Trains one model on one dataset into a run directory; see the module docstring."""

    def __init__(self, config: TrainConfig, run_dir: str | Path, progress: bool = True) -> None:
        self.config = config
        self.run_dir = Path(run_dir)
        self.progress = progress
        config.validate()
        config.check_model()  # an unknown model or hyperparameter fails before any data is loaded
        resolve_device(config.device)
        if config.tensorboard is not None:
            check_tensorboard()  # a missing optional package fails now, not at the first log
        cfg = config
        world = distributed.current().world
        if cfg.batch_size < world:
            raise PixelarError(
                f"batch_size={cfg.batch_size} is smaller than the {world} processes sharing it; "
                "use a batch_size of at least the number of processes",
                param="batch_size",
            )
        self.ctx, self.device = distributed.init(cfg.device)
        self.progress = progress and self.ctx.is_main
        if cfg.precision == "bf16" and self.device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise PixelarError("this GPU has no bfloat16 support; train with precision='fp32'", param="precision")
        # rank 0 loads (downloads, converts) the data first; the others then read its cache
        with self._main_first():
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
        self.model.activation_checkpointing = cfg.activation_checkpointing
        self.optimizer = self._make_optimizer()
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, LRSchedule(cfg.lr_decay, cfg.warmup_steps))
        self.ema: AutoregressiveModel | None = None
        if cfg.ema > 0:
            self.ema = copy.deepcopy(self.model).requires_grad_(False)
        self.step = 0
        self.elapsed = 0.0
        self.unit = preferred_unit(self.model.num_levels)
        self.tensorboard: TensorBoardLog | None = None  # open during fit(), on rank 0
        objective: Callable[[Tensor, Tensor | None], Tensor] = Objective(self.model, cfg.precision)
        self.ddp: DistributedDataParallel | None = None
        if self.ctx.distributed:
            ids = [self.device] if self.device.type == "cuda" else None
            unused = self._has_unused_parameters()
            objective = self.ddp = DistributedDataParallel(objective, device_ids=ids, find_unused_parameters=unused)
            # channels-last convolutions give some weights' gradients other strides than the
            # weights: DDP then copies them into its buckets (correct; a small copy) and warns
            warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
        if cfg.compile:
            check_compile(self.device, "train without compile=True")
            # fallback_random: dropout draws the numbers eager PyTorch draws, so a compiled run
            # computes the eager run's numbers (to float rounding); fixed shapes: one graph
            objective = torch.compile(objective, dynamic=False, options={"fallback_random": True})
        self.objective = objective

    def _has_unused_parameters(self) -> bool:
        """Whether some parameter gets no gradient from the loss (e.g. the last gated layer's
        residual output when the head reads the skip connections): DDP must then be told."""
        labels = self.train_data.labels
        cond = labels[:1].to(self.device) if self.config.conditional and labels is not None else None
        image_nll(self.model.train(), self.train_data.images[:1].to(self.device), cond).sum().backward()
        unused = any(p.grad is None for p in self.model.parameters() if p.requires_grad)
        self.model.zero_grad(set_to_none=True)
        return unused

    @contextlib.contextmanager
    def _main_first(self) -> Iterator[None]:
        """Run the block on rank 0, then on the other ranks (one process: just run it)."""
        if not self.ctx.is_main:
            distributed.barrier(self.ctx)
        yield
        if self.ctx.is_main:
            distributed.barrier(self.ctx)

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
        cfg = self.config
        params = self.model.parameters()
        betas = (cfg.betas[0], cfg.betas[1])
        if cfg.optimizer == "adam":
            return torch.optim.Adam(params, lr=cfg.lr, betas=betas, weight_decay=cfg.weight_decay)
        if cfg.optimizer == "adamw":
            return torch.optim.AdamW(params, lr=cfg.lr, betas=betas, weight_decay=cfg.weight_decay)
        if cfg.optimizer == "rmsprop":
            return torch.optim.RMSprop(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        raise PixelarError(f"unknown optimizer {cfg.optimizer!r}; choose adam, adamw or rmsprop")

    # -- persistence --------------------------------------------------------------------
    def save_checkpoint(self) -> None:
        """Write checkpoint.pt and model/ (rank 0; the others hold the same weights)."""
        if not self.ctx.is_main:
            return
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "step": self.step,
            "elapsed": self.elapsed,
        }
        if self.ema is not None:
            state["ema"] = self.ema.state_dict()
        torch_save_atomic(state, self.run_dir / CHECKPOINT_FILE)
        self.eval_model.save_pretrained(self.run_dir / "model")

    def load_checkpoint(self) -> None:
        state = torch_load_safe(self.run_dir / CHECKPOINT_FILE)
        try:
            self.model.load_state_dict(state["model"])
            if self.ema is not None:
                self.ema.load_state_dict(state["ema"])
            self.optimizer.load_state_dict(state["optimizer"])
            if "scheduler" in state:  # checkpoints before learning-rate schedules had none (constant)
                self.scheduler.load_state_dict(state["scheduler"])
            self.step = int(state["step"])
            self.elapsed = float(state.get("elapsed", 0.0))
        except (KeyError, RuntimeError, ValueError, TypeError) as e:
            raise PixelarError(
                f"{self.run_dir / CHECKPOINT_FILE} does not match this run's configuration ({e.__class__.__name__}); "
                "start a new run directory"
            ) from None
        self._truncate_metrics()
        self._drop_later_grids()

    def _truncate_metrics(self) -> None:
        """Drop records logged after the checkpoint, which the resumed run will log again."""
        path = self.run_dir / METRICS_FILE
        if path.exists() and self.ctx.is_main:
            keep = [json.dumps(rec) for rec in read_metrics(path) if rec["step"] <= self.step]
            atomic_write_text(path, "".join(ln + "\n" for ln in keep))

    def _drop_later_grids(self) -> None:
        """Drop sample grids of steps after the checkpoint, which the resumed run will draw again."""
        if self.ctx.is_main:
            for step, path in sample_grids(self.run_dir):
                if step > self.step:
                    path.unlink(missing_ok=True)

    def log(self, record: dict[str, Any]) -> None:
        if not self.ctx.is_main:
            return
        with open(self.run_dir / METRICS_FILE, "a") as f:
            f.write(json.dumps(record) + "\n")

    def _log_scalars(self, values: dict[str, float]) -> None:
        """Log scalars at the current step to TensorBoard, when enabled (rank 0)."""
        if self.tensorboard is not None:
            self.tensorboard.scalars(values, self.step)

    def _losses(self, prefix: str, nats: float) -> dict[str, float]:
        """An NLL in nats per image as the TensorBoard scalars ``prefix/loss`` (the run's unit),
        ``prefix/nats_per_image`` and ``prefix/bits_per_dim``."""
        shape = self.model.image_shape
        return {
            f"{prefix}/loss": in_unit(nats, shape, self.unit),
            f"{prefix}/nats_per_image": nats,
            f"{prefix}/bits_per_dim": bits_per_dim(nats, shape),
        }

    def _sample_labels(self, count: int) -> Tensor | None:
        """The labels of ``count`` samples: every class in turn (None for an unconditional model)."""
        if not self.model.num_classes:
            return None
        return torch.arange(count, device=self.device) % self.model.num_classes

    def save_sample_grid(self, samples: Tensor | None = None) -> None:
        """Write ``samples/step_XXXXXXX.png`` for the current step (and log it to TensorBoard):
        the first :data:`GRID_SAMPLES` of ``num_samples`` images of the evaluation model, drawn
        with the run's seed (``samples``: already drawn so; rank 0 only; nothing when
        ``num_samples`` is 0).

        The sampler uses its own generator, and every training step seeds the global one
        (:func:`step_seed`), so drawing a grid does not change the training numbers.
        """
        count = min(self.config.num_samples, GRID_SAMPLES)
        if count == 0 or not self.ctx.is_main:
            return
        if samples is None:
            samples = self.eval_model.sample(count, cond=self._sample_labels(count), generator=self.config.seed)
        picture = make_grid(samples[:count], self.model.num_levels)
        save_image(picture, grid_path(self.run_dir, self.step))
        if self.tensorboard is not None:
            self.tensorboard.image("samples", picture, self.step)
            self.tensorboard.flush()

    # -- the loop -----------------------------------------------------------------------
    def train_step(self, x: Tensor, cond: Tensor | None, batch_size: int | None = None) -> float:
        """One optimisation step on ``x``, this process's part of a batch of ``batch_size``
        images (default: ``x`` is the whole batch); returns the batch's mean NLL in nats per image.

        The loss is scaled so that the gradient, averaged over the processes by DDP and summed
        over micro-batches, is that of the batch's mean NLL per dimension: the one-process step.
        """
        cfg = self.config
        batch_size = batch_size or len(x)
        self.model.train()
        self.model.check_input(x, cond)
        scale = self.ctx.world / (batch_size * math.prod(self.model.image_shape))
        size = cfg.micro_batch or len(x)
        parts = [(x[i : i + size], None if cond is None else cond[i : i + size]) for i in range(0, len(x), size)]
        self.optimizer.zero_grad(set_to_none=True)
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        for i, (x_part, cond_part) in enumerate(parts):
            last = i == len(parts) - 1  # DDP reduces the gradients in the last backward only
            accumulate = self.ddp.no_sync() if self.ddp is not None and not last else contextlib.nullcontext()
            with accumulate:
                try:
                    nll = self.objective(x_part, cond_part)
                except torch._dynamo.exc.BackendCompilerFailed as e:  # compile=True where inductor cannot build
                    text = str(e).strip()
                    first = text.splitlines()[0][:200] if text else e.__class__.__name__
                    raise PixelarError(
                        f"torch.compile failed ({first}); train without compile=True", param="compile"
                    ) from e
                (nll.sum() * scale).backward()
            total += nll.detach().sum()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        self._update_ema()
        return distributed.all_sum([float(total)], self.ctx)[0] / batch_size

    def evaluate(self, data: ImageDataset | None = None) -> float:
        """Test NLL (nats per image) on ``eval_images`` test images (all when 0), over all ranks."""
        data = data or self.test_data.subset(self.config.eval_images)
        batch = max(64, self.config.batch_size)
        return evaluate(self.eval_model, data, batch_size=batch, ctx=self.ctx).nats_per_image

    def batches(self) -> Generator[tuple[Tensor, Tensor | None]]:
        """This process's part of each step's images (and labels), from step ``self.step`` on,
        on the training device."""
        cfg = self.config
        source = StepBatches(self.train_data, cfg.batch_size, cfg.seed, self.ctx, labels=cfg.conditional)
        loader = torch.utils.data.DataLoader(
            source,
            batch_size=None,
            sampler=range(self.step, cfg.steps),
            num_workers=cfg.workers,
            pin_memory=self.device.type == "cuda",
            prefetch_factor=4 if cfg.workers else None,
            # forked workers share memory-mapped images; spawned ones would be sent a copy
            multiprocessing_context="fork" if cfg.workers and sys.platform == "linux" else None,
        )
        for x, labels in loader:
            yield x.to(self.device, non_blocking=True), None if labels is None else labels.to(self.device)

    def fit(self) -> dict[str, float]:
        """Train to ``steps`` (or the time budget), then evaluate on the whole test split and
        write the model, the loss curve and a sample grid. Returns the final metrics.

        With ``tensorboard`` set, rank 0 also logs to that directory (see
        :mod:`pixelar.tensorboard_log`)."""
        cfg = self.config
        if self.ctx.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.run_dir / CONFIG_FILE, cfg.to_json())
            if cfg.tensorboard is not None:
                self.tensorboard = TensorBoardLog(cfg.tensorboard, purge_step=self.step + 1 if self.step else None)
        try:
            return self._fit()
        finally:
            if self.tensorboard is not None:
                self.tensorboard.close()
                self.tensorboard = None

    def _fit(self) -> dict[str, float]:
        cfg = self.config
        shape = self.model.image_shape
        batches = self.batches()
        bar = tqdm(total=cfg.steps, initial=self.step, desc="training", unit="step", disable=not self.progress)
        window: list[float] = []
        window_seconds = 0.0  # in the training steps of the window (data loading included)
        test_loss = None
        start = time.monotonic() - self.elapsed
        while self.step < cfg.steps:
            if cfg.max_minutes is not None:  # every rank stops at the same step
                if distributed.any_rank(time.monotonic() - start >= cfg.max_minutes * 60, self.ctx):
                    break
            tick = time.monotonic()
            x, cond = next(batches)
            torch.manual_seed(step_seed(cfg.seed, self.step, self.ctx.rank))
            window.append(self.train_step(x, cond, cfg.batch_size))
            window_seconds += time.monotonic() - tick
            self.step += 1
            self.elapsed = time.monotonic() - start
            if cfg.max_minutes is not None:  # a time budget: show the steps it will allow
                bar.total = min(cfg.steps, max(self.step + 1, int(self.step * cfg.max_minutes * 60 / self.elapsed)))
            bar.update(1)
            if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                loss = in_unit(sum(window) / len(window), shape, self.unit)
                self.log({"step": self.step, "train_loss": loss, "unit": self.unit, "elapsed": round(self.elapsed, 2)})
                bar.set_postfix_str(f"loss {loss:.4g} {self.unit}" + (f", test {test_loss:.4g}" if test_loss else ""))
                self._log_scalars(
                    {
                        **self._losses("train", sum(window) / len(window)),
                        "train/lr": self.optimizer.param_groups[0]["lr"],
                        "train/images_per_second": len(window) * cfg.batch_size / max(window_seconds, 1e-9),
                    }
                )
                window.clear()
                window_seconds = 0.0
            if cfg.eval_every and self.step % cfg.eval_every == 0 and self.step < cfg.steps:
                subset = self.test_data.subset(cfg.eval_images)
                test_nats = self.evaluate(subset)
                test_loss = in_unit(test_nats, shape, self.unit)
                self.log({"step": self.step, "test_loss": test_loss, "unit": self.unit, "test_images": len(subset)})
                self._log_scalars(self._losses("test", test_nats))
                self.save_sample_grid()
            if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                self.save_checkpoint()
        bar.close()
        batches.close()
        self.save_checkpoint()
        final = evaluate(
            self.eval_model, self.test_data, batch_size=max(64, cfg.batch_size), progress=self.progress, ctx=self.ctx
        )
        self.log(
            {
                "step": self.step,
                "test_loss": in_unit(final.nats_per_image, shape, self.unit),
                "unit": self.unit,
                "test_images": final.count,
                "final": True,  # the whole test split, after training (loss.png plots it apart)
            }
        )
        self._log_scalars(self._losses("final", final.nats_per_image))
        result = {"step": self.step, "minutes": self.elapsed / 60, **final.as_dict()}
        if not self.ctx.is_main:
            return result
        try:
            save_loss_curve(self.run_dir / METRICS_FILE, self.run_dir / "loss.png", self.unit)
        except PixelarError as error:  # an optional extra is missing: the run itself is complete
            warnings.warn(f"loss.png not drawn: {error}", stacklevel=1)
        if cfg.num_samples:
            cond = self._sample_labels(cfg.num_samples)
            samples = self.eval_model.sample(cfg.num_samples, cond=cond, generator=cfg.seed, progress=self.progress)
            save_grid(samples, self.model.num_levels, self.run_dir / "samples.png")
            self.save_sample_grid(samples)  # its first images: what a grid of this step draws
        return result


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
    elif trainer.ctx.is_main:
        (Path(run_dir) / METRICS_FILE).unlink(missing_ok=True)
        trainer._drop_later_grids()  # at step 0: every grid of an earlier start
    return trainer.fit()


def resume_run(
    run_dir: str | Path,
    steps: int | None = None,
    max_minutes: float | None = None,
    device: str | None = None,
    progress: bool = True,
    **changes: Any,
) -> dict[str, float]:
    """Continue the run in ``run_dir`` where its checkpoint left off, with its own settings but
    for the :data:`RESUMABLE` ones given here (e.g. more ``steps``, or ``micro_batch``); see
    :func:`resume_config`."""
    config = resume_config(run_dir, steps=steps, max_minutes=max_minutes, device=device, **changes)
    return train(config, run_dir, resume=True, progress=progress)


def has_checkpoint(run_dir: str | Path) -> bool:
    """Whether the run in ``run_dir`` has saved a checkpoint (a resumed run without one starts at step 0)."""
    return (Path(run_dir) / CHECKPOINT_FILE).exists()


def grid_path(run_dir: str | Path, step: int) -> Path:
    """Where a run's sample grid of ``step`` is: ``samples/step_XXXXXXX.png``."""
    return Path(run_dir) / SAMPLES_DIR / f"step_{step:07d}.png"


def sample_grids(run_dir: str | Path) -> list[tuple[int, Path]]:
    """The sample grids of a run as (step, path), in step order (none for a run without any)."""
    grids = []
    for path in (Path(run_dir) / SAMPLES_DIR).glob("step_*.png"):
        number = path.stem[len("step_") :]
        if number.isdigit():
            grids.append((int(number), path))
    return sorted(grids)


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
