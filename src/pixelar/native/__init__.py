"""Native kernels: per-step sampling work written in C, for ``method="compiled"``.

At batch 1 a fast sampler's step is a few dozen tiny matrix products and element-wise
operations, and PyTorch's cost of dispatching each one (a few microseconds) exceeds its
arithmetic. A kernel here does one step's whole network in one call, with the arithmetic of
the PyTorch code it replaces (the same conditionals to float rounding; the tests compare them).
:mod:`pixelar.native.build` compiles the C sources once per machine with the system compiler;
:mod:`pixelar.native.kernels` holds what their ctypes glue shares; :mod:`pixelar.native.pixelcnn`
is PixelCNN's column step, :mod:`pixelar.native.gated` Gated PixelCNN's horizontal-stack step.
"""

from pixelar.native.build import load

__all__ = ["load"]
