"""The affine layers of the IR, behind one protocol, and the input map in front of them.

Weight convention (the same as PyTorch's Linear and ONNX Gemm with transB=1): a layer maps
h (n_in,) to g = W @ h + b with W of shape (n_out, n_in), b of shape (n_out,), then applies its
Activation. Batches are rows: G = H @ W.T + b.

Every consumer (bounds, MILP encoders, witnesses, reductions, regions) goes through the `Layer`
protocol, so that a layer kind with a structured W (a convolution) can be added without
touching them: they ask for the forward map, its interval image, one back-substitution step,
the sparse rows of W, or (where a reduction edits single neurons) the dense equivalent.
Conv2d (ir/conv.py) is the structured kind.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterator, Protocol

import numpy as np

from .activation import RELU, Activation, activation


class Layer(Protocol):
    """What an affine layer with an activation offers (see the module docstring)."""

    activation: Activation
    bias: np.ndarray

    @property
    def n_in(self) -> int: ...

    @property
    def n_out(self) -> int: ...

    @property
    def n_params(self) -> int: ...

    @property
    def n_macs(self) -> int:
        """Multiply-adds of the affine map for one input."""

    def affine(self, h: np.ndarray) -> np.ndarray:
        """G = H W^T + b for a batch H (N, n_in)."""

    def interval(self, hlo: np.ndarray, hup: np.ndarray):
        """(lo, up, magnitude) of W h + b over the boxes [hlo, hup] (rows of a batch), in plain
        float64; magnitude bounds every term's size, for the caller's rounding margin."""

    def backward(self, d: np.ndarray) -> np.ndarray:
        """d W: coefficients (..., n_out) on g carried back to h (a vector-Jacobian product)."""

    def substitute(self, d: np.ndarray, dabs: np.ndarray):
        """One back-substitution step through the affine map: (d W, dabs |W|, d b, dabs |b|) for
        coefficient stacks d, dabs of shape (..., n_out)."""

    def rows(self) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """(neuron, columns, coefficients) of every neuron's row, zero coefficients left out."""

    def row_l1(self) -> np.ndarray:
        """sum_i |W_ji| per neuron j (n_out,)."""

    def weight_rows(self, rows: np.ndarray) -> np.ndarray:
        """W[rows] as a dense (len(rows), n_in) array."""

    def as_dense(self) -> "Dense":
        """The same layer with an explicit weight matrix."""


@dataclass(frozen=True, eq=False)
class Dense:
    """A fully connected layer: weight (n_out, n_in) and bias (n_out,), float64.

    activation: an Activation (a string is taken for a kind without parameters).
    nodes: the ONNX node names that make up the affine part (for reports).
    act_node: the name of the ONNX activation node ("" when the activation is identity); for
        unnamed ONNX nodes the importer uses the node's output tensor name.
    origin: for each neuron, its flat index in the activation input of the ORIGINAL model
        (kept through reductions so reports can name original neurons).
    columns: None (the written model reads every input), or the sorted input columns it reads:
        a Gather of these in front of the Gemm, whose matrix is weight[:, columns]. The other
        columns of weight are zero (checked here), so the map is the same either way; weight
        keeps its full width (n_in) for every consumer of the protocol, and n_params / n_macs
        count the written form. Set by reductions/positions.py on a Dense reading a conv layer.
    """

    weight: np.ndarray
    bias: np.ndarray
    activation: Activation = RELU
    nodes: tuple[str, ...] = ()
    act_node: str = ""
    origin: tuple[int, ...] = ()
    columns: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        w = np.asarray(self.weight, dtype=np.float64)
        b = np.asarray(self.bias, dtype=np.float64).reshape(-1)
        if w.ndim != 2 or b.shape != (w.shape[0],):
            raise ValueError(f"layer weight {w.shape} and bias {b.shape} do not match")
        object.__setattr__(self, "weight", w)
        object.__setattr__(self, "bias", b)
        object.__setattr__(self, "activation", activation(self.activation))
        if not self.origin:
            object.__setattr__(self, "origin", tuple(range(w.shape[0])))
        elif len(self.origin) != w.shape[0]:
            raise ValueError("origin must name one original index per neuron")
        if self.columns is not None:
            cols = tuple(int(c) for c in self.columns)
            read = np.zeros(w.shape[1], dtype=bool)
            fits = list(cols) == sorted(set(cols)) and all(0 <= c < w.shape[1] for c in cols)
            read[list(cols) if fits else []] = True
            if not fits or w[:, ~read].any():
                raise ValueError("columns must be sorted distinct inputs, the others' weights zero")
            object.__setattr__(self, "columns", cols)

    @property
    def n_in(self) -> int:
        return self.weight.shape[1]

    @property
    def n_out(self) -> int:
        return self.weight.shape[0]

    @property
    def n_read(self) -> int:
        """Inputs the written model reads (len(columns), or n_in)."""
        return self.n_in if self.columns is None else len(self.columns)

    @property
    def n_params(self) -> int:
        return self.n_out * self.n_read + self.bias.size

    @property
    def n_macs(self) -> int:
        return self.n_out * self.n_read

    def affine(self, h: np.ndarray) -> np.ndarray:
        return h @ self.weight.T + self.bias

    def interval(self, hlo: np.ndarray, hup: np.ndarray):
        wp = np.maximum(self.weight, 0.0).T
        wn = np.minimum(self.weight, 0.0).T
        lo = hlo @ wp + hup @ wn + self.bias
        up = hup @ wp + hlo @ wn + self.bias
        mag = np.maximum(np.abs(hlo), np.abs(hup)) @ np.abs(self.weight).T + np.abs(self.bias)
        return lo, up, mag

    def backward(self, d: np.ndarray) -> np.ndarray:
        return d @ self.weight

    def substitute(self, d: np.ndarray, dabs: np.ndarray):
        return d @ self.weight, dabs @ np.abs(self.weight), d @ self.bias, dabs @ np.abs(self.bias)

    def rows(self) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        for j, row in enumerate(self.weight):
            cols = np.flatnonzero(row)
            yield j, cols, row[cols]

    def row_l1(self) -> np.ndarray:
        return np.abs(self.weight).sum(axis=1)

    def weight_rows(self, rows: np.ndarray) -> np.ndarray:
        return self.weight[rows]

    def as_dense(self) -> "Dense":
        return self

    def with_params(self, weight: np.ndarray, bias: np.ndarray, origin=None) -> "Dense":
        """A copy with new parameters (and origin, which must then be given if n_out changes);
        columns are kept while the width and their zeros are (else None: every input read)."""
        if origin is None:
            origin = self.origin if np.shape(weight)[0] == self.n_out else ()
        columns = self.columns
        if columns is not None and (np.shape(weight)[1] != self.n_in
                                    or np.delete(weight, columns, axis=1).any()):
            columns = None
        return replace(self, weight=weight, bias=bias, origin=tuple(origin), columns=columns)

    def keep_inputs(self, keep: np.ndarray) -> "Dense":
        """The layer reading only the inputs in the mask `keep` (the others' columns go)."""
        columns = None
        if self.columns is not None:
            read = np.zeros(self.n_in, dtype=bool)
            read[list(self.columns)] = True
            columns = tuple(int(c) for c in np.flatnonzero(read[keep]))
        return replace(self, weight=self.weight[:, keep], columns=columns)


@dataclass(frozen=True, eq=False)
class InputMap:
    """Per-feature affine map from the flattened input to h0: h0 = scale * x_flat[perm] + shift.

    It collects everything the graph does before the first affine layer (Flatten, Reshape,
    Transpose of the input, Sub/Add/Mul/Div by constants).
    """

    perm: np.ndarray
    scale: np.ndarray
    shift: np.ndarray

    @staticmethod
    def identity(n: int) -> "InputMap":
        return InputMap(np.arange(n), np.ones(n), np.zeros(n))

    def __post_init__(self) -> None:
        object.__setattr__(self, "perm", np.asarray(self.perm, dtype=np.int64).reshape(-1))
        object.__setattr__(self, "scale", np.asarray(self.scale, dtype=np.float64).reshape(-1))
        object.__setattr__(self, "shift", np.asarray(self.shift, dtype=np.float64).reshape(-1))

    @property
    def is_identity(self) -> bool:
        return (
            bool(np.all(self.perm == np.arange(self.perm.size)))
            and bool(np.all(self.scale == 1.0))
            and bool(np.all(self.shift == 0.0))
        )

    def apply(self, x_flat: np.ndarray) -> np.ndarray:
        """h0 for a batch of flattened inputs (N, d)."""
        return x_flat[:, self.perm] * self.scale + self.shift

    def pull_back(self, coef: np.ndarray, n_inputs: int) -> np.ndarray:
        """Coefficients (N, n0) of linear functions of h0 as coefficients (N, d) on x_flat."""
        out = np.zeros((coef.shape[0], n_inputs))
        np.add.at(out.T, self.perm, (coef * self.scale).T)
        return out
