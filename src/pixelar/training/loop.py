"""The training loop: :class:`Trainer`, one optimisation step after another, with the
evaluations, logs and checkpoints along the way."""

from __future__ import annotations

import contextlib
import math
import sys
import time
import warnings
from collections.abc import Generator

import torch
from torch import Tensor
from tqdm.auto import tqdm

from pixelar import distributed
from pixelar.checkpoint import atomic_write_text
from pixelar.data import ImageDataset
from pixelar.data.perturb import perturbed
from pixelar.errors import PixelarError
from pixelar.evaluation import evaluate
from pixelar.metrics import in_unit
from pixelar.plotting import save_grid, save_loss_curve
from pixelar.tensorboard_log import TensorBoardLog
from pixelar.training.batches import StepBatches, step_seed
from pixelar.training.outputs import TrainerOutputs
from pixelar.training.run_files import METRICS_FILE
from pixelar.training_config import CONFIG_FILE


def _part(t: Tensor | None, start: int, size: int) -> Tensor | None:
    return None if t is None else t[start : start + size]


class Trainer(TrainerOutputs):
    """Trains one model on one dataset into a run directory; see :mod:`pixelar.training`."""

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
        target = x if cfg.clean_targets else None  # a context-perturbed background scores the clean images
        x = perturbed(x, cfg.perturb, self.model.num_levels)  # a background model's noisy inputs
        scale = self.ctx.world / (batch_size * math.prod(self.model.image_shape))
        size = cfg.micro_batch or len(x)
        starts = range(0, len(x), size)
        parts = [(x[i : i + size], _part(cond, i, size), _part(target, i, size)) for i in starts]
        self.optimizer.zero_grad(set_to_none=True)
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        for i, (x_part, cond_part, target_part) in enumerate(parts):
            last = i == len(parts) - 1  # DDP reduces the gradients in the last backward only
            accumulate = self.ddp.no_sync() if self.ddp is not None and not last else contextlib.nullcontext()
            with accumulate:
                try:
                    nll = self.objective(x_part, cond_part, target_part)
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

    def _stop_now(self, start: float) -> tuple[bool, bool]:
        """(time budget spent, stop requested), the same on every rank: any rank's counts."""
        cfg = self.config
        flags = [
            cfg.max_minutes is not None and time.monotonic() - start >= cfg.max_minutes * 60,
            self.stop.signal is not None,
        ]
        if self.ctx.distributed:
            flags = [total > 0 for total in distributed.all_sum([float(f) for f in flags], self.ctx)]
        return flags[0], flags[1]

    def fit(self) -> dict[str, float]:
        """Train to ``steps`` (or the time budget), then evaluate on the whole test split and
        write the model, the loss curve and a sample grid. Returns the final metrics.

        With ``tensorboard`` set, rank 0 also logs to that directory (see
        :mod:`pixelar.tensorboard_log`). A SIGTERM stops the run after the step it arrives in
        (every rank at the same step): the checkpoint is written, then a :class:`PixelarError`
        says how to continue."""
        cfg = self.config
        if self.ctx.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.run_dir / CONFIG_FILE, cfg.to_json())
            if cfg.tensorboard is not None:
                self.tensorboard = TensorBoardLog(cfg.tensorboard, purge_step=self.step + 1 if self.step else None)
        try:
            with self.stop.listening():
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
        stopped = False
        while self.step < cfg.steps:
            out_of_time, stopped = self._stop_now(start)
            if out_of_time or stopped:
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
        if stopped:
            raise PixelarError(
                f"{self.stop.name} stopped the run at step {self.step}; "
                f"its checkpoint is saved: continue it with pixelar.training.resume_run({str(self.run_dir)!r})",
                param="resume_run",
            )
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
