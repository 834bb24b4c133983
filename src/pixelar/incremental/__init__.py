"""Incremental evaluation: networks run a few pixels at a time, for exact fast sampling.

Every sampler — the naive reference (:class:`pixelar.sampling.NaiveStepper`) and each model's
fast one — implements one protocol, :class:`Stepper`: a schedule ``fronts`` (lists of pixels
generated together, :func:`wavefronts`) and ``conditional(x, c, front)``, the normalised
log-probabilities [n, K, count] of channel c at the front's pixels given the image so far. The
loop that drives it is :func:`pixelar.sampling.autoregress`, shared by sampling, completion and
the codec.

A fast sampler is usually a :class:`ColumnSampler`: it implements ``column`` (every layer at
the front's pixels → the parameters channel c reads) and ``write_input`` (store a finished
pixel where the first layer reads it), from the pieces here:

* :class:`IncrementalConv` — a masked convolution (or a stack of them) with its input map
  cached, split into the taps on earlier pixels (:meth:`~IncrementalConv.context`, once per
  front for all layers) and the centre tap (per channel);
* :class:`Pointwise` — a 1×1 convolution as a matrix on features at positions, with
  :meth:`~Pointwise.restrict` for colour-group prefixes; :func:`conv_matrix` turns any
  convolution weight into the matrix acting on its flattened input window (every sampler
  builds its matrices with it);
* :class:`OutputHeadAt` — the PixelRNN output head at positions; :func:`bias_at`,
  :func:`per_pixel` — class biases at positions;
* :mod:`pixelar.incremental.recurrent` — the PixelRNN layers' states, advanced per pixel and
  per finished row.

A model opts in with ``fast_stepper(batch, cond)`` (and, where its receptive field allows,
``wavefront_shift``); the property tests then check that its samples equal the naive ones in
float64 and that its schedule respects its dependencies.
"""

from pixelar.incremental.column import ColumnSampler, OutputHeadAt, bias_at, per_pixel
from pixelar.incremental.conv import IncrementalConv, Pointwise, conv_matrix, effective_weight
from pixelar.incremental.protocols import Chooser, Observer, SampledModel, Stepper
from pixelar.incremental.schedule import Front, order_fronts, step_index, wavefronts

__all__ = [
    "Chooser",
    "ColumnSampler",
    "Front",
    "IncrementalConv",
    "Observer",
    "OutputHeadAt",
    "Pointwise",
    "SampledModel",
    "Stepper",
    "bias_at",
    "conv_matrix",
    "effective_weight",
    "order_fronts",
    "per_pixel",
    "step_index",
    "wavefronts",
]
