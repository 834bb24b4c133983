"""The set-up of a :class:`~pixelar.training.Trainer`: the device, the processes
(DistributedDataParallel, see :mod:`pixelar.distributed`), the data, the model, its optimizer,
learning-rate schedule and moving average, and the (compiled) loss it minimises."""

from __future__ import annotations

import contextlib
import copy
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel

from pixelar import distributed
from pixelar.compiling import check_compile
from pixelar.data import get_dataset
from pixelar.errors import PixelarError
from pixelar.metrics import preferred_unit
from pixelar.models.base import AutoregressiveModel
from pixelar.registry import create_model
from pixelar.tensorboard_log import TensorBoardLog, check_tensorboard
from pixelar.training.objective import Objective, image_nll
from pixelar.training.schedule import LRSchedule
from pixelar.training.stopping import StopRequest
from pixelar.training_config import TrainConfig


def resolve_device(name: str) -> torch.device:
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise PixelarError("CUDA is not available on this machine; use device='cpu'", param="device")
    if name not in ("cpu",) and not name.startswith("cuda"):
        raise PixelarError(f"unknown device {name!r}; use cpu or cuda")
    return torch.device(name)


class TrainerBase:
    """What a :class:`~pixelar.training.Trainer` trains with; built from a :class:`TrainConfig`."""

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
        self.stop = StopRequest()  # a SIGTERM during fit(), read between steps
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
        objective: Callable[[Tensor, Tensor | None, Tensor | None], Tensor] = Objective(self.model, cfg.precision)
        self.ddp: DistributedDataParallel | None = None
        if self.ctx.distributed:
            ids = [self.device] if self.device.type == "cuda" else None
            unused = self._has_unused_parameters()
            objective = self.ddp = DistributedDataParallel(
                objective,
                device_ids=ids,
                find_unused_parameters=unused,
                process_group=distributed.gradient_group(),
            )
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
            torch._foreach_lerp_(ema_params, params, 1.0 - ema_decay(self.config.ema, self.step))

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


def ema_decay(decay: float, updates: int) -> float:
    """The moving average's decay at its update number ``updates`` (0 first): ``decay``, warmed up as
    TensorFlow's ExponentialMovingAverage warms up with ``num_updates``: min(decay, (1 + t) / (10 + t)).
    Early averages then follow the weights closely instead of holding on to the random initial ones
    (0.999 is reached after about 9,000 updates)."""
    return min(decay, (1 + updates) / (10 + updates))
