"""The model's fingerprint, which names the model a file was compressed with, and a digest
of integer images."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:
    from pixelar.models.base import AutoregressiveModel


def model_fingerprint(model: AutoregressiveModel) -> str:
    """SHA-256 of the model's name, configuration and every weight (name, dtype, shape, bytes),
    and of the order of its pixels when :meth:`~pixelar.models.base.AutoregressiveModel.in_order`
    set another than its default: a file coded in one order decodes in that order only. A
    config field added after files were written (``added_fields``) counts only where it differs
    from its default, so those files still name their model."""
    digest = hashlib.sha256()
    config = model.config.to_dict()
    for name, default in model.config.added_fields.items():  # files written before a field existed
        if config.get(name) == default:
            del config[name]
    digest.update(json.dumps({"model": model.model_name, "config": config}, sort_keys=True).encode())
    if model.any_order and not (order := model.pixel_order()).same_as(model.pixel_order(model.default_order)):
        digest.update(b"order|" + order.pixels.numpy().tobytes())
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def images_digest(x: Tensor) -> str:
    """SHA-256 of integer images (as int64). The file format does not store it."""
    return hashlib.sha256(x.detach().cpu().to(torch.int64).numpy().tobytes()).hexdigest()
