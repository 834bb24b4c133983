"""The network building blocks (``nn.Module``s) the models share: masked convolutions
(:mod:`~pixelar.layers.masked`), shifted convolutions (:mod:`~pixelar.layers.shifts`), the
recurrent layers (:mod:`~pixelar.layers.recurrent`) and the output head and class biases
(:mod:`~pixelar.layers.common`). Their evaluation a few pixels at a time, for sampling, is in
:mod:`pixelar.incremental`."""

from pixelar.layers.masked import MaskedConv2d, causal_mask, channel_groups

__all__ = ["MaskedConv2d", "causal_mask", "channel_groups"]
