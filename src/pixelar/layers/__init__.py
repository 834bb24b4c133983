"""Building blocks shared by the models."""

from pixelar.layers.masked import IncrementalConv, MaskedConv2d, apply_pointwise, causal_mask, channel_groups, pointwise

__all__ = [
    "IncrementalConv",
    "MaskedConv2d",
    "apply_pointwise",
    "causal_mask",
    "channel_groups",
    "pointwise",
]
