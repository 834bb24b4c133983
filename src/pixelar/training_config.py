"""What defines a training run (:class:`TrainConfig`), and reading it back from a run directory:
to continue the run (:func:`resume_config`) or to find the data it was trained on
(:func:`run_data_source`)."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from pixelar.checkpoint import RUN_CHECKPOINT_FILE, RUN_CONFIG_FILE
from pixelar.errors import PixelarError
from pixelar.pretrained import card_of
from pixelar.registry import make_config

if TYPE_CHECKING:
    from pixelar.data import ImageDataset

CONFIG_FILE = RUN_CONFIG_FILE  # "train_config.json"
CHECKPOINT_FILE = RUN_CHECKPOINT_FILE  # "checkpoint.pt"

# The settings that continuing a run may change (none changes the numbers beyond float rounding);
# every other one is the run's for good.
RESUMABLE = ("steps", "max_minutes", "device", "micro_batch", "workers", "tensorboard")
PRECISIONS = ("fp32", "bf16")
OPTIMIZERS = ("adam", "adamw", "rmsprop")


@dataclass
class TrainConfig:
    """Everything that defines a training run.

    Attributes:
        model: registered model name; ``model_args`` its hyperparameters (without image_shape
            and num_levels, which come from the data).
        data: dataset name (see ``pixelar.data.DATASETS``); ``data_dir``, ``image_size``,
            ``channels``, ``tiles`` and ``levels`` as for :func:`pixelar.data.get_dataset` (the
            last four for ``folder:PATH`` datasets: ``tiles`` trains on every non-overlapping
            image_size×image_size tile of each image instead of one resized copy; ``levels`` 2
            thresholds the images at 128 for a binary model, None keeps 256).
        steps: optimisation steps; ``max_minutes`` stops earlier on a wall-clock budget.
        batch_size: images per optimisation step: the global batch, however many processes
            share it (under torchrun each takes a contiguous part of every step's images).
        micro_batch: at most this many images per forward/backward pass in a process; a larger
            part of a batch is split and its gradients accumulated (0: no limit). Memory, not
            the model: the step's gradient is the same to float rounding.
        optimizer: "adam", "adamw" (decoupled weight decay) or "rmsprop"; ``lr`` its learning
            rate; ``betas`` Adam's (β1, β2) (PixelCNN++: 0.95, 0.9995); ``weight_decay`` its
            weight decay (L2 for adam and rmsprop); ``grad_clip`` the max gradient norm (0
            disables clipping).
        lr_decay: the learning rate is multiplied by this every step (PixelCNN++: 0.999995;
            1: constant); ``warmup_steps`` ramps it linearly from lr/warmup_steps over the first
            steps.
        eval_every: steps between test evaluations (0: only at the end); ``eval_images`` caps
            the test images used during training (0: the whole split).
        conditional: train a class-conditional model on the dataset's labels.
        perturb: the rate μ at which each training pixel is replaced by uniform random values
            (:func:`pixelar.data.perturb.perturbed`): the background model of the likelihood-ratio
            score (Ren et al. 2019, e.g. 0.2); 0 trains on the images as they are. Evaluation
            reads them as they are.
        clean_targets: with ``perturb``, score the clean images given the perturbed ones as the
            network's input (a context-perturbed background: noise in what each conditional
            sees, none in what it predicts) instead of the perturbed images themselves (Ren et al.).
            Without ``perturb`` it changes nothing.
        ema: decay of an exponential moving average of the weights (Polyak averaging, e.g.
            0.9995 as in PixelCNN++), warmed up: at update t the decay is min(ema, (1 + t) / (10 + t));
            when > 0 the average is what evaluation, sampling and ``model/`` use. 0 disables it.
        compile: compile the training step's forward and backward with ``torch.compile``
            (the same model and loss to float rounding; the first step compiles, for a minute or
            so). Needs a C++ compiler on the CPU.
        precision: "fp32", or "bf16": the network runs under bfloat16 autocast, while the
            output distributions and the log-likelihood are computed in float32 (evaluation is
            always float32).
        activation_checkpointing: keep fewer activations and recompute them in the backward
            pass (less memory for one more forward pass per step; the same gradients).
        workers: data-loading worker processes (0: load in the training process); batches
            are prefetched and, on CUDA, pinned.
        num_samples: images drawn into samples.png at the end; the first 16 of them (seeded by
            ``seed``, so grids are comparable) also into ``samples/step_XXXXXXX.png`` at every
            evaluation during training and at the end (0: no samples).
        tensorboard: a TensorBoard log directory: the losses, learning rate, throughput and
            sample grids are logged there too (see :mod:`pixelar.tensorboard_log`; needs the
            [tensorboard] extra). None: no TensorBoard log.
    """

    model: str = "pixelcnn"
    model_args: dict[str, Any] = field(default_factory=dict)
    data: str = "digits-binary"
    data_dir: str | None = None
    image_size: int | None = None
    channels: int = 3
    tiles: bool = False
    levels: int | None = None
    batch_size: int = 32
    micro_batch: int = 0
    steps: int = 2000
    max_minutes: float | None = None
    optimizer: str = "adam"
    lr: float = 1e-3
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    weight_decay: float = 0.0
    lr_decay: float = 1.0
    warmup_steps: int = 0
    grad_clip: float = 1.0
    log_every: int = 10
    eval_every: int = 500
    eval_images: int = 0
    checkpoint_every: int = 200
    num_samples: int = 16
    conditional: bool = False
    ema: float = 0.0
    perturb: float = 0.0
    clean_targets: bool = False
    seed: int = 0
    device: str = "cpu"
    compile: bool = False
    precision: str = "fp32"
    activation_checkpointing: bool = False
    workers: int = 0
    tensorboard: str | None = None

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        """Parse :meth:`to_json`'s output (unknown keys are ignored); raises ValueError (a
        json.JSONDecodeError included) unless the text is a JSON object of valid settings."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError(f"a JSON object was expected, not {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        config = cls(**{k: v for k, v in data.items() if k in known})
        try:
            config.validate()
        except PixelarError as e:
            raise ValueError(str(e)) from None
        return config

    def validate(self) -> None:
        """Raise a :class:`PixelarError` naming the first setting of the wrong type or out of range."""

        def fail(name: str, what: str) -> None:
            raise PixelarError(f"{name} must be {what}, got {getattr(self, name)!r}", param=name)

        def is_int(value: Any) -> bool:
            return isinstance(value, int) and not isinstance(value, bool)

        def is_number(value: Any) -> bool:
            return (is_int(value) or isinstance(value, float)) and math.isfinite(value)

        for name in ("model", "data", "optimizer", "device", "precision"):
            if not isinstance(getattr(self, name), str):
                fail(name, "a string")
        if not isinstance(self.model_args, dict):
            fail("model_args", "a dictionary of hyperparameters")
        for key, source in (
            ("image_shape", "the data"),
            ("num_levels", "the data"),
            ("num_classes", "conditional=True"),
        ):
            if key in self.model_args:
                raise PixelarError(
                    f"the model's {key} comes from {source}; do not put it in model_args",
                    param=("model_args", "conditional"),
                )
        if self.data_dir is not None and not isinstance(self.data_dir, str):
            fail("data_dir", "a path")
        if self.tensorboard is not None and not (isinstance(self.tensorboard, str) and self.tensorboard):
            fail("tensorboard", "a log directory (a path), or None")
        if self.image_size is not None and not (is_int(self.image_size) and self.image_size >= 1):
            fail("image_size", "a positive integer")
        if self.channels not in (1, 3) or not is_int(self.channels):
            fail("channels", "1 or 3")
        if not isinstance(self.tiles, bool):
            fail("tiles", "true or false")
        if self.levels is not None and not (is_int(self.levels) and 2 <= self.levels <= 256):
            fail("levels", "an integer from 2 to 256 (2: black and white)")
        for name in ("batch_size", "steps", "log_every"):
            if not (is_int(getattr(self, name)) and getattr(self, name) >= 1):
                fail(name, "a positive integer")
        for name in (
            "eval_every",
            "eval_images",
            "checkpoint_every",
            "num_samples",
            "micro_batch",
            "warmup_steps",
            "workers",
        ):
            if not (is_int(getattr(self, name)) and getattr(self, name) >= 0):
                fail(name, "an integer >= 0")
        if self.max_minutes is not None and not (is_number(self.max_minutes) and self.max_minutes > 0):
            fail("max_minutes", "a positive number of minutes")
        if self.optimizer not in OPTIMIZERS:
            fail("optimizer", "adam, adamw or rmsprop")
        if not (is_number(self.lr) and self.lr > 0):
            fail("lr", "a positive number")
        betas = self.betas
        if not (
            isinstance(betas, (list, tuple)) and len(betas) == 2 and all(is_number(b) and 0 <= b < 1 for b in betas)
        ):
            fail("betas", "two numbers in [0, 1), e.g. [0.9, 0.999]")
        self.betas = [float(b) for b in betas]
        if self.optimizer == "rmsprop" and self.betas != [0.9, 0.999]:
            raise PixelarError("betas apply to adam and adamw, not rmsprop: drop betas", param="betas")
        if not (is_number(self.weight_decay) and self.weight_decay >= 0):
            fail("weight_decay", "a number >= 0")
        if not (is_number(self.lr_decay) and 0 < self.lr_decay <= 1):
            fail("lr_decay", "in (0, 1] (the factor per step; 1: constant)")
        if self.precision not in PRECISIONS:
            fail("precision", "fp32 or bf16")
        if not (is_number(self.grad_clip) and self.grad_clip >= 0):
            fail("grad_clip", "a number >= 0 (0: no clipping)")
        if not (is_number(self.perturb) and 0.0 <= self.perturb < 1.0):
            fail("perturb", "in [0, 1) (the rate μ at which pixels are replaced by noise; 0: none)")
        if not (is_number(self.ema) and 0.0 <= self.ema < 1.0):
            fail("ema", "in [0, 1) (0 disables it)")
        for name in ("conditional", "clean_targets", "compile", "activation_checkpointing"):
            if not isinstance(getattr(self, name), bool):
                fail(name, "true or false")
        if not (is_int(self.seed) and abs(self.seed) < 2**40):
            fail("seed", "an integer of magnitude below 2**40")

    def data_options(self) -> dict[str, Any]:
        """The keyword arguments of :func:`pixelar.data.get_dataset` this run loads its data with."""
        return {"image_size": self.image_size, "channels": self.channels, "tiles": self.tiles, "levels": self.levels}

    def check_model(self) -> None:
        """Raise a :class:`PixelarError` unless ``model`` is a registered model and ``model_args``
        are valid hyperparameters of it (checked without any data, so before loading it)."""
        try:
            make_config(self.model, **self.model_args)
        except (TypeError, ValueError) as e:
            raise PixelarError(f"invalid hyperparameters {self.model_args} for {self.model} ({e})") from None


def is_run_dir(path: str | Path) -> bool:
    """Whether ``path`` is a training run directory (it holds a train_config.json), not a saved model."""
    return (Path(path) / CONFIG_FILE).exists()


def load_run_config(
    run_dir: str | Path,
    fix: str = "restore it from a copy or start a new run",
    param: str | tuple[str, ...] = (),
) -> TrainConfig:
    """The TrainConfig of a run directory; a missing or corrupt file is a one-line
    :class:`PixelarError` naming it, ending with ``fix`` (what the user can do instead; ``param``
    the parameters it mentions)."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise PixelarError(f"{path} is missing: {run_dir} is not a training run directory")
    try:
        return TrainConfig.from_json(path.read_text())
    except (ValueError, TypeError, UnicodeDecodeError) as e:
        detail = e.__class__.__name__ if isinstance(e, (json.JSONDecodeError, UnicodeDecodeError)) else str(e)
        raise PixelarError(f"{path} is corrupt ({detail.splitlines()[0][:100]}); {fix}", param=param) from None
    except OSError as e:
        raise PixelarError(f"cannot read {path} ({e.strerror or e.__class__.__name__}); {fix}", param=param) from None


def resume_config(run_dir: str | Path, **changes: Any) -> TrainConfig:
    """The TrainConfig to continue the run in ``run_dir`` with: its own, with the settings of
    :data:`RESUMABLE` given in ``changes`` (and not None) replaced, validated."""
    config = load_run_config(
        run_dir, fix="restore it from a copy, or start a new run with another run_dir", param="run_dir"
    )
    for name, value in changes.items():
        if name not in RESUMABLE:
            raise PixelarError(
                f"{name} is the run's for good; continuing a run can change only {', '.join(RESUMABLE)}", param=name
            )
        if value is not None:
            setattr(config, name, value)
    config.validate()
    return config


class DataSource(NamedTuple):
    """The arguments of :func:`pixelar.data.get_dataset` that name a model's data (``tiles`` and
    ``levels``: a folder dataset's, as the run was trained on it)."""

    data: str
    data_dir: str | None
    image_size: int | None
    tiles: bool = False
    levels: int | None = None

    def load(self, split: str, channels: int, download: bool = True) -> ImageDataset:
        """The ``split`` of this data, with ``channels`` channels (for a folder dataset); with
        ``download`` False a standard dataset missing from the data directory is an error."""
        from pixelar.data import get_dataset

        return get_dataset(
            self.data,
            split,
            self.data_dir,
            download=download,
            image_size=self.image_size,
            channels=channels,
            tiles=self.tiles,
            levels=self.levels,
        )


def run_data_source(
    run: str | Path,
    image_shape: tuple[int, int, int],
    data: str | None = None,
    data_dir: str | None = None,
    image_size: int | None = None,
) -> DataSource:
    """The data to evaluate or complete with a model of ``image_shape`` (C, H, W) loaded from
    ``run`` (a run directory, a saved model directory, or a pretrained model's name): ``data``
    and its settings when given, else the dataset the run (or the pretrained model) was trained on.

    The run's train_config.json is read only when ``data`` is None (then a missing or corrupt
    one is an error); when ``data`` is the run's own dataset, the run's ``data_dir`` and
    ``image_size`` fill in those not given, and a damaged file is ignored. The run's ``tiles``
    and ``levels`` come with its dataset (a folder cut into tiles, or black and white, is read
    the same way again), and only with it: another ``data`` is read with the defaults. Folder
    datasets of a square model default to the model's size.
    """
    tiles, levels = False, None
    card = None if data is not None else card_of(run)
    if card is not None:
        data = card["data"]  # a pretrained model's card names its dataset
    if data is None:
        if not is_run_dir(run):
            raise PixelarError(
                f"{run} is a saved model, not a training run, so it names no dataset: pass data=NAME", param="data"
            )
        trained = load_run_config(
            run,
            fix="pass data=NAME (with data_dir if the run used one) instead, or restore the file from a copy of the run",
            param=("data", "data_dir"),
        )
        data = trained.data
        data_dir = data_dir or trained.data_dir
        image_size = image_size or trained.image_size
        tiles, levels = trained.tiles, trained.levels
    else:
        try:  # how the run (or the pretrained model's, from its card) read its dataset
            text = json.dumps(card["train_config"]) if card is not None else (Path(run) / CONFIG_FILE).read_text()
            hint: TrainConfig | None = TrainConfig.from_json(text)
        except (OSError, ValueError, TypeError, KeyError):
            hint = None
        if hint is not None and hint.data == data:
            data_dir = data_dir or hint.data_dir
            image_size = image_size or hint.image_size
            tiles, levels = hint.tiles, hint.levels
    _, height, width = image_shape
    if image_size is None and height == width:
        image_size = height  # folder:PATH datasets are resized to the model's size
    return DataSource(data, data_dir, image_size, tiles, levels)
