"""pixelar: pixel-level autoregressive image models (PixelRNN and PixelCNN families)."""

from pixelar.codec import decode, encode
from pixelar.completion import complete
from pixelar.errors import PixelarError
from pixelar.loading import load
from pixelar.metrics import bits_per_dim, nats_per_image
from pixelar.ood import score
from pixelar.pretrained import list_pretrained
from pixelar.registry import ModelConfig, create_model, list_models, register_model

__version__ = "0.1.0"

__all__ = [
    "ModelConfig",
    "PixelarError",
    "__version__",
    "bits_per_dim",
    "complete",
    "create_model",
    "decode",
    "encode",
    "list_models",
    "list_pretrained",
    "load",
    "nats_per_image",
    "register_model",
    "score",
]
