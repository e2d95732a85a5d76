"""The activation of a layer, as a value object that owns everything the code knows about it.

Kinds: "relu" (max(g, 0)), "leaky_relu" (g for g >= 0, alpha g below; any finite alpha, also
negative or above 1) and "identity" (an affine layer followed directly by another one).
A two-phase activation is linear on each side of its kink at 0: slope 1 for g > 0 ("active")
and `inactive_slope` for g < 0 (0 for relu, alpha for leaky_relu). Everything downstream (bounds,
relaxations, MILP encodings, reductions, witnesses, region counts) reads these properties here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KINDS = ("relu", "leaky_relu", "identity")


@dataclass(frozen=True)
class Activation:
    """kind: one of KINDS; alpha: the slope below 0 of leaky_relu (0 for the other kinds)."""

    kind: str = "relu"
    alpha: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown activation {self.kind!r}; use one of {', '.join(KINDS)}")
        alpha = float(self.alpha)
        if not np.isfinite(alpha):
            raise ValueError(f"activation slope alpha {alpha} is not a finite number")
        if self.kind != "leaky_relu" and alpha != 0.0:
            raise ValueError(f"{self.kind} takes no slope alpha")
        object.__setattr__(self, "alpha", alpha)

    @property
    def two_phase(self) -> bool:
        """True for relu and leaky_relu: a kink at 0 (a neuron has an active and inactive phase)."""
        return self.kind != "identity"

    @property
    def inactive_slope(self) -> float:
        """The slope for g < 0: 0 (relu), alpha (leaky_relu), 1 (identity: no kink)."""
        return {"relu": 0.0, "leaky_relu": self.alpha, "identity": 1.0}[self.kind]

    @property
    def monotone(self) -> bool:
        """Non-decreasing (a leaky_relu with alpha < 0 falls below 0 and is not)."""
        return self.inactive_slope >= 0.0

    @property
    def max_slope(self) -> float:
        """max |slope|: by how much the activation can scale a difference of its inputs."""
        return max(1.0, abs(self.inactive_slope))

    def apply(self, g: np.ndarray) -> np.ndarray:
        """act(g), elementwise."""
        if self.kind == "relu":
            return np.maximum(g, 0.0)
        if self.kind == "leaky_relu":
            return np.where(g >= 0.0, g, self.alpha * g)
        return g

    def slope_at(self, g: np.ndarray) -> np.ndarray:
        """d act / d g at g (the active slope 1 for g > 0, else the inactive slope)."""
        return np.where(g > 0.0, 1.0, self.inactive_slope)

    def image(self, lo: np.ndarray, up: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The range of act over [lo, up], elementwise. The extremes of a piecewise linear act
        with its kink at 0 are at lo, up or 0 (act(0) = 0 is the minimum of a non-monotone
        leaky_relu on an interval around 0)."""
        at_lo, at_up = self.apply(lo), self.apply(up)
        low, high = np.minimum(at_lo, at_up), np.maximum(at_lo, at_up)
        if not self.monotone:
            low = np.where((lo < 0.0) & (up > 0.0), 0.0, low)
        return low, high

    def relaxation(self, lo: np.ndarray, up: np.ndarray):
        """Linear bounds ls * g + li <= act(g) <= us * g + ui for g in [lo, up], elementwise.

        Returns (ls, li, us, ui). A stable neuron gets its exact line twice. For lo < 0 < up the
        chord through (lo, act(lo)) and (up, up) bounds act from above when it is convex
        (alpha <= 1) and from below when it is concave (alpha > 1); the other side is the line
        through the origin with slope 1 or alpha, whichever is closer over [lo, up]."""
        if self.kind == "identity":
            one, zero = np.ones_like(lo), np.zeros_like(lo)
            return one, zero, one, zero
        alpha = self.inactive_slope
        active = lo >= 0.0
        inactive = up <= 0.0
        cross = ~(active | inactive)
        ls = np.where(active, 1.0, alpha)
        us = ls.copy()
        li = np.zeros_like(lo)
        ui = np.zeros_like(lo)
        lc, uc = lo[cross], up[cross]
        chord = (uc - alpha * lc) / (uc - lc)
        chord_icpt = alpha * lc - chord * lc
        if alpha <= 1.0:  # convex: the chord is above, a line through the origin below
            us[cross], ui[cross], ls[cross] = chord, chord_icpt, np.where(uc > -lc, 1.0, alpha)
        else:  # concave (alpha > 1): the roles swap
            ls[cross], li[cross], us[cross] = chord, chord_icpt, np.where(uc > -lc, alpha, 1.0)
        return ls, li, us, ui

    @property
    def origin_line(self) -> tuple[bool, float, float]:
        """(lower, smin, smax) of a crossing neuron's line through the origin in `relaxation`:
        lower is True when it is the lower line (alpha <= 1); it stays sound for every slope in
        [smin, smax], between the two phases' slopes (optimised bounds choose one per target)."""
        alpha = self.inactive_slope
        return alpha <= 1.0, min(alpha, 1.0), max(alpha, 1.0)

    def __str__(self) -> str:
        return f"leaky_relu({self.alpha:g})" if self.kind == "leaky_relu" else self.kind


RELU = Activation("relu")
IDENTITY = Activation("identity")


def leaky_relu(alpha: float) -> Activation:
    return Activation("leaky_relu", alpha)


def activation(value: Activation | str) -> Activation:
    """An Activation from itself or from a kind without parameters ("relu", "identity")."""
    return value if isinstance(value, Activation) else Activation(value)
