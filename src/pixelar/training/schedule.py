"""The learning-rate schedule of a run: exponential decay after a linear warm-up."""

from __future__ import annotations

from dataclasses import dataclass


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
