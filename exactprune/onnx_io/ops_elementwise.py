"""Converters of Add, Sub, Mul, Div with a constant (scalar or per feature) on either side."""

from __future__ import annotations

import numpy as np

from .context import NodeContext
from .registry import converter

_NUMPY = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}


def per_feature(ctx: NodeContext, const: np.ndarray) -> np.ndarray:
    """The constant broadcast to the traced tensor, as one float64 value per flat feature."""
    target = ctx.batch_shape()
    shown = "(N" + "".join(f", {d}" for d in target[1:]) + ")"
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
    if side < 0:
        a, b = ctx.const(0, "A"), ctx.const(1, "B")
        result = _NUMPY[ctx.op](a, b)
        if ctx.op == "Div" and np.issubdtype(a.dtype, np.integer):
            result = np.trunc(result).astype(a.dtype)
        ctx.output(result)
        return
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
    ctx.traced.elementwise(ctx.name, ctx.op, mul, add)
    ctx.output(ctx.traced)
