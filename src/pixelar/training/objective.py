"""The training loss: the teacher-forced NLL of a batch of images, and the module that
DistributedDataParallel wraps and torch.compile compiles."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from pixelar.models.base import AutoregressiveModel


def image_nll(
    model: AutoregressiveModel,
    x: Tensor,
    cond: Tensor | None,
    precision: str = "fp32",
    target: Tensor | None = None,
) -> Tensor:
    """The NLL in nats of every image of a batch that ``model.check_input`` accepted, [B]: the
    teacher-forced network and the loss, without the checks (whose data-dependent branches would
    split a compiled graph). With ``precision="bf16"`` the network runs under bfloat16 autocast
    and the distribution's log-likelihood is computed in float32. ``target`` (default ``x``):
    the images scored given ``x`` as the network's input (a context-perturbed background model's
    clean images, :class:`pixelar.training.TrainConfig` ``clean_targets``)."""
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        params = model.network(model.scale(x), cond)
    if params.dtype in (torch.bfloat16, torch.float16):
        params = params.float()
    return -model.distribution.log_prob(params, x if target is None else target).flatten(1).sum(1)


def batch_nll(model: AutoregressiveModel, x: Tensor, cond: Tensor | None, precision: str = "fp32") -> Tensor:
    """The mean NLL in nats per image of a batch: ``image_nll(...).mean()``, the same numbers
    as ``-model.log_prob(x, cond).mean()`` in float32."""
    return image_nll(model, x, cond, precision).mean()


class Objective(nn.Module):
    """The training loss as a module (what DistributedDataParallel wraps and torch.compile
    compiles): ``forward(x, cond, target)`` is :func:`image_nll`, [B] nats per image."""

    def __init__(self, model: AutoregressiveModel, precision: str = "fp32") -> None:
        super().__init__()
        self.model = model
        self.precision = precision

    def forward(self, x: Tensor, cond: Tensor | None, target: Tensor | None = None) -> Tensor:
        return image_nll(self.model, x, cond, self.precision, target)
