"""A training run's curves and sample grids as a TensorBoard log (the optional [tensorboard] extra).

The tags a run writes (see :class:`pixelar.training.Trainer`): ``train/loss`` (the run's unit,
as in metrics.jsonl: nats per image for binary data, bits/dim for 8-bit data),
``train/nats_per_image``, ``train/bits_per_dim``, ``train/lr``, ``train/images_per_second``; the
same three losses under ``test/`` (the evaluations during training, on ``eval_images`` test
images) and ``final/`` (the whole test split, after training); and the sample grids as the
image ``samples``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pixelar.errors import PixelarError

if TYPE_CHECKING:
    from PIL import Image

INSTALL_HINT = "TensorBoard logging needs the tensorboard package: pip install 'pixelar[tensorboard]'"


def check_tensorboard() -> None:
    """Raise a one-line :class:`PixelarError` saying how to install TensorBoard unless it imports."""
    try:
        import tensorboard  # noqa: F401
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError:
        raise PixelarError(INSTALL_HINT) from None


class TensorBoardLog:
    """Scalars and images written to one TensorBoard log directory.

    ``purge_step``: a run resumed from the checkpoint of step S passes S + 1, so that what a
    crashed run logged after its checkpoint is hidden, and the resumed run's numbers replace it.
    """

    def __init__(self, log_dir: str | Path, purge_step: int | None = None) -> None:
        check_tensorboard()
        from torch.utils.tensorboard import SummaryWriter

        log_dir = Path(log_dir)
        try:
            log_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise PixelarError(
                f"cannot create the TensorBoard log directory {log_dir} ({e.strerror or e.__class__.__name__}); "
                "pass another directory"
            ) from None
        self.log_dir = log_dir
        self.writer = SummaryWriter(str(log_dir), purge_step=purge_step)

    def scalars(self, values: dict[str, float], step: int) -> None:
        """Log each ``tag: value`` at ``step``."""
        for tag, value in values.items():
            self.writer.add_scalar(tag, value, step)

    def image(self, tag: str, picture: Image.Image, step: int) -> None:
        """Log a picture (e.g. a sample grid) at ``step``."""
        self.writer.add_image(tag, np.asarray(picture.convert("RGB")), step, dataformats="HWC")

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
