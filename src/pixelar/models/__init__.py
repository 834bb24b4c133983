"""Model families; importing this package registers them all."""

from pixelar.models.base import AutoregressiveModel
from pixelar.models.gated_pixelcnn import GatedPixelCNN
from pixelar.models.multiscale import MultiScalePixelRNN
from pixelar.models.pixelcnn import PixelCNN
from pixelar.models.pixelcnn_pp import PixelCNNPP
from pixelar.models.pixelrnn import DiagonalBiLSTM, RowLSTM

__all__ = [
    "AutoregressiveModel",
    "DiagonalBiLSTM",
    "GatedPixelCNN",
    "MultiScalePixelRNN",
    "PixelCNN",
    "PixelCNNPP",
    "RowLSTM",
]
