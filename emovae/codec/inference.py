"""Make an EnCodec model cheaper to run for inference without changing what it computes.

Measured on 2 shared CPU cores (``benchmarks/bench_codec.py``), most encoder time is spent at the
24 kHz end of the network, where tensors are long and thin (32-64 channels x 120k samples), so the
costs are memory passes rather than FLOPs. Two changes measurably help (about +10-15% encode
throughput per CPU-second at batch 1-2):

* ``weight_norm`` recomputes every weight from ``(g, v)`` on each call: folded once here;
* EnCodec pads with ``F.pad(mode="reflect")``, whose CPU kernel is several times slower than
  building the same reflection from a flipped slice and ``torch.cat``, and it calls it even for
  zero padding (every 1x1 conv), which still copies the whole tensor: skipped here.

Tried and dropped: 1x1 convolutions as ``torch.matmul`` (slower end to end). The bigger wins are
outside the model: ``torch.inference_mode`` and small batches (see ``encodec_codec.DEFAULT_CPU_BATCH``).
Both changes here are exact (bit-identical padding, folded weights equal to what weight_norm
computes); ``tests/test_codec_inference.py`` checks the result against the untouched EnCodec forward.
"""

from __future__ import annotations

import torch
from encodec.modules.conv import SConv1d, get_extra_padding_for_conv1d, pad1d
from torch import nn


class InferenceSConv1d(nn.Module):
    """Drop-in replacement for EnCodec's ``SConv1d`` with the same padding rules, done cheaply."""

    def __init__(self, original: SConv1d):
        super().__init__()
        self.conv: nn.Conv1d = original.conv.conv
        self.causal = original.causal
        self.pad_mode = original.pad_mode
        self.kernel_size = self.conv.kernel_size[0]
        self.stride = self.conv.stride[0]
        dilation = self.conv.dilation[0]
        self.padding_total = (self.kernel_size - 1) * dilation - (self.stride - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        extra = get_extra_padding_for_conv1d(x, self.kernel_size, self.stride, self.padding_total)
        if self.causal:
            left, right = self.padding_total, extra
        else:
            right = self.padding_total // 2
            left, right = self.padding_total - right, right + extra
        return self.conv(_pad(x, left, right, self.pad_mode))


def _pad(x: torch.Tensor, left: int, right: int, mode: str) -> torch.Tensor:
    """``encodec.modules.conv.pad1d`` with the same result, but no copy for zero padding and a fast reflect."""
    if left == 0 and right == 0:
        return x
    if mode != "reflect" or x.shape[-1] <= max(left, right):
        return pad1d(x, (left, right), mode=mode)  # short inputs need EnCodec's zero-extended reflection
    parts = []
    if left:
        parts.append(x[..., 1 : left + 1].flip(-1))
    parts.append(x)
    if right:
        parts.append(x[..., -right - 1 : -1].flip(-1))
    return torch.cat(parts, dim=-1)


def fold_weight_norm(model: nn.Module) -> nn.Module:
    """Replace each ``weight_norm`` (g, v) pair by the plain weight it produces (inference only)."""
    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.ConvTranspose1d)) and hasattr(module, "weight_g"):
            torch.nn.utils.remove_weight_norm(module)
    return model


def optimise_for_inference(model: nn.Module) -> nn.Module:
    """Fold weight norm and swap every ``SConv1d`` for :class:`InferenceSConv1d`, in place."""
    fold_weight_norm(model)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, SConv1d):
                setattr(parent, name, InferenceSConv1d(child))
    return model.eval()
