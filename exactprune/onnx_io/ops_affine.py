"""Converters of the affine ops: Gemm, MatMul (constant on either side), BatchNormalization."""

from __future__ import annotations

import numpy as np

from .context import NodeContext
from .registry import converter
from .scan import check_dense_size


@converter("Gemm", since=7)
def gemm(ctx: NodeContext) -> None:
    alpha, beta = float(ctx.attrs["alpha"]), float(ctx.attrs["beta"])
    trans_a, trans_b = int(ctx.attrs["transA"]), int(ctx.attrs["transB"])
    side = ctx.traced_index()
    if side != 0:
        raise ctx.unsupported("the computed tensor as Gemm's input B (W @ x form) puts the batch "
                              "on axis 1; use MatMul or transpose the weights")
    if trans_a:
        raise ctx.unsupported("transA=1 transposes the batch dimension into the features")
    shape = ctx.traced.per_sample
    b = ctx.const(1, "the weight B").astype(np.float64)
    if not ctx.traced.lead:  # a sample of shape (1, n): its row plays the batch
        if len(shape) != 2 or shape[0] != 1:
            raise ctx.unsupported(f"Gemm of {ctx.shown()} without a batch dimension multiplies "
                                  "a matrix")
        shape = shape[1:]
    if len(shape) != 1 or b.ndim != 2:
        raise ctx.invalid(f"Gemm needs 2-D inputs, got {ctx.shown()} and {b.shape}")
    weight = b.T if trans_b else b  # (n_in, n_out)
    if weight.shape[0] != shape[0]:
        raise ctx.invalid(f"input {ctx.shown()} does not fit weight B of shape {b.shape} "
                          f"(transB={trans_b})")
    n_out = weight.shape[1]
    c = ctx.optional_const(2, "the bias C", np.zeros(1)).astype(np.float64)
    try:
        bias = np.broadcast_to(c, (1, n_out)).reshape(-1)
    except ValueError:
        raise ctx.invalid(f"bias C of shape {c.shape} does not broadcast to (N, {n_out})") from None
    out = (n_out,) if ctx.traced.lead else (1, n_out)
    ctx.traced.linear(ctx.name, alpha * weight.T, beta * bias, out)
    ctx.output(ctx.traced)


def _matrix(ctx: NodeContext, w: np.ndarray, rank: int) -> np.ndarray:
    """A constant MatMul operand as a 1-D or 2-D array (leading broadcast dims must be 1)."""
    if w.ndim > rank or any(d != 1 for d in w.shape[:-2]):
        raise ctx.unsupported(f"a constant of shape {w.shape} makes a batched MatMul")
    return w.reshape(w.shape[-2:] if w.ndim >= 2 else w.shape).astype(np.float64)


@converter("MatMul", since=1)
def matmul(ctx: NodeContext) -> None:
    side = ctx.traced_index()
    if ctx.is_traced(1 - side):
        raise ctx.unsupported("it multiplies two computed tensors")
    shape = ctx.traced.per_sample
    w = _matrix(ctx, ctx.const(1 - side, "the weight"), max(2, ctx.traced.lead + len(shape)))
    mismatch = f"shapes {ctx.shown()} and {w.shape} do not fit"
    if side == 0:  # x @ W, contracting the last axis
        w2 = w.reshape(-1, 1) if w.ndim == 1 else w
        if not shape or shape[-1] != w2.shape[0]:
            raise ctx.invalid(mismatch)
        outer = int(np.prod(shape[:-1], dtype=np.int64))
        check_dense_size(outer * w2.shape[1], outer * w2.shape[0], ctx.where())
        lin = np.kron(np.eye(outer), w2.T) if outer > 1 else w2.T
        new = shape[:-1] + ((w2.shape[1],) if w.ndim == 2 else ())
    elif len(shape) == 1 and not ctx.traced.lead:  # W @ x with x a vector (no batch)
        w2 = w.reshape(1, -1) if w.ndim == 1 else w
        if shape[0] != w2.shape[1]:
            raise ctx.invalid(mismatch)
        lin, new = w2, ((w2.shape[0],) if w.ndim == 2 else ())
    else:  # W @ x, contracting the second last axis of each sample
        if len(shape) < 2:
            raise ctx.unsupported(f"the constant {w.shape} multiplies the batch dimension of "
                                  f"{ctx.shown()}")
        w2 = w.reshape(1, -1) if w.ndim == 1 else w
        if shape[-2] != w2.shape[1]:
            raise ctx.invalid(mismatch)
        outer, inner = int(np.prod(shape[:-2], dtype=np.int64)), shape[-1]
        size = outer * inner
        check_dense_size(size * w2.shape[0], size * w2.shape[1], ctx.where())
        lin = np.kron(w2, np.eye(inner))
        lin = np.kron(np.eye(outer), lin) if outer > 1 else lin
        new = shape[:-2] + ((w2.shape[0],) if w.ndim == 2 else ()) + (inner,)
    ctx.traced.linear(ctx.name, lin, np.zeros(lin.shape[0]), new)
    ctx.output(ctx.traced)


@converter("BatchNormalization", since=7)
def batch_norm(ctx: NodeContext) -> None:
    ctx.check_extra_outputs()
    if int(ctx.attrs.get("training_mode", 0)) or not int(ctx.attrs.get("spatial", 1)):
        raise ctx.unsupported("only inference-mode, per-channel BatchNormalization is supported")
    if ctx.traced_index() != 0 or not ctx.traced.lead:
        raise ctx.unsupported("the input must be the computed tensor, with a batch dimension")
    shape = ctx.traced.per_sample
    names = ("scale", "B", "mean", "var")
    scale, b, mean, var = (ctx.const(i + 1, n).astype(np.float64).reshape(-1)
                           for i, n in enumerate(names))
    channels = shape[0] if shape else 0
    if any(p.size != channels for p in (scale, b, mean, var)):
        raise ctx.invalid(f"parameters of sizes {[p.size for p in (scale, b, mean, var)]} do not "
                          f"fit {channels} channels of {ctx.shown()}")
    denom = var + float(ctx.attrs["epsilon"])
    if np.any(denom <= 0):
        raise ctx.invalid("var + epsilon is not positive")
    factor = scale / np.sqrt(denom)
    spread = (channels,) + (1,) * (len(shape) - 1)
    mul = np.broadcast_to(factor.reshape(spread), shape).reshape(-1)
    add = np.broadcast_to((b - mean * factor).reshape(spread), shape).reshape(-1)
    ctx.traced.elementwise(ctx.name, mul, add)
    ctx.output(ctx.traced)
