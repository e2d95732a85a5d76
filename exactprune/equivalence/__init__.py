"""Whether two models compute the same function on a domain: sampled in onnxruntime today
(sampled.py); the formal check joins it here."""

from .sampled import (
    TOLERANCES,
    CheckOptions,
    VerifyReport,
    as_proto,
    check_same_inputs,
    compare,
    input_spec,
)

__all__ = ["TOLERANCES", "CheckOptions", "VerifyReport", "as_proto", "check_same_inputs",
           "compare", "input_spec"]
