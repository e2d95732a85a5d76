"""Converters of the convolutional ops: Conv (2-D), AveragePool and GlobalAveragePool (linear:
depthwise Conv2d layers), MaxPool of a Relu's output (a ReLU tournament of Conv2d layers), and
Pad with zeros (taken by the Conv or pool that reads it)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..errors import UnsupportedModelError
from ..ir import IDENTITY, RELU
from ..ir.conv import Conv2d
from ..ir.maxpool import MaxPoolStage, stage_kernels, tournament
from .context import NodeContext
from .registry import converter


def _spatial(ctx: NodeContext) -> tuple[int, int, int]:
    """The traced tensor's per-sample (C, H, W); refused for other ranks or without a batch."""
    shape = ctx.traced.per_sample
    if not ctx.traced.lead or len(shape) != 3:
        raise ctx.unsupported(f"exactprune reads 2-D convolutions and pools of (N, C, H, W) "
                              f"tensors, not {ctx.shown()}")
    return shape


def _pads(ctx: NodeContext, size: tuple[int, int], kernel: tuple[int, int],
          strides: tuple[int, int], dilations: tuple[int, int]) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) from the node's pads or auto_pad."""
    auto = ctx.attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else str(auto)
    if auto in ("NOTSET", ""):
        pads = [int(p) for p in ctx.attrs.get("pads") or [0, 0, 0, 0]]
        if len(pads) != 4 or min(pads) < 0:
            raise ctx.invalid(f"pads {pads} do not fit a 2-D window")
        return tuple(pads)
    if auto == "VALID":
        return (0, 0, 0, 0)
    if auto not in ("SAME_UPPER", "SAME_LOWER"):
        raise ctx.invalid(f"auto_pad {auto!r}")
    begin, end = [], []
    for n, k, s, d in zip(size, kernel, strides, dilations):
        total = max(0, (-(-n // s) - 1) * s + (k - 1) * d + 1 - n)
        small = total // 2
        begin.append(small if auto == "SAME_UPPER" else total - small)
        end.append(total - begin[-1])
    return (begin[0], begin[1], end[0], end[1])


def _pair(ctx: NodeContext, key: str) -> tuple[int, int]:
    value = [int(v) for v in ctx.attrs.get(key) or [1, 1]]
    if len(value) != 2 or min(value) < 1:
        raise ctx.invalid(f"{key} {value} do not fit a 2-D window")
    return tuple(value)


def _build(ctx: NodeContext, make) -> None:
    """Hand `make(in_shape, pads_of_a_zero_pad)` to the traced chain."""
    try:
        ctx.traced.convolve(ctx.name, make)
    except ValueError as exc:  # the converter's own errors, the chain's, the layer's checks
        if str(exc).startswith(ctx.where()):
            raise
        wrap = ctx.unsupported if isinstance(exc, UnsupportedModelError) else ctx.invalid
        raise wrap(str(exc)) from None
    ctx.output(ctx.traced)


@converter("Conv", since=1)
def conv(ctx: NodeContext) -> None:
    if ctx.traced_index() != 0 or ctx.is_traced(1) or ctx.is_traced(2):
        raise ctx.unsupported("only the data input X may be computed (W and B constant)")
    kernel = ctx.const(1, "the weight W").astype(np.float64)
    _spatial(ctx)
    if kernel.ndim != 4:
        raise ctx.unsupported(f"a weight of shape {kernel.shape}: exactprune reads 2-D "
                              "convolutions")
    bias = ctx.optional_const(2, "the bias B", np.zeros(kernel.shape[0])).astype(np.float64)
    strides, dilations = _pair(ctx, "strides"), _pair(ctx, "dilations")
    given = ctx.attrs.get("kernel_shape")
    if given is not None and tuple(int(k) for k in given) != kernel.shape[2:]:
        raise ctx.invalid(f"kernel_shape {list(given)} differs from the weight {kernel.shape}")

    def make(shape, pad):
        own = _pads(ctx, shape[1:], kernel.shape[2:], strides, dilations)
        return Conv2d(kernel, bias, shape, strides, tuple(a + b for a, b in zip(own, pad)),
                      dilations, int(ctx.attrs.get("group", 1)), IDENTITY)

    _build(ctx, make)


def _pool(shape, window, strides, pads) -> Conv2d:
    channels = shape[0]
    kernel = np.full((channels, 1) + tuple(window), 1.0 / (window[0] * window[1]))
    return Conv2d(kernel, np.zeros(channels), shape, strides, pads, (1, 1), channels,
                  IDENTITY, pool="average")


@converter("AveragePool", since=7)
def average_pool(ctx: NodeContext) -> None:
    _spatial(ctx)
    window = tuple(int(k) for k in ctx.attrs["kernel_shape"])
    if len(window) != 2:
        raise ctx.unsupported(f"kernel_shape {list(window)}: exactprune reads 2-D pools")
    strides, dilations = _pair(ctx, "strides"), _pair(ctx, "dilations")
    if dilations != (1, 1):
        raise ctx.unsupported("dilated pooling windows are not supported")
    include = int(ctx.attrs.get("count_include_pad", 0))

    def make(shape, pad):
        own = _pads(ctx, shape[1:], window, strides, dilations)
        if any(own) and not include:
            raise ctx.unsupported("padding with count_include_pad=0 divides border windows by "
                                  "fewer values (not one kernel)")
        layer = _pool(shape, window, strides, tuple(a + b for a, b in zip(own, pad)))
        if int(ctx.attrs.get("ceil_mode", 0)) and _ceil_grows(shape, layer, window):
            raise ctx.unsupported("ceil_mode=1 adds partial windows here")
        return layer

    _build(ctx, make)


def _ceil_grows(shape, layer: Conv2d, window) -> bool:
    """Whether ceil_mode would give more output positions than floor."""
    for axis in (0, 1):
        span = shape[1 + axis] + layer.pads[axis] + layer.pads[axis + 2] - window[axis]
        if span % layer.strides[axis]:
            return True
    return False


@converter("MaxPool", since=1)
def max_pool(ctx: NodeContext) -> None:
    """max over each window as tournament stages (ir/maxpool.py: Conv2d layers with one group
    per channel, pool "max", each with the pool's record): exact for the non-negative output of
    a Relu, where a zero pad (not -inf) changes no maximum as every window holds a real value."""
    ctx.check_extra_outputs()
    _spatial(ctx)
    window = tuple(int(k) for k in ctx.attrs["kernel_shape"])
    if len(window) != 2:
        raise ctx.unsupported(f"kernel_shape {list(window)}: exactprune reads 2-D pools")
    if not ctx.traced.nonnegative():
        raise ctx.unsupported("MaxPool is read only on the output of a Relu (its values >= 0)")
    strides, dilations = _pair(ctx, "strides"), _pair(ctx, "dilations")
    span = tuple((k - 1) * d + 1 for k, d in zip(window, dilations))
    stages = len(tournament(window[0] * window[1]))

    def first(shape, pad):
        own = _pads(ctx, shape[1:], window, strides, dilations)
        pads = tuple(a + b for a, b in zip(own, pad))
        if max(pads[0], pads[2]) >= span[0] or max(pads[1], pads[3]) >= span[1]:
            raise ctx.unsupported(f"pads {list(pads)} make windows without a value")
        record = MaxPoolStage(window, strides, pads, dilations,
                              int(ctx.attrs.get("ceil_mode", 0)), 0, stages)
        kernel = stage_kernels(window, shape[0])[0]
        layer = Conv2d(kernel, np.zeros(kernel.shape[0]), shape, strides, pads, dilations,
                       shape[0], IDENTITY, pool="max", maxpool=record)
        if record.ceil_mode and _ceil_grows(shape, layer, span):
            raise ctx.unsupported("ceil_mode=1 adds partial windows here")
        return layer

    _build(ctx, first)
    record, channels = ctx.traced.conv.maxpool, ctx.traced.conv.in_shape[0]
    for stage, kernel in enumerate(stage_kernels(window, channels)[1:], start=1):
        ctx.traced.activation(f"{ctx.name}/stage{stage - 1}", RELU)
        _build(ctx, lambda shape, pad, kernel=kernel, stage=stage: Conv2d(
            kernel, np.zeros(kernel.shape[0]), shape, groups=channels, activation=IDENTITY,
            pool="max", maxpool=replace(record, stage=stage)))


@converter("GlobalAveragePool", since=1)
def global_average_pool(ctx: NodeContext) -> None:
    _spatial(ctx)
    _build(ctx, lambda shape, pad: _pool(shape, shape[1:], (1, 1), pad))


def _zero_pad(ctx: NodeContext, pads, value, mode) -> None:
    mode = mode.decode() if isinstance(mode, bytes) else str(mode)
    pads = [int(p) for p in np.asarray(pads).reshape(-1)]
    rank = ctx.traced.lead + len(ctx.traced.per_sample)
    if mode != "constant" or float(value) != 0.0:
        raise ctx.unsupported(f"only constant padding with 0 is linear (mode {mode!r}, value "
                              f"{float(value):g})")
    if len(pads) != 2 * rank or min(pads) < 0:
        raise ctx.unsupported(f"pads {pads} (negative pads crop) for shape {ctx.shown()}")
    lead = ctx.traced.lead
    if lead and (pads[0] or pads[rank]):
        raise ctx.unsupported("padding the batch dimension")
    if any(pads):
        begin, end = pads[lead:rank], pads[rank + lead:]
        shape = tuple(d + b + e for d, b, e in zip(ctx.traced.per_sample, begin, end))
        ctx.traced.zero_pad(ctx.name, tuple(begin) + tuple(end), shape)
    ctx.output(ctx.traced)


@converter("Pad", since=2)
def pad_attr(ctx: NodeContext) -> None:
    _zero_pad(ctx, ctx.attrs["pads"], ctx.attrs.get("value", 0.0),
              ctx.attrs.get("mode", "constant"))


@converter("Pad", since=11)
def pad_input(ctx: NodeContext) -> None:
    if ctx.has_input(3):
        raise ctx.unsupported("the axes input of Pad is not supported")
    value = ctx.optional_const(2, "constant_value", np.zeros(1))
    _zero_pad(ctx, ctx.const(1, "pads"), np.asarray(value).reshape(-1)[0] if np.size(value)
              else 0.0, ctx.attrs.get("mode", "constant"))
