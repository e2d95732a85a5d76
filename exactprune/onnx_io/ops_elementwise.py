"""Converters of per-feature affine maps: Add, Sub, Mul, Div with a constant (scalar or per
feature) on either side, ai.onnx.ml.Scaler, and Cast between float types (an identity for the
analysis, which computes in float64)."""

from __future__ import annotations

import numpy as np

from .context import NodeContext
from .interface import FLOAT_TYPES
from .registry import ML, converter


def per_feature(ctx: NodeContext, const: np.ndarray) -> np.ndarray:
    """The constant broadcast to the traced tensor, as one float64 value per flat feature."""
    target, shown = ctx.batch_shape(), ctx.shown()
    try:
        shape = np.broadcast_shapes(target, const.shape)
    except ValueError:
        raise ctx.invalid(f"shapes {shown} and {tuple(const.shape)} do not broadcast") from None
    if shape != target:
        raise ctx.unsupported(f"a constant of shape {tuple(const.shape)} broadcasts the computed "
                              f"tensor {shown} to a larger shape")
    return np.broadcast_to(const.astype(np.float64), target).reshape(-1)


@converter("Add", "Sub", "Mul", "Div", since=7)
def arithmetic(ctx: NodeContext) -> None:
    side = ctx.traced_index()
    if ctx.is_traced(1 - side):
        raise ctx.unsupported("it combines two computed tensors (a residual branch)")
    k = per_feature(ctx, ctx.const(1 - side, "the other operand"))
    ones, zeros = np.ones_like(k), np.zeros_like(k)
    if ctx.op == "Add":
        mul, add = ones, k
    elif ctx.op == "Sub":
        mul, add = (ones, -k) if side == 0 else (-ones, k)
    elif ctx.op == "Mul":
        mul, add = k, zeros
    else:
        if side == 1:
            raise ctx.unsupported("dividing a constant by the computed tensor is not linear")
        if np.any(k == 0):
            raise ctx.invalid("division by a constant that contains zeros")
        mul, add = 1.0 / k, zeros
    ctx.traced.elementwise(ctx.name, mul, add)
    ctx.output(ctx.traced)


@converter("Scaler", since=1, domain=ML)
def scaler(ctx: NodeContext) -> None:
    """y = (x - offset) * scale, offset and scale of length 1 or one per feature."""
    n = ctx.traced.size
    parts = []
    for key, default in (("offset", 0.0), ("scale", 1.0)):
        value = np.asarray(ctx.attrs.get(key, [default]), dtype=np.float64).reshape(-1)
        if value.size not in (1, n):
            raise ctx.invalid(f"{key} has {value.size} values for {n} features")
        parts.append(np.broadcast_to(value, (n,)))
    offset, scale = parts
    ctx.traced.elementwise(ctx.name, scale, -offset * scale)
    ctx.output(ctx.traced)


@converter("Cast", since=6, body_if=lambda attrs: int(attrs["to"]) in FLOAT_TYPES)
def cast(ctx: NodeContext) -> None:
    ctx.traced.elem_type = int(ctx.attrs["to"])
    ctx.output(ctx.traced)
