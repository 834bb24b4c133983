"""The training speed-ups compute what the straightforward formulas do: masked convolutions on
their kernel's support, channels-last maps, the layout-independent dropout, and
``compile=True`` (torch.compile of the training step)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import pixelar
from helpers import compile_unavailable, randomize, tiny_train_config
from pixelar.compiling import check_compile
from pixelar.errors import PixelarError
from pixelar.layers import MaskedConv2d, gated_resnet, shifts
from pixelar.models import gated_pixelcnn, pixelcnn, pixelcnn_pp
from pixelar.training import METRICS_FILE, batch_nll, load_run_config, read_metrics, train

CONV_MODELS = ["pixelcnn", "gated-pixelcnn", "pixelcnn++"]


def full_masked_conv(conv: MaskedConv2d, x: torch.Tensor) -> torch.Tensor:
    """The textbook masked convolution: the whole kernel times the mask, same padding."""
    kh, kw = conv.kernel_size
    return F.conv2d(x, conv.weight * conv.mask, conv.bias, padding=(kh // 2, kw // 2))


def grads(output: torch.Tensor, *tensors: torch.Tensor) -> list[torch.Tensor]:
    weights = torch.linspace(-1, 1, output.numel(), dtype=output.dtype).reshape(output.shape)
    return list(torch.autograd.grad((output * weights).sum(), tensors))


@pytest.mark.parametrize("kernel", [1, 3, 7, (1, 3), (1, 7), (3, 5)])
@pytest.mark.parametrize("mask_type", ["A", "B"])
@pytest.mark.parametrize("colors", [1, 3])
@pytest.mark.parametrize("compiling", [False, True])
def test_masked_conv_on_its_support_is_the_full_masked_convolution(kernel, mask_type, colors, compiling, monkeypatch):
    """Both forms: the padded input (eager) and the cut-off output (under torch.compile)."""
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: compiling)
    torch.manual_seed(0)
    conv = MaskedConv2d(2 * colors, 4 * colors, kernel, mask_type, colors).double()
    randomize(conv)  # every weight non-zero, the masked ones included
    x = torch.randn(2, 2 * colors, 5, 6, dtype=torch.float64, requires_grad=True)
    got, want = conv(x), full_masked_conv(conv, x)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    params = [x, conv.weight, conv.bias]
    for a, b in zip(grads(got, *params), grads(want, *params)):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (1, 2, 1, 1), (2, 1, 1, 3)])
def test_shifts_are_pad_then_slice(shape):
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    cases = [
        (shifts.down_shift, lambda t: F.pad(t, (0, 0, 1, 0))[:, :, :-1]),
        (shifts.right_shift, lambda t: F.pad(t, (1, 0, 0, 0))[:, :, :, :-1]),
    ]
    for fast, slow in cases:
        assert torch.equal(fast(x), slow(x))
        assert torch.equal(*(grads(f(x), x)[0] for f in (fast, slow)))
        assert fast(x.detach().contiguous(memory_format=torch.channels_last)).is_contiguous(
            memory_format=torch.channels_last
        )


def straightforward(monkeypatch: pytest.MonkeyPatch) -> None:
    """Undo the speed-ups: default layout, full masked kernels, pad-then-slice shifts (the
    dropout stays: its mask does not depend on the layout, tested below)."""
    for module in (pixelcnn, gated_pixelcnn, pixelcnn_pp):
        monkeypatch.setattr(module, "conv_layout", lambda x: x)
    monkeypatch.setattr(MaskedConv2d, "forward", full_masked_conv)
    monkeypatch.setattr(shifts, "down_shift", lambda t: F.pad(t, (0, 0, 1, 0))[:, :, :-1])
    monkeypatch.setattr(gated_pixelcnn, "down_shift", shifts.down_shift)
    monkeypatch.setattr(shifts, "right_shift", lambda t: F.pad(t, (1, 0, 0, 0))[:, :, :, :-1])


@pytest.mark.parametrize("name", CONV_MODELS)
@pytest.mark.parametrize("colors,levels", [(1, 2), (3, 4)])
def test_models_compute_the_straightforward_loss_and_gradients(name, colors, levels, monkeypatch):
    """Float32 on the CPU, in train mode (dropout 0.5 in PixelCNN++: the same mask must be drawn)."""
    torch.manual_seed(0)
    args = {"dropout": 0.5} if name == "pixelcnn++" else {}
    model = pixelar.create_model(name, image_shape=(colors, 8, 8), num_levels=levels, **args)
    randomize(model, gain=1.0).train()
    x = torch.randint(0, levels, (3, colors, 8, 8))

    def loss_and_grads() -> tuple[torch.Tensor, list[torch.Tensor]]:
        torch.manual_seed(1)
        loss = batch_nll(model, x, None)
        return loss, list(torch.autograd.grad(loss, list(model.parameters())))

    fast, fast_grads = loss_and_grads()
    assert model(x).is_contiguous(memory_format=torch.channels_last)
    straightforward(monkeypatch)
    slow, slow_grads = loss_and_grads()
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-5)
    for (key, _), a, b in zip(model.named_parameters(), fast_grads, slow_grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=key)


@pytest.mark.parametrize("p", [0.5, 0.2])
def test_dropout_keeps_one_minus_p_in_any_layout(p):
    dropout = gated_resnet.Dropout(p).train()
    x = torch.rand(8, 6, 20, 20) + 0.5
    torch.manual_seed(3)
    y = dropout(x)
    torch.manual_seed(3)
    y_cl = dropout(x.contiguous(memory_format=torch.channels_last))
    assert torch.equal(y, y_cl)  # the same elements dropped whatever the memory layout
    kept = y != 0
    torch.testing.assert_close(y[kept], x[kept] / (1 - p))  # survivors scaled by 1 / (1 − p)
    n = x.numel()
    assert abs(kept.float().mean().item() - (1 - p)) < 4 * ((p * (1 - p) / n) ** 0.5)  # 4 standard errors
    assert not torch.equal(kept, dropout(x) != 0)  # fresh draws each call
    assert torch.equal(dropout.eval()(x), x)


def test_batch_nll_is_the_mean_negative_log_prob():
    torch.manual_seed(0)
    model = pixelar.create_model("gated-pixelcnn", image_shape=(1, 6, 6), num_levels=2)
    x = torch.randint(0, 2, (4, 1, 6, 6))
    assert torch.equal(batch_nll(model, x, None), -model.log_prob(x).mean())


def test_compile_setting_is_validated():
    with pytest.raises(PixelarError, match="compile must be true or false"):
        tiny_train_config(compile="yes").validate()


def test_compile_without_a_cxx_compiler_is_one_line():
    inductor_config = pytest.importorskip("torch._inductor.config")
    # inductor's own patching (a monkeypatched config entry is deleted, not restored, on undo)
    with (
        inductor_config.patch({"cpp.cxx": ("no-such-compiler-pixelar",)}),
        pytest.raises(PixelarError, match=r"torch.compile needs a C\+\+ compiler") as info,
    ):
        check_compile(torch.device("cpu"), "train without compile=True")
    assert "\n" not in str(info.value)


@pytest.mark.skipif(compile_unavailable() is not None, reason=f"torch.compile unavailable: {compile_unavailable()}")
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")  # inside torch
def test_compiled_training_matches_eager_and_resumes(tmp_path):
    """A tiny model trained 4 steps eagerly, and compiled: 2 steps, then resumed to 4 (compiled
    again, as its train_config.json says). The same losses and weights to float rounding."""
    eager = tmp_path / "eager"
    train(tiny_train_config(steps=4, checkpoint_every=0), eager, progress=False)
    compiled = tmp_path / "compiled"
    train(tiny_train_config(steps=2, checkpoint_every=0, compile=True), compiled, progress=False)
    assert load_run_config(compiled).compile
    train(tiny_train_config(steps=4, checkpoint_every=0, compile=True), compiled, resume=True, progress=False)
    losses = [
        [r["train_loss"] for r in read_metrics(run / METRICS_FILE) if "train_loss" in r] for run in (eager, compiled)
    ]
    assert len(losses[1]) == 4 and losses[1] == pytest.approx(losses[0], rel=1e-5)
    want, got = pixelar.load(eager).state_dict(), pixelar.load(compiled).state_dict()
    for key, value in want.items():
        torch.testing.assert_close(got[key], value, rtol=1e-4, atol=1e-6, msg=key)


def test_cli_compile_flag_sets_the_setting():
    from pixelar.cli.parser import build_parser
    from pixelar.cli.train import new_run_config

    args = build_parser().parse_args(["train", "--model", "pixelcnn", "--compile"])
    assert new_run_config(args).compile is True
    assert new_run_config(build_parser().parse_args(["train"])).compile is False
