"""Per-input bounds files (--bounds FILE): .json and .npy, read strictly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import DomainError, MissingFileError
from .box import Box, bounds_from_arrays


def checked_file(path) -> Path:
    p = Path(path)
    if not p.is_file():
        raise MissingFileError(f"{p}: no such file")
    return p


def _numbers_only(value, where: str, name: str) -> None:
    """DomainError unless `value` is a number or a (nested) list of numbers: JSON strings and
    booleans are mistakes, not bounds."""
    items = value if isinstance(value, list) else [value]
    for i, item in enumerate(items):
        if isinstance(item, list):
            _numbers_only(item, where, name)
        elif isinstance(item, bool) or not isinstance(item, (int, float)):
            at = f" at position {i}" if isinstance(value, list) else ""
            raise DomainError(f"{where}: {name} bound {json.dumps(item)}{at} is not a number")


def _unique_keys(pairs: list) -> dict:
    """A JSON object whose keys are all different (a repeated key is a mistake to report)."""
    data = dict(pairs)
    if len(data) != len(pairs):
        repeated = next(key for i, (key, _) in enumerate(pairs) if key in dict(pairs[:i]))
        raise ValueError(f"key {json.dumps(repeated)} appears more than once")
    return data


def _read_json_bounds(p: Path, n: int) -> Box:
    try:
        data = json.loads(p.read_text(encoding="utf-8-sig"), object_pairs_hook=_unique_keys)
    except (OSError, ValueError, RecursionError) as exc:  # ValueError: also 4300+ digit ints
        raise DomainError(f"{p}: not a readable JSON bounds file ({exc})") from None
    if isinstance(data, dict):
        for lo_key, hi_key in (("lo", "hi"), ("lower", "upper")):
            if set(data) == {lo_key, hi_key}:
                _numbers_only(data[lo_key], str(p), "lower")
                _numbers_only(data[hi_key], str(p), "upper")
                return bounds_from_arrays(data[lo_key], data[hi_key], n, str(p))
        raise DomainError(f'{p}: expected exactly the keys "lo" and "hi" (or "lower" and '
                          f'"upper"), got {", ".join(json.dumps(k) for k in data)}')
    if isinstance(data, list) and data and all(isinstance(r, list) and len(r) == 2 for r in data):
        _numbers_only(data, str(p), "a")
        return bounds_from_arrays([r[0] for r in data], [r[1] for r in data], n, str(p))
    raise DomainError(
        f'{p}: expected {{"lo": [...], "hi": [...]}}, {{"lower": .., "upper": ..}} '
        "or a list of [lo, hi] pairs"
    )


def _read_npy_bounds(p: Path, n: int) -> Box:
    try:
        arr = np.load(p, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DomainError(f"{p}: not a readable .npy file ({exc})") from None
    if arr.dtype.kind not in "iuf":
        raise DomainError(f"{p}: array of dtype {arr.dtype}; bounds must be integers or floats")
    if arr.shape == (2, 2) and n == 2:
        raise DomainError(f"{p}: a (2, 2) array could hold rows (lower, upper) or (lo, hi) "
                          'pairs; give the bounds as .json {"lo": [...], "hi": [...]} instead')
    if arr.shape == (2, n):
        return bounds_from_arrays(arr[0], arr[1], n, str(p))
    if arr.shape == (n, 2):
        return bounds_from_arrays(arr[:, 0], arr[:, 1], n, str(p))
    raise DomainError(f"{p}: array of shape {arr.shape}; expected (2, {n}) or ({n}, 2) "
                      "(flatten the input dimensions, e.g. arr.reshape(2, -1))")


def load_bounds_file(path, n: int) -> Box:
    """Per-input bounds from a .json file or a .npy array.

    .json: {"lo": [...], "hi": [...]}, {"lower": [...], "upper": [...]} or a list of [lo, hi]
    pairs; a scalar instead of a list applies to every input.
    .npy: shape exactly (2, n) (row 0 lower, row 1 upper) or (n, 2), of an integer or float
    dtype; for n = 2 both read (2, 2), which is refused as ambiguous. Strings, booleans, other
    shapes, other keys and repeated keys are refused.
    """
    p = checked_file(path)
    suffix = p.suffix.lower()
    if suffix == ".json":
        return _read_json_bounds(p, n)
    if suffix == ".npy":
        return _read_npy_bounds(p, n)
    raise DomainError(f"{p}: unknown bounds file type {suffix!r}; use .json or .npy")
