"""The op registry: one converter function per ONNX op (and opset range), like onnx2torch.

A converter is registered with `@converter("Op", since=v)` (`domain="ai.onnx.ml"` for the ML
ops); it is used for every model whose opset resolves the op to a schema version >= v (the
highest such registration wins). `body_if(attrs)` narrows which nodes of the op belong to the
body (e.g. only a Cast to a float type); the others end it and go to the tail, copied as they are.
"""

from __future__ import annotations

from typing import Callable

import onnx
import onnx.defs

ML = "ai.onnx.ml"
_REGISTRY: dict[tuple[str, str], list[tuple[int, Callable, Callable | None]]] = {}


def converter(*op_types: str, since: int = 1, domain: str = "",
              body_if: Callable[[dict], bool] | None = None) -> Callable:
    """Register the decorated function as the converter of `op_types` from schema `since` on."""

    def register(fn: Callable) -> Callable:
        for op in op_types:
            entries = _REGISTRY.setdefault((domain, op), [])
            if any(version == since for version, _, _ in entries):
                raise ValueError(f"{op} has a converter from schema {since} already")
            entries.append((since, fn, body_if))
            entries.sort(key=lambda entry: entry[0])
        return fn

    return register


def domain_of(node: onnx.NodeProto) -> str:
    return "" if node.domain in ("", "ai.onnx") else node.domain


def opset_of(node: onnx.NodeProto, opsets: dict[str, int]) -> int:
    """The opset version the model imports for the node's domain (0 when it imports none)."""
    domain = domain_of(node)
    return opsets.get(domain, opsets.get("ai.onnx", 0) if domain == "" else 0)


def schema_version(op_type: str, opset: int, domain: str = "") -> int | None:
    """The version of the op's schema that `opset` uses, or None if ONNX has no such op."""
    try:
        return onnx.defs.get_schema(op_type, opset, domain).since_version
    except onnx.defs.SchemaError:
        return None


def _entry(op_type: str, opset: int, domain: str):
    version = schema_version(op_type, opset, domain)
    if version is None:
        return None
    found = None
    for entry in _REGISTRY.get((domain, op_type), []):
        if entry[0] <= version:
            found = entry
    return found


def resolve(op_type: str, opset: int, domain: str = "") -> Callable | None:
    """The converter for `op_type` at `opset`, or None when the op (or its version) is unsupported."""
    entry = _entry(op_type, opset, "" if domain == "ai.onnx" else domain)
    return entry[1] if entry else None


def in_body(node: onnx.NodeProto, opsets: dict[str, int]) -> bool:
    """Whether a node reading the body's tensor continues the body (it has a converter that
    takes it), rather than starting the tail."""
    opset = opset_of(node, opsets)
    entry = _entry(node.op_type, opset, domain_of(node))
    if entry is None:
        return False
    return entry[2] is None or entry[2](attributes(node, opset))


def attributes(node: onnx.NodeProto, opset: int) -> dict:
    """The node's attributes, with the schema's defaults for those it does not set."""
    values = {}
    schema = onnx.defs.get_schema(node.op_type, opset, domain_of(node))
    for name, attr in schema.attributes.items():
        if attr.default_value.name:
            values[name] = onnx.helper.get_attribute_value(attr.default_value)
    for attr in node.attribute:
        values[attr.name] = onnx.helper.get_attribute_value(attr)
    return values


def supported_ops() -> dict[str, int]:
    """Every op with a converter (ML ops as ai.onnx.ml.Op), and the first opset (schema
    version) it is handled from."""
    return {(f"{domain}.{op}" if domain else op): entries[0][0]
            for (domain, op), entries in sorted(_REGISTRY.items(), key=lambda kv: kv[0][1])}
