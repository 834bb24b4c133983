"""Training on two processes (torchrun + DistributedDataParallel, gloo on the CPU) is training on
one: the same parameters, the same losses, checkpoints that move between world sizes, and an
evaluation that counts every test image once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import pixelar
from pixelar.data import get_dataset
from pixelar.distributed import Context, shard_range
from pixelar.errors import PixelarError
from pixelar.evaluation import evaluate
from pixelar.training import StepBatches, Trainer, batch_indices, resume_run, train
from pixelar.training_config import TrainConfig

# A run whose every setting matters: an uneven split of 9 images over 2 processes, a decaying
# learning rate with warm-up (its state must resume), and a fast-moving small PixelCNN.
FLAGS = {
    "model": "pixelcnn",
    "num-layers": 2,
    "hidden-channels": 8,
    "data": "digits-binary",
    "batch-size": 9,
    "lr": 0.01,
    "lr-decay": 0.9,
    "warmup-steps": 2,
    "steps": 6,
    "checkpoint-every": 3,
    "log-every": 1,
    "eval-every": 0,
    "num-samples": 0,
}


def _config(**overrides: object) -> TrainConfig:
    """FLAGS as the TrainConfig a single process trains with."""
    settings: dict = {key.replace("-", "_"): value for key, value in FLAGS.items()}
    settings["model_args"] = {
        "num_layers": settings.pop("num_layers"),
        "hidden_channels": settings.pop("hidden_channels"),
    }
    settings.update(overrides)
    return TrainConfig(**settings)


def _torchrun(*args: str, processes: int = 2) -> None:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"]
    command += ["-m", "pixelar", "train", "--quiet", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def _flags(**overrides: object) -> list[str]:
    return [text for key, value in {**FLAGS, **overrides}.items() for text in (f"--{key}", str(value))]


def _records(run: Path, key: str) -> list[float]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [rec[key] for rec in records if key in rec and not rec.get("final")]


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoint.pt", weights_only=True)["model"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same run on one process, on two (with micro-batches of 2: gradient accumulation),
    and stopped at its step-3 checkpoint on two processes, then continued on two and on one."""
    root = tmp_path_factory.mktemp("ddp")
    out = {name: root / name for name in ("one", "two", "part", "part_on_two", "part_on_one")}
    train(_config(), out["one"], progress=False)
    _torchrun(*_flags(**{"micro-batch": 2, "out": out["two"]}))
    _torchrun(*_flags(**{"micro-batch": 2, "steps": 3, "out": out["part"]}))
    shutil.copytree(out["part"], out["part_on_two"])
    shutil.copytree(out["part"], out["part_on_one"])
    _torchrun("--resume", str(out["part_on_two"]), "--steps", "6")
    torch.set_num_threads(1)
    resume_run(out["part_on_one"], steps=6, progress=False)
    return out


def test_two_processes_train_the_one_process_model(runs):
    one, two = _weights(runs["one"]), _weights(runs["two"])
    for key in one:
        torch.testing.assert_close(two[key], one[key], rtol=1e-5, atol=1e-6, msg=key)
    losses_one, losses_two = _records(runs["one"], "train_loss"), _records(runs["two"], "train_loss")
    assert len(losses_two) == 6  # rank 0 alone writes the metrics
    assert losses_two == pytest.approx(losses_one, rel=1e-6)
    assert losses_two[-1] < losses_two[0] - 20  # it learns: the comparison is not of two idle runs


def test_a_two_process_checkpoint_continues_on_two_and_on_one(runs):
    full = _records(runs["two"], "train_loss")
    assert _records(runs["part_on_two"], "train_loss") == full  # the identical loss sequence
    assert _records(runs["part_on_one"], "train_loss") == pytest.approx(full, rel=1e-6)
    for key, value in _weights(runs["two"]).items():
        assert torch.equal(_weights(runs["part_on_two"])[key], value), key
        torch.testing.assert_close(_weights(runs["part_on_one"])[key], value, rtol=1e-5, atol=1e-6)


def test_evaluation_over_two_ranks_is_evaluation_on_one(runs):
    records = [json.loads(line) for line in (runs["two"] / "metrics.jsonl").read_text().splitlines()]
    final = [rec for rec in records if rec.get("final")]
    assert len(final) == 1
    test = get_dataset("digits-binary", "test")
    alone = evaluate(pixelar.load(runs["two"]), test, batch_size=64)
    assert final[0]["test_images"] == len(test) == alone.count
    assert final[0]["test_loss"] == pytest.approx(alone.nats_per_image, rel=1e-9)


@pytest.mark.parametrize("count,world", [(9, 2), (500, 3), (2, 2), (7, 4)])
def test_shards_cover_every_item_once(count, world):
    parts = [shard_range(count, Context(rank, world)) for rank in range(world)]
    covered = [i for start, stop in parts for i in range(start, stop)]
    assert covered == list(range(count))
    sizes = [stop - start for start, stop in parts]
    assert max(sizes) - min(sizes) <= 1


def test_a_batch_smaller_than_the_world_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(PixelarError, match="batch_size=2 is smaller than the 4 processes"):
        Trainer(_config(batch_size=2), tmp_path, progress=False)


def test_each_rank_reads_its_part_of_every_steps_images():
    data = get_dataset("digits-binary", "train")
    per_epoch = len(data) // 9
    for rank in range(2):
        source = StepBatches(data, 9, seed=3, ctx=Context(rank, 2), labels=True)
        for step in (0, 1, per_epoch - 1, per_epoch, 3 * per_epoch + 2):  # across epochs, back and forth
            idx = shard_range(9, Context(rank, 2))
            expected = batch_indices(len(data), 9, 3, step)[idx[0] : idx[1]].sort().values
            x, labels = source[step]
            assert torch.equal(x, data.images[expected]) and torch.equal(labels, data.labels[expected])


def test_a_model_with_an_unused_parameter_trains_on_two_processes(tmp_path):
    # with skip connections the last gated layer's residual 1×1 convolution gets no gradient:
    # DDP is told so (find_unused_parameters), else the second step would fail
    skips = {"model": "gated-pixelcnn", "steps": 2, "checkpoint-every": 0}
    _torchrun(*_flags(**skips, out=tmp_path / "two"), "--model-arg", "skips=true")
    config = _config(model="gated-pixelcnn", steps=2, checkpoint_every=0)
    config.model_args["skips"] = True
    train(config, tmp_path / "one", progress=False)
    one, two = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    for key in one:
        torch.testing.assert_close(two[key], one[key], rtol=1e-5, atol=1e-6, msg=key)
