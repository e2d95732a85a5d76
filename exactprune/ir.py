"""The dense-layer IR: a fully connected network as frozen dataclasses with float64 evaluation.

Weight convention (the same as PyTorch's Linear and ONNX Gemm with transB=1):
    a layer maps h (n_in,) to g = W @ h + b with W of shape (n_out, n_in), b of shape (n_out,),
    then applies its activation. Batches are rows: G = H @ W.T + b.

A network is
    x (original input tensor, shape `input_shape`, leading dimension = batch)
    -> flatten (row-major, per sample) -> InputMap (h0 = scale * x_flat[perm] + shift)
    -> layers[0] ... layers[-1] (the last one is the output layer)
    -> tail (ops kept as they are: Softmax, LogSoftmax, Sigmoid)
Hidden layers have activation "relu", "leaky_relu" or "identity" (an affine layer followed
directly by another one). The output layer has "identity" or, for a final Relu, "relu".
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

ACTIVATIONS = ("relu", "leaky_relu", "identity")


@dataclass(frozen=True, eq=False)
class Dense:
    """One affine layer and its activation.

    weight: (n_out, n_in) float64; bias: (n_out,) float64.
    alpha: negative slope of leaky_relu (ignored otherwise).
    nodes: the ONNX node names that make up the affine part (for reports).
    act_node: the name of the ONNX activation node ("" when the activation is identity); for
        unnamed ONNX nodes the importer uses the node's output tensor name.
    origin: for each neuron, its flat index in the activation input of the ORIGINAL model
        (kept through reductions so reports can name original neurons).
    """

    weight: np.ndarray
    bias: np.ndarray
    activation: str = "relu"
    alpha: float = 0.0
    nodes: tuple[str, ...] = ()
    act_node: str = ""
    origin: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        w = np.asarray(self.weight, dtype=np.float64)
        b = np.asarray(self.bias, dtype=np.float64).reshape(-1)
        if w.ndim != 2 or b.shape != (w.shape[0],):
            raise ValueError(f"layer weight {w.shape} and bias {b.shape} do not match")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}")
        object.__setattr__(self, "weight", w)
        object.__setattr__(self, "bias", b)
        if not self.origin:
            object.__setattr__(self, "origin", tuple(range(w.shape[0])))
        elif len(self.origin) != w.shape[0]:
            raise ValueError("origin must name one original index per neuron")

    @property
    def n_in(self) -> int:
        return self.weight.shape[1]

    @property
    def n_out(self) -> int:
        return self.weight.shape[0]

    @property
    def is_piecewise(self) -> bool:
        """True for activations with two phases (relu, leaky_relu)."""
        return self.activation in ("relu", "leaky_relu")

    @property
    def n_params(self) -> int:
        return self.weight.size + self.bias.size

    def affine(self, h: np.ndarray) -> np.ndarray:
        """Pre-activations G = H @ W.T + b for a batch H of shape (N, n_in)."""
        return h @ self.weight.T + self.bias

    def activate(self, g: np.ndarray) -> np.ndarray:
        if self.activation == "relu":
            return np.maximum(g, 0.0)
        if self.activation == "leaky_relu":
            return np.where(g >= 0.0, g, self.alpha * g)
        return g

    def with_params(self, weight: np.ndarray, bias: np.ndarray, origin=None) -> "Dense":
        """A copy with new parameters (and origin, which must then be given if n_out changes)."""
        if origin is None:
            origin = self.origin if np.shape(weight)[0] == self.n_out else ()
        return replace(self, weight=weight, bias=bias, origin=tuple(origin))


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


@dataclass(frozen=True, eq=False)
class Network:
    """A fully connected feed-forward network; see the module docstring for the convention.

    input_shape / output_shape: ONNX shapes, ints or strings (symbolic dims); dim 0 is the batch.
    tail: ops after the output layer, kept as they are: tuples (op_type, attributes dict).
    """

    layers: tuple[Dense, ...]
    input_map: InputMap
    input_name: str = "input"
    input_shape: tuple = ()
    output_name: str = "output"
    output_shape: tuple = ()
    tail: tuple = ()
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        if not self.layers:
            raise ValueError("a network needs at least one affine layer")
        for k in range(1, len(self.layers)):
            if self.layers[k].n_in != self.layers[k - 1].n_out:
                raise ValueError(
                    f"layer {k} expects {self.layers[k].n_in} inputs, "
                    f"layer {k - 1} gives {self.layers[k - 1].n_out}"
                )
        if self.input_map.perm.size != self.layers[0].n_in:
            raise ValueError("the input map and the first layer disagree on the input size")

    # sizes -----------------------------------------------------------------------------------
    @property
    def n_inputs(self) -> int:
        return self.input_map.perm.size

    @property
    def n_outputs(self) -> int:
        return self.layers[-1].n_out

    @property
    def hidden(self) -> tuple[Dense, ...]:
        """Every layer but the output layer."""
        return self.layers[:-1]

    @property
    def n_params(self) -> int:
        return sum(layer.n_params for layer in self.layers)

    @property
    def n_neurons(self) -> int:
        """Hidden neurons (output neurons are not counted)."""
        return sum(layer.n_out for layer in self.hidden)

    @property
    def n_macs(self) -> int:
        """Multiply-adds of one forward pass (dense weights)."""
        return sum(layer.weight.size for layer in self.layers)

    def replace(self, **changes) -> "Network":
        return replace(self, **changes)

    # evaluation ------------------------------------------------------------------------------
    def flatten_input(self, x: np.ndarray) -> np.ndarray:
        """(N, d) float64 from an input batch of the model's input shape (or already flat)."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 1:
            x = x[None, :]
        return x.reshape(x.shape[0], -1)

    def preactivations(self, x: np.ndarray) -> list[np.ndarray]:
        """g of every layer (including the output layer) for an input batch, float64."""
        h = self.input_map.apply(self.flatten_input(x))
        out = []
        for layer in self.layers:
            g = layer.affine(h)
            out.append(g)
            h = layer.activate(g)
        return out

    def forward(self, x: np.ndarray, with_tail: bool = True) -> np.ndarray:
        """The network's output (N, n_outputs) in float64."""
        g = self.preactivations(x)[-1]
        y = self.layers[-1].activate(g)
        return apply_tail(y, self.tail) if with_tail else y


def apply_tail(y: np.ndarray, tail) -> np.ndarray:
    """Apply the kept output ops (Softmax over the last axis, LogSoftmax, Sigmoid) in float64."""
    for op, _attrs in tail:
        if op == "Sigmoid":
            y = 1.0 / (1.0 + np.exp(-y))
        else:
            z = y - y.max(axis=-1, keepdims=True)
            lse = np.log(np.exp(z).sum(axis=-1, keepdims=True))
            y = z - lse if op == "LogSoftmax" else np.exp(z - lse)
    return y
