"""A feed-forward network as a frozen dataclass with float64 evaluation.

A network is
    x (an input sample, flattened row-major) -> InputMap (h0 = scale * x_flat[perm] + shift)
    -> layers[0] ... layers[-1] (the last one is the output layer)
Hidden layers have a relu, leaky_relu or identity Activation (identity: an affine layer followed
directly by another one). The output layer has identity or, for a final Relu, relu. A Network is
pure maths: where it came from (file, stored domain, opset) and what surrounds it in the file
(input and output shapes, the ops after it) are onnx_io.LoadedModel's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .layers import Dense, InputMap, Layer

CHUNK_ENTRIES = 2 ** 22  # values of one array formed at once for a wide (conv) layer: a layer's
# values for a chunk of inputs, back-substitution coefficients for a chunk of neurons


@dataclass(frozen=True, eq=False)
class Network:
    """A fully connected feed-forward network; see the module docstring for the convention."""

    layers: tuple[Layer, ...]
    input_map: InputMap

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
    def hidden(self) -> tuple[Layer, ...]:
        """Every layer but the output layer."""
        return self.layers[:-1]

    @property
    def two_phase(self) -> list[int]:
        """Indices of the layers with a two-phase activation (their neurons have a stability)."""
        return [i for i, layer in enumerate(self.layers) if layer.activation.two_phase]

    @property
    def n_params(self) -> int:
        return sum(layer.n_params for layer in self.layers)

    @property
    def n_neurons(self) -> int:
        """Hidden neurons (output neurons are not counted)."""
        return sum(layer.n_out for layer in self.hidden)

    @property
    def n_macs(self) -> int:
        """Multiply-adds of one forward pass."""
        return sum(layer.n_macs for layer in self.layers)

    def replace(self, **changes) -> "Network":
        return replace(self, **changes)

    def folded_first_layer(self) -> Dense:
        """Layer 0 acting on the flat original input: the input map folded into its weights."""
        first = self.layers[0].as_dense()
        imap = self.input_map
        return replace(first, weight=imap.pull_back(first.weight, self.n_inputs),
                       bias=first.bias + first.weight @ imap.shift)

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
            h = layer.activation.apply(g)
        return out

    def chunk_rows(self) -> int:
        """Inputs evaluated at once so that no layer's values hold more than CHUNK_ENTRIES
        (4096 or more for layers of up to 1024 neurons)."""
        return max(1, CHUNK_ENTRIES // max(layer.n_out for layer in self.layers))

    def forward(self, x: np.ndarray) -> np.ndarray:
        """The network's output (N, n_outputs) in float64, chunk by chunk of inputs."""
        x = self.flatten_input(x)
        step = self.chunk_rows()
        return np.vstack([self.layers[-1].activation.apply(self.preactivations(x[r:r + step])[-1])
                          for r in range(0, max(len(x), 1), step)])

