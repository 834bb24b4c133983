"""method="compiled": PixelCNN's fast sampler with each step's network one native call
(pixelar.native) gives the fast sampler's conditionals and images."""

from __future__ import annotations

import pytest
import torch

import pixelar
from helpers import tiny
from pixelar.codec import encode
from pixelar.errors import PixelarError
from pixelar.native import build
from pixelar.sampling import make_stepper, resolve_method, sample


def every_conditional(model, x, cond, method):
    """The stepper's conditionals at every (front, channel) of images x, in the loop's order."""
    stepper = make_stepper(model, x.shape[0], cond, method)
    with torch.no_grad():
        return [stepper.conditional(x, c, front) for front in stepper.fronts for c in range(model.image_shape[0])]


@pytest.mark.parametrize(
    "shape,levels,kw",
    [
        ((3, 5, 11), 4, {"num_layers": 2, "hidden_channels": 6}),  # colour groups, fronts of several pixels
        ((1, 6, 9), 2, {"num_layers": 3, "hidden_channels": 5}),  # Bernoulli, odd feature counts
        ((3, 4, 7), 256, {"num_layers": 1, "hidden_channels": 4, "num_classes": 3}),  # class biases
        ((2, 4, 5), 3, {"num_layers": 0, "hidden_channels": 4}),  # no residual blocks
    ],
)
@pytest.mark.parametrize("batch", [1, 5])  # 5 images: rows in blocks of 4 and a remainder
def test_compiled_conditionals_equal_the_fast_ones_in_float64(shape, levels, kw, batch):
    model = tiny("pixelcnn", shape, levels, seed=3, **kw)
    x = torch.randint(0, levels, (batch, *shape), generator=torch.Generator().manual_seed(1))
    cond = torch.arange(batch) % kw["num_classes"] if "num_classes" in kw else None
    fast = every_conditional(model, x, cond, "fast")
    compiled = every_conditional(model, x, cond, "compiled")
    assert len(fast) == len(compiled)
    for a, b in zip(fast, compiled):
        torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-12)
    # the conditionals depend on the images (so the kernel reads them)
    other = every_conditional(model, (x + 1) % levels, cond, "compiled")
    assert any(not torch.allclose(a, b) for a, b in zip(compiled, other))


def test_compiled_samples_equal_naive_ones_in_float64():
    model = tiny("pixelcnn", (3, 5, 9), 4, seed=5, num_layers=2, hidden_channels=6, num_classes=2)
    cond = torch.tensor([0, 1, 1, 0, 1, 0])
    naive = sample(model, 6, cond=cond, generator=7, method="naive")
    compiled = sample(model, 6, cond=cond, generator=7, method="compiled")
    assert torch.equal(naive, compiled)
    assert not torch.equal(compiled, sample(model, 6, cond=cond, generator=8, method="compiled"))


def test_compiled_completion_equals_fast_completion():
    model = tiny("pixelcnn", (3, 5, 11), 4, seed=6, num_layers=2, hidden_channels=6)
    g = torch.Generator().manual_seed(2)
    x = torch.randint(0, 4, (3, 3, 5, 11), generator=g)
    known = torch.rand(3, 3, 5, 11, generator=g) < 0.5
    a = sample(model, 3, x=x, known=known, generator=3, method="fast")
    b = sample(model, 3, x=x, known=known, generator=3, method="compiled")
    assert torch.equal(a, b) and torch.equal(b[known], x[known])


def test_compiled_float32_matches_fast_float32():
    torch.manual_seed(0)
    model = pixelar.create_model("pixelcnn", image_shape=(3, 6, 8), num_levels=16, num_layers=3, hidden_channels=8)
    model.eval()
    x = torch.randint(0, 16, (2, 3, 6, 8))
    for a, b in zip(every_conditional(model, x, None, "fast"), every_conditional(model, x, None, "compiled")):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)
    same = sample(model, 8, generator=1, method="fast") == sample(model, 8, generator=1, method="compiled")
    assert same.float().mean() > 0.95


def test_compiled_is_pixelcnn_only_and_the_codec_refuses_it():
    assert resolve_method(tiny("pixelcnn"), "compiled") == "compiled"
    with pytest.raises(PixelarError, match="no compiled sampler; use method='fast'"):
        sample(tiny("gated-pixelcnn"), 1, method="compiled")
    with pytest.raises(PixelarError, match="choose auto, fast, naive, compiled"):
        sample(tiny("pixelcnn"), 1, method="quick")  # type: ignore[arg-type]
    model = tiny("pixelcnn", (1, 4, 4), 2)
    with pytest.raises(PixelarError, match=r"bit for bit.*method='fast'"):
        encode(model, torch.zeros(1, 1, 4, 4, dtype=torch.long), method="compiled")


def test_compiled_needs_float32_or_float64():
    model = tiny("pixelcnn").to(torch.bfloat16)
    with pytest.raises(PixelarError, match=r"float32 or float64.*method='fast'"):
        sample(model, 1, method="compiled")


@pytest.fixture
def fresh_build(tmp_path, monkeypatch):
    """An empty library cache, and nothing loaded yet in this process."""
    monkeypatch.setenv(build.ENV_VAR, str(tmp_path))
    monkeypatch.setattr(build, "_LOADED", {})
    return tmp_path


def test_the_kernel_is_built_once_into_the_cache_dir(fresh_build):
    build.load("pixelcnn_column")
    built = list(fresh_build.glob("pixelcnn_column-*"))
    assert len(built) == 1 and not list(fresh_build.glob("*.tmp*"))
    mtime = built[0].stat().st_mtime_ns
    build._LOADED.clear()
    build.load("pixelcnn_column")  # a new process: loads what is there
    assert [p.stat().st_mtime_ns for p in fresh_build.glob("pixelcnn_column-*")] == [mtime]


def test_another_processor_gets_its_own_build(fresh_build, monkeypatch):
    """-march=native: a cache dir shared between machines must not hand one another's library."""
    build.load("pixelcnn_column")
    build._LOADED.clear()
    monkeypatch.setattr(build, "cpu_signature", lambda: "flags: another processor")
    build.load("pixelcnn_column")
    assert len(list(fresh_build.glob("pixelcnn_column-*"))) == 2


def test_no_compiler_is_one_line_naming_the_fix(fresh_build, monkeypatch):
    monkeypatch.setenv("CC", "no-such-cc")
    with pytest.raises(PixelarError, match=r"no C compiler \(no-such-cc\).*method='fast'") as info:
        sample(tiny("pixelcnn"), 1, method="compiled")
    assert "\n" not in str(info.value)


def test_a_failed_build_is_one_line_and_leaves_nothing_behind(fresh_build, monkeypatch):
    monkeypatch.setenv("CC", "false")  # a compiler that fails
    with pytest.raises(PixelarError, match="building the native kernel pixelcnn_column with false failed") as info:
        sample(tiny("pixelcnn"), 1, method="compiled")
    assert "\n" not in str(info.value) and not list(fresh_build.iterdir())


def test_cli_samples_with_the_compiled_method(tmp_path):
    import numpy as np

    from pixelar.checkpoint import save_pretrained
    from pixelar.cli import main

    model = tiny("pixelcnn", (1, 6, 6), 2, num_layers=1, hidden_channels=4).float()
    save_pretrained(model, tmp_path / "run")
    for method in ("compiled", "fast"):
        out = tmp_path / method
        main(
            ["sample", str(tmp_path / "run"), "-n", "4", "--method", method, "-o", f"{out}.png", "--npy", f"{out}.npy"]
        )
        assert (tmp_path / f"{method}.png").exists()
    assert np.array_equal(np.load(tmp_path / "compiled.npy"), np.load(tmp_path / "fast.npy"))
