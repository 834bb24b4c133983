"""Whether ``torch.compile`` can compile here: what compiled training (``compile=True``) checks
before its first compile, so that a missing compiler is one clear line rather than a traceback
from inside inductor."""

from __future__ import annotations

import torch

from pixelar.errors import PixelarError


def check_compile(device: torch.device, instead: str) -> None:
    """Raise a one-line :class:`PixelarError` unless ``torch.compile`` can compile for
    ``device`` here: a Python it supports and, on the CPU, a C++ compiler for inductor (on
    CUDA, Triton). ``instead`` names the uncompiled alternative the message offers. Where
    PyTorch's internals differ from what this checks, the first compile reports the failure."""
    fix = f"or {instead}"
    if not torch._dynamo.is_dynamo_supported():
        raise PixelarError(f"torch.compile does not support this Python; {instead}", param="compile")
    try:
        if device.type == "cpu":
            from torch._inductor import cpp_builder
            from torch._inductor.exc import InvalidCxxCompiler

            try:
                cpp_builder.get_cpp_compiler()
            except InvalidCxxCompiler:
                raise PixelarError(
                    f"torch.compile needs a C++ compiler (g++) on the CPU and none was found: "
                    f"install one (or name it in $CXX), {fix}",
                    param="compile",
                ) from None
        elif device.type == "cuda":
            from torch.utils._triton import has_triton

            if not has_triton():
                raise PixelarError(f"torch.compile needs Triton on CUDA: install it, {fix}", param="compile")
    except (ImportError, AttributeError):  # another PyTorch: the first compile tells
        pass
