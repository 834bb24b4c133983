"""Teacher-forced maximum-likelihood training with exact resume.

A run directory holds::

    train_config.json   the TrainConfig of the run (pixelar.training_config)
    checkpoint.pt       model, optimizer, step, RNG state (atomic; loaded with weights_only=True)
    model/              the latest weights as config.json + model.safetensors (pixelar.load)
    metrics.jsonl       one JSON record per log interval / evaluation
    loss.png            training and test NLL curves
    samples.png         a grid of samples from the final model
    samples/            step_XXXXXXX.png: a grid of samples at every evaluation and at the end

The order of the training images is a pure function of (seed, step), and so is the random
state of every step (dropout), so a resumed run sees exactly the batches, and computes the
numbers, of an uninterrupted one.

Under ``torchrun --nproc-per-node N -m pixelar train ...`` the same loop runs in N processes
with :class:`~torch.nn.parallel.DistributedDataParallel` (see :mod:`pixelar.distributed`): each
takes a contiguous part of every step's images, the gradients are averaged so that the step is
the one-process step over the whole batch, and only rank 0 logs and writes the run directory; a
checkpoint written by N processes continues on any number.
"""

from __future__ import annotations

from pixelar.compiling import check_compile
from pixelar.training.base import resolve_device
from pixelar.training.batches import StepBatches as StepBatches
from pixelar.training.batches import batch_indices, step_seed
from pixelar.training.batches import epoch_permutation as epoch_permutation
from pixelar.training.loop import Trainer
from pixelar.training.objective import Objective, batch_nll, image_nll
from pixelar.training.run import resume_run, train
from pixelar.training.run_files import (
    GRID_SAMPLES,
    METRICS_FILE,
    SAMPLES_DIR,
    grid_path,
    has_checkpoint,
    read_metrics,
    sample_grids,
)
from pixelar.training.schedule import LRSchedule
from pixelar.training_config import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    RESUMABLE,
    DataSource,
    TrainConfig,
    is_run_dir,
    load_run_config,
    resume_config,
    run_data_source,
)

__all__ = [
    "CHECKPOINT_FILE",
    "CONFIG_FILE",
    "GRID_SAMPLES",
    "METRICS_FILE",
    "RESUMABLE",
    "SAMPLES_DIR",
    "DataSource",
    "LRSchedule",
    "Objective",
    "TrainConfig",
    "Trainer",
    "batch_indices",
    "batch_nll",
    "check_compile",
    "grid_path",
    "has_checkpoint",
    "image_nll",
    "is_run_dir",
    "load_run_config",
    "read_metrics",
    "resolve_device",
    "resume_config",
    "resume_run",
    "run_data_source",
    "sample_grids",
    "step_seed",
    "train",
]
