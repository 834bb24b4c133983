"""The papers' optimisation recipes (learning-rate decay, warm-up, Adam's betas, weight decay),
bfloat16 autocast, gradient accumulation and the data loader's workers."""

from __future__ import annotations

import math

import pytest
import torch

from helpers import tiny_train_config as _config
from pixelar.cli import main
from pixelar.errors import PixelarError
from pixelar.presets import PRESETS, get_preset
from pixelar.registry import create_model
from pixelar.training import LRSchedule, Trainer, batch_nll, image_nll, resume_run, train
from pixelar.training_config import TrainConfig, load_run_config

SMALL = {
    "pixelcnn": {"num_layers": 2, "hidden_channels": 8},
    "gated-pixelcnn": {"num_layers": 2, "hidden_channels": 8},
    "pixelcnn++": {"num_layers": 1, "hidden_channels": 8, "dropout": 0.0},
    "row-lstm": {"num_layers": 1, "hidden_channels": 8},
    "diagonal-bilstm": {"num_layers": 1, "hidden_channels": 8},
    "multiscale-pixelrnn": {},
}


def test_learning_rate_schedule_is_decay_times_warmup():
    schedule = LRSchedule(decay=0.999995, warmup=4)
    assert [schedule(s) for s in range(4)] == pytest.approx([0.999995**s * (s + 1) / 4 for s in range(4)])
    assert schedule(10_000) == pytest.approx(0.999995**10_000)
    assert LRSchedule()(123) == 1.0


def test_the_trainer_follows_the_schedule_and_resumes_it(tmp_path):
    config = _config(lr=0.01, lr_decay=0.5, warmup_steps=2, steps=4)
    trainer = Trainer(config, tmp_path / "run", progress=False)
    trainer.fit()
    # after 4 steps the rate is that of step 4: lr * 0.5**4 (the warm-up is over)
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(0.01 * 0.5**4)
    resumed = Trainer(config, tmp_path / "run", progress=False)
    resumed.load_checkpoint()
    assert resumed.scheduler.last_epoch == 4
    assert resumed.optimizer.param_groups[0]["lr"] == pytest.approx(0.01 * 0.5**4)


@pytest.mark.parametrize(
    "optimizer,kind,betas,weight_decay",
    [("adam", torch.optim.Adam, [0.95, 0.9995], 1e-4), ("adamw", torch.optim.AdamW, [0.9, 0.99], 0.1)],
)
def test_optimizer_settings_reach_the_optimizer(tmp_path, optimizer, kind, betas, weight_decay):
    config = _config(optimizer=optimizer, betas=betas, weight_decay=weight_decay)
    trainer = Trainer(config, tmp_path, progress=False)
    group = trainer.optimizer.param_groups[0]
    assert type(trainer.optimizer) is kind
    assert group["betas"] == tuple(betas) and group["weight_decay"] == weight_decay


@pytest.mark.parametrize(
    "setting,match",
    [
        ({"lr_decay": 0.0}, "lr_decay must be in"),
        ({"lr_decay": 1.5}, "lr_decay must be in"),
        ({"betas": [0.9]}, "betas must be two numbers"),
        ({"betas": [0.9, 1.0]}, "betas must be two numbers"),
        ({"optimizer": "rmsprop", "betas": [0.5, 0.5]}, "betas apply to adam and adamw"),
        ({"weight_decay": -1.0}, "weight_decay must be"),
        ({"warmup_steps": -1}, "warmup_steps must be"),
        ({"precision": "fp16"}, "precision must be fp32 or bf16"),
        ({"micro_batch": -2}, "micro_batch must be"),
        ({"workers": 1.5}, "workers must be"),
    ],
)
def test_bad_recipe_settings_are_one_line_errors(setting, match):
    with pytest.raises(PixelarError, match=match):
        _config(**setting).validate()


@pytest.mark.parametrize("name", sorted(SMALL))
def test_bf16_likelihoods_are_within_two_percent_of_float32(name):
    torch.manual_seed(0)
    model = create_model(name, image_shape=(1, 12, 12), num_levels=2, **SMALL[name]).eval()
    x = torch.randint(0, 2, (6, 1, 12, 12))
    with torch.no_grad():
        exact = image_nll(model, x, None)
        half = image_nll(model, x, None, precision="bf16")
    assert half.dtype == torch.float32  # the likelihood itself is computed in float32
    assert not torch.equal(half, exact)  # autocast did run the network in bfloat16
    torch.testing.assert_close(half, exact, rtol=0.02, atol=0.0)


def test_bf16_training_learns(tmp_path):
    config = _config(precision="bf16", steps=30, lr=3e-3, model_args={"num_layers": 1, "hidden_channels": 8})
    trainer = Trainer(config, tmp_path, progress=False)
    before = trainer.evaluate()
    trainer.fit()
    assert trainer.evaluate() < before - 20


def _trained_weights(tmp_path, name: str, **settings) -> dict[str, torch.Tensor]:
    trainer = Trainer(_config(batch_size=9, steps=3, **settings), tmp_path / name, progress=False)
    trainer.fit()
    return trainer.model.state_dict()


def test_micro_batches_accumulate_the_whole_batch_gradient(tmp_path):
    whole = _trained_weights(tmp_path, "whole")
    accumulated = _trained_weights(tmp_path, "micro", micro_batch=2)
    assert any(not torch.equal(whole[k], accumulated[k]) for k in whole)  # other float rounding ...
    for key in whole:  # ... of the same step
        torch.testing.assert_close(accumulated[key], whole[key], rtol=1e-5, atol=1e-6)


def test_worker_processes_load_the_same_batches(tmp_path):
    inline = _trained_weights(tmp_path, "inline")
    workers = _trained_weights(tmp_path, "workers", workers=2)
    for key in inline:
        assert torch.equal(inline[key], workers[key]), key


def test_resume_may_change_micro_batch_and_workers(tmp_path):
    train(_config(steps=3), tmp_path, progress=False)
    resume_run(tmp_path, steps=4, micro_batch=4, workers=1, progress=False)
    assert load_run_config(tmp_path).micro_batch == 4  # the record says what the run continued with
    with pytest.raises(PixelarError, match="lr is the run's for good"):
        resume_run(tmp_path, steps=5, lr=1.0, progress=False)


def test_cli_takes_the_recipe_flags(tmp_path, capsys):
    run = tmp_path / "run"
    code = main(
        [
            "train",
            *("--model", "pixelcnn", "--num-layers", "1", "--hidden-channels", "4", "--steps", "2"),
            *("--batch-size", "8", "--eval-every", "0", "--num-samples", "0", "--quiet", "--out", str(run)),
            *("--betas", "0.95,0.9995", "--lr-decay", "0.999995", "--warmup-steps", "3", "--weight-decay", "0.01"),
            *("--optimizer", "adamw", "--precision", "bf16", "--micro-batch", "4", "--workers", "0"),
            "--activation-checkpointing",
        ]
    )
    assert code == 0
    config = load_run_config(run)
    assert config.betas == [0.95, 0.9995] and config.lr_decay == 0.999995 and config.warmup_steps == 3
    assert config.optimizer == "adamw" and config.precision == "bf16" and config.micro_batch == 4
    assert config.activation_checkpointing and math.isclose(config.weight_decay, 0.01)
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--betas", "0.9", "--out", str(tmp_path / "x")])
    assert exit_.value.code == 2
    assert "expected 2 comma-separated numbers" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_is_a_valid_run(name):
    config = TrainConfig(**get_preset(name))
    config.validate()
    config.check_model()


def test_the_pixelcnn_pp_preset_has_the_papers_recipe():
    preset = get_preset("pixelcnn++-cifar10")
    assert preset["betas"] == [0.95, 0.9995] and preset["lr_decay"] == 0.999995 and preset["ema"] == 0.9995


def test_batch_nll_is_the_mean_of_image_nll():
    model = create_model("pixelcnn", image_shape=(1, 6, 6), num_levels=2, num_layers=1, hidden_channels=4)
    x = torch.randint(0, 2, (3, 1, 6, 6))
    assert torch.equal(batch_nll(model, x, None), image_nll(model, x, None).mean())
