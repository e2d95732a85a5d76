"""Converters of the piecewise-linear activations (Relu, LeakyRelu) that close a layer."""

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
    ctx.traced.activation(ctx.name, RELU)
    ctx.output(ctx.traced)


@converter("LeakyRelu", since=1)
def leaky_relu(ctx: NodeContext) -> None:
    _traced_input(ctx)
    alpha = float(ctx.attrs["alpha"])
    if not np.isfinite(alpha):
        raise ctx.invalid(f"alpha {alpha} is not a finite number")
    ctx.traced.activation(ctx.name, leaky(alpha))
    ctx.output(ctx.traced)
