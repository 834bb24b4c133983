"""The peer implementations, run from a checkout of their code (never copied into pixelar):
pytorch-generative's PixelCNN and Gated PixelCNN (github.com/EugenHotaj/pytorch-generative) and
pclucas14's PixelCNN++ (github.com/pclucas14/pixel-cnn-pp).

    models = PeerModels(Path("~/src/pytorch-generative"))
    net = models.gated_pixelcnn()          # their module, their defaults but the sizes given
    nll = bernoulli_nll(net(x.float()), x)  # [N] nats per image, their loss

Only their network modules are imported: their package's ``__init__`` imports torchvision (for
their datasets), which the benchmarks do not need, so the modules are loaded from their files
under a stand-in package. pclucas14's modules import each other as top-level ``layers`` and
``utils``; they are loaded under those names only while ``model.py`` is. The checkouts are found
from ``--peers DIR`` (pytorch-generative's) and $PIXELAR_PEERS/{pytorch-generative,pixel-cnn-pp};
without them the peers' rows say how to get them.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types
from collections.abc import Callable
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
        module = _module(name, root / PACKAGE / relative)
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


PCLUCAS_URL = "https://github.com/pclucas14/pixel-cnn-pp"


class PclucasModels:
    """pclucas14's PixelCNN++ built from its checkout (``root``, else $PIXELAR_PEERS/pixel-cnn-pp)."""

    def __init__(self, root: str | Path | None) -> None:
        if root is None and os.environ.get("PIXELAR_PEERS"):
            root = Path(os.environ["PIXELAR_PEERS"]).expanduser() / "pixel-cnn-pp"
        self.root = Path(root).expanduser() if root else None
        if self.root is None or not (self.root / "model.py").is_file():
            raise PixelarError(
                f"no pixel-cnn-pp checkout at {self.root or '$PIXELAR_PEERS/pixel-cnn-pp'}; "
                f"git clone {PCLUCAS_URL} into $PIXELAR_PEERS"
            )
        saved = {name: sys.modules.get(name) for name in ("utils", "layers")}
        try:
            self.utils = _module("utils", self.root / "utils.py", _runnable_here)
            _module("layers", self.root / "layers.py")
            self.model = _module("pclucas_model", self.root / "model.py")
        finally:
            for name, module in saved.items():
                if module is None:
                    sys.modules.pop(name, None)
                else:
                    sys.modules[name] = module

    def pixelcnn_pp(self, nr_resnet: int = 1, nr_filters: int = 40, nr_logistic_mix: int = 10) -> nn.Module:
        """Their PixelCNN++ for one-channel images (their defaults: 5 × 160, 10 logistics)."""
        return self.model.PixelCNN(nr_resnet, nr_filters, nr_logistic_mix, input_channels=1)

    def nll(self, net: nn.Module, x: Tensor) -> Tensor:
        """Their loss, the summed NLL in nats of the 8-bit images ``x`` [N, 1, H, W], as [1]."""
        net.init_padding = None  # their forward caches a padding of the first batch's size
        scaled = x.float() / 255 * 2 - 1  # their ToTensor and rescaling
        return self.utils.discretized_mix_logistic_loss_1d(scaled, net(scaled)).reshape(1)


def _runnable_here(text: str) -> str:
    """pclucas14's utils.py, as it runs on a CPU under Python 3: its one Python 2 statement
    (``print e``, in a helper never called here) as ``print(e)``, and the zeros its losses add
    put on the images' device instead of always on CUDA. Nothing else changes."""
    fixes = {
        "print e\n": "print(e)\n",
        "torch.zeros(xs + [nr_mix]).cuda()": "torch.zeros(xs + [nr_mix], device=x.device)",
    }
    if any(old not in text for old in fixes):
        raise PixelarError(
            "this pixel-cnn-pp checkout is not the one benchmarks/peers.py knows (its utils.py differs); "
            "check out its commit 7cb4436 (2021-04-01) or adapt _runnable_here"
        )
    for old, new in fixes.items():
        text = text.replace(old, new)
    return text


def _module(name: str, path: Path, fix: Callable[[str], str] | None = None) -> types.ModuleType:
    """The module in ``path`` loaded as ``name`` (its source first passed through ``fix``)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    if fix is None:
        spec.loader.exec_module(module)
    else:
        exec(compile(fix(path.read_text()), str(path), "exec"), module.__dict__)
    return module
