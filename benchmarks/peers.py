"""The peer implementations, run from a checkout of their code (never copied into pixelar):
pytorch-generative's PixelCNN and Gated PixelCNN (github.com/EugenHotaj/pytorch-generative).

    models = PeerModels(Path("~/src/pytorch-generative"))
    net = models.gated_pixelcnn()          # their module, their defaults but the sizes given
    nll = bernoulli_nll(net(x.float()), x)  # [N] nats per image, their loss

Only their network modules are imported: their package's ``__init__`` imports torchvision (for
their datasets), which the benchmarks do not need, so the modules are loaded from their files
under a stand-in package. Their checkout is found from ``--peers DIR`` or
$PIXELAR_PEERS/pytorch-generative; without it the peers' rows say how to get it.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from pixelar.errors import PixelarError

PACKAGE = "pytorch_generative"
URL = "https://github.com/EugenHotaj/pytorch-generative"
# The files their two autoregressive CNNs need, in import order.
MODULES = (
    "nn/attention.py",
    "nn/convolution.py",
    "nn/utils.py",
    "nn/__init__.py",
    "models/base.py",
    "models/autoregressive/pixel_cnn.py",
    "models/autoregressive/gated_pixel_cnn.py",
)


def find_checkout(given: str | Path | None) -> Path:
    """The pytorch-generative checkout: ``given``, else $PIXELAR_PEERS/pytorch-generative."""
    root = Path(given).expanduser() if given else None
    if root is None and os.environ.get("PIXELAR_PEERS"):
        root = Path(os.environ["PIXELAR_PEERS"]).expanduser() / "pytorch-generative"
    if root is None or not (root / PACKAGE / "models" / "autoregressive" / "gated_pixel_cnn.py").is_file():
        raise PixelarError(
            f"no pytorch-generative checkout at {root or '$PIXELAR_PEERS/pytorch-generative'}; "
            f"git clone {URL} and pass --peers DIR (or set $PIXELAR_PEERS to its parent)"
        )
    return root


def _load(root: Path) -> dict[str, types.ModuleType]:
    """Their modules, by path, loaded under a stand-in package (no torchvision import)."""
    loaded: dict[str, types.ModuleType] = {}
    for package in (PACKAGE, f"{PACKAGE}.nn", f"{PACKAGE}.models", f"{PACKAGE}.models.autoregressive"):
        stand_in = types.ModuleType(package)
        stand_in.__path__ = [str(root / package.replace(".", "/"))]
        sys.modules.setdefault(package, stand_in)
    for relative in MODULES:
        name = PACKAGE + "." + relative.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        spec = importlib.util.spec_from_file_location(name, root / PACKAGE / relative)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        parent, _, leaf = name.rpartition(".")
        setattr(sys.modules[parent], leaf, module)
        loaded[relative] = module
    return loaded


class PeerModels:
    """pytorch-generative's binary-MNIST networks, built from its checkout at ``root``."""

    def __init__(self, root: str | Path | None) -> None:
        self.root = find_checkout(root)
        self.modules = _load(self.root)

    def pixelcnn(self, n_residual: int = 15, residual_channels: int = 16, head_channels: int = 32) -> nn.Module:
        """Their PixelCNN; the defaults are those of their MNIST ``reproduce()`` (81.45 nats)."""
        module = self.modules["models/autoregressive/pixel_cnn.py"]
        return module.PixelCNN(1, 1, n_residual, residual_channels, head_channels)

    def gated_pixelcnn(self, n_gated: int = 10, gated_channels: int = 128, head_channels: int = 32) -> nn.Module:
        """Their Gated PixelCNN; the defaults are those of their MNIST ``reproduce()`` (81.50 nats)."""
        module = self.modules["models/autoregressive/gated_pixel_cnn.py"]
        return module.GatedPixelCNN(1, 1, n_gated, gated_channels, head_channels)


def bernoulli_nll(logits: Tensor, x: Tensor) -> Tensor:
    """Their loss per image: binary cross-entropy of the logits [N, 1, H, W], summed (nats)."""
    target = x.to(logits.dtype)
    return F.binary_cross_entropy_with_logits(logits, target, reduction="none").flatten(1).sum(1)


def parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def peer_log_prob(net: nn.Module, x: Tensor) -> Tensor:
    """log p(x) per image under a peer network, from the binary images ``x`` [N, 1, H, W]."""
    with torch.no_grad():
        return -bernoulli_nll(net(x.float()), x)
