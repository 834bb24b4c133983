"""Model families: each module one family, on the base class :class:`AutoregressiveModel`.

:data:`FAMILIES` lists the built-in ones; :mod:`pixelar.registry` registers them by their
``model_name`` (this package knows nothing of the registry).
"""

from pixelar.models.base import AutoregressiveModel
from pixelar.models.config import ModelConfig
from pixelar.models.gated_pixelcnn import GatedPixelCNN
from pixelar.models.lmconv import LocallyMaskedPixelCNN
from pixelar.models.multiscale import MultiScalePixelRNN
from pixelar.models.pixelcnn import PixelCNN
from pixelar.models.pixelcnn_pp import PixelCNNPP
from pixelar.models.pixelrnn import DiagonalBiLSTM, RowLSTM

# every built-in family, in the order `pixelar list` shows them
FAMILIES: tuple[type[AutoregressiveModel], ...] = (
    PixelCNN,
    GatedPixelCNN,
    PixelCNNPP,
    RowLSTM,
    DiagonalBiLSTM,
    MultiScalePixelRNN,
    LocallyMaskedPixelCNN,
)

__all__ = [
    "FAMILIES",
    "AutoregressiveModel",
    "DiagonalBiLSTM",
    "GatedPixelCNN",
    "LocallyMaskedPixelCNN",
    "ModelConfig",
    "MultiScalePixelRNN",
    "PixelCNN",
    "PixelCNNPP",
    "RowLSTM",
]
