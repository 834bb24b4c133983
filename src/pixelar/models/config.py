"""The hyperparameters every model shares: the base of each family's config dataclass."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from pixelar.errors import PixelarError


@dataclasses.dataclass
class ModelConfig:
    """Hyperparameters shared by every model; each family subclasses it with its own fields.

    Attributes:
        image_shape: (C, H, W) of the images the model describes.
        num_levels: K, the number of values a sub-pixel takes (256 for 8-bit, 2 for binary).
        num_classes: number of class labels for a class-conditional model; 0 for unconditional.
    """

    image_shape: tuple[int, int, int] = (1, 28, 28)
    num_levels: int = 256
    num_classes: int = 0

    # Fields a family added after models were saved and files compressed, with the default that
    # reproduces the older models: the codec's model fingerprint leaves them out at that default.
    added_fields: ClassVar[dict[str, Any]] = {}

    def __post_init__(self) -> None:
        shape = tuple(int(s) for s in self.image_shape)
        if len(shape) != 3 or min(shape) < 1:
            raise PixelarError(
                f"image_shape must be (channels, height, width) of positive sizes, got {self.image_shape}"
            )
        self.image_shape = (shape[0], shape[1], shape[2])
        if self.num_levels < 2:
            raise PixelarError(f"num_levels must be at least 2, got {self.num_levels}")
        if self.num_classes < 0:
            raise PixelarError(f"num_classes must be >= 0, got {self.num_classes}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["image_shape"] = list(self.image_shape)
        return d
