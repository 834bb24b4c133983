"""The background model's input perturbation (Ren et al. 2019): rate, uniformity, determinism, and the
context-perturbed variant that scores the clean images."""

from __future__ import annotations

import pytest
import torch

from helpers import tiny_train_config
from pixelar.data.perturb import perturbed
from pixelar.errors import PixelarError
from pixelar.training import Trainer


def test_rate_zero_is_the_identity_and_rate_near_one_replaces_almost_everything():
    x = torch.randint(0, 256, (8, 3, 16, 16), dtype=torch.uint8)
    assert perturbed(x, 0.0, 256) is x
    g = torch.Generator().manual_seed(0)
    y = perturbed(torch.zeros(64, 1, 32, 32, dtype=torch.uint8), 0.999, 256, g)
    counts = torch.bincount(y.flatten().long(), minlength=256).float()
    assert counts.min() > 0.5 * counts.mean() and counts.max() < 1.5 * counts.mean()  # uniform over the levels


@pytest.mark.parametrize("rate", [0.1, 0.3])
def test_a_fraction_rate_of_pixels_is_replaced_with_all_their_channels(rate):
    x = torch.zeros(64, 3, 32, 32, dtype=torch.uint8)
    y = perturbed(x, rate, 2**8, torch.Generator().manual_seed(1))
    changed = (y != x).any(1).float().mean().item()  # a replaced pixel keeps a channel's 0 with p 1/256 ** 3
    assert abs(changed - rate) < 0.02
    assert y.dtype == x.dtype and y.shape == x.shape


def test_the_same_generator_seed_gives_the_same_perturbation_and_levels_are_respected():
    x = torch.randint(0, 2, (4, 1, 8, 8), dtype=torch.uint8)
    a = perturbed(x, 0.5, 2, torch.Generator().manual_seed(3))
    b = perturbed(x, 0.5, 2, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and int(a.max()) <= 1


def test_training_reads_perturbed_images_and_the_config_refuses_a_bad_rate(tmp_path):
    with pytest.raises(PixelarError, match="perturb must be in"):
        tiny_train_config(perturb=1.0).validate()
    config = tiny_train_config(perturb=0.5)
    trainer = Trainer(config, tmp_path / "run", progress=False)
    seen = []
    trainer.objective = lambda x, cond, target: (seen.append(x.clone()), trainer.model.log_prob(x).neg())[1]
    x = next(trainer.batches())[0]
    torch.manual_seed(0)
    trainer.train_step(x, None)
    assert seen[0].shape == x.shape and (seen[0] != x).any()


def test_evaluation_reads_the_test_images_as_they_are(tmp_path):
    from pixelar.evaluation import evaluate

    trainer = Trainer(tiny_train_config(perturb=0.9, eval_images=20), tmp_path / "run", progress=False)
    data = trainer.test_data.subset(20)
    torch.manual_seed(0)
    assert trainer.evaluate(data) == evaluate(trainer.eval_model, data, batch_size=64).nats_per_image


@pytest.mark.parametrize("micro_batch", [0, 3])
def test_clean_targets_score_the_clean_images_given_the_perturbed_ones(tmp_path, micro_batch):
    config = tiny_train_config(perturb=0.5, clean_targets=True, micro_batch=micro_batch)
    trainer = Trainer(config, tmp_path / "run", progress=False)
    calls = []
    trainer.objective = lambda x, cond, target: (calls.append((x.clone(), target)), trainer.model.log_prob(x).neg())[1]
    x = next(trainer.batches())[0]
    torch.manual_seed(0)
    trainer.train_step(x, None)
    inputs, targets = torch.cat([c[0] for c in calls]), torch.cat([c[1] for c in calls])
    assert len(calls) == (1 if micro_batch == 0 else -(-len(x) // micro_batch))
    assert all(len(i) == len(t) for i, t in calls)  # each micro-batch's targets are its own images
    assert torch.equal(targets, x) and (inputs != x).any()  # noise in the input, none in what is scored


def test_clean_targets_default_off_in_configs_written_before_them_and_change_nothing_unperturbed(tmp_path):
    import json

    from pixelar.training import TrainConfig

    old = json.loads(tiny_train_config(perturb=0.2).to_json())
    del old["clean_targets"]
    assert TrainConfig.from_json(json.dumps(old)).clean_targets is False
    tiny_train_config(clean_targets=True).validate()  # without perturb: the targets are the inputs
    with pytest.raises(PixelarError, match="clean_targets must be true or false"):
        tiny_train_config(perturb=0.2, clean_targets="yes").validate()


def test_image_nll_of_a_target_is_its_likelihood_under_the_inputs_conditionals():
    from helpers import tiny
    from pixelar.training.objective import image_nll

    model = tiny("pixelcnn").eval()
    x = torch.randint(0, model.num_levels, (3, *model.image_shape))
    y = torch.randint(0, model.num_levels, x.shape)
    assert torch.allclose(image_nll(model, x, None, target=x), -model.log_prob(x))
    by_hand = -model.distribution.log_prob(model(x), y).flatten(1).sum(1)
    assert torch.allclose(image_nll(model, x, None, target=y), by_hand)
    assert not torch.allclose(by_hand, -model.log_prob(y))  # the context is x's, not y's


def test_the_background_presets_and_the_flag_set_clean_targets():
    from pixelar.cli.parser import build_parser
    from pixelar.cli.train import new_run_config

    preset = new_run_config(build_parser().parse_args(["train", "--preset", "fashion-mnist-background"]))
    assert preset.clean_targets is True and preset.perturb > 0
    args = build_parser().parse_args(["train", "--perturb", "0.3", "--clean-targets"])
    assert new_run_config(args).clean_targets is True
    assert new_run_config(build_parser().parse_args(["train", "--perturb", "0.3"])).clean_targets is False
