"""Constant folding at import, with onnx's reference evaluator at the model's opsets.

Every node whose inputs are all known without the input's values (initializers, Constant nodes
and the shapes of tensors the body computes) is evaluated once. A shape depends on the batch
size when the batch is symbolic: such a value is a BatchDependent, evaluated for two batch sizes,
so that a Reshape target built from it (PyTorch's `x.view(x.size(0), -1)`) is known exactly,
with the positions that carry the batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper

from ..errors import InvalidModelError, UnsupportedModelError, first_line

PROBE_BATCHES = (2, 3)


@dataclass(frozen=True, eq=False)
class BatchDependent:
    """A folded value that depends on the batch size: its value at each of PROBE_BATCHES."""

    values: tuple[np.ndarray, ...]

    def batch_positions(self, what: str) -> tuple[list[int], np.ndarray]:
        """(indices holding the batch size itself, the value at the first probe) of a 1-D
        value; UnsupportedModelError when the batch enters it in another way."""
        first, second = (np.asarray(v).reshape(-1) for v in self.values)
        moved = np.flatnonzero(first != second)
        if first.shape != second.shape or any(
                (first[i], second[i]) != PROBE_BATCHES for i in moved):
            raise UnsupportedModelError(f"{what} depends on the batch size other than by "
                                        "copying it")
        return [int(i) for i in moved], first


def shape_of(dims: tuple[int, ...], batch, dtype=np.float32):
    """A zero-strided array standing for a computed tensor's value when only its shape is read:
    per-sample dims `dims` behind the batch (None: no batch dimension; a str: symbolic, and the
    result is a BatchDependent list of arrays)."""
    zero = np.zeros((), dtype=dtype)
    if batch is None:
        return np.broadcast_to(zero, dims)
    if isinstance(batch, int):
        return np.broadcast_to(zero, (batch, *dims))
    return BatchDependent(tuple(np.broadcast_to(zero, (b, *dims)) for b in PROBE_BATCHES))


def fold(node: onnx.NodeProto, inputs: list, opsets: dict[str, int], where: str) -> list:
    """The outputs of `node` (called `where` in messages) on known inputs (arrays or
    BatchDependent; None for an absent optional input): arrays, or BatchDependent where they
    depend on the batch size."""
    probes = [i for i, value in enumerate(inputs) if isinstance(value, BatchDependent)]
    if not probes:
        return _evaluate(node, inputs, opsets, where)
    runs = [_evaluate(node, [v.values[p] if isinstance(v, BatchDependent) else v for v in inputs],
                      opsets, where) for p in range(len(PROBE_BATCHES))]
    out = []
    for values in zip(*runs):
        same = all(np.shape(v) == np.shape(values[0]) and np.array_equal(v, values[0])
                   for v in values)
        out.append(values[0] if same else BatchDependent(tuple(values)))
    return out


def _evaluate(node: onnx.NodeProto, inputs: list, opsets: dict[str, int],
              where: str) -> list[np.ndarray]:
    from onnx.reference import ReferenceEvaluator

    feeds = {name: np.asarray(value) for name, value in zip(node.input, inputs) if name}
    graph = helper.make_graph(
        [node], "fold",
        [helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(value.dtype), None)
         for name, value in feeds.items()],
        [helper.make_tensor_value_info(name, onnx.TensorProto.UNDEFINED, None)
         for name in node.output if name])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(domain, version)
                                                    for domain, version in opsets.items()])
    try:
        outputs = ReferenceEvaluator(model).run(None, feeds)
    except NotImplementedError:
        raise UnsupportedModelError(f"{where} computes a constant that exactprune cannot "
                                    "evaluate (no reference implementation)") from None
    except Exception as exc:  # the evaluator raises whatever its op implementations raise
        reason = first_line(exc)
        raise InvalidModelError(f"{where}: its constant inputs cannot be evaluated "
                                f"({reason})") from None
    return [np.asarray(value) for value in outputs]
