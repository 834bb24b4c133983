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
    """SHA-256 of the model's name, configuration and every weight (name, dtype, shape, bytes)."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"model": model.model_name, "config": model.config.to_dict()}, sort_keys=True).encode())
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def images_digest(x: Tensor) -> str:
    """SHA-256 of integer images (as int64). The file format does not store it."""
    return hashlib.sha256(x.detach().cpu().to(torch.int64).numpy().tobytes()).hexdigest()
