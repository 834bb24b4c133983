"""Building blocks shared by the models."""

from pixelar.layers.masked import MaskedConv2d, causal_mask, channel_groups

__all__ = ["MaskedConv2d", "causal_mask", "channel_groups"]
