"""method="compiled": the fast sampler with its per-step work compiled by torch.compile draws
the fast sampler's images; models without it, and the codec, refuse it in one line."""

from __future__ import annotations

import pytest
import torch

from helpers import tiny
from pixelar.compiling import check_compile
from pixelar.completion import complete
from pixelar.errors import PixelarError


def _compile_unavailable() -> str | None:
    try:
        check_compile(torch.device("cpu"), "sample with method='fast'")
    except PixelarError as e:
        return str(e)
    return None


@pytest.mark.skipif(_compile_unavailable() is not None, reason=f"torch.compile unavailable: {_compile_unavailable()}")
def test_compiled_sampler_draws_the_fast_samplers_images():
    """Colour (every channel's graph), a wide image (fronts of 1 and several pixels), labels;
    float64 and float32; completion too."""
    model = tiny("pixelcnn", (3, 3, 9), 4, seed=5, num_classes=2)
    cond = torch.tensor([0, 1])
    fast = model.sample(2, cond=cond, generator=3, method="fast")
    assert torch.equal(model.sample(2, cond=cond, generator=3, method="compiled"), fast)
    assert torch.equal(model.sample(2, cond=cond, generator=3, method="naive"), fast)
    single = model.float()
    assert torch.equal(
        single.sample(1, cond=cond[:1], generator=4, method="compiled"),
        single.sample(1, cond=cond[:1], generator=4, method="fast"),
    )
    known = torch.zeros(3, 3, 9, dtype=torch.bool)
    known[:, :1] = True
    done = complete(single, fast, known, n=2, cond=cond, generator=2, method="compiled")
    assert torch.equal(done[:, :, :, :1], fast[:, None, :, :1].expand(2, 2, 3, 1, 9))
    assert torch.equal(done, complete(single, fast, known, n=2, cond=cond, generator=2, method="fast"))


def test_compiled_is_refused_where_there_is_none():
    with pytest.raises(PixelarError, match="no compiled sampler") as info:
        tiny("gated-pixelcnn").sample(1, method="compiled")
    assert "\n" not in str(info.value)
    with pytest.raises(PixelarError, match="method='fast'"):
        from pixelar.codec import encode

        encode(tiny("pixelcnn").float(), torch.zeros(1, 3, 4, 4, dtype=torch.long), method="compiled")
