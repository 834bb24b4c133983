"""Starting a training run, or continuing one from its checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pixelar import distributed
from pixelar.errors import PixelarError
from pixelar.training.loop import Trainer
from pixelar.training.run_files import METRICS_FILE, has_checkpoint
from pixelar.training_config import TrainConfig, resume_config


def train(config: TrainConfig, run_dir: str | Path, resume: bool = False, progress: bool = True) -> dict[str, float]:
    """Train a model as ``config`` says into ``run_dir`` (continuing its checkpoint if ``resume``).

    Resuming a run that stopped before its first checkpoint starts it again from step 0 (the
    same batches and numbers as the run it continues would have had).
    """
    config.validate()  # bad settings fail before the run directory is looked at
    if Path(run_dir).exists() and not Path(run_dir).is_dir():
        raise PixelarError(f"{run_dir} is a file, not a run directory; choose another run_dir", param="run_dir")
    if not resume and has_checkpoint(run_dir):
        raise PixelarError(
            f"{run_dir} already holds a run; pass resume=True to continue it, or choose a new run_dir",
            param=("resume", "run_dir"),
        )
    if resume and not has_checkpoint(run_dir):
        resume = False  # nothing saved yet: start from step 0 (stale metrics are dropped below)
    try:
        trainer = Trainer(config, run_dir, progress=progress)
        if resume:
            trainer.load_checkpoint()
        elif trainer.ctx.is_main:
            (Path(run_dir) / METRICS_FILE).unlink(missing_ok=True)
            trainer._drop_later_grids()  # at step 0: every grid of an earlier start
        return trainer.fit()
    finally:
        distributed.shutdown()  # every way out: the end, the time budget, an error, a stop request


def resume_run(
    run_dir: str | Path,
    steps: int | None = None,
    max_minutes: float | None = None,
    device: str | None = None,
    progress: bool = True,
    **changes: Any,
) -> dict[str, float]:
    """Continue the run in ``run_dir`` where its checkpoint left off, with its own settings but
    for the :data:`RESUMABLE` ones given here (e.g. more ``steps``, or ``micro_batch``); see
    :func:`resume_config`."""
    config = resume_config(run_dir, steps=steps, max_minutes=max_minutes, device=device, **changes)
    return train(config, run_dir, resume=True, progress=progress)
