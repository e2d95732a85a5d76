"""Converters of activations (Relu, LeakyRelu) and of the output ops kept as they are."""

from __future__ import annotations

import numpy as np

from ..ir import RELU
from ..ir import leaky_relu as leaky
from .context import NodeContext
from .registry import converter


def _traced_input(ctx: NodeContext) -> None:
    if ctx.traced_index() != 0:
        raise ctx.unsupported("activations of constants are not supported")


@converter("Relu", since=1)
def relu(ctx: NodeContext) -> None:
    _traced_input(ctx)
    ctx.traced.activation(ctx.name, ctx.op, RELU)
    ctx.output(ctx.traced)


@converter("LeakyRelu", since=1)
def leaky_relu(ctx: NodeContext) -> None:
    _traced_input(ctx)
    alpha = float(ctx.attrs["alpha"])
    if not np.isfinite(alpha):
        raise ctx.invalid(f"alpha {alpha} is not a finite number")
    ctx.traced.activation(ctx.name, ctx.op, leaky(alpha))
    ctx.output(ctx.traced)


@converter("Sigmoid", since=1)
def sigmoid(ctx: NodeContext) -> None:
    _traced_input(ctx)
    ctx.traced.add_tail(ctx.name, ctx.op, {})
    ctx.output(ctx.traced)


@converter("Softmax", "LogSoftmax", since=1)
def softmax(ctx: NodeContext) -> None:
    _traced_input(ctx)
    shape = ctx.traced.per_sample
    rank = 1 + len(shape)
    axis = int(ctx.attrs["axis"])
    axis = axis + rank if axis < 0 else axis
    # before opset 13 the op works on the input flattened to 2-D at `axis`
    flat_ok = axis == 1 if ctx.opset < 13 else axis == rank - 1 and all(d == 1 for d in shape[:-1])
    if not flat_ok:
        raise ctx.unsupported(f"axis {ctx.attrs['axis']} of shape (N, "
                              f"{', '.join(map(str, shape))}): only the feature axis is supported")
    ctx.traced.add_tail(ctx.name, ctx.op, {"axis": -1})  # the feature axis of the (N, k) output
    ctx.output(ctx.traced)
