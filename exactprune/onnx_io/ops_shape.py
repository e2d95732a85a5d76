"""Converters of ops that only move the body's values around: Identity, Dropout, Flatten,
Reshape, Squeeze, Unsqueeze, Transpose, Gather (constant indices). (The same ops on constants
are folded: fold.py.)"""

from __future__ import annotations

import numpy as np

from .context import NodeContext
from .registry import converter


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
    return ctx.traced.lead + len(ctx.traced.per_sample)


def _axes(ctx: NodeContext, axes, rank: int) -> list[int]:
    out = sorted(int(a) + rank if int(a) < 0 else int(a) for a in axes)
    if any(a < 0 or a >= rank for a in out):
        raise ctx.invalid(f"axes {list(axes)} out of range for rank {rank}")
    return out


def _prod(dims) -> int:
    return int(np.prod(dims, dtype=np.int64))


@converter("Flatten", since=1)
def flatten(ctx: NodeContext) -> None:
    axis = int(ctx.attrs.get("axis", 1))
    shape, lead = ctx.traced.per_sample, ctx.traced.lead
    axis = axis + _rank(ctx) if axis < 0 else axis
    if not lead:
        ctx.traced.reshape((_prod(shape[:axis]), _prod(shape[axis:])))
    elif axis == 0 or _prod(shape[: axis - 1]) != 1:
        raise ctx.unsupported(f"flattening axis {axis} of shape {ctx.shown()} merges the batch "
                              "dimension")
    else:
        ctx.traced.reshape((_prod(shape[axis - 1:]),))
    ctx.output(ctx.traced)


@converter("Reshape", since=5)
def reshape(ctx: NodeContext) -> None:
    """The target may hold the batch size (-2 marks it: a 0 copying it, or a value built from
    the input's shape, or the fixed batch itself)."""
    target = ctx.shape_target(1)
    allowzero = int(ctx.attrs.get("allowzero", 0))
    shape, lead, size = ctx.traced.per_sample, ctx.traced.lead, ctx.traced.size
    full = ((-2,) if lead else ()) + shape
    if not allowzero:
        target = [full[i] if d == 0 and i < len(full) else d for i, d in enumerate(target)]
    bad = f"reshaping {ctx.shown()} to {target}"
    if lead:
        head, rest = (target[0] if target else None), target[1:]
        if head not in (-2, -1) and head != ctx.traced.batch or -2 in rest \
                or rest.count(-1) > (0 if head == -1 else 1):
            raise ctx.unsupported(f"{bad} changes the batch dimension")
    else:
        rest = target
        if rest.count(-1) > 1 or -2 in rest:
            raise ctx.invalid(f"{bad}: more than one dimension to infer")
    known = _prod([d for d in rest if d != -1])
    if -1 in rest and known and size % known == 0:
        rest = [size // known if d == -1 else d for d in rest]
    if _prod(rest) != size or any(d < 0 for d in rest):
        raise ctx.invalid(f"{bad}: {size} features per sample do not fit")
    ctx.traced.reshape(tuple(rest))
    ctx.output(ctx.traced)


def _squeeze(ctx: NodeContext, axes) -> None:
    shape, lead = ctx.traced.per_sample, ctx.traced.lead
    if axes is None:
        if ctx.traced.batch == 1:
            raise ctx.unsupported("squeezing every axis of size 1 removes the batch dimension; "
                                  "give the axes")
        keep = [d for d in shape if d != 1]
    else:
        axes = _axes(ctx, np.asarray(axes).reshape(-1), _rank(ctx))
        if lead and 0 in axes:
            raise ctx.unsupported("squeezing axis 0 removes the batch dimension")
        if any(shape[a - lead] != 1 for a in axes):
            raise ctx.invalid(f"cannot squeeze axes {axes} of shape {ctx.shown()}")
        keep = [d for i, d in enumerate(shape) if i + lead not in axes]
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
    lead = ctx.traced.lead
    axes = _axes(ctx, axes, _rank(ctx) + len(axes))
    if lead and 0 in axes:
        raise ctx.unsupported("unsqueezing at axis 0 moves the batch dimension")
    shape = list(ctx.traced.per_sample)
    for a in axes:
        shape.insert(a - lead, 1)
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
    shape, lead = ctx.traced.per_sample, ctx.traced.lead
    perm = list(range(_rank(ctx)))[::-1] if perm is None else [int(p) for p in perm]
    if sorted(perm) != list(range(_rank(ctx))):
        raise ctx.invalid(f"perm {perm} does not fit shape {ctx.shown()}")
    if lead and perm[0] != 0:
        raise ctx.unsupported(f"perm {perm} moves the batch dimension")
    axes = [p - lead for p in perm[lead:]]
    idx = np.arange(ctx.traced.size).reshape(shape).transpose(axes).reshape(-1)
    ctx.traced.permute(idx, tuple(shape[a] for a in axes))
    ctx.output(ctx.traced)


@converter("Gather", since=1, body_if=lambda attrs: int(attrs.get("axis", 0)) != 0)
def gather(ctx: NodeContext) -> None:
    """A selection of each sample's values along one axis (constant indices): the input
    selection exactprune writes in front of a Gemm (reductions/positions.py). A Gather along
    axis 0 (the batch) is not taken into the body."""
    if not ctx.is_traced(0):
        raise ctx.unsupported("only the body's value can be gathered from")
    indices = np.asarray(ctx.const(1, "indices")).astype(np.int64)
    shape, lead = ctx.traced.per_sample, ctx.traced.lead
    axis = int(ctx.attrs.get("axis", 0))
    axis = axis + _rank(ctx) if axis < 0 else axis
    if axis < lead or axis >= _rank(ctx):
        raise ctx.unsupported(f"gathering along axis {axis} of shape {ctx.shown()}")
    size = shape[axis - lead]
    if ((indices < -size) | (indices >= size)).any():
        raise ctx.invalid(f"indices out of range for axis {axis} of shape {ctx.shown()}")
    idx = np.arange(ctx.traced.size).reshape(shape).take(indices % size, axis=axis - lead)
    if (not ctx.traced.layers and ctx.traced.input_map is None
            and not np.array_equal(np.sort(idx.reshape(-1)), np.arange(ctx.traced.size))):
        raise ctx.unsupported("a Gather that selects model inputs (only a permutation of them)")
    ctx.traced.select(idx.reshape(-1), idx.shape)
    ctx.output(ctx.traced)
