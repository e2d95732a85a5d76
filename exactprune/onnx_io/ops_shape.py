"""Converters of ops that only move values around: Constant, Identity, Dropout, Flatten, Reshape,
Squeeze, Unsqueeze, Transpose. On constants they are evaluated with numpy."""

from __future__ import annotations

import numpy as np

from .context import NodeContext
from .registry import converter
from .scan import tensor_array


@converter("Constant", since=1)
def constant(ctx: NodeContext) -> None:
    attrs = ctx.attrs
    if "value" in attrs:
        ctx.output(tensor_array(attrs["value"], f"the value of {ctx.where()}"))
    elif "value_float" in attrs or "value_floats" in attrs:
        ctx.output(np.asarray(attrs.get("value_float", attrs.get("value_floats")), np.float32))
    elif "value_int" in attrs or "value_ints" in attrs:
        ctx.output(np.asarray(attrs.get("value_int", attrs.get("value_ints")), np.int64))
    else:
        raise ctx.unsupported("only dense numeric constants are supported")


@converter("Identity", since=1)
def identity(ctx: NodeContext) -> None:
    ctx.output(ctx.value(0))


@converter("Dropout", since=1)
def dropout(ctx: NodeContext) -> None:
    ctx.check_extra_outputs()
    training = ctx.optional_const(2, "training_mode", np.asarray(False)) if ctx.opset >= 12 else None
    if training is not None and bool(np.asarray(training).reshape(-1)[0]):
        raise ctx.unsupported("training_mode is true; exactprune reads inference graphs")
    ctx.output(ctx.value(0))


def _rank(ctx: NodeContext) -> int:
    return 1 + len(ctx.traced.per_sample)


def _axes(ctx: NodeContext, axes, rank: int) -> list[int]:
    out = sorted(int(a) + rank if int(a) < 0 else int(a) for a in axes)
    if any(a < 0 or a >= rank for a in out):
        raise ctx.invalid(f"axes {list(axes)} out of range for rank {rank}")
    return out


@converter("Flatten", since=1)
def flatten(ctx: NodeContext) -> None:
    axis = int(ctx.attrs.get("axis", 1))
    if ctx.traced_index() < 0:
        x = ctx.const(0, "input")
        axis = axis + x.ndim if axis < 0 else axis
        ctx.output(x.reshape(int(np.prod(x.shape[:axis], dtype=np.int64)), -1))
        return
    shape = ctx.traced.per_sample
    axis = axis + _rank(ctx) if axis < 0 else axis
    if axis == 0 or int(np.prod(shape[: axis - 1], dtype=np.int64)) != 1:
        raise ctx.unsupported(f"flattening axis {axis} of shape (N, {', '.join(map(str, shape))}) "
                              "merges the batch dimension")
    ctx.traced.reshape((int(np.prod(shape[axis - 1:], dtype=np.int64)),))
    ctx.output(ctx.traced)


@converter("Reshape", since=5)
def reshape(ctx: NodeContext) -> None:
    target = [int(d) for d in ctx.const(1, "the target shape").reshape(-1)]
    allowzero = int(ctx.attrs.get("allowzero", 0))
    if ctx.traced_index() < 0:
        x = ctx.const(0, "input")
        if not allowzero:
            target = [x.shape[i] if d == 0 else d for i, d in enumerate(target)]
        ctx.output(x.reshape(target))
        return
    shape = ctx.traced.per_sample
    size = ctx.traced.size
    if not allowzero:
        target = [d if d != 0 else (-2 if i == 0 else shape[i - 1] if i - 1 < len(shape) else 0)
                  for i, d in enumerate(target)]
    head, rest = (target[0] if target else None), target[1:]
    bad = f"reshaping (N, {', '.join(map(str, shape))}) to {target}"
    if head not in (-2, -1, 1) or rest.count(-1) > (0 if head == -1 else 1):
        raise ctx.unsupported(f"{bad} changes the batch dimension")
    known = int(np.prod([d for d in rest if d != -1], dtype=np.int64))
    if -1 in rest and known and size % known == 0:
        rest = [size // known if d == -1 else d for d in rest]
    if int(np.prod(rest, dtype=np.int64)) != size or any(d < 0 for d in rest):
        raise ctx.invalid(f"{bad}: {size} features per sample do not fit")
    ctx.traced.reshape(tuple(rest))
    ctx.output(ctx.traced)


def _squeeze(ctx: NodeContext, axes) -> None:
    if ctx.traced_index() < 0:
        x = ctx.const(0, "input")
        ctx.output(np.squeeze(x, axis=None if axes is None else tuple(int(a) for a in axes)))
        return
    shape = ctx.traced.per_sample
    if axes is None:
        if ctx.traced.batch == 1:
            raise ctx.unsupported("squeezing every axis of size 1 removes the batch dimension; "
                                  "give the axes")
        keep = [d for d in shape if d != 1]
    else:
        axes = _axes(ctx, axes, _rank(ctx))
        if 0 in axes:
            raise ctx.unsupported("squeezing axis 0 removes the batch dimension")
        if any(shape[a - 1] != 1 for a in axes):
            raise ctx.invalid(f"cannot squeeze axes {axes} of shape (N, {', '.join(map(str, shape))})")
        keep = [d for i, d in enumerate(shape) if i + 1 not in axes]
    ctx.traced.reshape(tuple(keep))
    ctx.output(ctx.traced)


@converter("Squeeze", since=1)
def squeeze_attr(ctx: NodeContext) -> None:
    _squeeze(ctx, ctx.attrs.get("axes"))


@converter("Squeeze", since=13)
def squeeze_input(ctx: NodeContext) -> None:
    _squeeze(ctx, ctx.optional_const(1, "axes"))


def _unsqueeze(ctx: NodeContext, axes) -> None:
    axes = [int(a) for a in np.asarray(axes).reshape(-1)]
    if ctx.traced_index() < 0:
        x = ctx.const(0, "input")
        ctx.output(np.expand_dims(x, tuple(_axes(ctx, axes, x.ndim + len(axes)))))
        return
    axes = _axes(ctx, axes, _rank(ctx) + len(axes))
    if 0 in axes:
        raise ctx.unsupported("unsqueezing at axis 0 moves the batch dimension")
    shape = list(ctx.traced.per_sample)
    for a in axes:
        shape.insert(a - 1, 1)
    ctx.traced.reshape(tuple(shape))
    ctx.output(ctx.traced)


@converter("Unsqueeze", since=1)
def unsqueeze_attr(ctx: NodeContext) -> None:
    _unsqueeze(ctx, ctx.attrs["axes"])


@converter("Unsqueeze", since=13)
def unsqueeze_input(ctx: NodeContext) -> None:
    _unsqueeze(ctx, ctx.const(1, "axes"))


@converter("Transpose", since=1)
def transpose(ctx: NodeContext) -> None:
    perm = ctx.attrs.get("perm")
    if ctx.traced_index() < 0:
        ctx.output(np.transpose(ctx.const(0, "input"), perm))
        return
    shape = ctx.traced.per_sample
    perm = list(range(_rank(ctx)))[::-1] if perm is None else [int(p) for p in perm]
    if sorted(perm) != list(range(_rank(ctx))):
        raise ctx.invalid(f"perm {perm} does not fit shape (N, {', '.join(map(str, shape))})")
    if perm[0] != 0:
        raise ctx.unsupported(f"perm {perm} moves the batch dimension")
    axes = [p - 1 for p in perm[1:]]
    idx = np.arange(ctx.traced.size).reshape(shape).transpose(axes).reshape(-1)
    ctx.traced.permute(idx, tuple(shape[a] for a in axes))
    ctx.output(ctx.traced)
