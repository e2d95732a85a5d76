"""Whether two models compute the same function on a domain: sampled in onnxruntime
(sampled.py), or proven (formal.py: bounds of the product network of both, product.py, then
MILPs over both networks in one SCIP model)."""

from .formal import FormalOptions, FormalReport, OutputBound, prove_equivalence
from .sampled import (
    TOLERANCES,
    CheckOptions,
    VerifyReport,
    as_proto,
    check_same_inputs,
    compare,
    input_spec,
)

__all__ = ["TOLERANCES", "CheckOptions", "FormalOptions", "FormalReport", "OutputBound",
           "VerifyReport", "as_proto", "check_same_inputs", "compare", "input_spec",
           "prove_equivalence"]
