"""Input domains: a box over the flattened model input (row-major, batch dimension dropped)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from .errors import DomainError


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

    def to_json(self) -> dict:
        return {"lo": self.lo.tolist(), "hi": self.hi.tolist(), "source": self.source}

    @staticmethod
    def from_json(data: dict, source: str | None = None) -> "Box":
        return Box(data["lo"], data["hi"], source if source is not None else data.get("source", ""))

    def dumps(self) -> str:
        return json.dumps(self.to_json())
