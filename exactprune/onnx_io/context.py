"""What a converter sees of one node: its attributes, its inputs (constants or the traced tensor)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx

from ..errors import InvalidModelError, UnsupportedModelError
from .fold import BatchDependent
from .trace import Traced


def node_label(node: onnx.NodeProto) -> str:
    """The node's name, or its first output tensor's name when it has none."""
    return node.name or (node.output[0] if node.output else node.op_type)


@dataclass
class NodeContext:
    node: onnx.NodeProto
    opset: int
    attrs: dict
    values: dict  # tensor name -> np.ndarray (constant), BatchDependent or the Traced chain
    traced: Traced
    used: frozenset  # tensor names some node or the graph output reads

    @property
    def name(self) -> str:
        return node_label(self.node)

    @property
    def op(self) -> str:
        return self.node.op_type

    def where(self) -> str:
        return f"node {self.name} ({self.op}, opset {self.opset})"

    def unsupported(self, what: str) -> UnsupportedModelError:
        return UnsupportedModelError(f"{self.where()}: {what}")

    def invalid(self, what: str) -> InvalidModelError:
        return InvalidModelError(f"{self.where()}: {what}")

    def has_input(self, i: int) -> bool:
        return i < len(self.node.input) and self.node.input[i] != ""

    def value(self, i: int):
        """Input i: an ndarray for constants, the Traced chain for the computed tensor."""
        name = self.node.input[i]
        if name not in self.values:
            raise self.invalid(f"input {name!r} is not produced before this node")
        return self.values[name]

    def is_traced(self, i: int) -> bool:
        return self.has_input(i) and self.value(i) is self.traced

    def const(self, i: int, what: str) -> np.ndarray:
        """Input i, which must be a constant (not computed, not depending on the batch size)."""
        value = self.value(i)
        if value is self.traced:
            raise self.unsupported(f"{what} (input {i}) must be a constant")
        if isinstance(value, BatchDependent):
            raise self.unsupported(f"{what} (input {i}) depends on the batch size")
        return value

    def shape_target(self, i: int) -> list[int]:
        """Input i as a shape whose entries equal to the batch size are -2."""
        value = self.value(i)
        if isinstance(value, BatchDependent):
            at, first = value.batch_positions(f"{self.where()}: the target shape")
            return [-2 if k in at else int(d) for k, d in enumerate(first)]
        return [int(d) for d in self.const(i, "the target shape").reshape(-1)]

    def optional_const(self, i: int, what: str, default=None):
        return self.const(i, what) if self.has_input(i) else default

    def output(self, value, i: int = 0) -> None:
        self.values[self.node.output[i]] = value

    def check_extra_outputs(self) -> None:
        """Refuse nodes whose secondary outputs (Dropout's mask, BatchNorm's statistics) are read."""
        extra = [name for name in self.node.output[1:] if name and name in self.used]
        if extra:
            raise self.unsupported(f"its extra output {extra[0]!r} is used (inference mode only)")

    def traced_index(self) -> int:
        """The index of the (single) traced input; -1 if all inputs are constants."""
        hits = [i for i in range(len(self.node.input)) if self.is_traced(i)]
        return hits[0] if hits else -1

    def batch_shape(self) -> tuple:
        """The shape of the traced tensor with a batch dimension of 1 (if it has one)."""
        return (1,) * self.traced.lead + self.traced.per_sample

    def shown(self) -> str:
        """The traced tensor's shape as messages show it: (N, d1, ...)."""
        dims = ("N",) * self.traced.lead + self.traced.per_sample
        return "(" + ", ".join(map(str, dims)) + ")"
