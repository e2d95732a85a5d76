"""The input domain: a box over the flattened model input (row-major, batch dimension dropped),
and the forms it is given in that need no file: scalar bounds (--box) and a model's stored domain."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from ..errors import DomainError


@dataclass(frozen=True, eq=False)
class Box:
    """lo <= x_flat <= hi, elementwise, in the model's own (un-normalised) input space.

    source: where it came from ("--box 0 1", "spec.vnnlib", "stored in model", ...).
    """

    lo: np.ndarray
    hi: np.ndarray
    source: str = ""

    def __post_init__(self) -> None:
        lo = np.asarray(self.lo, dtype=np.float64).reshape(-1)
        hi = np.asarray(self.hi, dtype=np.float64).reshape(-1)
        if lo.shape != hi.shape:
            raise DomainError(f"domain bounds differ in length: {lo.size} lower, {hi.size} upper")
        if np.isnan(lo).any() or np.isnan(hi).any():
            raise DomainError(f"domain {self.source or ''} contains NaN bounds".replace("  ", " "))
        bad = np.flatnonzero(lo > hi)
        if bad.size:
            i = int(bad[0])
            raise DomainError(
                f"domain {self.source}: lower bound {lo[i]} > upper bound {hi[i]} for input {i}"
                f" ({bad.size} input(s) affected)"
            )
        object.__setattr__(self, "lo", lo)
        object.__setattr__(self, "hi", hi)

    @property
    def size(self) -> int:
        return self.lo.size

    @property
    def center(self) -> np.ndarray:
        return (self.lo + self.hi) / 2.0

    def intersect(self, other: "Box", source: str) -> "Box | None":
        """The box of the inputs in both (self when other contains it, other when it contains
        self, else a new Box named `source`); None when they do not meet."""
        lo, hi = np.maximum(self.lo, other.lo), np.minimum(self.hi, other.hi)
        if np.any(lo > hi):
            return None
        for box in (self, other):
            if np.array_equal(lo, box.lo) and np.array_equal(hi, box.hi):
                return box
        return Box(lo, hi, source)

    def to_json(self) -> dict:
        return {"lo": self.lo.tolist(), "hi": self.hi.tolist(), "source": self.source}

    @staticmethod
    def from_json(data: dict, source: str | None = None) -> "Box":
        return Box(data["lo"], data["hi"], source if source is not None else data.get("source", ""))

    def dumps(self) -> str:
        """Compact JSON for a model's metadata: a uniform box as two scalars and its size."""
        if self.size and np.all(self.lo == self.lo[0]) and np.all(self.hi == self.hi[0]):
            return json.dumps({"lo": float(self.lo[0]), "hi": float(self.hi[0]), "n": self.size,
                               "source": self.source})
        return json.dumps(self.to_json())


FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_range(box: Box, dtype=np.float32) -> None:
    """DomainError when a bound of `box` is beyond the range of `dtype`, the model's input type."""
    top = float(np.finfo(dtype).max)
    for name, values in (("lower", box.lo), ("upper", box.hi)):
        bad = np.flatnonzero(~(np.abs(values) <= top))
        if bad.size:
            i = int(bad[0])
            raise DomainError(f"domain {box.source}: {name} bound {values[i]:g} of input {i} is "
                              f"beyond the range of {np.dtype(dtype).name} (+-{top:.3g}), the "
                              "model's input type")


def parse_box(lo: float, hi: float, n: int, source: str | None = None) -> Box:
    """The box [lo, hi]^n: the same scalar bounds for every input (`--box LO HI`)."""
    lo, hi = float(lo), float(hi)
    src = source if source is not None else f"--box {lo:g} {hi:g}"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise DomainError(f"domain {src}: bounds must be finite numbers, got {lo} and {hi}")
    if lo > hi:
        raise DomainError(f"domain {src}: lower bound {lo:g} > upper bound {hi:g}")
    return Box(np.full(n, lo), np.full(n, hi), src)


def bounds_from_arrays(lo, hi, n: int, where: str) -> Box:
    """A Box from lower/upper arrays (scalars broadcast), with one-line errors naming `where`."""
    try:
        lo = np.asarray(lo, dtype=np.float64).reshape(-1)
        hi = np.asarray(hi, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError, OverflowError) as exc:
        raise DomainError(f"{where}: bounds must be numbers ({exc})") from None
    for name, arr in (("lower", lo), ("upper", hi)):
        if arr.size not in (1, n):
            raise DomainError(
                f"{where}: {arr.size} {name} bounds for a model with {n} inputs "
                "(give one per input or a single scalar)"
            )
        if np.isnan(arr).any():
            i = int(np.flatnonzero(np.isnan(arr))[0])
            which = i if arr.size > 1 else "all"
            raise DomainError(f"{where}: {name} bound of input {which} is NaN")
        if not np.isfinite(arr).all():
            raise DomainError(f"{where}: {name} bounds must be finite")
    return Box(np.broadcast_to(lo, (n,)), np.broadcast_to(hi, (n,)), where)


def parse_stored(text: str, n: int, source: str | None = None) -> Box:
    """The Box exactprune stored in a model's metadata (JSON {"lo", "hi", "source"}, lo/hi
    lists or, with "n", scalars).

    source: how to name it (the stored source is added in brackets); None keeps the stored one.
    """
    try:
        data = json.loads(text)
        lo, hi = data["lo"], data["hi"]
    except (ValueError, TypeError, KeyError, RecursionError) as exc:
        raise DomainError(f"{source or 'stored in model'}: stored domain is not valid JSON with "
                          f"lo/hi ({exc})") from None
    if data.get("n", n) != n:
        raise DomainError(f"{source or 'stored in model'}: the stored domain has {data['n']} "
                          f"inputs, the model has {n}")
    original = data.get("source")
    if source is None:
        return bounds_from_arrays(lo, hi, n, original or "stored in model")
    return bounds_from_arrays(lo, hi, n, f"{source} (from {original})" if original else source)
