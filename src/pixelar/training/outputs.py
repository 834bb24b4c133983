"""What a :class:`~pixelar.training.Trainer` writes into its run directory while it trains: the
checkpoint (and reads it back to resume), metrics.jsonl, TensorBoard scalars and the sample grids."""

from __future__ import annotations

import json
from typing import Any

import torch
from torch import Tensor

from pixelar.checkpoint import atomic_write_text, torch_load_safe, torch_save_atomic
from pixelar.errors import PixelarError
from pixelar.metrics import bits_per_dim, in_unit
from pixelar.plotting import make_grid, save_image
from pixelar.training.base import TrainerBase
from pixelar.training.run_files import GRID_SAMPLES, METRICS_FILE, grid_path, read_metrics, sample_grids
from pixelar.training_config import CHECKPOINT_FILE


class TrainerOutputs(TrainerBase):
    """A :class:`TrainerBase` that saves and restores its run directory."""

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
