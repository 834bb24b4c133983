"""Model families; importing this package registers them all."""

from pixelar.models.base import AutoregressiveModel
from pixelar.models.gated_pixelcnn import GatedPixelCNN
from pixelar.models.pixelcnn import PixelCNN
from pixelar.models.pixelcnn_pp import PixelCNNPP

__all__ = ["AutoregressiveModel", "GatedPixelCNN", "PixelCNN", "PixelCNNPP"]
