"""Converters of the piecewise-linear activations (Relu, LeakyRelu, Clip) that close a layer."""

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


FLOAT_LIMIT = 3.4e38  # Clip's attribute defaults are float32's extremes: no bound


def _clip(ctx: NodeContext, lo, hi) -> None:
    _traced_input(ctx)
    lo, hi = (float(np.asarray(v, dtype=np.float64).reshape(-1)[0]) if v is not None else None
              for v in (lo, hi))
    lo = -np.inf if lo is None or lo <= -FLOAT_LIMIT else lo
    hi = np.inf if hi is None or hi >= FLOAT_LIMIT else hi
    if np.isnan(lo) or np.isnan(hi):
        raise ctx.invalid("its bounds are NaN")
    n = ctx.traced.size
    if lo >= hi:  # min(max(g, lo), hi) = hi everywhere
        ctx.traced.elementwise(ctx.name, np.zeros(n), np.full(n, hi))
    elif np.isfinite(lo) or np.isfinite(hi):
        ctx.traced.clip(ctx.name, lo, hi)
    ctx.output(ctx.traced)


@converter("Clip", since=6)
def clip_attributes(ctx: NodeContext) -> None:
    _clip(ctx, ctx.attrs.get("min"), ctx.attrs.get("max"))


@converter("Clip", since=11)
def clip_inputs(ctx: NodeContext) -> None:
    _clip(ctx, ctx.optional_const(1, "min"), ctx.optional_const(2, "max"))
