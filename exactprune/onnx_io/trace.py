"""The traced tensor: the one value of the chain that depends on the model input.

Between two activations it is an affine function of the previous activation output h (or of the
flattened model input x before the first affine layer), kept in one of two forms:
  map form   value = scale * h[perm] + shift   (only reshapes, transposes, elementwise constants)
  dense form value = A @ h + c                 (after a Gemm / MatMul since h)
  conv form  value = conv(h)                   (after a Conv or AveragePool since h: a Conv2d)
A zero Pad in map form is remembered (`padded`) so that the Conv or pool reading it takes it as
its own pads; anything else between an activation and a Conv is refused.
A Clip closes a layer of ReLU units (clip(g) = a + relu(g - a) - relu(g - b)) and leaves their
combination as a pending dense form that the next Gemm / MatMul absorbs (`combining`).
`per_sample` is the tensor's shape without the batch dimension (the whole shape when the input
has none: `batch` None); its row-major flattening is the order of `value`. Activations close a
layer (a Dense), and the builder collects the layers. `elem_type` is the tensor's ONNX element
type (a Cast to another float type changes it); `compute_type` the one it had at the first
affine op: the type the body's layers compute in.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import onnx

from ..errors import UnsupportedModelError
from ..ir import IDENTITY, RELU, Activation, Dense, InputMap
from ..ir.conv import Conv2d


class Traced:
    """The builder of a Network from the chain of ops applied to the model input."""

    def __init__(self, per_sample: tuple[int, ...], batch: int | str | None = "N",
                 elem_type: int = onnx.TensorProto.FLOAT):
        self.per_sample = tuple(int(d) for d in per_sample)
        self.batch = batch  # the input's first dimension (an int when fixed, None when absent)
        self.elem_type = elem_type
        self.compute_type: int | None = None
        self.layers: list[Dense | Conv2d] = []
        self.input_map: InputMap | None = None
        self._reset(self.size)

    # state ------------------------------------------------------------------------------------
    @property
    def size(self) -> int:
        return int(np.prod(self.per_sample, dtype=np.int64))

    def _reset(self, n: int) -> None:
        self.width = n  # the size of h (a Gather may select fewer values: the map form's perm)
        self.perm, self.scale, self.shift = np.arange(n), np.ones(n), np.zeros(n)
        self.A: np.ndarray | None = None
        self.c: np.ndarray | None = None
        self.conv: Conv2d | None = None
        self.padded: tuple | None = None  # (pads, map form before, map form after) of a Pad
        self.combining = False  # A, c combine the units of a Clip layer: no layer of their own
        self.nodes: list[str] = []

    @property
    def lead(self) -> int:
        """Axes before the per-sample ones: 1 (the batch), or 0 for an input without one."""
        return 0 if self.batch is None else 1

    @property
    def has_affine(self) -> bool:
        return self.A is not None or self.conv is not None

    @property
    def is_identity(self) -> bool:
        return not self.has_affine and InputMap(self.perm, self.scale, self.shift).is_identity

    def note(self, name: str) -> None:
        """Record an ONNX node as part of the current affine part."""
        self.nodes.append(name)

    # transformations --------------------------------------------------------------------------
    def reshape(self, per_sample: tuple[int, ...]) -> None:
        """A row-major reshape of each sample (the flat order does not change)."""
        self.per_sample = tuple(int(d) for d in per_sample)

    def permute(self, idx: np.ndarray, per_sample: tuple[int, ...]) -> None:
        """value_new = value[idx] (a transpose of each sample)."""
        self._densify()
        if self.has_affine:
            self.A, self.c = self.A[idx], self.c[idx]
        else:
            self.perm, self.scale, self.shift = self.perm[idx], self.scale[idx], self.shift[idx]
        self.per_sample = tuple(int(d) for d in per_sample)

    def select(self, idx: np.ndarray, per_sample: tuple[int, ...]) -> None:
        """value_new = value[idx] (a Gather); a pending Conv is closed as an identity layer
        first (its dense form may be too large), so the selection reads its outputs."""
        if self.conv is not None:
            self._close(IDENTITY, "")
        self.permute(idx, per_sample)

    def elementwise(self, name: str, mul: np.ndarray, add: np.ndarray) -> None:
        """value_new = mul * value + add, per flat feature (per channel into a pending Conv)."""
        if self.conv is not None:
            m, a = mul.reshape(self.conv.out_shape[0], -1), add.reshape(self.conv.out_shape[0], -1)
            if (m == m[:, :1]).all() and (a == a[:, :1]).all():
                self.conv = self.conv.scaled(m[:, 0], a[:, 0])
                self.note(name)
                return
        self._densify()
        if self.has_affine:
            self.A = self.A * mul[:, None]
            self.c = self.c * mul + add
        else:
            self.scale = self.scale * mul
            self.shift = self.shift * mul + add
        self.note(name)

    def linear(self, name: str, L: np.ndarray, offset: np.ndarray,
               per_sample: tuple[int, ...]) -> None:
        """value_new = L @ value + offset (a Gemm or MatMul); two in a row make two layers."""
        if self.compute_type is None:
            self.compute_type = self.elem_type
        if self.combining:  # absorb the combination of a Clip layer's units
            self.A, self.c, self.combining = L @ self.A, L @ self.c + offset, False
        else:
            if self.has_affine:
                self._close(IDENTITY, "")
            if not self.layers and self.input_map is None:
                self.input_map = InputMap(self.perm, self.scale, self.shift)
                self.A, self.c = L, offset + np.zeros(L.shape[0])
                self.nodes = []  # the nodes so far make up the input map
            else:
                self.A, self.c = self._dense(L), L @ self.shift + offset
        self.per_sample = tuple(int(d) for d in per_sample)
        self.note(name)

    def zero_pad(self, name: str, pads: tuple[int, ...], per_sample: tuple[int, ...]) -> None:
        """Zero padding of each sample by `pads` (begin..., end... over the per-sample axes)."""
        self._densify()
        rank = len(self.per_sample)
        inner = np.zeros(per_sample, dtype=bool)
        inner[tuple(slice(pads[a], pads[a] + self.per_sample[a]) for a in range(rank))] = True
        inner = inner.reshape(-1)
        idx = np.zeros(inner.size, dtype=np.int64)
        idx[inner] = np.arange(self.size)
        before = self._map_form()
        if self.has_affine:
            self.A = np.where(inner[:, None], self.A[idx], 0.0)
            self.c = np.where(inner, self.c[idx], 0.0)
        else:
            self.perm = self.perm[idx]
            self.scale = np.where(inner, self.scale[idx], 0.0)
            self.shift = np.where(inner, self.shift[idx], 0.0)
        self.per_sample = tuple(int(d) for d in per_sample)
        self.padded = (tuple(int(p) for p in pads), before, self._map_form())
        self.note(name)

    def convolve(self, name: str, make) -> None:
        """value_new = make(in_shape, pads)(value): a Conv2d on the per-sample (C, H, W) value
        (pads: a zero Pad just before it, (top, left, bottom, right), for the layer to add)."""
        pads = (0, 0, 0, 0)
        if (self.padded is not None and not self.has_affine
                and _same(self.padded[2], self._map_form())):  # nothing since the Pad
            (p, before, _), rank = self.padded, len(self.per_sample)
            if rank == 3 and p[0] == p[rank] == 0:
                self.perm, self.scale, self.shift, self.per_sample = before
                pads = (p[1], p[2], p[rank + 1], p[rank + 2])
        if self.compute_type is None:
            self.compute_type = self.elem_type
        if self.combining:
            self._close_combination()
        if self.has_affine:
            self._close(IDENTITY, "")
        if not self.layers and self.input_map is None:
            self.input_map = InputMap(self.perm, self.scale, self.shift)
            self.nodes = []
        elif not self.is_identity:
            raise UnsupportedModelError("an op between an activation and a convolution moves or "
                                        "scales the values (only a zero Pad may sit there)")
        self.conv = make(self.per_sample, pads)
        self.per_sample = self.conv.out_shape
        self.note(name)

    def _map_form(self) -> tuple:
        return (self.perm, self.scale, self.shift, self.per_sample)

    def nonnegative(self) -> bool:
        """Whether every value is >= 0: a Relu layer's output, at most scaled by >= 0 factors,
        moved or zero-padded."""
        last = self.layers[-1] if self.layers else None
        return (last is not None and last.activation == RELU and not self.has_affine
                and not self.combining and bool(np.all(self.scale >= 0.0))
                and bool(np.all(self.shift == 0.0)))

    def _close_combination(self) -> None:
        """A Clip layer's pending combination of units as an identity layer of its own."""
        self.combining = False
        self._close(IDENTITY, "")

    def _densify(self) -> None:
        """A pending Conv as the dense form (before an op that needs one)."""
        if self.conv is not None:
            dense = self.conv.as_dense()
            self.A, self.c, self.conv = dense.weight, dense.bias, None

    def _dense(self, L: np.ndarray) -> np.ndarray:
        """L @ (map form) as a matrix on h."""
        A = np.zeros((L.shape[0], self.width))
        if np.unique(self.perm).size == self.perm.size:
            A[:, self.perm] = L * self.scale  # (keeps the signs of zeros)
        else:
            np.add.at(A.T, self.perm, (L * self.scale).T)  # a value gathered twice adds up
        return A

    def activation(self, name: str, act: Activation) -> None:
        """Close the current layer with the activation node `name`."""
        self._close(act, name)

    def clip(self, name: str, lo, hi) -> None:
        """Close the current layer with min(max(g, lo), hi), lo and hi per value (or scalars,
        +-inf for no bound), as ReLU units anchored at the bound of smaller magnitude (the unit
        that is usually active then holds no huge offset to cancel): lo + relu(g - lo)
        [- relu(g - hi)], or hi - relu(hi - g) [+ relu(lo - g)]; g = relu(g) - relu(-g) with
        no bound; lo >= hi is the constant hi."""
        per_sample = self.per_sample
        weight, bias = self._pending()
        n = weight.shape[0]
        lo, hi = np.broadcast_to(lo, (n,)).astype(float), np.broadcast_to(hi, (n,)).astype(float)
        const = lo >= hi
        has_lo, has_hi = np.isfinite(lo) & ~const, np.isfinite(hi) & ~const
        low = has_lo & ~(has_hi & (np.abs(hi) < np.abs(lo)))  # anchored at lo
        high = has_hi & ~low  # anchored at hi
        neither = ~(np.isfinite(lo) | np.isfinite(hi))
        eye = np.eye(n)
        groups = [(low, 1.0, bias - lo, 1.0), (low & has_hi, 1.0, bias - hi, -1.0),
                  (high, -1.0, hi - bias, -1.0), (high & has_lo, -1.0, lo - bias, 1.0),
                  (neither, 1.0, bias, 1.0), (neither, -1.0, -bias, -1.0)]
        self.A = np.vstack([sign * weight[mask] for mask, sign, _, _ in groups])
        self.c = np.concatenate([offset[mask] for mask, _, offset, _ in groups])
        self._close(RELU, name)
        combine = np.hstack([out * eye[:, mask] for mask, _, _, out in groups])
        shift = np.where(low, lo, np.where(high | const, hi, 0.0))
        self.A, self.c, self.combining = combine, shift, True
        self.per_sample = per_sample

    def cap_last_layer(self, name: str, cap) -> bool:
        """min(h, cap) right after a ReLU layer (how exactprune writes a capped unit): the layer
        becomes Clip(g, 0, cap). False (nothing done) when the value is not that layer's output."""
        last = self.layers[-1] if self.layers else None
        if (not isinstance(last, Dense) or last.activation != RELU or not self.is_identity
                or self.combining):
            return False
        self.layers.pop()
        self.A, self.c, self.nodes = last.weight, last.bias, list(last.nodes)
        self.clip(name, 0.0, cap)
        return True

    def _pending(self) -> tuple[np.ndarray, np.ndarray]:
        """(weight, bias) of the affine part since the last layer, as a dense map on h."""
        self._densify()
        if self.has_affine:
            return self.A, self.c
        return self._dense(np.eye(self.perm.size)), self.shift.copy()

    def _close(self, act: Activation, act_node: str) -> None:
        if self.input_map is None:
            self.input_map = InputMap.identity(self.perm.size)
        if self.conv is not None:
            layer = replace(self.conv, activation=act, nodes=tuple(self.nodes), act_node=act_node)
            self.layers.append(layer)
            self._reset(layer.n_out)
            return
        weight, bias = self._pending()
        self.layers.append(Dense(weight, bias, act, tuple(self.nodes), act_node))
        self._reset(weight.shape[0])

    def finish(self) -> None:
        """Close the output layer (a pending affine part, or the last activation layer)."""
        last = self.layers[-1] if self.layers else None
        if last is not None and self.is_identity and last.activation.kind in ("relu", "identity"):
            return
        self._close(IDENTITY, "")


def _same(a: tuple, b: tuple) -> bool:
    """Whether two map forms (perm, scale, shift, per_sample) are equal."""
    return all(np.array_equal(x, y) for x, y in zip(a, b))
