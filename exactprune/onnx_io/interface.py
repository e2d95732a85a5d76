"""What a written model keeps of the original around the body: its input and outputs (names,
element types, shapes), the tail copied as it is, the opsets and the IR version.

A network built in memory gets a default interface: one float32 input "input" [N, n_inputs],
one output "output" [N, n_outputs], no tail, opset DEFAULT_OPSET.
"""

from __future__ import annotations

from dataclasses import dataclass

import onnx
from onnx import TensorProto, helper

from ..ir import Network

DEFAULT_OPSET = 17
DEFAULT_IR_VERSION = 8
MIN_OPSET = 7  # Gemm and Add broadcast their bias from here on; older models are converted
FLOAT_TYPES = {TensorProto.FLOAT: "float32", TensorProto.FLOAT16: "float16",
               TensorProto.DOUBLE: "float64"}
BATCH = "N"


@dataclass(frozen=True, eq=False)
class Interface:
    """input: the original input; compute_type: the element type the body's layers compute in
    (the input's, unless a Cast before the first layer changed it); output_type: the body
    output's (a Cast after the last layer may change it); batch: the input's first dimension (an
    int, a symbolic name, or None when the input has no batch dimension); body_output: the
    tensor the body computes, per-sample shape body_shape; tail: nodes after the body, tail_constants:
    the constant tensors they read; outputs: the original graph outputs, in order."""

    input: onnx.ValueInfoProto
    compute_type: int
    output_type: int
    batch: int | str | None
    body_output: str
    body_shape: tuple[int, ...]
    tail: tuple[onnx.NodeProto, ...]
    tail_constants: dict
    outputs: tuple[onnx.ValueInfoProto, ...]
    opset_imports: tuple[tuple[str, int], ...]
    ir_version: int

    @property
    def input_type(self) -> int:
        return self.input.type.tensor_type.elem_type

    @property
    def input_dims(self) -> tuple:
        return dims(self.input)

    @property
    def opset(self) -> int:
        return dict(self.opset_imports).get("", DEFAULT_OPSET)

    @property
    def numpy_type(self):
        return helper.tensor_dtype_to_np_dtype(self.compute_type)

    def to_json(self) -> dict:
        def value(v: onnx.ValueInfoProto) -> dict:
            elem = v.type.tensor_type.elem_type if v.type.HasField("tensor_type") else 0
            return {"name": v.name, "shape": [d if isinstance(d, int) else str(d) for d in dims(v)],
                    "type": FLOAT_TYPES.get(elem) or (TensorProto.DataType.Name(elem).lower()
                                                      if elem else "non-tensor")}

        return {"input": value(self.input), "outputs": [value(o) for o in self.outputs],
                "body_output": self.body_output, "tail": [n.op_type for n in self.tail]}


def dims(value: onnx.ValueInfoProto) -> tuple:
    """A value's dims: ints, or names for symbolic ones ("N" when unnamed)."""
    if not value.type.HasField("tensor_type"):
        return ()
    return tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or BATCH)
                 for d in value.type.tensor_type.shape.dim)


def default_interface(network: Network) -> Interface:
    """The interface of a network built in memory (see the module docstring)."""
    n_out = network.n_outputs
    return Interface(
        input=helper.make_tensor_value_info("input", TensorProto.FLOAT, [BATCH, network.n_inputs]),
        compute_type=TensorProto.FLOAT, output_type=TensorProto.FLOAT, batch=BATCH,
        body_output="output", body_shape=(n_out,), tail=(), tail_constants={},
        outputs=(helper.make_tensor_value_info("output", TensorProto.FLOAT, [BATCH, n_out]),),
        opset_imports=(("", DEFAULT_OPSET),), ir_version=DEFAULT_IR_VERSION)
