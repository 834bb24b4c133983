"""method="compiled": the fast samplers of PixelCNN and Gated PixelCNN with each step's network
one native call (pixelar.native) give the fast samplers' conditionals and the naive sampler's
images."""

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


CASES = [
    ("pixelcnn", (3, 5, 11), 4, {"num_layers": 2, "hidden_channels": 6}),  # colour groups, fronts of several pixels
    ("pixelcnn", (1, 6, 9), 2, {"num_layers": 3, "hidden_channels": 5}),  # Bernoulli, odd feature counts
    ("pixelcnn", (3, 4, 7), 256, {"num_layers": 1, "hidden_channels": 4, "num_classes": 3}),  # class biases
    ("pixelcnn", (2, 4, 5), 3, {"num_layers": 0, "hidden_channels": 4}),  # no residual blocks
    ("gated-pixelcnn", (3, 4, 6), 4, {"num_layers": 2, "hidden_channels": 6}),  # the paper's Figure 2
    ("gated-pixelcnn", (1, 5, 4), 2, {"num_layers": 3, "hidden_channels": 5, "skips": True}),
    (
        "gated-pixelcnn",
        (3, 4, 5),
        256,
        {"num_layers": 1, "hidden_channels": 4, "num_classes": 3, "vertical_residual": True, "vertical_rows": 2},
    ),
    ("gated-pixelcnn", (2, 3, 4), 3, {"num_layers": 0, "hidden_channels": 4, "skips": True}),  # the first layer only
    ("gated-pixelcnn", (1, 4, 6), 3, {"num_layers": 2, "hidden_channels": 1, "kernel_size": 5}),
]


@pytest.mark.parametrize("name,shape,levels,kw", CASES)
@pytest.mark.parametrize("batch", [1, 5])  # 5 images: rows in blocks of 4 and a remainder
def test_compiled_conditionals_equal_the_fast_ones_in_float64(name, shape, levels, kw, batch):
    model = tiny(name, shape, levels, seed=3, **kw)
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


@pytest.mark.parametrize("name", ["pixelcnn", "gated-pixelcnn"])
def test_compiled_samples_equal_naive_ones_in_float64(name):
    model = tiny(name, (3, 5, 9), 4, seed=5, num_layers=2, hidden_channels=6, num_classes=2)
    cond = torch.tensor([0, 1, 1, 0, 1, 0])
    naive = sample(model, 6, cond=cond, generator=7, method="naive")
    compiled = sample(model, 6, cond=cond, generator=7, method="compiled")
    assert torch.equal(naive, compiled)
    assert not torch.equal(compiled, sample(model, 6, cond=cond, generator=8, method="compiled"))


@pytest.mark.parametrize("name", ["pixelcnn", "gated-pixelcnn"])
def test_compiled_completion_equals_naive_completion(name):
    model = tiny(name, (3, 5, 11), 4, seed=6, num_layers=2, hidden_channels=6)
    g = torch.Generator().manual_seed(2)
    x = torch.randint(0, 4, (3, 3, 5, 11), generator=g)
    known = torch.rand(3, 3, 5, 11, generator=g) < 0.5
    a = sample(model, 3, x=x, known=known, generator=3, method="naive")
    b = sample(model, 3, x=x, known=known, generator=3, method="compiled")
    assert torch.equal(a, b) and torch.equal(b[known], x[known])


@pytest.mark.parametrize("name", ["pixelcnn", "gated-pixelcnn"])
def test_compiled_float32_matches_fast_float32(name):
    torch.manual_seed(0)
    model = pixelar.create_model(name, image_shape=(3, 6, 8), num_levels=16, num_layers=3, hidden_channels=8)
    model.eval()
    x = torch.randint(0, 16, (2, 3, 6, 8))
    for a, b in zip(every_conditional(model, x, None, "fast"), every_conditional(model, x, None, "compiled")):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)
    same = sample(model, 8, generator=1, method="fast") == sample(model, 8, generator=1, method="compiled")
    assert same.float().mean() > 0.95


def test_which_models_have_it_and_the_codec_refuses_it():
    compiled = [name for name in pixelar.list_models() if tiny(name).has_compiled_sampler]
    assert compiled == ["gated-pixelcnn", "pixelcnn"]
    assert resolve_method(tiny("pixelcnn"), "compiled") == "compiled"
    with pytest.raises(PixelarError, match="no compiled sampler; use method='fast'"):
        sample(tiny("pixelcnn++"), 1, method="compiled")
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


def test_the_compiler_may_be_a_wrapper_command(fresh_build, monkeypatch):
    monkeypatch.setenv("CC", f"env {build.compiler()[0]}")  # as with CC="ccache gcc"
    assert build.compiler()[0] == "env"
    assert torch.equal(
        sample(tiny("pixelcnn"), 2, generator=1, method="compiled"), sample(tiny("pixelcnn"), 2, generator=1)
    )


def test_a_compiler_without_march_native_builds_without_it(fresh_build, monkeypatch, tmp_path):
    cc = build.compiler()[0]
    script = tmp_path / "old-cc"
    script.write_text(
        "#!/bin/sh\n"
        'for a in "$@"; do [ "$a" = -march=native ] && { echo "error: unknown target CPU native" >&2; exit 1; }; done\n'
        f'exec {cc} "$@"\n'
    )
    script.chmod(0o755)
    monkeypatch.setenv("CC", str(script))
    assert sample(tiny("pixelcnn"), 1, method="compiled").shape == (1, 3, 4, 4)
    assert len(list(fresh_build.glob("pixelcnn_column-*"))) == 1


def test_an_unusable_cache_dir_is_one_line_naming_the_fix(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("not a directory")
    monkeypatch.setenv(build.ENV_VAR, str(tmp_path / "file" / "native"))
    monkeypatch.setattr(build, "_LOADED", {})
    with pytest.raises(PixelarError, match=r"could not be built or loaded.*PIXELAR_NATIVE_DIR.*method='fast'") as info:
        sample(tiny("pixelcnn"), 1, method="compiled")
    assert "\n" not in str(info.value)


def test_the_reported_compiler_message_is_its_error_line():
    stderr = "x.c: In function 'f':\nx.c:3:5: error: expected ';' before '}' token\n    3 | }\n"
    assert build.first_error(stderr) == "x.c:3:5: error: expected ';' before '}' token"
    assert build.first_error("") == "no message"


def test_the_kernel_checks_the_shapes_it_relies_on():
    """A stepper given images of another batch, or labels of another count, is a ValueError
    before the kernel runs, never a read outside the tensors."""
    model = tiny("pixelcnn", (3, 4, 7), 4, num_layers=2, hidden_channels=4, num_classes=2)
    with pytest.raises(ValueError, match="biases"):
        make_stepper(model, 4, torch.tensor([0, 1]), "compiled")  # labels for 2 images, 4 images
    stepper = make_stepper(model, 4, torch.tensor([0, 1, 1, 0]), "compiled")
    with pytest.raises(ValueError, match="native PixelCNN column step"):
        stepper.conditional(torch.zeros(2, 3, 4, 7, dtype=torch.long), 0, stepper.fronts[0])  # 2 images, not 4
    gated = tiny("gated-pixelcnn", (3, 4, 7), 4, num_layers=2, hidden_channels=4)
    stepper = make_stepper(gated, 4, None, "compiled")
    with pytest.raises(ValueError, match="native Gated PixelCNN column step"):
        stepper.conditional(torch.zeros(2, 3, 4, 7, dtype=torch.long), 0, stepper.fronts[0])


def test_non_finite_weights_are_refused():
    model = tiny("pixelcnn")
    with torch.no_grad():
        model.blocks[0].reduce.weight[0, 0] = float("inf")
    with pytest.raises(PixelarError, match=r"non-finite weights.*method='fast'"):
        sample(model, 1, method="compiled")


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


def test_the_wheel_ships_the_kernel_sources(tmp_path):
    """An installed pixelar builds its kernel from the sources in the package: every file beside
    build.py must be package data (a copy of the project is built, so no build/ lands in it)."""
    import shutil
    import subprocess
    import sys
    import zipfile
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    project = tmp_path / "project"
    shutil.copytree(root / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(root / name, project / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), "."],
        cwd=project,
        check=True,
    )
    (wheel,) = tmp_path.glob("pixelar-*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    sources = [p.name for p in (root / "src/pixelar/native").iterdir() if p.suffix in (".c", ".h")]
    assert sources and {f"pixelar/native/{name}" for name in sources} <= shipped


@pytest.mark.parametrize("name", ["pixelcnn", "gated-pixelcnn"])
def test_native_contexts_and_pixel_stores_equal_the_pytorch_ones(name):
    """The pieces a compiled sampler swaps in, each against the PyTorch code it replaces: every
    IncrementalConv's context at every front (its cached maps filled at random), and a front's
    pixels stored in the first layer's map."""
    from pixelar.incremental import IncrementalConv

    model = tiny(name, (3, 5, 11), 4, seed=8, num_layers=2, hidden_channels=6)
    x = torch.randint(0, 4, (2, 3, 5, 11), generator=torch.Generator().manual_seed(3))
    fast, compiled = make_stepper(model, 2, None, "fast"), make_stepper(model, 2, None, "compiled")
    convs = [(a, b) for a, b in zip(vars(fast).values(), vars(compiled).values()) if isinstance(a, IncrementalConv)]
    assert len(convs) == 2
    for a, b in convs:
        b.buf.copy_(torch.randn(b.buf.shape, generator=torch.Generator().manual_seed(4), dtype=b.buf.dtype))
        a.buf.copy_(b.buf)
        assert a.native is None and b.native is not None
        for front in fast.fronts:
            torch.testing.assert_close(b.context(front), a.context(front), rtol=1e-12, atol=1e-12)
    first_fast, first_compiled = convs[0]
    for front in fast.fronts:
        fast.write_input(x, front)
        compiled.write_input(x, front)
    assert torch.equal(first_fast.buf, first_compiled.buf)


@pytest.mark.parametrize("name", ["pixelcnn", "gated-pixelcnn"])
def test_fronts_outside_the_maps_are_refused_before_the_kernels_run(name):
    """The schedule never makes such fronts; a caller who builds one by hand gets a ValueError,
    not a read or write outside the tensors. An odd front that lies inside is served exactly."""
    from pixelar.incremental import Front, IncrementalConv

    model = tiny(name, (3, 6, 3), 4, num_layers=2, hidden_channels=4)
    x = torch.randint(0, 4, (2, 3, 6, 3), generator=torch.Generator().manual_seed(5))
    fast, compiled = make_stepper(model, 2, None, "fast"), make_stepper(model, 2, None, "compiled")
    conv = next(v for v in vars(compiled).values() if isinstance(v, IncrementalConv))
    for front in (Front(0, 0, -1), Front(0, 0, 0, count=3, dh=0, dw=1), Front(0, 6, 0)):
        with pytest.raises(ValueError, match="outside"):
            compiled.write_input(x, front)
        with pytest.raises(ValueError, match="outside"):
            conv.context(front)
    column = Front(0, 0, 0, count=6, dh=1, dw=0)  # a whole column: more pixels than the width
    fast.write_input(x, column)
    compiled.write_input(x, column)
    fast_conv = next(v for v in vars(fast).values() if isinstance(v, IncrementalConv))
    assert torch.equal(conv.buf, fast_conv.buf)


def test_a_replaced_cached_map_is_refused():
    from pixelar.incremental import Front

    model = tiny("pixelcnn", (3, 4, 5), 4, num_layers=1, hidden_channels=4)
    stepper = make_stepper(model, 1, None, "compiled")
    stepper.input.buf = stepper.input.buf.clone()
    with pytest.raises(ValueError, match="replaced"):
        stepper.input.context(Front(0, 0, 0))
