"""Activation checkpointing (``model.activation_checkpointing``, :meth:`AutoregressiveModel.checkpointed`):
the same loss and gradients as without it, dropout's masks included; off by default and no
part of the saved model; nothing in eval mode or without grad; and the blocks really run twice."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import torch
import torch.utils.checkpoint
from torch import nn

import pixelar
from helpers import MODELS, TINY, compile_unavailable, tiny
from pixelar.checkpoint import CONFIG_FILE
from pixelar.models import AutoregressiveModel
from pixelar.training import batch_nll

# Every family, and the Gated PixelCNN with skips too (its layers return a skip output).
CASES = [(name, {}) for name in MODELS] + [("gated-pixelcnn", {"skips": True, "vertical_residual": True})]
IDS = [name + ("-skips" if kw else "") for name, kw in CASES]

# One module per family that a checkpointed block calls once per forward. PixelCNN++'s gated
# layers run through ``GatedResNet.run``, not their own forward, so a convolution inside one.
BLOCK: dict[str, Callable[[nn.Module], nn.Module]] = {
    "pixelcnn": lambda m: m.blocks[0],
    "gated-pixelcnn": lambda m: m.layers[1],
    "pixelcnn++": lambda m: m.up_ul[2][0].conv1,
    "row-lstm": lambda m: m.layers[0],
    "diagonal-bilstm": lambda m: m.layers[0],
    "multiscale-pixelrnn": lambda m: m.large.layers[0],
    "lmconv": lambda m: m.blocks[0],
}


def test_every_family_has_a_block_to_count():
    assert set(BLOCK) == set(MODELS)


def model_and_batch(name: str, **kw: object) -> tuple[AutoregressiveModel, torch.Tensor, torch.Tensor]:
    """A tiny class-conditional float64 model in train mode (PixelCNN++ with dropout 0.5), and a batch."""
    model = tiny(name, image_shape=(3, 4, 4), num_levels=4, num_classes=3, **kw).train()
    generator = torch.Generator().manual_seed(1)
    x = torch.randint(0, 4, (3, 3, 4, 4), generator=generator)
    cond = torch.tensor([0, 2, 1])
    return model, x, cond


def loss_and_grads(model: AutoregressiveModel, x: torch.Tensor, cond: torch.Tensor, seed: int = 5):
    torch.manual_seed(seed)
    loss = batch_nll(model, x, cond)
    # allow_unused: with skips, the last gated layer's horizontal output feeds nothing
    grads = torch.autograd.grad(loss, list(model.parameters()), allow_unused=True)
    return loss, [torch.zeros_like(p) if g is None else g for p, g in zip(model.parameters(), grads)]


@contextmanager
def counting_calls(module: nn.Module) -> Iterator[list[int]]:
    """A one-element list counting ``module``'s forward calls while the block runs: a pre-hook,
    since a checkpoint's second forward stops once it has every saved tensor (early stop), before
    any forward hook of the checkpointed module would run."""
    calls = [0]

    def hook(*_: object) -> None:
        calls[0] += 1

    handle = module.register_forward_pre_hook(hook)
    try:
        yield calls
    finally:
        handle.remove()


@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_checkpointing_gives_the_same_loss_and_gradients(name, kw):
    """Train mode, a fixed seed: PixelCNN++'s dropout draws the same masks in the backward's
    second forward as in the first, so its gradients agree too."""
    model, x, cond = model_and_batch(name, **kw)
    plain_loss, plain_grads = loss_and_grads(model, x, cond)
    model.activation_checkpointing = True
    loss, grads = loss_and_grads(model, x, cond)
    torch.testing.assert_close(loss, plain_loss, rtol=1e-12, atol=0)
    for (key, _), got, want in zip(model.named_parameters(), grads, plain_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12, msg=key)
    assert any(g.abs().sum() > 0 for g in grads)
    if name == "pixelcnn++":  # dropout is on: another seed, other masks, another loss
        other, _ = loss_and_grads(model, x, cond, seed=6)
        assert not torch.equal(other, loss)


@pytest.mark.parametrize("name", MODELS)
def test_checkpointed_blocks_run_again_in_the_backward(name):
    model, x, cond = model_and_batch(name)
    for on, runs in ((False, 1), (True, 2)):
        model.activation_checkpointing = on
        with counting_calls(BLOCK[name](model)) as calls:
            loss = batch_nll(model, x, cond)
            assert calls[0] == 1
            loss.backward()
        assert calls[0] == runs, f"checkpointing {'on' if on else 'off'}"


@pytest.mark.parametrize("name", MODELS)
def test_checkpointing_is_off_by_default_and_not_saved(name, tmp_path):
    model, _, _ = model_and_batch(name)
    assert all(not m.activation_checkpointing for m in model.modules() if isinstance(m, AutoregressiveModel))
    keys = list(model.state_dict())
    model.save_pretrained(tmp_path / "off")
    model.activation_checkpointing = True
    # every model inside follows (the multi-scale model's two scales)
    assert all(m.activation_checkpointing for m in model.modules() if isinstance(m, AutoregressiveModel))
    assert list(model.state_dict()) == keys
    assert "activation_checkpointing" not in model.config.to_dict()
    model.save_pretrained(tmp_path / "on")
    configs = [json.loads((tmp_path / d / CONFIG_FILE).read_text()) for d in ("off", "on")]
    assert configs[0] == configs[1]
    assert not pixelar.load(tmp_path / "on").activation_checkpointing
    model.activation_checkpointing = False
    assert not any(m.activation_checkpointing for m in model.modules() if isinstance(m, AutoregressiveModel))


@pytest.mark.parametrize("name", MODELS)
def test_checkpointing_does_nothing_in_eval_mode_or_without_grad(name, monkeypatch):
    model, x, cond = model_and_batch(name)
    checkpoints = []
    real = torch.utils.checkpoint.checkpoint

    def spy(*args, **kwargs):
        checkpoints.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(torch.utils.checkpoint, "checkpoint", spy)
    model.activation_checkpointing = True
    with model.in_mode(training=False):
        want = model.log_prob(x, cond)
        want.sum().backward()
        with torch.no_grad():
            torch.testing.assert_close(model.log_prob(x, cond), want, rtol=0, atol=0)
        with torch.inference_mode():
            model.sample(1, cond[:1])
    with torch.no_grad():
        model.log_prob(x, cond)  # train mode, no grad
    assert not checkpoints
    model.log_prob(x, cond)  # train mode with grad: the spy is what runs
    assert checkpoints


@pytest.mark.skipif(compile_unavailable() is not None, reason=f"torch.compile unavailable: {compile_unavailable()}")
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")  # inside torch
def test_checkpointing_compiles():
    """``compile=True`` training compiles :func:`batch_nll`: with checkpointing on it compiles
    to one graph (``fullgraph``) and gives the eager loss and gradients (float32, a tiny
    PixelCNN). PixelCNN++ with dropout does too, but compiles for minutes."""
    torch.manual_seed(0)
    model = pixelar.create_model("pixelcnn", image_shape=(1, 6, 6), num_levels=2, **TINY).train()
    x = torch.randint(0, 2, (4, 1, 6, 6))

    def run(nll: Callable[..., torch.Tensor]) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        loss = nll(model, x, None)
        return loss, torch.autograd.grad(loss, list(model.parameters()))

    eager_loss, eager_grads = run(batch_nll)
    model.activation_checkpointing = True
    torch._dynamo.reset()
    compiled = torch.compile(batch_nll, dynamic=False, fullgraph=True, options={"fallback_random": True})
    loss, grads = run(compiled)
    torch.testing.assert_close(loss, eager_loss, rtol=1e-5, atol=1e-5)
    for (key, _), got, want in zip(model.named_parameters(), grads, eager_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5, msg=key)
