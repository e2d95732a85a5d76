"""The op registry: one converter function per ONNX op (and opset range), like onnx2torch.

A converter is registered with `@converter("Op", since=v)`; it is used for every model whose
opset resolves the op to a schema version >= v (the highest such registration wins).
"""

from __future__ import annotations

from typing import Callable

import onnx.defs

_REGISTRY: dict[str, list[tuple[int, Callable]]] = {}


def converter(*op_types: str, since: int = 1) -> Callable:
    """Register the decorated function as the converter of `op_types` from schema `since` on."""

    def register(fn: Callable) -> Callable:
        for op in op_types:
            entries = _REGISTRY.setdefault(op, [])
            if any(version == since for version, _ in entries):
                raise ValueError(f"{op} has a converter from schema {since} already")
            entries.append((since, fn))
            entries.sort(key=lambda entry: entry[0])
        return fn

    return register


def schema_version(op_type: str, opset: int, domain: str = "") -> int | None:
    """The version of the op's schema that `opset` uses, or None if ONNX has no such op."""
    try:
        return onnx.defs.get_schema(op_type, opset, domain).since_version
    except onnx.defs.SchemaError:
        return None


def resolve(op_type: str, opset: int, domain: str = "") -> Callable | None:
    """The converter for `op_type` at `opset`, or None when the op (or its version) is unsupported."""
    if domain not in ("", "ai.onnx"):
        return None
    version = schema_version(op_type, opset)
    if version is None:
        return None
    found = None
    for since, fn in _REGISTRY.get(op_type, []):
        if since <= version:
            found = fn
    return found


def attributes(node: onnx.NodeProto, opset: int) -> dict:
    """The node's attributes, with the schema's defaults for those it does not set."""
    values = {}
    schema = onnx.defs.get_schema(node.op_type, opset, "")
    for name, attr in schema.attributes.items():
        if attr.default_value.name:
            values[name] = onnx.helper.get_attribute_value(attr.default_value)
    for attr in node.attribute:
        values[attr.name] = onnx.helper.get_attribute_value(attr)
    return values


def supported_ops() -> dict[str, int]:
    """Every op with a converter, and the first opset (schema version) it is handled from."""
    return {op: _REGISTRY[op][0][0] for op in sorted(_REGISTRY)}
