"""Converters of the piecewise-linear activations (Relu, LeakyRelu, Clip) that close a layer."""

from __future__ import annotations

import numpy as np

from ..ir import RELU
from ..ir import leaky_relu as leaky
from .context import NodeContext
from .ops_elementwise import per_feature
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
    if any(v is not None and np.size(v) != 1 for v in (lo, hi)):
        raise ctx.invalid("its min and max must be scalars")
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


def _bound(ctx: NodeContext) -> np.ndarray:
    """The constant operand of a binary Min / Max, one value per feature."""
    if len(ctx.node.input) != 2 or ctx.traced_index() < 0 or ctx.is_traced(1 - ctx.traced_index()):
        raise ctx.unsupported("only the computed tensor and one constant are supported")
    value = ctx.const(1 - ctx.traced_index(), "the bound").astype(np.float64)
    if np.isnan(value).any():
        raise ctx.invalid("its constant holds NaN")
    value = per_feature(ctx, value)
    return np.where(np.abs(value) >= FLOAT_LIMIT, np.sign(value) * np.inf, value)


@converter("Min", since=8)
def minimum(ctx: NodeContext) -> None:
    """min(v, c) = Clip(v, -inf, c); right after a Relu, Clip(g, 0, c) (a capped unit)."""
    cap = _bound(ctx)
    if not ctx.traced.cap_last_layer(ctx.name, cap):
        ctx.traced.clip(ctx.name, -np.inf, cap)
    ctx.output(ctx.traced)


@converter("Max", since=8)
def maximum(ctx: NodeContext) -> None:
    """max(v, c) = Clip(v, c, inf)."""
    ctx.traced.clip(ctx.name, _bound(ctx), np.inf)
    ctx.output(ctx.traced)


@converter("Clip", since=6)
def clip_attributes(ctx: NodeContext) -> None:
    _clip(ctx, ctx.attrs.get("min"), ctx.attrs.get("max"))


@converter("Clip", since=11)
def clip_inputs(ctx: NodeContext) -> None:
    _clip(ctx, ctx.optional_const(1, "min"), ctx.optional_const(2, "max"))
