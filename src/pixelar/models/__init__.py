"""Model families; importing this package registers them all."""

from pixelar.models.base import AutoregressiveModel
from pixelar.models.gated_pixelcnn import GatedPixelCNN
from pixelar.models.pixelcnn import PixelCNN

__all__ = ["AutoregressiveModel", "GatedPixelCNN", "PixelCNN"]
